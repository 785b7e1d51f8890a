"""The store contract, operations part: history, backlog, throughput, dead letters, replay, pool.

Every test takes the ``store`` fixture (parametrised over every adapter in ``tests/conftest.py``)
and relies only on the port's docstrings in ``notifyctl/store/base.py``. Time is passed in
explicitly; nothing sleeps.
"""

from __future__ import annotations

from notifyctl.model import (
    BacklogRow,
    Claim,
    NewNotification,
    Notification,
    Outcome,
    Priority,
    Status,
    Verdict,
    new_id,
)
from notifyctl.store import Store

NOW = 1_800_000_000_000
LEASE = 30_000
A = "host-a-101-aaaaaaaa"
B = "host-b-202-bbbbbbbb"


def make(
    channel: str = "webhook",
    priority: Priority = Priority.NORMAL,
    scheduled_for: int = NOW,
    max_attempts: int = 3,
) -> NewNotification:
    return NewNotification(
        id=new_id(NOW), user_id="user-1", channel=channel,
        to="https://example.test/hook" if channel == "webhook" else None, title="t", body=None,
        data={}, priority=priority, scheduled_for=scheduled_for, max_attempts=max_attempts,
        idempotency_key=None, request_hash="h", created_at=NOW,
    )  # fmt: skip


def add(store: Store, *items: NewNotification) -> list[str]:
    return [r.notification.id for r in store.insert_many(list(items), NOW)]


def claim_all(store: Store, worker: str, now: int, limit: int = 100) -> list[Claim]:
    return store.claim_batch(worker, limit, now, LEASE)


def finish(
    store: Store, claim: Claim, verdict: Verdict, now: int, error: str | None = None
) -> None:
    retry_at = now + 1_000 if verdict is Verdict.RETRY else None
    report = store.finish([Outcome(claim, verdict, error, retry_at)], now)
    assert report.applied == 1


def kill(store: Store, notification_id: str, now: int, error: str = "HTTP 410") -> None:
    """Claim it and record a permanent failure: it ends dead at ``now``."""
    (claim,) = store.claim_ids([notification_id], A, now, LEASE)
    finish(store, claim, Verdict.DEAD, now, error)


def current(store: Store, notification_id: str) -> Notification:
    found = store.get(notification_id)
    assert found is not None
    return found


# -- history ------------------------------------------------------------------------------------


def test_a_new_notification_has_an_empty_history(store: Store) -> None:
    (nid,) = add(store, make())
    assert store.history(nid) == []


def test_history_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.history("no-such-id") is None


def test_history_records_each_finished_attempt_in_order(store: Store) -> None:
    (nid,) = add(store, make())
    (first,) = claim_all(store, A, NOW)
    finish(store, first, Verdict.RETRY, NOW + 100, "HTTP 503")
    (second,) = claim_all(store, B, NOW + 2_000)
    finish(store, second, Verdict.SENT, NOW + 2_100)
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.attempt, h.worker, h.started_at, h.at, h.error) for h in history] == [
        ("retry", 1, A, NOW, NOW + 100, "HTTP 503"),
        ("sent", 2, B, NOW + 2_000, NOW + 2_100, None),
    ]


def test_a_dead_outcome_is_recorded_with_its_error(store: Store) -> None:
    (nid,) = add(store, make())
    kill(store, nid, NOW + 5, "HTTP 404")
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.error) for h in history] == [("dead", "HTTP 404")]


def test_a_released_claim_and_a_refused_write_leave_no_history(store: Store) -> None:
    (nid,) = add(store, make())
    (claim,) = claim_all(store, A, NOW)
    store.finish([Outcome(claim, Verdict.RELEASE)], NOW + 1)
    assert store.history(nid) == []
    (stale,) = claim_all(store, A, NOW + 2)
    (fresh,) = claim_all(store, B, NOW + 2 + LEASE)  # A's lease expired: B takes over
    report = store.finish([Outcome(stale, Verdict.SENT)], NOW + 3 + LEASE)
    assert report.stale == (nid,)
    history = store.history(nid)
    assert history is not None
    assert [h.outcome for h in history] == ["lease_expired"]
    assert fresh.reclaimed


