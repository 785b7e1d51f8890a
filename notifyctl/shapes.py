"""The contract's JSON shapes, shared by the API, the workers' monitor, the operators' views and
the channels: a notification as the API shows it, as a receiver gets it, a template as the API
and ``notifyctl templates list`` show it, and times as RFC 3339.
Pure: no I/O."""

from __future__ import annotations

import functools
import time
from typing import Any

from notifyctl.model import Notification
from notifyctl.templates import TemplateRecord


def iso_ms(ms: int | None) -> str | None:
    """RFC 3339 UTC with milliseconds (on every response and delivery: kept cheap)."""
    if ms is None:
        return None
    seconds, millis = divmod(ms, 1000)
    return f"{_iso_seconds(seconds)}.{millis:03d}Z"


@functools.lru_cache(maxsize=1024)
def _iso_seconds(seconds: int) -> str:
    """Cached: a response carries the same second several times (created, updated, scheduled)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def payload(notification: Notification) -> dict[str, Any]:
    """What a receiver gets: the notification, with the attempt number it is on."""
    n = notification
    return {
        "id": n.id,
        "user_id": n.user_id,
        "channel": n.channel,
        "to": n.to,
        "title": n.title,
        "body": n.body,
        "data": n.data,
        "priority": n.priority.label,
        "scheduled_for": iso_ms(n.scheduled_for),
        "created_at": iso_ms(n.created_at),
        "attempt": n.attempts,
    }


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id, "user_id": n.user_id, "channel": n.channel, "to": n.to, "title": n.title,
        "body": n.body, "html": n.html, "data": n.data, "priority": n.priority.label,
        "status": n.status.value, "scheduled_for": iso_ms(n.scheduled_for), "attempts": n.attempts,
        "max_attempts": n.max_attempts, "last_error": n.last_error,
        "idempotency_key": n.idempotency_key, "locked_by": n.locked_by,
        "lock_expiry": iso_ms(n.lock_expiry), "created_at": iso_ms(n.created_at),
        "updated_at": iso_ms(n.updated_at), "sent_at": iso_ms(n.sent_at),
        "message_id": n.message_id, "template": n.template, "category": n.category,
        "expires_at": iso_ms(n.expires_at),
    }  # fmt: skip


def template_json(record: TemplateRecord) -> dict[str, Any]:
    """A template as the API shows it: the document as it was put, and what the store adds."""
    return {
        "name": record.name, "version": record.version,
        "created_at": iso_ms(record.created_at), "updated_at": iso_ms(record.updated_at),
        "document": record.document,
    }  # fmt: skip


def template_summary_json(record: TemplateRecord) -> dict[str, Any]:
    """A template in a listing: without its texts, so a page stays small."""
    document = record.document
    return {
        "name": record.name, "version": record.version, "category": document.get("category"),
        "channels": sorted(document.get("channels", {})),
        "locales": sorted(document.get("locales", {})),
        "created_at": iso_ms(record.created_at), "updated_at": iso_ms(record.updated_at),
    }  # fmt: skip
