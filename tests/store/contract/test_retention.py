"""The store contract, retention: ``purge_terminal`` deletes terminal notifications last changed
before a cutoff, oldest first, at most ``limit`` a call, never an undelivered one; a purged
notification's idempotency key makes a new notification.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    claim_one,
    current,
    finish,
    insert_one,
    kill,
    make,
)

DAY = 86_400_000
#: when the old notifications last changed, and the cutoff a week back from NOW
OLD = NOW - 10 * DAY
CUTOFF = NOW - 7 * DAY


def sent(store: Store, at: int) -> str:
    notification = insert_one(store, make(created_at=at, scheduled_for=at), now=at)
    finish(store, claim_one(store, WORKER_A, at), Verdict.SENT, at)
    return notification.id


def dead(store: Store, at: int) -> str:
    notification = insert_one(store, make(created_at=at, scheduled_for=at), now=at)
    kill(store, notification.id, at)
    return notification.id


def cancelled(store: Store, at: int, key: str | None = None) -> str:
    notification = insert_one(store, make(key=key, created_at=at, scheduled_for=at + DAY), now=at)
    assert store.cancel(notification.id, at)[0] == "cancelled"
    return notification.id


def suppressed(store: Store, at: int) -> str:
    item = replace(make(created_at=at, scheduled_for=at), suppressed="opted out of the category")
    return insert_one(store, item, now=at).id


def terminal_ones(store: Store, at: int) -> list[str]:
    """One notification of each terminal status a store call can make, last changed ``at``."""
    return [maker(store, at) for maker in (sent, dead, cancelled, suppressed)]


def test_only_terminal_notifications_changed_before_the_cutoff_go(store: Store) -> None:
    old = terminal_ones(store, OLD)
    recent = terminal_ones(store, CUTOFF + 1)
    assert {current(store, nid).status for nid in old} == {
        Status.SENT, Status.DEAD, Status.CANCELLED, Status.SUPPRESSED
    }  # fmt: skip
    assert store.purge_terminal(CUTOFF, 100) == len(old)
    assert [store.get(nid) for nid in old] == [None] * len(old)
    assert all(store.get(nid) is not None for nid in recent)
    assert store.purge_terminal(CUTOFF, 100) == 0


def test_each_call_removes_at_most_limit_oldest_first(store: Store) -> None:
    ids = [cancelled(store, OLD + i) for i in range(25)]
    assert [store.purge_terminal(CUTOFF, 10) for _ in range(4)] == [10, 10, 5, 0]
    assert all(store.get(nid) is None for nid in ids)


def test_the_oldest_go_first(store: Store) -> None:
    ids = [cancelled(store, OLD + i) for i in range(5)]
    assert store.purge_terminal(CUTOFF, 3) == 3
    assert [store.get(nid) is None for nid in ids] == [True, True, True, False, False]


def test_a_limit_of_zero_removes_nothing(store: Store) -> None:
    nid = cancelled(store, OLD)
    assert store.purge_terminal(CUTOFF, 0) == 0
    assert store.get(nid) is not None


def test_undelivered_notifications_of_any_age_stay(store: Store) -> None:
    """Pending, scheduled, leased (live or lapsed), waiting for a retry, replayed from dead: all
    last changed long ago, none is purged, whatever the cutoff."""
    long_ago = OLD - 365 * DAY
    pending, leased, retried = (
        insert_one(store, make(created_at=long_ago, scheduled_for=long_ago), now=long_ago).id
        for _ in range(3)
    )
    store.claim_ids([leased], WORKER_A, long_ago, LEASE)  # its lease lapsed long ago
    (retry,) = store.claim_ids([retried], WORKER_A, long_ago, LEASE)
    finish(store, retry, Verdict.RETRY, long_ago)
    scheduled = insert_one(store, make(created_at=long_ago, scheduled_for=NOW + DAY), now=long_ago)
    replayed = dead(store, long_ago)
    assert store.replay([replayed], long_ago + 1) == [replayed]
    kept = [pending, leased, retried, scheduled.id, replayed]
    assert current(store, leased).locked_by == WORKER_A
    assert store.purge_terminal(NOW + 365 * DAY, 100) == 0
    assert all(current(store, nid).status in (Status.PENDING, Status.SCHEDULED) for nid in kept)


def test_a_purged_notifications_idempotency_key_makes_a_new_notification(store: Store) -> None:
    """A key is remembered as long as its notification is kept: a replay until the purge, a new
    notification after it."""
    first = cancelled(store, OLD, key="order-17")
    (replay,) = store.insert_many([make(key="order-17")], NOW)
    assert not replay.created and replay.notification.id == first
    assert store.purge_terminal(CUTOFF, 100) == 1
    again = make(key="order-17", request_hash="another request")
    (result,) = store.insert_many([again], NOW)
    assert result.created and not result.conflict
    assert result.notification.id == again.id != first
    assert current(store, again.id).idempotency_key == "order-17"
