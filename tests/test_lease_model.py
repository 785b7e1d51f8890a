"""The state machine's oracle (``tests/lease_model.py``) pinned at its boundaries.

The oracle is checked against every store adapter on every step of the claim state machine; these
few cases pin what it says at the edges (exact due time, exact expiry, last attempt), so that a
wrong oracle cannot quietly agree with a wrong store, and they trip when the worker's interrupted
outcome changes without the model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifyctl.model import Claim, Notification, Priority, Status
from notifyctl.worker.verdicts import interrupted as worker_interrupted
from tests.lease_model import (
    interrupted,
    is_claimable,
    is_exhausted,
    lease_is_live,
    write_is_fenced_out,
)

NOW = 1_700_000_000_000
WORKER, OTHER = "host-a-123-0badcafe", "host-b-456-deadbeef"


def row(**changes: Any) -> Notification:
    """A pending, due, unleased notification with attempts left; ``changes`` override fields."""
    base = Notification(
        id="01HZX0000000000000000000AA", user_id="user-1", channel="log", to=None, title=None,
        body=None, data={}, priority=Priority.NORMAL, status=Status.PENDING,
        scheduled_for=NOW - 1_000, available_at=NOW - 1_000, attempts=0, max_attempts=3,
        last_error=None, idempotency_key=None, request_hash="0" * 64, locked_by=None,
        locked_at=None, lock_expiry=None, lock_version=0, created_at=NOW - 1_000,
        updated_at=NOW - 1_000,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


def leased(expiry: int, **changes: Any) -> Notification:
    lease = {"locked_by": WORKER, "lock_expiry": expiry, "available_at": expiry, "attempts": 1}
    return row(**{"lock_version": 1, **lease, **changes})


#: (row, claimable, exhausted, live lease) at NOW
CASES = {
    "due exactly now": (row(available_at=NOW), True, False, False),
    "due in 1 ms": (row(available_at=NOW + 1), False, False, False),
    "lease live for 1 ms more": (leased(NOW + 1), False, False, True),
    "lease expiring exactly now": (leased(NOW), True, False, False),
    "expiry without an owner": (row(lock_expiry=NOW + 10_000), True, False, False),
    "last attempt's lease expired": (leased(NOW, attempts=3), False, True, False),
    "last attempt's lease live": (leased(NOW + 1, attempts=3), False, False, True),
    "out of attempts, not due": (row(attempts=3, available_at=NOW + 1), False, False, False),
    "sent": (row(status=Status.SENT), False, False, False),
    "dead, out of attempts": (row(status=Status.DEAD, attempts=3), False, False, False),
    "cancelled": (row(status=Status.CANCELLED), False, False, False),
}


@pytest.mark.parametrize("case", CASES)
def test_the_oracle_at_its_boundaries(case: str) -> None:
    subject, claimable, exhausted, live = CASES[case]
    assert (is_claimable(subject, NOW), is_exhausted(subject, NOW)) == (claimable, exhausted)
    assert lease_is_live(subject, NOW) == live


@settings(max_examples=200, derandomize=True)
@given(
    status=st.sampled_from(list(Status)),
    due=st.integers(-10_000, 10_000),
    expiry=st.none() | st.integers(-10_000, 10_000),
    attempts=st.integers(0, 10),
    max_attempts=st.integers(1, 10),
)
def test_claimable_and_exhausted_partition_the_due_free_notifications(
    status: Status, due: int, expiry: int | None, attempts: int, max_attempts: int
) -> None:
    lease = {} if expiry is None else {"locked_by": OTHER, "lock_expiry": NOW + expiry}
    subject = row(
        status=status, available_at=NOW + due, attempts=attempts, max_attempts=max_attempts,
        **lease,
    )  # fmt: skip
    claimable, exhausted = is_claimable(subject, NOW), is_exhausted(subject, NOW)
    assert not (claimable and exhausted)
    free_and_due = (
        status in (Status.PENDING, Status.SCHEDULED)
        and due <= 0
        and (expiry is None or expiry <= 0)
    )
    assert (claimable or exhausted) == free_and_due


@pytest.mark.parametrize(
    ("subject", "worker", "version", "fenced"),
    [
        (leased(NOW, lock_version=4), WORKER, 4, False),
        (leased(NOW, lock_version=4, locked_by=OTHER), WORKER, 4, True),
        (leased(NOW, lock_version=5), WORKER, 4, True),  # its own earlier claim
        (row(status=Status.SENT, lock_version=4), WORKER, 4, True),  # lease cleared
    ],
)
def test_a_write_is_fenced_out_unless_the_row_carries_its_claim(
    subject: Notification, worker: str, version: int, fenced: bool
) -> None:
    assert write_is_fenced_out(subject, worker, version) == fenced


def test_the_modelled_interruption_is_what_a_stopping_worker_writes() -> None:
    """When the worker's interrupted outcome changes, change ``lease_model.interrupted`` too."""
    claim = Claim(leased(NOW + 30_000), WORKER, 1, NOW + 30_000)
    assert worker_interrupted(claim, started=True) == interrupted(claim, NOW)
