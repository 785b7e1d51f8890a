"""Notifications sent to a person, delivered by an in-process worker on a real SQLite store
(issue 16): the recipient and template as they are at delivery decide. A person with an email,
two devices and a phone receives what their preferences allow, once, in their language, at the
address they have now; an opt-out after intake suppresses; quiet hours defer without spending
an attempt (a high-priority send of a template that allows it goes through); a token the
provider calls invalid leaves the recipient; a render error is dead; a deleted recipient is
suppressed. The channels are stand-ins recording what they were asked to send (the channels'
own tests use real protocol servers)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from notifyctl.fanout import PersonSend, fan_out
from notifyctl.model import Notification, Priority, Status, now_ms
from notifyctl.recipients import Recipient, parse_recipient
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import Store, open_store
from notifyctl.templates import Template
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.worker.running import run_until

APNS, FCM = "ab" * 32, "fcm-token_" + "x" * 30
CHANNELS = ("email", "apns", "fcm", "sms", "webhook")
SHIPPED: dict[str, Any] = {
    "category": "orders",
    "channels": {
        "email": {"subject": "Order {{ order_id }} shipped", "text": "Hi {{ name }}",
                  "html": "<p>Hi {{ name }}</p>"},
        "push": {"title": "Shipped", "body": "Order {{ order_id }}"},
        "sms": {"body": "Order {{ order_id }} shipped"},
    },
    "locales": {"de": {"channels": {"email": {"subject": "Bestellung {{ order_id }}",
                                              "text": "Hallo {{ name }}"}}}},
}  # fmt: skip
ADA: dict[str, Any] = {
    "email": "ada@example.com", "phone": "+15551234567", "locale": "de-AT",
    "devices": [{"platform": "apns", "token": APNS}, {"platform": "fcm", "token": FCM}],
    "preferences": {"channels": {"orders": ["email", "push"]}},
}  # fmt: skip
DATA = {"order_id": "A-17", "name": "Ada <3"}


class Recording:
    """A channel that records each notification it is given; ``answer`` decides the result."""

    def __init__(self, name: str, answer: Callable[[Notification], DeliveryResult]) -> None:
        self.name = name
        self.answer = answer
        self.sent: list[Notification] = []

    async def deliver(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        return self.answer(notification)

    async def aclose(self) -> None:
        pass


def delivered(notification: Notification) -> DeliveryResult:
    return DeliveryResult(ResultKind.OK)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def put(store: Store, fields: dict[str, Any], user_id: str = "ada") -> Recipient:
    recipient = parse_recipient(user_id, fields, tenant="acme", now=now_ms())
    return store.put_recipient(recipient)[0]


def send_to(
    store: Store, document: dict[str, Any], priority: Priority = Priority.NORMAL, **data: Any
) -> list[Notification]:
    """Store what intake would for a send of ``document`` to ada; the notifications made."""
    store.put_template("acme", "shipped", document, now_ms())
    template = Template.parse("shipped", document)
    recipient = store.get_recipient("acme", "ada")
    assert recipient is not None
    now = now_ms()
    send = PersonSend("ada", "shipped", {**DATA, **data}, None, None, priority, now, 5, None,
                      "hash", now, "acme")  # fmt: skip
    items = fan_out(send, template, recipient, CHANNELS)
    return [result.notification for result in store.insert_many(items, now)]


def run_worker(
    tmp_path: Path, store: Store, channels: dict[str, Recording], done: Callable[[Worker], bool]
) -> Worker:
    worker = Worker(make_config(tmp_path), store, dict(channels), 1)  # type: ignore[arg-type]
    return run_until(worker, done)


def recording(answer: Callable[[Notification], DeliveryResult] = delivered) -> dict[str, Recording]:
    return {name: Recording(name, answer) for name in CHANNELS}


def statuses(store: Store, made: list[Notification]) -> dict[str, str]:
    found = {n.id: n for n in store.message_notifications(made[0].message_id or "", "acme")}
    return {n.channel: found[n.id].status.value for n in made}


def test_a_person_receives_what_their_preferences_allow_once_in_their_language_at_their_address(
    tmp_path: Path, store: Store
) -> None:
    put(store, ADA)
    made = send_to(store, SHIPPED)
    put(store, {**ADA, "email": "ada@new.example.com"})  # changed after intake: this one is used
    channels = recording()
    run_worker(tmp_path, store, channels, lambda w: w.stats.sent >= 3)
    assert statuses(store, made) == {"email": "sent", "apns": "sent", "fcm": "sent",
                                     "sms": "suppressed"}  # fmt: skip
    (email,) = channels["email"].sent
    assert (email.to, email.title, email.body) == ("ada@new.example.com", "Bestellung A-17",
                                                   "Hallo Ada <3")  # fmt: skip
    assert email.html is None  # the German email's texts stand whole: they have no html part
    assert [(n.to, n.title, n.body) for n in channels["apns"].sent] == [
        (APNS, "Shipped", "Order A-17")
    ]
    assert [n.to for n in channels["fcm"].sent] == [FCM]
    assert channels["sms"].sent == []


def test_an_opt_out_after_intake_suppresses_with_the_reason(tmp_path: Path, store: Store) -> None:
    put(store, ADA)
    made = send_to(store, SHIPPED)
    put(store, {**ADA, "preferences": {"opted_out": ["orders"]}})
    channels = recording()
    run_worker(tmp_path, store, channels, lambda w: w.stats.suppressed >= 3)
    assert set(statuses(store, made).values()) == {"suppressed"}
    assert all(not channel.sent for channel in channels.values())
    email = store.get(made[0].id)
    assert email is not None and email.attempts == 0
    assert "opted out of 'orders'" in (email.last_error or "")


def quiet_now(extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Ada, in quiet hours from an hour ago to an hour from now (UTC)."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)
    start, end = (
        (now - dt.timedelta(hours=1)).strftime("%H:%M"),
        (now + dt.timedelta(hours=1)).strftime("%H:%M"),
    )
    return {**ADA, "timezone": "UTC", "quiet_hours": {"start": start, "end": end}, **(extra or {})}


def test_quiet_hours_defer_to_their_end_without_spending_an_attempt(
    tmp_path: Path, store: Store
) -> None:
    put(store, quiet_now())
    made = send_to(store, SHIPPED)
    channels = recording()
    run_worker(tmp_path, store, channels, lambda w: w.stats.deferred >= 3)
    assert all(not channel.sent for channel in channels.values())
    email = store.get(made[0].id)
    assert email is not None
    assert (email.status, email.attempts) == (Status.SCHEDULED, 0)
    assert 55 * 60_000 < email.available_at - now_ms() <= 61 * 60_000
    history = store.history(email.id) or []
    assert history[-1].outcome == "deferred" and "quiet hours" in (history[-1].error or "")


def test_a_high_priority_send_goes_through_quiet_hours_when_its_template_allows(
    tmp_path: Path, store: Store
) -> None:
    put(store, quiet_now())
    document = {**SHIPPED, "high_priority_bypasses_quiet_hours": True}
    made = send_to(store, document, priority=Priority.HIGH)
    channels = recording()
    run_worker(tmp_path, store, channels, lambda w: w.stats.sent >= 3)
    assert statuses(store, made)["email"] == "sent"


def test_a_token_the_provider_calls_invalid_leaves_the_recipient(
    tmp_path: Path, store: Store
) -> None:
    put(store, ADA)
    made = send_to(store, SHIPPED)
    channels = recording()
    unregistered = DeliveryResult(ResultKind.PERMANENT, "410 Unregistered", invalid_address=True)
    channels["apns"].answer = lambda n: unregistered

    def token_gone(worker: Worker) -> bool:
        recipient = store.get_recipient("acme", "ada")
        return worker.stats.dead >= 1 and recipient is not None and len(recipient.devices) == 1

    run_worker(tmp_path, store, channels, token_gone)
    recipient = store.get_recipient("acme", "ada")
    assert recipient is not None and [d.token for d in recipient.devices] == [FCM]
    assert statuses(store, made)["apns"] == "dead"


def test_a_render_error_at_delivery_is_dead_with_the_error(tmp_path: Path, store: Store) -> None:
    put(store, ADA)
    made = send_to(store, SHIPPED)
    changed = {
        "category": "orders",
        "channels": {**SHIPPED["channels"], "email": {"subject": "{{ missing }}"}},
    }
    store.put_template("acme", "shipped", changed, now_ms())  # fmt: skip
    channels = recording()
    run_worker(tmp_path, store, channels, lambda w: w.stats.dead >= 1 and w.stats.sent >= 2)
    email = store.get(made[0].id)
    assert email is not None and email.status is Status.DEAD
    assert "could not be rendered" in (email.last_error or "") and "missing" in email.last_error
    assert channels["email"].sent == []


def test_a_deleted_recipient_is_suppressed(tmp_path: Path, store: Store) -> None:
    put(store, ADA)
    made = send_to(store, SHIPPED)
    store.delete_recipient("acme", "ada")
    channels = recording()
    run_worker(tmp_path, store, channels, lambda w: w.stats.suppressed >= 3)
    assert set(statuses(store, made).values()) == {"suppressed"}
    email = store.get(made[0].id)
    assert email is not None and "no recipient 'ada'" in (email.last_error or "")
