"""The store contract, notifications sent to a person (issue 16): message id, template and
category kept; stored ``suppressed`` at intake with the reason and never claimed; a message's
notifications listed oldest first, per tenant; suppressed and deferred outcomes give the attempt
back (deferred: due at the quiet hours' end) with their history entries.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import NewNotification, Outcome, Status, Verdict
from notifyctl.store import Store
from tests.store.contract.builders import LEASE, NOW, WORKER_A, claim_all, current, insert, make


def personal(message_id: str, tenant: str = "acme", **fields: object) -> NewNotification:
    return replace(make(), message_id=message_id, template="shipped", category="orders",
                   tenant_id=tenant, **fields)  # type: ignore[arg-type]  # fmt: skip


def test_a_messages_notifications_keep_its_fields_and_are_listed_oldest_first(
    store: Store,
) -> None:
    first, second = personal("m1"), personal("m1", channel="email", to=None)
    other, foreign = personal("m2"), personal("m1", tenant="globex")
    insert(store, first, second, other, foreign)
    found = store.message_notifications("m1", "acme")
    assert [n.id for n in found] == sorted([first.id, second.id])
    assert {(n.message_id, n.template, n.category) for n in found} == {("m1", "shipped", "orders")}
    assert {n.id for n in store.message_notifications("m1")} == {first.id, second.id, foreign.id}
    assert store.message_notifications("m1", "initech") == []
    assert store.message_notifications("nothing", "acme") == []


def test_a_notification_suppressed_at_intake_is_terminal_with_its_reason_and_never_claimed(
    store: Store,
) -> None:
    (stored,) = insert(store, personal("m1", suppressed="opted out: orders"))
    assert (stored.status, stored.last_error) == (Status.SUPPRESSED, "opted out: orders")
    again = current(store, stored.id)
    assert (again.status, again.last_error, again.attempts) == (
        Status.SUPPRESSED, "opted out: orders", 0,
    )  # fmt: skip
    assert claim_all(store, WORKER_A, NOW + 1) == []
    assert store.counts(NOW)["suppressed"] == 1
    assert store.cancel(stored.id, NOW)[0] == "conflict"


def test_suppressed_and_deferred_outcomes_give_the_attempt_back(store: Store) -> None:
    insert(store, personal("m1"), personal("m1"))
    suppress, defer = claim_all(store, WORKER_A, NOW)
    until = NOW + 3_600_000
    report = store.finish(
        [Outcome(suppress, Verdict.SUPPRESSED, "opted out: orders"),
         Outcome(defer, Verdict.DEFERRED, "quiet hours: deferred", until)], NOW + 5,
    )  # fmt: skip
    assert report.applied == 2
    gone, waiting = current(store, suppress.id), current(store, defer.id)
    assert (gone.status, gone.attempts, gone.last_error) == (
        Status.SUPPRESSED, 0, "opted out: orders",
    )  # fmt: skip
    assert gone.locked_by is None
    assert (waiting.status, waiting.attempts, waiting.available_at) == (
        Status.SCHEDULED, 0, until,
    )  # fmt: skip
    assert [h.outcome for h in store.history(suppress.id) or []] == ["suppressed"]
    assert [h.outcome for h in store.history(defer.id) or []] == ["deferred"]
    assert claim_all(store, WORKER_A, until - 1) == []
    assert [c.id for c in claim_all(store, WORKER_A, until + LEASE)] == [defer.id]
