"""The stateful property test of claims, leases and fencing (``test_claim_state_machine.py``),
run over the MongoDB store: the same machine, rules and invariants, fewer examples (the stand-in
server is slow; a real MongoDB via NOTIFYCTL_TEST_MONGODB_URI runs the same). The machine's
logical clock stands in for the server's (``callers_now``)."""

from __future__ import annotations

from hypothesis import settings
from hypothesis.stateful import run_state_machine_as_test

from notifyctl.store.mongodb.pool import PoolSize
from notifyctl.store.mongodb.store import MongoStore
from tests.mongodb_server import callers_now, drop_database, fresh_database_name, with_database
from tests.store.test_claim_state_machine import ClaimMachine


def test_claims_and_fencing_hold_on_mongodb(mongodb_server: str) -> None:
    class MongoClaimMachine(ClaimMachine):
        def __init__(self) -> None:
            super().__init__()
            self.store.close()  # the parent's SQLite store: replaced by a database of our own
            self.tmp.cleanup()
            self.url = with_database(mongodb_server, fresh_database_name())
            self.store = MongoStore(self.url, PoolSize(max=2, min=0), now_expression=callers_now)

        def teardown(self) -> None:
            self.store.close()
            drop_database(self.url)

    budget = settings(max_examples=20, stateful_step_count=30, deadline=None)
    run_state_machine_as_test(MongoClaimMachine, settings=budget)