def test_a_takeover_is_flagged_and_records_the_expired_lease(store: Store) -> None:
    (nid,) = add(store, make())
    (first,) = claim_all(store, A, NOW)
    assert not first.reclaimed
    (second,) = claim_all(store, B, first.lock_expiry)
    assert second.reclaimed and second.worker_id == B
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.worker, h.attempt, h.started_at, h.at) for h in history] == [
        ("lease_expired", A, 1, NOW, first.lock_expiry)
    ]


def test_a_takeover_through_claim_ids_is_flagged_too(store: Store) -> None:
    (nid,) = add(store, make())
    (first,) = store.claim_ids([nid], A, NOW, LEASE)
    (second,) = store.claim_ids([nid], B, first.lock_expiry, LEASE)
    assert not first.reclaimed and second.reclaimed


def test_an_exhausted_expired_lease_records_why_it_died(store: Store) -> None:
    (nid,) = add(store, make(max_attempts=1))
    (claim,) = claim_all(store, A, NOW)
    assert claim_all(store, B, claim.lock_expiry) == []
    assert current(store, nid).status is Status.DEAD
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.worker) for h in history] == [("lease_expired", A)]


# -- oldest due, backlog, finished -------------------------------------------------------------


def test_oldest_due_is_none_when_nothing_is_due(store: Store) -> None:
    assert store.oldest_due(NOW) is None
    add(store, make(scheduled_for=NOW + 60_000))
    assert store.oldest_due(NOW) is None


def test_oldest_due_is_the_longest_waiting_across_priorities(store: Store) -> None:
    add(store, make(Priority.HIGH, scheduled_for=NOW - 1_000))
    add(store, make(Priority.LOW, scheduled_for=NOW - 9_000))
    add(store, make(Priority.NORMAL, scheduled_for=NOW - 5_000))
    assert store.oldest_due(NOW) == NOW - 9_000


def test_oldest_due_skips_live_leases_and_counts_expired_ones_from_their_expiry(
    store: Store,
) -> None:
    add(store, make(scheduled_for=NOW - 9_000))
    (claim,) = claim_all(store, A, NOW)
    assert store.oldest_due(NOW + 1) is None
    assert store.oldest_due(claim.lock_expiry + 5) == claim.lock_expiry


def test_oldest_due_ignores_terminal_notifications(store: Store) -> None:
    (nid,) = add(store, make(scheduled_for=NOW - 9_000))
    kill(store, nid, NOW)
    assert store.oldest_due(NOW + 1) is None


def test_backlog_counts_due_scheduled_and_locked_by_priority_and_channel(store: Store) -> None:
    add(store, make("webhook", Priority.HIGH), make("webhook", Priority.HIGH))
    add(
        store,
        make("log", Priority.NORMAL),
        make("log", Priority.NORMAL, scheduled_for=NOW + 60_000),
    )
    add(store, make("webhook", Priority.LOW, scheduled_for=NOW + 60_000))
    (leased,) = store.claim_batch(A, 1, NOW, LEASE)  # the most urgent: one high webhook
    assert leased.notification.priority is Priority.HIGH
    (sent,) = add(store, make("log", Priority.NORMAL))
    (claim,) = store.claim_ids([sent], A, NOW, LEASE)
    finish(store, claim, Verdict.SENT, NOW)  # delivered: no longer in the backlog
    assert store.backlog(NOW + 1) == [
        BacklogRow(Priority.HIGH, "webhook", due=1, scheduled=0, locked=1),
        BacklogRow(Priority.NORMAL, "log", due=1, scheduled=1, locked=0),
        BacklogRow(Priority.LOW, "webhook", due=0, scheduled=1, locked=0),
    ]


def test_backlog_counts_an_expired_lease_as_due(store: Store) -> None:
    add(store, make())
    (claim,) = claim_all(store, A, NOW)
    assert store.backlog(claim.lock_expiry) == [
        BacklogRow(Priority.NORMAL, "webhook", due=1, scheduled=0, locked=0)
    ]


def test_backlog_of_an_empty_store_is_empty(store: Store) -> None:
    assert store.backlog(NOW) == []


