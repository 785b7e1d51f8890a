"""The store contract, tenants: idempotency keys are unique per tenant, and a tenant's reads and
cancels never see another tenant's notifications (an unknown id and another tenant's answer
alike). ``tenant_id=None`` is the operators' view: every tenant."""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import NewNotification, Outcome, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import NOW, current, insert, make


def of(tenant: str, **fields: object) -> NewNotification:
    return replace(make(**fields), tenant_id=tenant)  # type: ignore[arg-type]


def test_one_idempotency_key_in_two_tenants_is_two_notifications(store: Store) -> None:
    first, second = store.insert_many([of("acme", key="k"), of("globex", key="k")], NOW)
    assert first.created and second.created
    assert first.notification.id != second.notification.id
    (replay,) = store.insert_many([of("globex", key="k")], NOW)
    assert (replay.created, replay.notification.id) == (False, second.notification.id)


def test_a_key_reused_within_one_tenant_is_still_a_replay_in_one_call(store: Store) -> None:
    first, again = store.insert_many([of("acme", key="k"), of("acme", key="k")], NOW)
    assert first.created and not again.created
    assert again.notification.id == first.notification.id


def test_another_tenants_notification_reads_as_unknown(store: Store) -> None:
    (theirs,) = insert(store, of("acme"))
    assert store.get(theirs.id, "globex") is None
    found = store.get(theirs.id, "acme")
    assert found is not None and found.tenant_id == "acme"
    assert store.get(theirs.id) == found  # operators see every tenant


def test_a_listing_shows_only_the_callers_tenant(store: Store) -> None:
    acme = {n.id for n in insert(store, of("acme"), of("acme"))}
    globex = {n.id for n in insert(store, of("globex"))}
    assert {n.id for n in store.list_notifications(None, None, 10, None, "acme")} == acme
    assert {n.id for n in store.list_notifications(None, None, 10, None, "globex")} == globex
    assert {n.id for n in store.list_notifications(None, None, 10, None)} == acme | globex
    newest = max(acme)
    page = store.list_notifications(None, None, 10, newest, "acme")  # a cursor stays inside
    assert {n.id for n in page} == acme - {newest}


def test_another_tenant_cannot_cancel_and_learns_nothing(store: Store) -> None:
    (theirs,) = insert(store, of("acme"))
    assert store.cancel(theirs.id, NOW, "globex") == ("not_found", None)
    assert current(store, theirs.id).status == Status.PENDING
    outcome, cancelled = store.cancel(theirs.id, NOW, "acme")
    assert outcome == "cancelled" and cancelled is not None
    assert cancelled.status == Status.CANCELLED


def test_operators_figures_of_one_tenant_leave_out_the_others(store: Store) -> None:
    """``inspect stats --tenant``: counts, throughput and the oldest due age of one tenant."""
    (old_acme,) = insert(store, of("acme", scheduled_for=NOW - 9_000))
    (old_globex,) = insert(store, of("globex", scheduled_for=NOW - 60_000))
    globex_sent, globex_dead = insert(store, of("globex"), of("globex"))
    claims = {c.id: c for c in store.claim_ids([globex_sent.id, globex_dead.id], "w", NOW, 30_000)}
    store.finish([Outcome(claims[globex_sent.id], Verdict.SENT),
                  Outcome(claims[globex_dead.id], Verdict.DEAD, "HTTP 410")], NOW)  # fmt: skip
    acme = store.counts(NOW, "acme")
    assert (acme["pending"], acme["sent"], acme["dead"]) == (1, 0, 0)
    every = store.counts(NOW)
    assert (every["pending"], every["sent"], every["dead"]) == (2, 1, 1)
    assert store.finished_since(NOW - 1, "acme") == {"sent": 0, "dead": 0}
    assert store.finished_since(NOW - 1, "globex") == {"sent": 1, "dead": 1}
    assert store.oldest_due(NOW, "acme") == old_acme.scheduled_for
    assert store.oldest_due(NOW) == old_globex.scheduled_for
    assert store.oldest_due(NOW, "initech") is None
