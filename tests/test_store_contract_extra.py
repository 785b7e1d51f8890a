"""The store contract, continued: claims by id (the broker path), listings, pool statistics, and
any JSON data.

Part of the contract suite: every test takes the ``store`` fixture, so it runs on every adapter.
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import Outcome, Status, Verdict, new_id
from notifyctl.store import Store
from tests.test_store_contract import (
    LEASE,
    NOW,
    WORKER_A,
    WORKER_B,
    current,
    insert,
    insert_one,
    make,
)


def test_claim_ids_leases_the_named_due_notifications(store: Store) -> None:
    first, second, other = insert(store, make(), make(), make())
    claims = store.claim_ids([second.id, first.id], WORKER_A, NOW, LEASE)
    assert {c.id for c in claims} == {first.id, second.id}
    for claim in claims:
        assert claim.worker_id == WORKER_A
        assert claim.lock_expiry == NOW + LEASE
        assert claim.notification.attempts == 1
        assert claim.lock_version == current(store, claim.id).lock_version
    assert current(store, other.id).locked_by is None


def test_claim_ids_skips_what_is_not_claimable(store: Store) -> None:
    leased, sent, cancelled = insert(store, make(), make(), make())
    later = insert_one(store, make(scheduled_for=NOW + 60_000))
    (claim,) = store.claim_ids([leased.id], WORKER_A, NOW, LEASE)
    (done,) = store.claim_ids([sent.id], WORKER_A, NOW, LEASE)
    store.finish([Outcome(done, Verdict.SENT)], NOW)
    store.cancel(cancelled.id, NOW)
    named = [leased.id, sent.id, cancelled.id, later.id, new_id(NOW)]
    assert store.claim_ids(named, WORKER_B, NOW + 1, LEASE) == []
    assert current(store, leased.id).lock_version == claim.lock_version


def test_claim_ids_takes_over_an_expired_lease(store: Store) -> None:
    notification = insert_one(store)
    (old,) = store.claim_ids([notification.id], WORKER_A, NOW, LEASE)
    (new,) = store.claim_ids([notification.id], WORKER_B, old.lock_expiry, LEASE)
    assert new.lock_version > old.lock_version
    assert new.notification.attempts == 2
    assert store.finish([Outcome(old, Verdict.SENT)], old.lock_expiry + 1).stale == (old.id,)


def test_claim_ids_never_claims_an_exhausted_notification(store: Store) -> None:
    notification = insert_one(store, make(max_attempts=1))
    (claim,) = store.claim_ids([notification.id], WORKER_A, NOW, LEASE)
    assert store.claim_ids([notification.id], WORKER_B, claim.lock_expiry, LEASE) == []
    assert store.claim_batch(WORKER_B, 10, claim.lock_expiry, LEASE) == []
    found = current(store, notification.id)
    assert found.status == Status.DEAD
    assert found.attempts == 1
    assert found.locked_by is None


def test_claim_ids_claims_a_repeated_id_once(store: Store) -> None:
    notification = insert_one(store)
    claims = store.claim_ids([notification.id, notification.id], WORKER_A, NOW, LEASE)
    assert [c.id for c in claims] == [notification.id]
    assert current(store, notification.id).attempts == 1


def test_claim_ids_of_nothing_is_nothing(store: Store) -> None:
    assert store.claim_ids([], WORKER_A, NOW, LEASE) == []


def test_pool_stats_report_the_spec_figures(store: Store) -> None:
    store.counts(NOW)
    stats = store.pool_stats()
    assert set(stats) >= {"poolSize", "activeConnections", "idleConnections", "pendingRequests"}
    assert all(isinstance(value, int) and value >= 0 for value in stats.values())
    assert stats["poolSize"] >= 1
    assert stats["activeConnections"] <= stats["openConnections"]


def test_any_json_data_round_trips(store: Store) -> None:
    data = {"big": 2**70, "$where": "x", "a.b": [1, {"$gt": None}], "nul\u0000key": -0.5}
    notification = insert_one(store, make(data=data))
    assert current(store, notification.id).data == data


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


def test_error_text_is_stored_as_given_even_when_it_looks_like_a_field_path(store: Store) -> None:
    """A receiver's error can say anything; MongoDB's pipeline updates read ``$x`` as a field."""
    retried, dead = insert(store, make(), make())
    claims = {c.id: c for c in store.claim_ids([retried.id, dead.id], WORKER_A, NOW, LEASE)}
    store.finish(
        [
            Outcome(claims[retried.id], Verdict.RETRY, "$status", NOW + 1_000),
            Outcome(claims[dead.id], Verdict.DEAD, "$$REMOVE"),
        ],
        NOW,
    )
    assert current(store, retried.id).last_error == "$status"
    assert current(store, dead.id).last_error == "$$REMOVE"
    history = store.history(dead.id)
    assert history is not None and history[-1].error == "$$REMOVE"


def test_finish_and_claim_by_id_claims_what_its_own_outcomes_made_claimable(
    store: Store,
) -> None:
    """Finish, *then* claim: a retry due at once, named by a wake-up in the same call (a
    redelivered wake-up for a notification in flight), is claimed again (found by the claim
    state machine: SQLite judged the ids before the outcomes were written)."""
    notification = insert_one(store, make())
    (claim,) = store.claim_ids([notification.id], WORKER_A, NOW, LEASE)
    retry = Outcome(claim, Verdict.RETRY, "HTTP 503", NOW + 1)
    report, claims = store.finish_and_claim_ids(
        [retry], [notification.id], WORKER_A, NOW + 1, LEASE
    )
    assert report.applied == 1
    assert [(c.id, c.lock_version, c.notification.attempts) for c in claims] == [
        (notification.id, claim.lock_version + 1, 2)
    ]
