"""The channel port: one module per way of delivering a notification."""

from __future__ import annotations

from typing import Protocol

from notifyctl.model import Notification
from notifyctl.retry import DeliveryResult


class Channel(Protocol):
    name: str

    async def deliver(self, notification: Notification) -> DeliveryResult:
        """Deliver once. Never raises for a delivery failure: it returns the outcome."""
        ...

    async def aclose(self) -> None: ...
