"""A recipient to and from JSON (issue 16): the fields the stores keep (``to_fields``,
``from_fields``) and the shape the API shows (``recipient_json``). Pure; parsing a request body
into a recipient is ``recipients.py``'s."""

from __future__ import annotations

from typing import Any

from notifyctl.preferences import Preferences, QuietHours, clock_time
from notifyctl.recipients import FIELDS, Device, Recipient
from notifyctl.shapes import iso_ms


def to_fields(recipient: Recipient) -> dict[str, Any]:
    """The recipient's own fields as JSON, absent ones left out: what a PUT of it would send,
    and what the stores keep."""
    fields: dict[str, Any] = {
        "email": recipient.email, "phone": recipient.phone, "locale": recipient.locale,
        "timezone": recipient.timezone,
    }  # fmt: skip
    fields = {name: value for name, value in fields.items() if value is not None}
    if recipient.devices:
        fields["devices"] = [_device_json(device) for device in recipient.devices]
    if recipient.webhooks:
        fields["webhooks"] = list(recipient.webhooks)
    preferences = _preferences_json(recipient.preferences)
    if preferences:
        fields["preferences"] = preferences
    if recipient.quiet_hours is not None:
        quiet = recipient.quiet_hours
        fields["quiet_hours"] = {"start": f"{quiet.start:%H:%M}", "end": f"{quiet.end:%H:%M}"}
    return fields


def _device_json(device: Device) -> dict[str, str]:
    shown = {"platform": device.platform, "token": device.token}
    return shown if device.app is None else {**shown, "app": device.app}


def _preferences_json(preferences: Preferences) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    if preferences.opted_out:
        shown["opted_out"] = sorted(preferences.opted_out)
    if preferences.channels:
        shown["channels"] = {
            category: sorted(allowed) for category, allowed in preferences.channels.items()
        }
    return shown


def from_fields(
    tenant: str,
    user_id: str,
    fields: dict[str, Any],
    created_at: int,
    updated_at: int,
    revision: int = 0,
) -> Recipient:
    """A stored recipient back from ``to_fields``. Trusted: it was checked when it was stored
    (not checked again, so a rule made stricter later never hides what is stored)."""
    preferences = fields.get("preferences", {})
    quiet = fields.get("quiet_hours")
    return Recipient(
        tenant=tenant, user_id=user_id, email=fields.get("email"), phone=fields.get("phone"),
        devices=tuple(Device(d["platform"], d["token"], d.get("app"))
                      for d in fields.get("devices", ())),
        webhooks=tuple(fields.get("webhooks", ())), locale=fields.get("locale"),
        timezone=fields.get("timezone"),
        preferences=Preferences(
            frozenset(preferences.get("opted_out", ())),
            {c: frozenset(allowed) for c, allowed in preferences.get("channels", {}).items()},
        ),
        quiet_hours=None if quiet is None
        else QuietHours(clock_time(quiet["start"]), clock_time(quiet["end"])),
        created_at=created_at, updated_at=updated_at, revision=revision,
    )  # fmt: skip


def recipient_json(recipient: Recipient) -> dict[str, Any]:
    """The recipient as the API shows it: every field, null when absent."""
    fields = to_fields(recipient)
    shown: dict[str, Any] = {"user_id": recipient.user_id}
    for name in FIELDS:
        shown[name] = fields.get(name)
    shown["devices"] = fields.get("devices", [])
    shown["webhooks"] = fields.get("webhooks", [])
    shown["preferences"] = {"opted_out": [], "channels": {}, **fields.get("preferences", {})}
    shown["created_at"] = iso_ms(recipient.created_at)
    shown["updated_at"] = iso_ms(recipient.updated_at)
    return shown
