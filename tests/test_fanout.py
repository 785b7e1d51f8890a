"""The fan-out of a send to a person (pure): one notification per channel, device and webhook in
the template's order, suppressed at intake with the reason when preferences refuse or nothing
can receive it, one message id (stable under an idempotency key), a key per notification."""

from __future__ import annotations

from typing import Any

import pytest

from notifyctl.fanout import PersonSend, fan_out, message_id_of, parse_person_send
from notifyctl.model import Priority
from notifyctl.recipients import parse_recipient
from notifyctl.templates import Template
from notifyctl.validation import Invalid

DOCUMENT: dict[str, Any] = {
    "category": "news",
    "channels": {"email": {"subject": "s", "text": "t"}, "push": {"title": "t", "body": "b"},
                 "webhook": {"body": {"text": "{{ x }}"}}},
}  # fmt: skip
TEMPLATE = Template.parse("news", DOCUMENT)
ALL = ("email", "apns", "fcm", "sms", "webhook")


def send(key: str | None = None, tenant: str = "acme", **fields: Any) -> PersonSend:
    values: dict[str, Any] = {
        "user_id": "u1", "template": "news", "data": {"x": 1}, "channels": None,
        "category": None, "priority": Priority.NORMAL, "scheduled_for": 5, "max_attempts": 3,
        "idempotency_key": key, "request_hash": "h", "created_at": 5, "tenant_id": tenant,
    }  # fmt: skip
    return PersonSend(**{**values, **fields})


def recipient(**fields: Any) -> Any:
    return parse_recipient("u1", fields, tenant="acme", now=1)


def test_one_notification_per_channel_device_and_webhook_in_the_templates_order() -> None:
    person = recipient(
        email="u1@example.com",
        devices=[{"platform": "fcm", "token": "f" * 20}, {"platform": "apns", "token": "a" * 64}],
        webhooks=["https://a.example.com/h", "https://b.example.com/h"],
    )
    made = fan_out(send(), TEMPLATE, person, ALL)
    assert [(n.channel, n.to) for n in made] == [
        ("email", None), ("fcm", "f" * 20), ("apns", "a" * 64),
        ("webhook", "https://a.example.com/h"), ("webhook", "https://b.example.com/h"),
    ]  # fmt: skip
    assert [n.suppressed for n in made] == [None] * 5
    assert len({n.message_id for n in made}) == 1
    assert [n.id for n in made] == sorted(n.id for n in made)
    assert {(n.template, n.category, n.tenant_id) for n in made} == {("news", "news", "acme")}


def test_what_cannot_be_delivered_is_suppressed_at_intake_with_the_reason() -> None:
    person = recipient(email="u1@example.com", preferences={"opted_out": ["news"]})
    assert {n.suppressed for n in fan_out(send(), TEMPLATE, person, ALL)} == {
        "opted out: the recipient opted out of 'news'"
    }
    bare = fan_out(send(), TEMPLATE, recipient(), ("webhook", "log"))
    assert [(n.channel, n.suppressed) for n in bare] == [
        ("email", "channel not configured: this deployment has no email settings"),
        ("push", "no destination: the recipient has no push devices"),
        ("webhook", "no destination: the recipient has no webhooks"),
    ]


def test_the_sends_channels_and_category_narrow_and_override() -> None:
    person = recipient(email="u1@example.com", preferences={"opted_out": ["billing"]})
    made = fan_out(send(channels=("email",), category="billing"), TEMPLATE, person, ALL)
    assert [(n.channel, n.category) for n in made] == [("email", "billing")]
    assert made[0].suppressed is not None


def test_an_idempotency_key_gives_a_stable_message_id_per_tenant_and_a_key_per_notification() -> (
    None
):
    assert message_id_of(send("k1")) == message_id_of(send("k1"))
    assert message_id_of(send("k1")) != message_id_of(send("k1", tenant="globex"))
    assert message_id_of(send()) != message_id_of(send())
    person = recipient(email="u1@example.com", webhooks=["https://a.example.com/h"])
    made = fan_out(send("k1"), TEMPLATE, person, ALL)
    assert [n.idempotency_key for n in made] == ["k1#0", "k1#1", "k1#2"]


def test_bad_channels_are_a_422_naming_the_field_whatever_they_hold() -> None:
    for bad in ([{}], [[]], 5, "email", [], ["fax"], [None]):
        body = {"user_id": "u1", "template": "news", "channels": bad}
        with pytest.raises(Invalid) as refused:
            parse_person_send(body, 1_000, 3)
        assert [e.field for e in refused.value.errors] == ["channels"], bad
