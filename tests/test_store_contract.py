"""The store contract: behaviour every store adapter promises (see ``notifyctl/store/base.py``).

Every test in the contract section takes the ``store`` fixture, parametrised over every adapter in
``tests/conftest.py``, and relies only on what the port's docstrings and ``notifyctl.lease`` state.
Time is always passed in explicitly: nothing here sleeps or reads the clock.

SQLite-only checks (query plans, journal mode) live in their own section at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from notifyctl.model import (
    Claim,
    FinishReport,
    NewNotification,
    Notification,
    Outcome,
    Priority,
    Status,
    Verdict,
    WorkerRecord,
    new_id,
)
from notifyctl.store import Store
from notifyctl.store.sqlite import SqliteStore
from notifyctl.store.sqlite.connection import path_of
from notifyctl.store.sqlite.leases import CLAIM_CANDIDATES

NOW = 1_800_000_000_000
LEASE = 30_000
WORKER_A = "host-a-101-aaaaaaaa"
WORKER_B = "host-b-202-bbbbbbbb"


def make(
    *,
    key: str | None = None,
    request_hash: str = "hash-1",
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
        channel="webhook",
        to="https://example.test/hook",
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
    results = store.insert_many(items, now)
    assert all(result.created for result in results)
    return [result.notification for result in results]


def insert_one(store: Store, item: NewNotification | None = None, now: int = NOW) -> Notification:
    (notification,) = insert(store, item or make(), now=now)
    return notification


def claim_one(store: Store, worker: str, now: int, lease_ms: int = LEASE) -> Claim:
    """Claim with room to spare, and check that exactly one notification was claimable."""
    claims = store.claim_batch(worker, 10, now, lease_ms)
    assert len(claims) == 1, claims
    return claims[0]


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


# --- insert_many -------------------------------------------------------------------------------


def test_insert_creates_a_pending_notification(store: Store) -> None:
    item = make(key="key-1")
    (result,) = store.insert_many([item], NOW)
    assert result.created
    assert not result.conflict
    assert result.notification.id == item.id
    assert result.notification.status == Status.PENDING
    assert result.notification.attempts == 0
    assert current(store, item.id) == result.notification


def test_insert_with_a_future_schedule_is_scheduled(store: Store) -> None:
    item = make(scheduled_for=NOW + 60_000)
    (result,) = store.insert_many([item], NOW)
    assert result.notification.status == Status.SCHEDULED
    assert current(store, item.id).status == Status.SCHEDULED


def test_insert_scheduled_for_now_is_pending(store: Store) -> None:
    assert insert_one(store, make(scheduled_for=NOW)).status == Status.PENDING


def test_idempotent_replay_returns_the_first_notification(store: Store) -> None:
    first = make(key="key-1", request_hash="same")
    insert_one(store, first)
    replay = make(key="key-1", request_hash="same")
    (result,) = store.insert_many([replay], NOW + 5)
    assert not result.created
    assert not result.conflict
    assert result.notification == current(store, first.id)
    assert store.get(replay.id) is None


def test_same_key_with_a_different_request_is_a_conflict(store: Store) -> None:
    first = make(key="key-1", request_hash="first body")
    insert_one(store, first)
    other = make(key="key-1", request_hash="another body")
    (result,) = store.insert_many([other], NOW + 5)
    assert not result.created
    assert result.conflict
    assert result.notification.id == first.id
    assert result.notification.request_hash == "first body"
    assert store.get(other.id) is None


def test_insert_many_returns_results_in_order(store: Store) -> None:
    items = [make(key=f"key-{i}", priority=Priority(i % 3)) for i in range(5)]
    results = store.insert_many(items, NOW)
    assert [r.notification.id for r in results] == [item.id for item in items]
    assert all(r.created and not r.conflict for r in results)
    for item in items:
        assert current(store, item.id).idempotency_key == item.idempotency_key


def test_insert_many_mixes_new_items_and_replays_in_order(store: Store) -> None:
    existing = insert_one(store, make(key="old"))
    fresh, replay, clash = make(key="new"), make(key="old"), make(key="old", request_hash="x")
    results = store.insert_many([fresh, replay, clash], NOW + 1)
    assert [(r.created, r.conflict) for r in results] == [
        (True, False),
        (False, False),
        (False, True),
    ]
    assert [r.notification.id for r in results] == [fresh.id, existing.id, existing.id]


def test_a_key_repeated_within_one_call_creates_one_notification(store: Store) -> None:
    first, again = make(key="dup"), make(key="dup")
    results = store.insert_many([first, again], NOW)
    assert results[0].created
    assert not results[1].created
    assert not results[1].conflict
    assert results[1].notification.id == first.id
    assert store.get(again.id) is None


def test_notifications_without_a_key_are_never_deduplicated(store: Store) -> None:
    items = [make(key=None), make(key=None)]
    results = store.insert_many(items, NOW)
    assert all(r.created for r in results)
    assert store.counts(NOW)[Status.PENDING] == 2


# --- get ---------------------------------------------------------------------------------------


def test_get_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.get(new_id(NOW)) is None


def test_get_round_trips_every_field(store: Store) -> None:
    data = {"order": {"id": 42, "items": [1, 2.5, "three", None, True]}, "note": "héllo ✓"}
    item = make(
        key="key-rt",
        request_hash="abc123",
        priority=Priority.HIGH,
        scheduled_for=NOW + 1_000,
        max_attempts=7,
        data=data,
        created_at=NOW - 50,
    )
    expected = Notification(
        id=item.id, user_id="user-1", channel="webhook", to="https://example.test/hook",
        title="Hello", body="World", data=data, priority=Priority.HIGH, status=Status.SCHEDULED,
        scheduled_for=NOW + 1_000, available_at=NOW + 1_000, attempts=0, max_attempts=7,
        last_error=None, idempotency_key="key-rt", request_hash="abc123", locked_by=None,
        locked_at=None, lock_expiry=None, lock_version=0, created_at=NOW - 50, updated_at=NOW,
        sent_at=None,
    )  # fmt: skip
    (result,) = store.insert_many([item], NOW)
    assert result.notification == expected
    found = current(store, item.id)
    assert found == expected
    assert isinstance(found.priority, Priority)
    assert isinstance(found.status, Status)


def test_get_round_trips_absent_optional_fields(store: Store) -> None:
    item = NewNotification(
        id=new_id(NOW), user_id="u", channel="log", to=None, title=None, body=None, data={},
        priority=Priority.LOW, scheduled_for=NOW, max_attempts=1, idempotency_key=None,
        request_hash="h", created_at=NOW,
    )  # fmt: skip
    found = current(store, insert_one(store, item).id)
    assert (found.to, found.title, found.body, found.idempotency_key) == (None, None, None, None)
    assert found.data == {}
    assert found.priority == Priority.LOW


def test_get_shows_the_lease_of_a_claim(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW + 10)
    found = current(store, notification.id)
    assert found.locked_by == WORKER_A
    assert found.locked_at == NOW + 10
    assert found.lock_expiry == NOW + 10 + LEASE
    assert found.lock_version == claim.lock_version
    assert found.attempts == 1
    assert found.is_locked(NOW + 10)


# --- cancel ------------------------------------------------------------------------------------


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


# --- claim_batch -------------------------------------------------------------------------------


def test_claim_returns_the_lease_it_won(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    assert claim.id == notification.id
    assert claim.worker_id == WORKER_A
    assert claim.lock_expiry == NOW + LEASE
    assert claim.lock_version > notification.lock_version
    assert claim.notification.attempts == 1
    assert claim.notification.locked_by == WORKER_A
    assert claim.lock_version == current(store, notification.id).lock_version


def test_claim_respects_the_limit(store: Store) -> None:
    insert(store, *(make() for _ in range(5)))
    first = store.claim_batch(WORKER_A, 2, NOW, LEASE)
    second = store.claim_batch(WORKER_B, 2, NOW, LEASE)
    third = store.claim_batch(WORKER_B, 2, NOW, LEASE)
    assert (len(first), len(second), len(third)) == (2, 2, 1)
    ids = {c.id for c in first + second + third}
    assert len(ids) == 5
    assert store.claim_batch(WORKER_A, 2, NOW, LEASE) == []


def test_claim_with_nothing_due_returns_nothing(store: Store) -> None:
    assert store.claim_batch(WORKER_A, 10, NOW, LEASE) == []


def test_claim_takes_highest_priority_then_earliest_due_first(store: Store) -> None:
    low = make(priority=Priority.LOW, scheduled_for=NOW - 5_000)
    normal_late = make(priority=Priority.NORMAL, scheduled_for=NOW - 1_000)
    normal_early = make(priority=Priority.NORMAL, scheduled_for=NOW - 3_000)
    high = make(priority=Priority.HIGH, scheduled_for=NOW - 10)
    insert(store, low, normal_late, normal_early, high, now=NOW - 10_000)
    claims = store.claim_batch(WORKER_A, 10, NOW, LEASE)
    assert [c.id for c in claims] == [high.id, normal_early.id, normal_late.id, low.id]


def test_claim_with_a_small_limit_picks_the_most_urgent(store: Store) -> None:
    low = make(priority=Priority.LOW, scheduled_for=NOW - 5_000)
    normal_late = make(priority=Priority.NORMAL, scheduled_for=NOW - 1_000)
    normal_early = make(priority=Priority.NORMAL, scheduled_for=NOW - 3_000)
    high = make(priority=Priority.HIGH, scheduled_for=NOW - 10)
    insert(store, low, normal_late, normal_early, high, now=NOW - 10_000)
    assert [c.id for c in store.claim_batch(WORKER_A, 2, NOW, LEASE)] == [high.id, normal_early.id]
    assert [c.id for c in store.claim_batch(WORKER_A, 1, NOW, LEASE)] == [normal_late.id]
    assert [c.id for c in store.claim_batch(WORKER_A, 1, NOW, LEASE)] == [low.id]


def test_a_long_waiting_low_notification_is_claimed_before_fresh_high_ones(
    store: Store,
) -> None:
    """Priority ageing (``NOTIFYCTL_PRIORITY_AGEING_MS``, 60 s by default): a due notification
    rises a level per period waited, so sustained ``high`` traffic cannot starve ``low``."""
    hour = 3_600_000
    fresh_high = [make(priority=Priority.HIGH, scheduled_for=NOW - 1_000 * i) for i in range(3)]
    fresh_normal = make(priority=Priority.NORMAL, scheduled_for=NOW - 30_000)
    old_low = make(priority=Priority.LOW, scheduled_for=NOW - hour)
    old_normal = make(priority=Priority.NORMAL, scheduled_for=NOW - 90_000)
    insert(store, *fresh_high, fresh_normal, old_low, old_normal)
    first = store.claim_batch(WORKER_A, 2, NOW, LEASE)
    assert {c.id for c in first} == {old_low.id, old_normal.id}  # level high, waited longest
    rest = store.claim_batch(WORKER_A, 10, NOW, LEASE)
    assert [c.id for c in rest[:3]] == [n.id for n in reversed(fresh_high)]  # high, earliest first
    assert rest[3].id == fresh_normal.id


def test_a_notification_not_yet_due_is_not_claimed(store: Store) -> None:
    later = insert_one(store, make(scheduled_for=NOW + 60_000))
    assert store.claim_batch(WORKER_A, 10, NOW + 59_999, LEASE) == []
    assert claim_one(store, WORKER_A, NOW + 60_000).id == later.id


def test_claim_is_refused_while_lease_is_live(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    assert store.claim_batch(WORKER_B, 10, NOW + 1, LEASE) == []
    assert store.claim_batch(WORKER_B, 10, claim.lock_expiry - 1, LEASE) == []
    assert store.claim_batch(WORKER_A, 10, claim.lock_expiry - 1, LEASE) == []


def test_an_expired_lease_is_claimable_and_bumps_the_fencing_token(store: Store) -> None:
    old, new = taken_over(store)
    assert new.id == old.id
    assert new.worker_id == WORKER_B
    assert new.lock_version > old.lock_version
    found = current(store, old.id)
    assert found.locked_by == WORKER_B
    assert found.lock_version == new.lock_version
    assert found.lock_expiry == old.lock_expiry + LEASE


def test_each_claim_counts_as_an_attempt(store: Store) -> None:
    notification = insert_one(store, make(max_attempts=3))
    at = NOW
    for attempt in (1, 2, 3):
        claim = claim_one(store, WORKER_A, at)
        assert claim.notification.attempts == attempt
        assert current(store, notification.id).attempts == attempt
        at = claim.lock_expiry


def test_an_expired_lease_on_the_last_attempt_makes_it_dead(store: Store) -> None:
    notification = insert_one(store, make(max_attempts=1))
    claim = claim_one(store, WORKER_A, NOW)
    assert store.claim_batch(WORKER_B, 10, claim.lock_expiry, LEASE) == []
    found = current(store, notification.id)
    assert found.status == Status.DEAD
    assert found.attempts == 1
    assert found.last_error
    assert_lease_cleared(found)
    assert store.finish([Outcome(claim, Verdict.SENT)], claim.lock_expiry).stale == (claim.id,)


def test_claim_buries_exhausted_notifications_and_still_claims_the_rest(store: Store) -> None:
    exhausted = insert_one(store, make(max_attempts=1, scheduled_for=NOW - 1))
    claim_one(store, WORKER_A, NOW)
    fresh = insert_one(store, make(scheduled_for=NOW + LEASE), now=NOW)
    after = NOW + LEASE
    # "up to limit": a batch may come back short while it buries; the next one must not
    buried: list[Notification] = []
    claimed = store.claim_batch(WORKER_B, 10, after, LEASE, buried)
    claimed += store.claim_batch(WORKER_B, 10, after, LEASE, buried)
    assert [c.id for c in claimed] == [fresh.id]
    assert current(store, exhausted.id).status == Status.DEAD
    # reported as it now stands, so the worker can dead-letter it
    assert [n.id for n in buried] == [exhausted.id]
    assert buried[0].status == Status.DEAD and buried[0].last_error
    assert buried[0] == current(store, exhausted.id)


def test_terminal_notifications_are_never_claimed(store: Store) -> None:
    sent, dead, cancelled = insert(store, make(), make(), make())
    assert store.cancel(cancelled.id, NOW)[0] == "cancelled"
    claims = {c.id: c for c in store.claim_batch(WORKER_A, 10, NOW, LEASE)}
    assert set(claims) == {sent.id, dead.id}
    outcomes = [
        Outcome(claims[sent.id], Verdict.SENT),
        Outcome(claims[dead.id], Verdict.DEAD, error="HTTP 410"),
    ]
    assert store.finish(outcomes, NOW + 1).applied == 2
    assert store.claim_batch(WORKER_B, 10, NOW + 100 * LEASE, LEASE) == []


# --- renew -------------------------------------------------------------------------------------


def test_renew_extends_the_lease(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    renewed_at = claim.lock_expiry - 1
    assert store.renew([claim], renewed_at, LEASE) == []
    found = current(store, notification.id)
    assert found.lock_expiry == renewed_at + LEASE
    assert found.lock_version == claim.lock_version
    assert store.claim_batch(WORKER_B, 10, claim.lock_expiry, LEASE) == []
    assert store.claim_batch(WORKER_B, 10, renewed_at + LEASE - 1, LEASE) == []
    assert claim_one(store, WORKER_B, renewed_at + LEASE).worker_id == WORKER_B


def test_a_renewed_claim_can_still_finish(store: Store) -> None:
    notification = insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    store.renew([claim], NOW + LEASE - 1, LEASE)
    assert store.finish([Outcome(claim, Verdict.SENT)], NOW + LEASE + 1).applied == 1
    assert current(store, notification.id).status == Status.SENT


def test_renew_reports_a_taken_over_claim_as_lost(store: Store) -> None:
    old, new = taken_over(store)
    later = old.lock_expiry + 1
    assert store.renew([old], later, LEASE) == [old.id]
    found = current(store, old.id)
    assert found.locked_by == WORKER_B
    assert found.lock_expiry == new.lock_expiry


def test_renew_reports_only_the_lost_claims(store: Store) -> None:
    old, new = taken_over(store)
    insert_one(store, now=old.lock_expiry)
    kept = claim_one(store, WORKER_A, old.lock_expiry)
    renewed_at = old.lock_expiry + 1
    assert store.renew([old, kept], renewed_at, LEASE) == [old.id]
    assert current(store, kept.id).lock_expiry == renewed_at + LEASE
    assert current(store, new.id).lock_expiry == new.lock_expiry


def test_renew_of_a_finished_claim_is_lost(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    assert store.renew([claim], NOW + 2, LEASE) == [claim.id]
    assert current(store, claim.id).lock_expiry is None


# --- finish ------------------------------------------------------------------------------------


def test_finish_sent_marks_it_sent_and_clears_the_lease(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    report = store.finish([Outcome(claim, Verdict.SENT)], NOW + 5)
    assert report.applied == 1
    assert report.stale == ()
    found = current(store, claim.id)
    assert found.status == Status.SENT
    assert found.sent_at == NOW + 5
    assert found.attempts == 1
    assert_lease_cleared(found)


def test_finish_retry_schedules_the_next_attempt(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    retry_at = NOW + 10_000
    outcome = Outcome(claim, Verdict.RETRY, error="HTTP 503", retry_at=retry_at)
    assert store.finish([outcome], NOW + 5).applied == 1
    found = current(store, claim.id)
    assert found.status == Status.SCHEDULED
    assert found.available_at == retry_at
    assert found.attempts == 1
    assert found.last_error == "HTTP 503"
    assert_lease_cleared(found)
    assert store.claim_batch(WORKER_B, 10, retry_at - 1, LEASE) == []
    again = claim_one(store, WORKER_B, retry_at)
    assert again.notification.attempts == 2
    assert again.lock_version > claim.lock_version


def test_finish_retry_due_at_once_is_pending(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    outcome = Outcome(claim, Verdict.RETRY, error="reset", retry_at=NOW + 5)
    store.finish([outcome], NOW + 5)
    found = current(store, claim.id)
    assert found.status == Status.PENDING
    assert found.available_at == NOW + 5
    assert claim_one(store, WORKER_B, NOW + 5).id == claim.id


def test_finish_dead_marks_it_dead_with_the_error(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    assert store.finish([Outcome(claim, Verdict.DEAD, error="HTTP 410")], NOW + 5).applied == 1
    found = current(store, claim.id)
    assert found.status == Status.DEAD
    assert found.last_error == "HTTP 410"
    assert found.attempts == 1
    assert_lease_cleared(found)


def test_finish_release_gives_the_attempt_back(store: Store) -> None:
    insert_one(store, make(max_attempts=1))
    claim = claim_one(store, WORKER_A, NOW)
    assert store.finish([Outcome(claim, Verdict.RELEASE)], NOW + 5).applied == 1
    found = current(store, claim.id)
    assert found.status == Status.PENDING
    assert found.attempts == 0
    assert found.available_at <= NOW + 5
    assert_lease_cleared(found)
    again = claim_one(store, WORKER_B, NOW + 5)
    assert again.notification.attempts == 1


def test_finish_interrupted_on_the_last_attempt_gives_it_back_with_a_truthful_entry(
    store: Store,
) -> None:
    """A graceful stop cut the final attempt short: never dead, due again with the attempt
    returned, and the history names the time, the attempt and the worker."""
    insert_one(store, make(max_attempts=1))
    claim = claim_one(store, WORKER_A, NOW)
    outcome = Outcome(claim, Verdict.INTERRUPTED, error="interrupted: the worker stopped")
    assert store.finish([outcome], NOW + 5).applied == 1
    found = current(store, claim.id)
    assert (found.status, found.attempts) == (Status.PENDING, 0)
    assert found.available_at <= NOW + 5
    assert_lease_cleared(found)
    history = store.history(claim.id)
    assert history is not None
    assert [(h.outcome, h.at, h.attempt, h.worker, h.started_at, h.error) for h in history] == [
        ("interrupted", NOW + 5, 1, WORKER_A, NOW, "interrupted: the worker stopped")
    ]
    again = claim_one(store, WORKER_B, NOW + 5)  # claimed, not buried as out of attempts
    assert again.notification.attempts == 1


def test_an_unleased_notification_out_of_attempts_is_buried_with_no_made_up_entry(
    store: Store,
) -> None:
    """Rows an earlier release left pending with every attempt used and no lease (its shutdown
    retried the final attempt) are buried; both adapters then write the same history: no
    ``lease_expired`` entry without a lease, time or worker to show."""
    insert_one(store, make(max_attempts=1))
    claim = claim_one(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.RETRY, "interrupted", NOW + 5)], NOW + 5)
    buried: list[Notification] = []
    assert store.claim_batch(WORKER_B, 10, NOW + 10, LEASE, buried) == []
    assert [n.id for n in buried] == [claim.id]
    history = store.history(claim.id)
    assert history is not None
    assert [h.outcome for h in history] == ["retry"]
    assert all(h.at is not None and h.worker is not None for h in history)


def test_a_stale_finish_is_refused_and_changes_nothing(store: Store) -> None:
    old, new = taken_over(store)
    before = current(store, old.id)
    for verdict in Verdict:
        outcome = Outcome(old, verdict, error="late", retry_at=old.lock_expiry + 99)
        report = store.finish([outcome], old.lock_expiry + 1)
        assert report.applied == 0
        assert report.stale == (old.id,)
        assert current(store, old.id) == before
    assert store.finish([Outcome(new, Verdict.SENT)], old.lock_expiry + 2).applied == 1


def test_a_workers_own_earlier_claim_is_fenced_out_once_it_claimed_again(store: Store) -> None:
    insert_one(store)
    stalled = claim_one(store, WORKER_A, NOW)
    again = claim_one(store, WORKER_A, stalled.lock_expiry)
    assert again.lock_version > stalled.lock_version
    before = current(store, stalled.id)
    report = store.finish([Outcome(stalled, Verdict.SENT)], stalled.lock_expiry + 1)
    assert report.stale == (stalled.id,)
    assert store.renew([stalled], stalled.lock_expiry + 1, LEASE) == [stalled.id]
    assert current(store, stalled.id) == before
    assert store.finish([Outcome(again, Verdict.SENT)], stalled.lock_expiry + 2).applied == 1


def test_a_stale_and_a_fresh_claim_on_one_notification_in_one_call(store: Store) -> None:
    insert_one(store)
    stalled = claim_one(store, WORKER_A, NOW)
    again = claim_one(store, WORKER_A, stalled.lock_expiry)
    outcomes = [Outcome(stalled, Verdict.DEAD, error="late"), Outcome(again, Verdict.SENT)]
    report = store.finish(outcomes, stalled.lock_expiry + 1)
    assert report.applied == 1
    assert report.stale == (stalled.id,)
    assert current(store, again.id).status == Status.SENT


def test_the_same_outcome_twice_in_one_call_is_applied_once(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    report = store.finish([Outcome(claim, Verdict.SENT), Outcome(claim, Verdict.SENT)], NOW + 1)
    assert report.applied == 1
    assert report.stale == (claim.id,)


def test_finish_applies_fresh_outcomes_and_reports_stale_ones_in_one_call(store: Store) -> None:
    old, new = taken_over(store)
    other = insert_one(store, make(scheduled_for=old.lock_expiry), now=NOW)
    fresh = claim_one(store, WORKER_A, old.lock_expiry)
    assert fresh.id == other.id
    report = store.finish(
        [Outcome(old, Verdict.SENT), Outcome(fresh, Verdict.SENT)], old.lock_expiry + 1
    )
    assert report.applied == 1
    assert report.stale == (old.id,)
    assert current(store, fresh.id).status == Status.SENT
    assert current(store, new.id).status == Status.PENDING
    assert current(store, new.id).locked_by == WORKER_B


def test_a_second_finish_of_a_sent_claim_is_refused(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    sent = current(store, claim.id)
    for verdict in (Verdict.SENT, Verdict.RETRY, Verdict.RELEASE):
        report = store.finish([Outcome(claim, verdict, error="again")], NOW + 2)
        assert report.applied == 0
        assert report.stale == (claim.id,)
    assert current(store, claim.id) == sent


def test_a_sent_notification_is_never_claimed_again(store: Store) -> None:
    insert_one(store)
    claim = claim_one(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    assert store.claim_batch(WORKER_B, 10, NOW + 100 * LEASE, LEASE) == []


# --- counts ------------------------------------------------------------------------------------


def test_counts_of_an_empty_store_are_zero(store: Store) -> None:
    assert store.counts(NOW) == {**{status.value: 0 for status in Status}, "locked": 0}


def test_counts_by_status_plus_live_leases(store: Store) -> None:
    expired, leased, sent, dead = (make(scheduled_for=NOW - 4 + i) for i in range(4))
    cancelled, scheduled = make(), make(scheduled_for=NOW + 60_000)
    insert(store, expired, leased, sent, dead, cancelled, scheduled)
    store.cancel(cancelled.id, NOW)
    assert [c.id for c in store.claim_batch(WORKER_B, 1, NOW, 10)] == [expired.id]
    claims = {c.id: c for c in store.claim_batch(WORKER_A, 3, NOW, LEASE)}
    assert set(claims) == {leased.id, sent.id, dead.id}
    store.finish(
        [Outcome(claims[sent.id], Verdict.SENT), Outcome(claims[dead.id], Verdict.DEAD)], NOW
    )
    assert store.counts(NOW + 100) == {
        "pending": 2, "scheduled": 1, "sent": 1, "dead": 1, "cancelled": 1, "locked": 1,
    }  # fmt: skip
    assert store.counts(NOW + LEASE)["locked"] == 0


# --- workers -----------------------------------------------------------------------------------


def worker_record(worker_id: str, number: int, started_at: int = NOW) -> WorkerRecord:
    return WorkerRecord(
        id=worker_id, worker_number=number, host="host", pid=1000 + number,
        started_at=started_at, last_heartbeat=started_at, in_flight=0, processed=0,
    )  # fmt: skip


def test_registered_workers_are_listed(store: Store) -> None:
    records = [worker_record(WORKER_A, 1), worker_record(WORKER_B, 2)]
    for record in records:
        store.register_worker(record)
    assert sorted(store.workers(), key=lambda w: w.id) == sorted(records, key=lambda w: w.id)


def test_no_workers_are_listed_before_any_registers(store: Store) -> None:
    assert store.workers() == []


def test_heartbeat_records_liveness_and_progress(store: Store) -> None:
    store.register_worker(worker_record(WORKER_A, 1))
    store.heartbeat(WORKER_A, NOW + 5_000, in_flight=7, processed=42)
    (record,) = store.workers()
    assert record == replace(
        worker_record(WORKER_A, 1), last_heartbeat=NOW + 5_000, in_flight=7, processed=42
    )


def test_registering_again_replaces_the_worker_row(store: Store) -> None:
    store.register_worker(worker_record(WORKER_A, 1))
    store.heartbeat(WORKER_A, NOW + 5_000, in_flight=7, processed=42)
    restarted = worker_record(WORKER_A, 1, started_at=NOW + 9_000)
    store.register_worker(restarted)
    assert store.workers() == [restarted]


def test_deregister_removes_only_that_worker(store: Store) -> None:
    store.register_worker(worker_record(WORKER_A, 1))
    store.register_worker(worker_record(WORKER_B, 2))
    store.deregister_worker(WORKER_A)
    assert [w.id for w in store.workers()] == [WORKER_B]
    store.deregister_worker(WORKER_B)
    assert store.workers() == []


def test_prune_removes_only_the_rows_of_workers_silent_since_before_the_cutoff(
    store: Store,
) -> None:
    store.register_worker(replace(worker_record(WORKER_A, 1), last_heartbeat=NOW - 7_200_000))
    store.register_worker(replace(worker_record(WORKER_B, 2), last_heartbeat=NOW - 60_000))
    assert store.prune_workers(NOW - 3_600_000) == 1
    assert [w.id for w in store.workers()] == [WORKER_B]
    assert store.prune_workers(NOW - 3_600_000) == 0


def test_ping_succeeds_on_an_open_store(store: Store) -> None:
    store.ping()


# === SQLite-specific checks ====================================================================
# Not part of the contract: they pin down how the embedded adapter meets it.


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(f"sqlite:///{tmp_path / 'notifyctl.db'}")
    yield opened
    opened.close()


def query_plan(database: Path, sql: str, params: tuple[object, ...]) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        conn.close()


def test_sqlite_claim_candidates_walk_the_partial_claim_index(sqlite_store: SqliteStore) -> None:
    insert(sqlite_store, *(make(priority=Priority(i % 3)) for i in range(30)))
    plan = query_plan(
        path_of(sqlite_store.url), CLAIM_CANDIDATES, (int(Priority.HIGH), NOW, NOW - 60_000, 50)
    )
    assert any("USING INDEX notifications_claim" in step for step in plan), plan
    assert not any(step.startswith("SCAN") and "INDEX" not in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_sqlite_store_runs_in_wal_mode(sqlite_store: SqliteStore) -> None:
    conn = sqlite3.connect(path_of(sqlite_store.url))
    try:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    assert mode == "wal"


def test_claim_by_id_never_claims_an_exhausted_notification_and_reports_any_it_buries(
    store: Store,
) -> None:
    exhausted = insert_one(store, make(max_attempts=1))
    claim = claim_one(store, WORKER_A, NOW)
    buried: list[Notification] = []
    assert store.claim_ids([exhausted.id], WORKER_B, claim.lock_expiry, LEASE, buried) == []
    found = current(store, exhausted.id)
    # an adapter may bury it here or leave it to claim_batch; either way nothing is hidden
    assert [n.id for n in buried] == ([exhausted.id] if found.status == Status.DEAD else [])


def test_finish_and_claim_by_id_is_finish_then_claim(store: Store) -> None:
    done, next_one, taken = (insert_one(store, make()) for _ in range(3))
    (first,) = store.claim_ids([done.id], WORKER_A, NOW, LEASE)
    (elsewhere,) = store.claim_ids([taken.id], WORKER_B, NOW, LEASE)
    stale = Outcome(replace(elsewhere, worker_id=WORKER_A), Verdict.SENT)
    report, claims = store.finish_and_claim_ids(
        [Outcome(first, Verdict.SENT), stale], [next_one.id, taken.id, done.id],
        WORKER_A, NOW + 1, LEASE,
    )  # fmt: skip
    assert report.applied == 1 and report.stale == (taken.id,)
    assert [c.id for c in claims] == [next_one.id]  # taken is leased by B, done is sent
    assert current(store, done.id).status == Status.SENT
    assert current(store, next_one.id).locked_by == WORKER_A
    assert current(store, taken.id).locked_by == WORKER_B


def test_finish_and_claim_by_id_with_nothing_to_claim_still_finishes(store: Store) -> None:
    notification = insert_one(store, make())
    (claim,) = store.claim_ids([notification.id], WORKER_A, NOW, LEASE)
    report, claims = store.finish_and_claim_ids(
        [Outcome(claim, Verdict.SENT)], [], WORKER_A, NOW + 1, LEASE
    )
    assert (report.applied, claims) == (1, [])
    assert current(store, notification.id).status == Status.SENT
    assert store.finish_and_claim_ids([], [], WORKER_A, NOW + 2, LEASE) == (FinishReport(), [])
