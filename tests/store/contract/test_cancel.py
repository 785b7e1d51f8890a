"""The store contract, ``cancel``: refused while a lease is live, and once done it fences out the
old claim.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from notifyctl.ids import new_id
from notifyctl.model import Outcome, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    WORKER_B,
    claim_one,
    current,
    insert_one,
    make,
)


def test_cancel_of_a_pending_notification_cancels_it(store: Store) -> None:
    notification = insert_one(store)
    outcome, found = store.cancel(notification.id, NOW + 1)
    assert outcome == "cancelled"
    assert found is not None
    assert found.status == Status.CANCELLED
    assert current(store, notification.id).status == Status.CANCELLED


def test_cancel_of_a_scheduled_notification_cancels_it(store: Store) -> None:
    notification = insert_one(store, make(scheduled_for=NOW + 60_000))
    outcome, _ = store.cancel(notification.id, NOW)
    assert outcome == "cancelled"


def test_cancel_is_refused_while_a_lease_is_live(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    outcome, found = store.cancel(notification.id, claim.lock_expiry - 1)
    assert outcome == "conflict"
    assert found is not None
    assert found.status == Status.PENDING
    assert found.locked_by == WORKER_A


def test_cancel_of_a_sent_notification_is_a_conflict(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    outcome, found = store.cancel(notification.id, NOW + 2)
    assert outcome == "conflict"
    assert found is not None
    assert found.status == Status.SENT


def test_cancel_of_a_cancelled_notification_is_a_conflict(store: Store) -> None:
    notification = insert_one(store)
    store.cancel(notification.id, NOW)
    outcome, found = store.cancel(notification.id, NOW + 1)
    assert outcome == "conflict"
    assert found is not None
    assert found.status == Status.CANCELLED


def test_cancel_of_an_unknown_id_is_not_found(store: Store) -> None:
    assert store.cancel(new_id(NOW), NOW) == ("not_found", None)


def test_a_cancelled_notification_is_never_claimed(store: Store) -> None:
    notification = insert_one(store)
    store.cancel(notification.id, NOW)
    assert store.claim_batch(WORKER_A, 10, NOW + 10 * LEASE, LEASE) == []


def test_cancel_after_the_lease_expired_fences_out_the_old_claim(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    outcome, _ = store.cancel(notification.id, claim.lock_expiry)
    assert outcome == "cancelled"
    cancelled = current(store, notification.id)
    retry = Outcome(claim, Verdict.RETRY, error="timeout", retry_at=claim.lock_expiry + 1)
    report = store.finish([retry], claim.lock_expiry + 1)
    assert report.applied == 0
    assert report.stale == (notification.id,)
    assert store.renew([claim], claim.lock_expiry + 1, LEASE) == [notification.id]
    assert current(store, notification.id) == cancelled
    assert store.claim_batch(WORKER_B, 10, NOW + 10 * LEASE, LEASE) == []
