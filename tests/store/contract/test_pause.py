"""The store contract, pauses (issue 17 item 4): pauses stored and listed; ``park`` moves what a
pause matches and no live worker leases to ``paused`` (out of every claim), ``unpark`` moves back
what no remaining pause matches, due when it was due; a claim's PAUSED outcome parks it with its
attempt given back; a paused notification can be cancelled.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import Outcome, Status, Verdict
from notifyctl.pauses import Pause, PauseKind, pause_of
from notifyctl.store import Store
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    claim_all,
    current,
    insert,
    make,
)

HOOKS = pause_of("destination", "https://example.test/hook")
LOGS = Pause(PauseKind.CHANNEL, "log")


def test_pauses_are_stored_once_and_removed(store: Store) -> None:
    assert store.pauses() == []
    tenant = Pause(PauseKind.TENANT, "acme", NOW, "incident 42")
    assert store.add_pause(tenant)
    assert store.add_pause(HOOKS)
    assert not store.add_pause(replace(tenant, created_at=NOW + 5, reason="again"))
    assert store.pauses() == [HOOKS, tenant]  # by kind, then value; the first one kept
    assert store.remove_pause(Pause(PauseKind.TENANT, "acme"))
    assert not store.remove_pause(Pause(PauseKind.TENANT, "acme"))
    assert store.pauses() == [HOOKS]


def test_park_moves_what_the_pause_matches_out_of_every_claim(store: Store) -> None:
    hooks = insert(store, make(), make(), replace(make(), scheduled_for=NOW + 60_000))
    (log,) = insert(store, make(channel="log"))
    assert store.park(HOOKS, NOW, batch=2) == 3  # more than one batch
    for n in hooks:
        assert current(store, n.id).status is Status.PAUSED
    assert [c.id for c in claim_all(store, WORKER_A, NOW + 10**6)] == [log.id]
    assert store.claim_ids([n.id for n in hooks], WORKER_A, NOW + 10**6, LEASE) == []
    assert store.counts(NOW)["paused"] == 3
    assert store.count_paused(HOOKS) == 3
    assert store.count_paused(LOGS) == 0
    assert store.park(HOOKS, NOW, batch=2) == 0


def test_park_by_channel_and_by_tenant(store: Store) -> None:
    (log,) = insert(store, make(channel="log"))
    (acme,) = insert(store, replace(make(), tenant_id="acme"))
    (other,) = insert(store, make())
    assert store.park(LOGS, NOW, 100) == 1
    assert store.park(Pause(PauseKind.TENANT, "acme"), NOW, 100) == 1
    statuses = {n.id: current(store, n.id).status for n in (log, acme, other)}
    assert statuses == {log.id: Status.PAUSED, acme.id: Status.PAUSED, other.id: Status.PENDING}


def test_park_leaves_what_a_worker_holds(store: Store) -> None:
    insert(store, make())
    (claim,) = claim_all(store, WORKER_A, NOW)
    assert store.park(HOOKS, NOW, 100) == 0
    held = current(store, claim.id)
    assert (held.status, held.locked_by) == (Status.PENDING, WORKER_A)


def test_park_leaves_terminal_notifications(store: Store) -> None:
    insert(store, make())
    (claim,) = claim_all(store, WORKER_A, NOW)
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    assert store.park(HOOKS, NOW + 2, 100) == 0
    assert current(store, claim.id).status is Status.SENT


def test_unpark_puts_them_back_due_when_they_were_due(store: Store) -> None:
    (due,) = insert(store, make())
    (later,) = insert(store, replace(make(), scheduled_for=NOW + 60_000))
    store.park(HOOKS, NOW, 100)
    assert store.unpark(NOW + 1_000, [], batch=1) == 2
    assert current(store, due.id).status is Status.PENDING
    back = current(store, later.id)
    assert (back.status, back.available_at, back.attempts) == (Status.SCHEDULED, NOW + 60_000, 0)
    (first,) = claim_all(store, WORKER_A, NOW + 1_000)
    assert first.id == due.id
    store.finish([Outcome(first, Verdict.SENT)], NOW + 2_000)
    assert [c.id for c in claim_all(store, WORKER_A, NOW + 60_000)] == [later.id]


def test_unpark_keeps_what_another_pause_still_holds(store: Store) -> None:
    (log,) = insert(store, make(channel="log"))
    (hook,) = insert(store, make())
    (acme_hook,) = insert(store, replace(make(), tenant_id="acme"))
    acme = Pause(PauseKind.TENANT, "acme")
    for pause in (LOGS, HOOKS, acme):
        store.park(pause, NOW, 100)
    assert store.unpark(NOW, [LOGS, acme], 100) == 1  # the destination's pause went
    statuses = {n.id: current(store, n.id).status for n in (log, hook, acme_hook)}
    assert statuses == {log.id: Status.PAUSED, hook.id: Status.PENDING,
                        acme_hook.id: Status.PAUSED}  # fmt: skip
    assert store.unpark(NOW, [], 100) == 2


def test_a_paused_outcome_parks_the_claim_and_gives_its_attempt_back(store: Store) -> None:
    insert(store, make())
    (claim,) = claim_all(store, WORKER_A, NOW)
    report = store.finish([Outcome(claim, Verdict.PAUSED, "paused: channel webhook")], NOW + 1)
    assert report.applied == 1
    parked = current(store, claim.id)
    assert (parked.status, parked.attempts, parked.locked_by) == (Status.PAUSED, 0, None)
    assert [(h.outcome, h.error) for h in store.history(claim.id) or []] == [
        ("paused", "paused: channel webhook")
    ]
    assert claim_all(store, WORKER_A, NOW + 10**6) == []
    assert store.unpark(NOW + 2, [], 100) == 1
    assert [c.id for c in claim_all(store, WORKER_A, NOW + 3)] == [claim.id]


def test_a_paused_notification_can_be_cancelled(store: Store) -> None:
    (n,) = insert(store, make())
    store.park(HOOKS, NOW, 100)
    result, now_stands = store.cancel(n.id, NOW + 1)
    assert result == "cancelled"
    assert now_stands is not None and now_stands.status is Status.CANCELLED
    assert store.unpark(NOW + 2, [], 100) == 0
