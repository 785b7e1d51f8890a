"""The stateful property test of claims, leases and fencing (``test_claim_state_machine.py``),
run over the PostgreSQL store: the same machine, rules and invariants, in a schema of its own
per example. The machine's logical clock stands in for the server's (``CALLERS_NOW``)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from notifyctl.store.postgresql.clock import CALLERS_NOW
from notifyctl.store.postgresql.pool import PoolSize
from notifyctl.store.postgresql.store import PostgresStore
from tests.postgres_server import create_schema, drop_schema
from tests.store.test_claim_state_machine import ClaimMachine


def test_claims_and_fencing_hold_on_postgresql(postgresql_server: str) -> None:
    class PostgresClaimMachine(ClaimMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store.close()  # the parent's SQLite store: replaced by a schema of our own
            self.tmp.cleanup()
            self.url = create_schema(postgresql_server)
            self.store = PostgresStore(
                self.url, PoolSize(max=2, min=1), priority_ageing_ms=0, clock=CALLERS_NOW
            )

        def teardown(self) -> None:
            self.store.close()
            drop_schema(self.url)

    budget = settings(max_examples=50, stateful_step_count=30, deadline=None)
    run_state_machine_as_test(PostgresClaimMachine, settings=budget)
