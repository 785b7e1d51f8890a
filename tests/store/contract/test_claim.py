"""The store contract, claims: ``claim_batch`` (order, limits, leases, attempts, burials),
``claim_ids`` (the broker path) and ``finish_and_claim_ids``.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from notifyctl.ids import new_id
from notifyctl.model import FinishReport, Notification, Outcome, Priority, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    WORKER_B,
    assert_lease_cleared,
    claim_one,
    current,
    insert,
    insert_one,
    make,
    taken_over,
)

# --- claim_batch ----------------------------------------------------------------------------------


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


# --- claim_ids ------------------------------------------------------------------------------------


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


@pytest.mark.adapter_may_differ("claim_ids burial")
def test_claim_by_id_never_claims_an_exhausted_notification_and_reports_any_it_buries(
    store: Store, adapter_gives: bool
) -> None:
    """An adapter may bury it here or leave it to claim_batch; either way nothing is hidden:
    what it buried it reports, and what it left stays due for the sweep to bury."""
    exhausted = insert_one(store, make(max_attempts=1))
    claim = claim_one(store, WORKER_A, NOW)
    buried: list[Notification] = []
    assert store.claim_ids([exhausted.id], WORKER_B, claim.lock_expiry, LEASE, buried) == []
    buries_here = adapter_gives
    assert [n.id for n in buried] == ([exhausted.id] if buries_here else [])
    assert current(store, exhausted.id).status == (Status.DEAD if buries_here else Status.PENDING)


def test_claim_ids_claims_a_repeated_id_once(store: Store) -> None:
    notification = insert_one(store)
    claims = store.claim_ids([notification.id, notification.id], WORKER_A, NOW, LEASE)
    assert [c.id for c in claims] == [notification.id]
    assert current(store, notification.id).attempts == 1


def test_claim_ids_of_nothing_is_nothing(store: Store) -> None:
    assert store.claim_ids([], WORKER_A, NOW, LEASE) == []


# --- finish_and_claim_ids -------------------------------------------------------------------------


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
