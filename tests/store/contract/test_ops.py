"""The store contract, operators' queries: counts, history, oldest due, backlog, throughput, dead
letters and replay, ping and pool statistics.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from notifyctl.model import BacklogRow, Outcome, Priority, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    WORKER_B,
    add,
    claim_all,
    current,
    finish,
    insert,
    kill,
    make,
)

# --- counts ---------------------------------------------------------------------------------------


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
        "pending": 2, "scheduled": 1, "sent": 1, "dead": 1, "cancelled": 1, "suppressed": 0,
        "expired": 0, "paused": 0,
        "locked": 1,
    }  # fmt: skip
    assert store.counts(NOW + LEASE)["locked"] == 0


# --- history --------------------------------------------------------------------------------------


def test_a_new_notification_has_an_empty_history(store: Store) -> None:
    (nid,) = add(store, make())
    assert store.history(nid) == []


def test_history_of_an_unknown_id_is_none(store: Store) -> None:
    assert store.history("no-such-id") is None


def test_history_records_each_finished_attempt_in_order(store: Store) -> None:
    (nid,) = add(store, make())
    (first,) = claim_all(store, WORKER_A, NOW)
    finish(store, first, Verdict.RETRY, NOW + 100, "HTTP 503")
    (second,) = claim_all(store, WORKER_B, NOW + 2_000)
    finish(store, second, Verdict.SENT, NOW + 2_100)
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.attempt, h.worker, h.started_at, h.at, h.error) for h in history] == [
        ("retry", 1, WORKER_A, NOW, NOW + 100, "HTTP 503"),
        ("sent", 2, WORKER_B, NOW + 2_000, NOW + 2_100, None),
    ]


def test_a_dead_outcome_is_recorded_with_its_error(store: Store) -> None:
    (nid,) = add(store, make())
    kill(store, nid, NOW + 5, "HTTP 404")
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.error) for h in history] == [("dead", "HTTP 404")]


def test_a_released_claim_and_a_refused_write_leave_no_history(store: Store) -> None:
    (nid,) = add(store, make())
    (claim,) = claim_all(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.RELEASE)], NOW + 1)
    assert store.history(nid) == []
    (stale,) = claim_all(store, WORKER_A, NOW + 2)
    (fresh,) = claim_all(store, WORKER_B, NOW + 2 + LEASE)  # A's lease expired: B takes over
    report = store.finish([Outcome(stale, Verdict.SENT)], NOW + 3 + LEASE)
    assert report.stale == (nid,)
    history = store.history(nid)
    assert history is not None
    assert [h.outcome for h in history] == ["lease_expired"]
    assert fresh.reclaimed


def test_a_takeover_is_flagged_and_records_the_expired_lease(store: Store) -> None:
    (nid,) = add(store, make())
    (first,) = claim_all(store, WORKER_A, NOW)
    assert not first.reclaimed
    (second,) = claim_all(store, WORKER_B, first.lock_expiry)
    assert second.reclaimed and second.worker_id == WORKER_B
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.worker, h.attempt, h.started_at, h.at) for h in history] == [
        ("lease_expired", WORKER_A, 1, NOW, first.lock_expiry)
    ]


def test_a_takeover_through_claim_ids_is_flagged_too(store: Store) -> None:
    (nid,) = add(store, make())
    (first,) = store.claim_ids([nid], WORKER_A, NOW, LEASE)
    (second,) = store.claim_ids([nid], WORKER_B, first.lock_expiry, LEASE)
    assert not first.reclaimed and second.reclaimed


def test_an_exhausted_expired_lease_records_why_it_died(store: Store) -> None:
    (nid,) = add(store, make(max_attempts=1))
    (claim,) = claim_all(store, WORKER_A, NOW)
    assert claim_all(store, WORKER_B, claim.lock_expiry) == []
    assert current(store, nid).status is Status.DEAD
    history = store.history(nid)
    assert history is not None
    assert [(h.outcome, h.worker) for h in history] == [("lease_expired", WORKER_A)]


# --- oldest due, backlog, finished ----------------------------------------------------------------


def test_oldest_due_is_none_when_nothing_is_due(store: Store) -> None:
    assert store.oldest_due(NOW) is None
    add(store, make(scheduled_for=NOW + 60_000))
    assert store.oldest_due(NOW) is None


def test_oldest_due_is_the_longest_waiting_across_priorities(store: Store) -> None:
    add(store, make(priority=Priority.HIGH, scheduled_for=NOW - 1_000))
    add(store, make(priority=Priority.LOW, scheduled_for=NOW - 9_000))
    add(store, make(priority=Priority.NORMAL, scheduled_for=NOW - 5_000))
    assert store.oldest_due(NOW) == NOW - 9_000


def test_oldest_due_skips_live_leases_and_counts_expired_ones_from_their_expiry(
    store: Store,
) -> None:
    add(store, make(scheduled_for=NOW - 9_000))
    (claim,) = claim_all(store, WORKER_A, NOW)
    assert store.oldest_due(NOW + 1) is None
    assert store.oldest_due(claim.lock_expiry + 5) == claim.lock_expiry


def test_oldest_due_ignores_terminal_notifications(store: Store) -> None:
    (nid,) = add(store, make(scheduled_for=NOW - 9_000))
    kill(store, nid, NOW)
    assert store.oldest_due(NOW + 1) is None


def test_backlog_counts_due_scheduled_and_locked_by_priority_and_channel(store: Store) -> None:
    add(
        store,
        make(channel="webhook", priority=Priority.HIGH),
        make(channel="webhook", priority=Priority.HIGH),
    )
    add(
        store,
        make(channel="log", priority=Priority.NORMAL),
        make(channel="log", priority=Priority.NORMAL, scheduled_for=NOW + 60_000),
    )
    add(store, make(channel="webhook", priority=Priority.LOW, scheduled_for=NOW + 60_000))
    (leased,) = store.claim_batch(WORKER_A, 1, NOW, LEASE)  # the most urgent: one high webhook
    assert leased.notification.priority is Priority.HIGH
    (sent,) = add(store, make(channel="log", priority=Priority.NORMAL))
    (claim,) = store.claim_ids([sent], WORKER_A, NOW, LEASE)
    finish(store, claim, Verdict.SENT, NOW)  # delivered: no longer in the backlog
    assert store.backlog(NOW + 1) == [
        BacklogRow(Priority.HIGH, "webhook", due=1, scheduled=0, locked=1),
        BacklogRow(Priority.NORMAL, "log", due=1, scheduled=1, locked=0),
        BacklogRow(Priority.LOW, "webhook", due=0, scheduled=1, locked=0),
    ]


def test_backlog_counts_an_expired_lease_as_due(store: Store) -> None:
    add(store, make())
    (claim,) = claim_all(store, WORKER_A, NOW)
    assert store.backlog(claim.lock_expiry) == [
        BacklogRow(Priority.NORMAL, "webhook", due=1, scheduled=0, locked=0)
    ]


def test_backlog_of_an_empty_store_is_empty(store: Store) -> None:
    assert store.backlog(NOW) == []


def test_finished_since_counts_sent_and_dead_at_or_after_the_bound(store: Store) -> None:
    ids = add(store, make(), make(), make(), make())
    for offset, nid in zip((100, 200, 300), ids, strict=False):
        (claim,) = store.claim_ids([nid], WORKER_A, NOW + offset, LEASE)
        finish(store, claim, Verdict.SENT, NOW + offset)
    kill(store, ids[3], NOW + 250)
    assert store.finished_since(NOW) == {"sent": 3, "dead": 1}
    assert store.finished_since(NOW + 200) == {"sent": 2, "dead": 1}
    assert store.finished_since(NOW + 251) == {"sent": 1, "dead": 0}
    assert store.finished_since(NOW + 301) == {"sent": 0, "dead": 0}


# --- dead letters and replay ----------------------------------------------------------------------


def test_dead_letters_are_newest_first_and_filtered(store: Store) -> None:
    old, hook, log = add(
        store, make(channel="webhook"), make(channel="webhook"), make(channel="log")
    )
    add(store, make(channel="webhook"))  # pending: never a dead letter
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
        (claim,) = store.claim_ids([nid], WORKER_A, NOW + offset, LEASE)
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
    (again,) = claim_all(store, WORKER_B, NOW + 5_000)
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


# --- ping and pool statistics ---------------------------------------------------------------------


def test_ping_succeeds_on_an_open_store(store: Store) -> None:
    store.ping()


def test_pool_stats_report_the_spec_figures(store: Store) -> None:
    store.counts(NOW)
    stats = store.pool_stats()
    assert set(stats) >= {"poolSize", "activeConnections", "idleConnections", "pendingRequests"}
    assert all(isinstance(value, int) and value >= 0 for value in stats.values())
    assert stats["poolSize"] >= 1
    assert stats["activeConnections"] <= stats["openConnections"]


def test_pool_stats_are_consistent(store: Store) -> None:
    store.ping()
    stats = store.pool_stats()
    assert stats["poolSize"] >= stats["minPoolSize"] >= 0 and stats["poolSize"] >= 1
    assert stats["openConnections"] == stats["activeConnections"] + stats["idleConnections"]
    assert 0 <= stats["activeConnections"] <= stats["poolSize"]
    assert stats["pendingRequests"] >= 0


def test_delivered_series_counts_deliveries_per_window(store: Store) -> None:
    insert(store, *(make() for _ in range(4)))
    claims = claim_all(store, WORKER_A, NOW)
    for claim, at in zip(claims, (NOW + 10, NOW + 20, NOW + 1_500, NOW + 3_200), strict=True):
        store.finish([Outcome(claim, Verdict.SENT)], at)
    assert store.delivered_series(NOW, 1_000, 4) == [2, 1, 0, 1]
    assert store.delivered_series(NOW + 1_000, 1_000, 2) == [1, 0]  # the window's own range
    assert store.delivered_series(NOW, 1_000, 4, tenant_id="acme") == [0, 0, 0, 0]
