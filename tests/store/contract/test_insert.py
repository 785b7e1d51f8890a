"""The store contract, inserts and reads: ``insert_many`` (idempotency keys, replays, conflicts,
order), ``get`` round trips and the listings.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from notifyctl.errors import StoreError
from notifyctl.ids import new_id
from notifyctl.model import NewNotification, Notification, Priority, Status
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    claim_one,
    current,
    insert,
    insert_one,
    make,
)

# --- insert_many ----------------------------------------------------------------------------------


def test_insert_creates_a_pending_notification(store: Store) -> None:
    item = make(key="key-1")
    (result,) = store.insert_many([item], NOW)
    assert result.created
    assert not result.conflict
    assert result.notification.id == item.id
    assert result.notification.status == Status.PENDING
    assert result.notification.attempts == 0
    assert current(store, item.id) == result.notification


@pytest.mark.adapter_may_differ("insert_many all or nothing")
def test_a_colliding_id_is_an_error_never_a_silent_replay(
    store: Store, adapter_gives: bool
) -> None:
    """Only a repeated idempotency key is a replay. An id that already exists (a collision of
    random ids: astronomically unlikely, and never to be answered "created" while the store
    holds another notification under it) fails the call; the existing notification is intact."""
    existing = insert_one(store, make(key="key-1"))
    fresh, twin = make(), replace(make(), id=existing.id, request_hash="another")
    with pytest.raises(StoreError):
        store.insert_many([fresh, twin], NOW)
    assert current(store, existing.id) == existing
    assert (store.get(fresh.id) is None) is adapter_gives


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


# --- get ------------------------------------------------------------------------------------------


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


def test_any_json_data_round_trips(store: Store) -> None:
    data = {"big": 2**70, "$where": "x", "a.b": [1, {"$gt": None}], "nul\u0000key": -0.5}
    notification = insert_one(store, make(data=data))
    assert current(store, notification.id).data == data


# --- list_notifications ---------------------------------------------------------------------------


def test_listings_are_newest_first_with_a_cursor(store: Store) -> None:
    ids = [n.id for n in insert(store, *(make(created_at=NOW + i) for i in range(5)))]
    newest_first = ids[::-1]
    assert [n.id for n in store.list_notifications(None, None, 10, None)] == newest_first
    page = store.list_notifications(None, None, 2, None)
    assert [n.id for n in page] == newest_first[:2]
    rest = store.list_notifications(None, None, 10, page[-1].id)
    assert [n.id for n in rest] == newest_first[2:]


def test_listings_filter_by_status_and_user(store: Store) -> None:
    mine, theirs, cancelled = insert(
        store,
        make(created_at=NOW),
        replace(make(created_at=NOW + 1), user_id="user-2"),
        make(created_at=NOW + 2),
    )
    store.cancel(cancelled.id, NOW)
    pending = store.list_notifications(Status.PENDING.value, None, 10, None)
    assert [n.id for n in pending] == [theirs.id, mine.id]
    assert [n.id for n in store.list_notifications(None, "user-2", 10, None)] == [theirs.id]
    both = store.list_notifications(Status.PENDING.value, "user-1", 10, None)
    assert [n.id for n in both] == [mine.id]
    assert store.list_notifications(Status.SENT.value, None, 10, None) == []
