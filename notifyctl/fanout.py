"""Sending to a person (issue 16): ``{"user_id", "template", "data"}`` becomes one notification
per channel the template has and per device or webhook the recipient has, all of one message.
Pure: the API loads the template and the recipient and stores what ``fan_out`` gives.

Addresses are not copied into the notifications: email and SMS are looked up when the
notification is delivered (``personalize.py``), so an address changed after intake is the one
used; a push notification names its device by token and a webhook one its URL, since a
recipient has several. What the recipient's preferences refuse, or what has nowhere to go (no
device, no webhook, a channel this deployment lacks), is stored already ``suppressed`` with the
reason, so the message's report says why a channel stayed silent.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from notifyctl.ids import new_id
from notifyctl.model import DEFAULT_TENANT, NewNotification, Priority
from notifyctl.preferences import PUSH_CHANNELS
from notifyctl.recipients import Recipient
from notifyctl.templates import CHANNEL_PARTS, Template, template_name
from notifyctl.validation import (
    FieldError,
    Invalid,
    delivery_checks,
    header_errors,
    merged_key,
    request_hash,
    run_checks,
)

FIELDS = frozenset(
    {"user_id", "template", "data", "channels", "category", "priority", "scheduled_for",
     "idempotency_key", "max_attempts", "expires_at", "ttl_seconds"}
)  # fmt: skip
#: what a logical channel of a template is delivered as
LOGICAL_CHANNEL = {"email": "email", "sms": "sms", "webhook": "webhook", "apns": "push",
                   "fcm": "push"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class PersonSend:
    """A validated request to send a template to one of the tenant's recipients."""

    user_id: str
    template: str
    data: dict[str, Any]
    #: the template's channels to use (logical: email, push, sms, webhook); None: all of them
    channels: tuple[str, ...] | None
    #: overrides the template's category for the preferences check
    category: str | None
    priority: Priority
    scheduled_for: int
    max_attempts: int
    idempotency_key: str | None
    request_hash: str
    created_at: int
    tenant_id: str = DEFAULT_TENANT
    expires_at: int | None = None


def is_person_send(body: Any) -> bool:
    """Whether a notification request names a template (sent to a person) rather than texts."""
    return isinstance(body, dict) and "template" in body


def parse_person_send(
    body: dict[str, Any], now: int, default_attempts: int, header_key: str | None = None
) -> PersonSend:
    """Validate a send by template. Raises Invalid naming every bad field."""
    errors = [FieldError(k, _unknown(k)) for k in body if k not in FIELDS]
    errors += header_errors(header_key)
    checks = {
        "template": lambda: _template(body.get("template")),
        "channels": lambda: _channels(body.get("channels")),
        "category": lambda: _category(body.get("category")),
        **delivery_checks(body, now, default_attempts),
    }
    values = run_checks(checks, errors)
    if errors:
        raise Invalid(errors)
    return PersonSend(
        user_id=values["user_id"], template=values["template"], data=values["data"],
        channels=values["channels"], category=values["category"], priority=values["priority"],
        scheduled_for=values["scheduled_for"], max_attempts=values["max_attempts"],
        idempotency_key=merged_key(values["idempotency_key"], header_key),
        request_hash=request_hash(body), created_at=now, expires_at=values["expires_at"],
    )  # fmt: skip


def _unknown(name: str) -> str:
    if name in ("channel", "to", "title", "body", "html"):
        return "not with a template: the template gives the texts and the recipient the address"
    return "unknown field"


def _template(value: Any) -> str:
    if not isinstance(value, str):
        raise Invalid([FieldError("template", "must be a template's name (a string)")])
    try:
        return template_name(value)
    except ValueError as exc:
        raise Invalid([FieldError("template", str(exc))]) from None


