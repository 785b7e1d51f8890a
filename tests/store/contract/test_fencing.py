"""The store contract, writes under a lease: ``renew`` and ``finish``, each fenced on the claim
that holds the lease; a stale write is refused and changes nothing.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from notifyctl.model import Outcome, Status, Verdict
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

# --- renew ----------------------------------------------------------------------------------------


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


# --- finish ---------------------------------------------------------------------------------------


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


# --- stale writes ---------------------------------------------------------------------------------


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