def test_finished_since_counts_sent_and_dead_at_or_after_the_bound(store: Store) -> None:
    ids = add(store, make(), make(), make(), make())
    for offset, nid in zip((100, 200, 300), ids, strict=False):
        (claim,) = store.claim_ids([nid], A, NOW + offset, LEASE)
        finish(store, claim, Verdict.SENT, NOW + offset)
    kill(store, ids[3], NOW + 250)
    assert store.finished_since(NOW) == {"sent": 3, "dead": 1}
    assert store.finished_since(NOW + 200) == {"sent": 2, "dead": 1}
    assert store.finished_since(NOW + 251) == {"sent": 1, "dead": 0}
    assert store.finished_since(NOW + 301) == {"sent": 0, "dead": 0}


# -- dead letters and replay --------------------------------------------------------------------


def test_dead_letters_are_newest_first_and_filtered(store: Store) -> None:
    old, hook, log = add(store, make("webhook"), make("webhook"), make("log"))
    add(store, make("webhook"))  # pending: never a dead letter
    kill(store, old, NOW + 10, "HTTP 410")
    kill(store, hook, NOW + 20, "HTTP 404")
    kill(store, log, NOW + 30, "boom")

    def ids(**filters: object) -> list[str]:
        args = {"since": None, "until": None, "channel": None, "limit": 100, **filters}
        return [n.id for n in store.dead_letters(**args)]  # type: ignore[arg-type]

    assert ids() == [log, hook, old]
    assert ids(since=NOW + 20) == [log, hook]
    assert ids(until=NOW + 20) == [hook, old]
    assert ids(channel="webhook") == [hook, old]
    assert ids(since=NOW + 15, until=NOW + 25, channel="webhook") == [hook]
    assert ids(limit=1) == [log]
    (first,) = store.dead_letters(None, None, "log", 10)
    assert first.status is Status.DEAD and first.last_error == "boom"


def test_replay_puts_a_dead_notification_back_due_with_its_id(store: Store) -> None:
    (nid,) = add(store, make(max_attempts=2))
    for offset in (0, 2_000):
        (claim,) = store.claim_ids([nid], A, NOW + offset, LEASE)
        verdict = Verdict.RETRY if offset == 0 else Verdict.DEAD
        finish(store, claim, verdict, NOW + offset + 10, "HTTP 503")
    assert current(store, nid).status is Status.DEAD
    assert store.replay([nid], NOW + 5_000) == [nid]
    replayed = current(store, nid)
    assert replayed.status is Status.PENDING and replayed.attempts == 0
    assert replayed.replays == 1 and replayed.locked_by is None
    assert replayed.last_error is not None and "replayed" in replayed.last_error
    assert "HTTP 503" in replayed.last_error
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.attempt, h.at) for h in history][-1] == ("replayed", 2, NOW + 5_000)
    assert store.oldest_due(NOW + 5_000) == NOW + 5_000
    (again,) = claim_all(store, B, NOW + 5_000)
    assert again.id == nid and again.notification.attempts == 1


def test_replay_touches_only_dead_notifications(store: Store) -> None:
    dead, pending = add(store, make(), make())
    kill(store, dead, NOW)
    before = current(store, pending)
    assert store.replay([pending, "no-such-id", dead], NOW + 1) == [dead]
    assert current(store, pending) == before
    assert store.replay([dead], NOW + 2) == []  # already replayed: pending now


def test_a_notification_can_be_replayed_again_after_dying_again(store: Store) -> None:
    (nid,) = add(store, make())
    kill(store, nid, NOW)
    store.replay([nid], NOW + 1)
    kill(store, nid, NOW + 2)
    assert store.replay([nid], NOW + 3) == [nid]
    assert current(store, nid).replays == 2


def test_replay_of_nothing_is_nothing(store: Store) -> None:
    assert store.replay([], NOW) == []


# -- pool statistics -----------------------------------------------------------------------------


def test_pool_stats_are_consistent(store: Store) -> None:
    store.ping()
    stats = store.pool_stats()
    assert stats["poolSize"] >= stats["minPoolSize"] >= 0 and stats["poolSize"] >= 1
    assert stats["openConnections"] == stats["activeConnections"] + stats["idleConnections"]
    assert 0 <= stats["activeConnections"] <= stats["poolSize"]
    assert stats["pendingRequests"] >= 0
