"""The store contract, the dead-letter outbox: every death is marked in the write that makes it
dead, taken under a lease, cleared only by the lease that took it, and removed by a replay.

Every test takes ``outbox_store`` (a store of a deployment with a broker) or ``store`` (one
without): each runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from notifyctl.model import DeadLetter, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    add,
    claim_all,
    current,
    finish,
    kill,
    make,
)

#: the publisher's lease on the dead letters it took
HOLD = 60_000
LATER = NOW + 10 * HOLD


def take(store: Store, now: int, limit: int = 100) -> list[DeadLetter]:
    return store.take_dead_letters(limit, now, HOLD)


def test_a_death_is_marked_and_taken_as_the_notification_now_stands(outbox_store: Store) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW, "HTTP 410")
    (letter,) = take(outbox_store, NOW)
    assert letter.id == nid
    assert letter.notification.status is Status.DEAD
    assert letter.notification.last_error == "HTTP 410"


def test_a_taken_dead_letter_waits_out_its_lease_before_anyone_takes_it_again(
    outbox_store: Store,
) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW)
    (first,) = take(outbox_store, NOW)
    assert take(outbox_store, NOW + HOLD - 1) == []
    (again,) = take(outbox_store, NOW + HOLD)  # its publisher crashed or was never confirmed
    assert again.id == nid and again.token != first.token


def test_a_cleared_dead_letter_is_never_taken_again(outbox_store: Store) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW)
    letters = take(outbox_store, NOW)
    assert outbox_store.clear_dead_letters(letters) == 1
    assert take(outbox_store, LATER) == []
    assert current(outbox_store, nid).status is Status.DEAD


def test_only_the_lease_that_took_a_dead_letter_clears_it(outbox_store: Store) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW)
    lapsed = take(outbox_store, NOW)
    current_lease = take(outbox_store, NOW + HOLD)
    assert outbox_store.clear_dead_letters(lapsed) == 0
    assert outbox_store.clear_dead_letters(current_lease) == 1


def test_a_burial_marks_its_dead_letter_like_any_death(outbox_store: Store) -> None:
    (nid,) = add(outbox_store, make(max_attempts=1))
    (claim,) = claim_all(outbox_store, WORKER_A, NOW)
    # its worker died on the final attempt: whichever call finds it buries it
    outbox_store.claim_ids([nid], WORKER_A, claim.lock_expiry, LEASE)
    outbox_store.claim_batch(WORKER_A, 10, claim.lock_expiry, LEASE)
    (letter,) = take(outbox_store, claim.lock_expiry)
    assert letter.id == nid and letter.notification.status is Status.DEAD
    assert "lease expired on the final attempt" in (letter.notification.last_error or "")


def test_sent_retried_released_and_cancelled_notifications_have_no_dead_letter(
    outbox_store: Store,
) -> None:
    sent, retried, released, cancelled = add(outbox_store, make(), make(), make(), make())
    outbox_store.cancel(cancelled, NOW)
    claims = {c.id: c for c in claim_all(outbox_store, WORKER_A, NOW)}
    finish(outbox_store, claims[sent], Verdict.SENT, NOW)
    finish(outbox_store, claims[retried], Verdict.RETRY, NOW, "HTTP 503")
    finish(outbox_store, claims[released], Verdict.RELEASE, NOW)
    assert take(outbox_store, LATER) == []


def test_replay_removes_the_mark(outbox_store: Store) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW)
    assert outbox_store.replay([nid], NOW + 1) == [nid]
    assert take(outbox_store, LATER) == []


def test_a_replay_and_a_new_death_while_a_dead_letter_is_out_keep_the_new_one(
    outbox_store: Store,
) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW, "HTTP 410")
    out = take(outbox_store, NOW)
    outbox_store.replay([nid], NOW + 1)
    kill(outbox_store, nid, NOW + 2, "HTTP 404")
    assert outbox_store.clear_dead_letters(out) == 0  # the broker confirmed the first death
    (second,) = take(outbox_store, NOW + 2)
    assert second.notification.last_error == "HTTP 404"


def test_the_longest_waiting_dead_letters_are_taken_first_at_most_limit(
    outbox_store: Store,
) -> None:
    ids = add(outbox_store, make(), make(), make())
    for offset, nid in enumerate(reversed(ids)):
        kill(outbox_store, nid, NOW + offset)
    first = take(outbox_store, LATER, limit=2)
    assert [d.id for d in first] == [ids[2], ids[1]]
    assert [d.id for d in take(outbox_store, LATER)] == [ids[0]]


def test_a_dead_letter_is_not_taken_before_its_death(outbox_store: Store) -> None:
    (nid,) = add(outbox_store, make())
    kill(outbox_store, nid, NOW)
    assert take(outbox_store, NOW - 1) == []


def test_clearing_nothing_is_nothing(outbox_store: Store) -> None:
    assert outbox_store.clear_dead_letters([]) == 0
    assert take(outbox_store, NOW) == []


def test_a_store_without_a_broker_marks_no_death(store: Store) -> None:
    killed, buried = add(store, make(), make(max_attempts=1))
    kill(store, killed, NOW)
    claim = next(c for c in claim_all(store, WORKER_A, NOW) if c.id == buried)
    store.claim_batch(WORKER_A, 10, claim.lock_expiry, LEASE)
    assert current(store, buried).status is Status.DEAD
    assert take(store, LATER) == []
