"""What a notification sent to a person becomes when a worker delivers it (issue 16). Pure: the
worker hands in the recipient and template as they are now (``worker/people.py`` loads them per
claimed batch).

Checked again at delivery, in this order: the recipient still exists, the preferences still
allow the channel for the category (an opt-out after intake suppresses it), the address (the
recipient's current email or phone; the device or webhook the notification was made for, which
must still be the recipient's), then quiet hours (wait for their end, unless the template lets
``high`` priority through), and last the texts, rendered in the recipient's locale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from notifyctl.fanout import LOGICAL_CHANNEL, preference_refusal
from notifyctl.model import Notification, Priority
from notifyctl.preferences import quiet_until, timezone
from notifyctl.recipients import Recipient
from notifyctl.templates import RenderError, Template


@dataclass(frozen=True, slots=True)
class Ready:
    """Deliver this: the notification with its address and rendered texts."""

    notification: Notification


@dataclass(frozen=True, slots=True)
class Suppress:
    """Never send it (terminal ``suppressed``), for this reason."""

    reason: str


@dataclass(frozen=True, slots=True)
class Defer:
    """Quiet hours: due again at ``until`` (epoch ms); not an attempt."""

    until: int


@dataclass(frozen=True, slots=True)
class Fail:
    """It cannot be rendered or its template is gone: dead (permanent), with the error."""

    error: str


Personalized = Ready | Suppress | Defer | Fail


def personalize(
    n: Notification, recipient: Recipient | None, template: Template | None, now: int
) -> Personalized:
    if recipient is None:
        return Suppress(f"no destination: no recipient {n.user_id!r} any more")
    if template is None:
        return Fail(f"template {n.template!r} no longer exists: create it again, then replay")
    refusal = preference_refusal(n.channel, recipient, n.category)
    if refusal is not None:
        return Suppress(refusal)
    to = current_address(n, recipient)
    if to is None:
        return Suppress(f"no destination: {_absence(n)}")
    until = _quiet_until(n, recipient, template, now)
    if until is not None:
        return Defer(until)
    try:
        texts = template.render(LOGICAL_CHANNEL[n.channel], recipient.locale, n.data)
    except RenderError as exc:
        return Fail(f"template {template.name!r} could not be rendered: {exc}")
    return Ready(dataclasses.replace(n, to=to, **_fields(n.channel, texts, n.data)))


def current_address(n: Notification, recipient: Recipient) -> str | None:
    """Where it goes now: the recipient's email or phone as they are, or the device or webhook
    it was made for while the recipient still has it."""
    if n.channel == "email":
        return recipient.email
    if n.channel == "sms":
        return recipient.phone
    if n.channel in ("apns", "fcm"):
        held = any(d.platform == n.channel and d.token == n.to for d in recipient.devices)
        return n.to if held else None
    if n.channel == "webhook":
        return n.to if n.to in recipient.webhooks else None
    return None


def _absence(n: Notification) -> str:
    return {
        "email": "the recipient has no email address",
        "sms": "the recipient has no phone number",
        "apns": "the recipient no longer has this device",
        "fcm": "the recipient no longer has this device",
        "webhook": "the recipient no longer has this webhook",
    }.get(n.channel, f"the {n.channel} channel cannot reach a recipient")


def _quiet_until(n: Notification, recipient: Recipient, template: Template, now: int) -> int | None:
    if recipient.quiet_hours is None:
        return None
    if n.priority is Priority.HIGH and template.high_priority_bypasses_quiet_hours:
        return None
    zone = timezone(recipient.timezone) if recipient.timezone else dt.UTC
    return quiet_until(recipient.quiet_hours, zone, now)


def _fields(channel: str, texts: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The notification's fields the rendered parts fill, per channel."""
    if channel == "email":
        return {"title": texts.get("subject"), "body": texts.get("text"), "html": texts.get("html")}
    if channel in ("apns", "fcm"):
        return {"title": texts.get("title"), "body": texts.get("body")}
    if channel == "sms":
        return {"body": texts.get("body")}
    # webhook: the rendered JSON body is what the receiver gets as ``data``
    body = texts.get("body")
    return {"data": body if isinstance(body, dict) else {"body": body}}
