"""The channel port: one module per way of delivering a notification."""

from __future__ import annotations

import functools
import time
from typing import Any, Protocol

from notifyctl.model import Notification
from notifyctl.retry import DeliveryResult


class Channel(Protocol):
    name: str

    async def deliver(self, notification: Notification) -> DeliveryResult:
        """Deliver once. Never raises for a delivery failure: it returns the outcome."""
        ...

    async def aclose(self) -> None: ...


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
