"""The broker port: a fast wake-up path for workers, never the source of truth.

A wake-up names a notification the store already holds. Losing one costs latency (the workers'
store sweep finds the notification), never data, so publishing never blocks and never raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class WakeUp:
    notification_id: str
    priority: int

    def encode(self) -> bytes:
        return json.dumps({"id": self.notification_id, "priority": self.priority}).encode()

    @classmethod
    def decode(cls, body: bytes) -> WakeUp:
        """Raises ValueError for anything that is not a wake-up we published."""
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
        notification_id, priority = message.get("id"), message.get("priority", 1)
        if not isinstance(notification_id, str) or not 0 < len(notification_id) <= 256:
            raise ValueError("no notification id")
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 2:
            raise ValueError("bad priority")
        return cls(notification_id, priority)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A received wake-up; acknowledge it once the claim is decided."""

    wakeup: WakeUp
    #: the channel it came on: a tag from an earlier channel can no longer be acknowledged
    generation: int
    delivery_tag: int


OnWakeUps = Callable[[Receipt], None]


class Broker(Protocol):
    url: str

    @property
    def connected(self) -> bool: ...

    def start(self, on_wakeup: OnWakeUps | None = None) -> None:
        """Connect in the background (and consume, when ``on_wakeup`` is given).

        ``on_wakeup`` is called on the broker's own thread; it must hand the receipt over, not work.
        """
        ...

    def publish(self, wakeups: Sequence[WakeUp]) -> None:
        """Queue wake-ups for publishing with confirms. Never blocks, never raises."""
        ...

    def publish_dead_letter(self, record: dict[str, Any]) -> None:
        """Queue a notification that ended ``dead`` for the dead-letter exchange."""
        ...

    def ack(self, receipts: Sequence[Receipt]) -> None:
        """Acknowledge received wake-ups. Thread-safe."""
        ...

    def reconnect(self) -> None:
        """Drop the connection and connect again (the watchdog's remedy)."""
        ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...