def _channels(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = ", ".join(CHANNEL_PARTS)
    # isinstance first: ``in`` on a dict hashes the item, and a list may hold anything
    valid = isinstance(value, list) and bool(value)
    if not valid or not all(isinstance(v, str) and v in CHANNEL_PARTS for v in value):
        raise Invalid([FieldError("channels", f"must be a non-empty list of {names}")])
    return tuple(dict.fromkeys(value))


def _category(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not 1 <= len(value) <= 64):
        raise Invalid([FieldError("category", "must be a string of 1 to 64 characters")])
    return value


def check_against(send: PersonSend, template: Template) -> None:
    """What intake can know before storing: the data has every variable the texts use, and
    the channels asked for are the template's. Raises Invalid naming what is wrong."""
    errors = []
    missing = sorted(template.required - set(send.data))
    if missing:
        message = f"template {template.name!r} needs {', '.join(missing)} in data"
        errors.append(FieldError("data", message))
    absent = [c for c in send.channels or () if c not in template.channels]
    if absent:
        has = ", ".join(template.channels)
        message = f"template {template.name!r} has no {', '.join(absent)} texts (it has {has})"
        errors.append(FieldError("channels", message))
    if errors:
        raise Invalid(errors)


def message_id_of(send: PersonSend, make_id: Callable[[int], str] = new_id) -> str:
    """A new message id, or with an idempotency key the same one on every replay (so a replay
    that finds a device added meanwhile adds its notification to the same message)."""
    if send.idempotency_key is None:
        return make_id(send.created_at)
    digest = hashlib.sha256(f"{send.tenant_id}\0{send.idempotency_key}".encode()).digest()
    return base64.b32encode(digest).decode()[:26]


def fan_out(
    send: PersonSend,
    template: Template,
    recipient: Recipient,
    offered: Collection[str],
    make_id: Callable[[int], str] = new_id,
) -> list[NewNotification]:
    """One notification per channel and destination, in the template's channel order; those
    that cannot be delivered are stored suppressed with the reason."""
    message_id = message_id_of(send, make_id)
    category = send.category or template.category
    wanted = [c for c in template.channels if send.channels is None or c in send.channels]
    destinations = [d for logical in wanted for d in destinations_of(logical, recipient)]
    # ids of one millisecond sort by their random part: sorted, they keep the fan-out's order
    ids = sorted(make_id(send.created_at) for _ in destinations)
    return [
        NewNotification(
            id=ids[index], user_id=send.user_id, channel=channel, to=to,
            title=None, body=None, data=send.data, priority=send.priority,
            scheduled_for=send.scheduled_for, max_attempts=send.max_attempts,
            idempotency_key=_child_key(send.idempotency_key, index),
            request_hash=send.request_hash, created_at=send.created_at,
            tenant_id=send.tenant_id, message_id=message_id, template=template.name,
            category=category, expires_at=send.expires_at,
            suppressed=intake_suppression(channel, to, recipient, category, offered),
        )
        for index, (channel, to) in enumerate(destinations)
    ]  # fmt: skip


def destinations_of(logical: str, recipient: Recipient) -> Iterator[tuple[str, str | None]]:
    """(channel, to) for each notification a logical channel becomes: email and SMS one, their
    address read at delivery; push one per device; webhook one per URL. ``push`` or
    ``webhook`` with ``to`` None stands for "none to send to"."""
    if logical in ("email", "sms"):
        yield logical, None
    elif logical == "push":
        yield from (
            ((d.platform, d.token) for d in recipient.devices)
            if recipient.devices
            else (("push", None),)
        )
    else:
        yield from (
            (("webhook", url) for url in recipient.webhooks)
            if recipient.webhooks
            else (("webhook", None),)
        )


def intake_suppression(
    channel: str,
    to: str | None,
    recipient: Recipient,
    category: str | None,
    offered: Collection[str],
) -> str | None:
    """Why this notification is stored suppressed, or None to deliver it."""
    refusal = preference_refusal(channel, recipient, category)
    if refusal is not None:
        return refusal
    if channel in ("push", "webhook") and to is None:
        what = "push devices" if channel == "push" else "webhooks"
        return f"no destination: the recipient has no {what}"
    if channel not in offered:
        return f"channel not configured: this deployment has no {channel} settings"
    return None


def preference_refusal(channel: str, recipient: Recipient, category: str | None) -> str | None:
    """Why the recipient's preferences refuse ``channel`` for ``category``, or None."""
    concrete = tuple(PUSH_CHANNELS) if channel == "push" else (channel,)
    if recipient.preferences.allowed_channels(category, concrete):
        return None
    if category in recipient.preferences.opted_out:
        return f"opted out: the recipient opted out of {category!r}"
    allowed = ", ".join(sorted(recipient.preferences.channels.get(category or "", ())))
    return f"opted out: the recipient allows only {allowed} for {category!r}"


def _child_key(key: str | None, index: int) -> str | None:
    """Each notification of a message needs its own key (keys are unique per tenant); the
    message's key with the notification's place, so a replay finds each again."""
    return None if key is None else f"{key}#{index}"
