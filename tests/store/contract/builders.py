"""What the contract suite's tests build their stores from: fixed times, two workers, new
notifications, and the few calls most tests start with. Time is always passed in explicitly."""

from __future__ import annotations

from typing import Any

from notifyctl.ids import new_id
from notifyctl.model import (
    Claim,
    NewNotification,
    Notification,
    Outcome,
    Priority,
    Verdict,
)
from notifyctl.store import Store

NOW = 1_800_000_000_000
LEASE = 30_000
WORKER_A = "host-a-101-aaaaaaaa"
WORKER_B = "host-b-202-bbbbbbbb"


def make(
    *,
    key: str | None = None,
    request_hash: str = "hash-1",
    channel: str = "webhook",
    priority: Priority = Priority.NORMAL,
    scheduled_for: int = NOW,
    max_attempts: int = 3,
    data: dict[str, Any] | None = None,
    created_at: int = NOW,
) -> NewNotification:
    """A valid new notification; each call gets a fresh id."""
    return NewNotification(
        id=new_id(created_at),
        user_id="user-1",
        channel=channel,
        to="https://example.test/hook" if channel == "webhook" else None,
        title="Hello",
        body="World",
        data={} if data is None else data,
        priority=priority,
        scheduled_for=scheduled_for,
        max_attempts=max_attempts,
        idempotency_key=key,
        request_hash=request_hash,
        created_at=created_at,
    )


def insert(store: Store, *items: NewNotification, now: int = NOW) -> list[Notification]:
    """Insert, checking that each was created."""
    results = store.insert_many(items, now)
    assert all(result.created for result in results)
    return [result.notification for result in results]


def insert_one(store: Store, item: NewNotification | None = None, now: int = NOW) -> Notification:
    (notification,) = insert(store, item or make(), now=now)
    return notification


def add(store: Store, *items: NewNotification) -> list[str]:
    """Insert at ``NOW``; the new ids."""
    return [r.notification.id for r in store.insert_many(list(items), NOW)]


def claim_one(store: Store, worker: str, now: int, lease_ms: int = LEASE) -> Claim:
    """Claim with room to spare, and check that exactly one notification was claimable."""
    claims = store.claim_batch(worker, 10, now, lease_ms)
    assert len(claims) == 1, claims
    return claims[0]


def claim_all(store: Store, worker: str, now: int, limit: int = 100) -> list[Claim]:
    return store.claim_batch(worker, limit, now, LEASE)


def finish(
    store: Store, claim: Claim, verdict: Verdict, now: int, error: str | None = None
) -> None:
    """Write one outcome (a retry is due a second later), checking that it was applied."""
    retry_at = now + 1_000 if verdict is Verdict.RETRY else None
    report = store.finish([Outcome(claim, verdict, error, retry_at)], now)
    assert report.applied == 1


def kill(store: Store, notification_id: str, now: int, error: str = "HTTP 410") -> None:
    """Claim it and record a permanent failure: it ends dead at ``now``."""
    (claim,) = store.claim_ids([notification_id], WORKER_A, now, LEASE)
    finish(store, claim, Verdict.DEAD, now, error)


def current(store: Store, notification_id: str) -> Notification:
    found = store.get(notification_id)
    assert found is not None
    return found


def taken_over(store: Store) -> tuple[Claim, Claim]:
    """A's claim, and B's claim that took the notification over the moment A's lease expired."""
    insert_one(store)
    old = claim_one(store, WORKER_A, NOW)
    new = claim_one(store, WORKER_B, old.lock_expiry)
    return old, new


def assert_lease_cleared(notification: Notification) -> None:
    assert notification.locked_by is None
    assert notification.lock_expiry is None
