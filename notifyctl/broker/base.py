"""The broker port: a fast wake-up path for workers, never the source of truth.

A wake-up names a notification the store already holds. Losing one costs latency (the workers'
store sweep finds the notification), never data, so publishing never blocks and never raises.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: ids per wake-up message: one message per claim batch, not per notification, so RabbitMQ and
#: the consumers handle a fiftieth of the messages
WAKEUP_IDS = 50
#: the most ids a message may name (a bound for what we accept, above what we publish)
MAX_WAKEUP_IDS = 1_000


@dataclass(frozen=True, slots=True)
class WakeUp:
    """Notifications of one priority that the store holds and that are due now."""

    ids: tuple[str, ...]
    priority: int

    def encode(self) -> bytes:
        return json.dumps({"ids": list(self.ids), "priority": self.priority}).encode()

    @classmethod
    def decode(cls, body: bytes) -> WakeUp:
        """Raises ValueError for anything that is not a wake-up we published.

        Accepts ``{"ids": [...], "priority": p}`` and the one-id ``{"id": ...}`` of earlier
        versions, which may still be queued during an upgrade.
        """
        message = json.loads(body)
        if not isinstance(message, dict):
            raise ValueError("not a JSON object")
        ids = message["ids"] if "ids" in message else [message.get("id")]
        if not isinstance(ids, list) or not 0 < len(ids) <= MAX_WAKEUP_IDS:
            raise ValueError(f"ids must be a list of 1 to {MAX_WAKEUP_IDS} notification ids")
        if not all(isinstance(i, str) and 0 < len(i) <= 256 for i in ids):
            raise ValueError("no notification id")
        priority = message.get("priority", 1)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 2:
            raise ValueError("bad priority")
        return cls(tuple(ids), priority)


def group_wakeups(due: Iterable[tuple[str, int]], per_message: int = WAKEUP_IDS) -> list[WakeUp]:
    """``(id, priority)`` pairs as few wake-ups: by priority, highest first, in arrival order."""
    by_priority: dict[int, list[str]] = {}
    for notification_id, priority in due:
        by_priority.setdefault(priority, []).append(notification_id)
    return [
        WakeUp(tuple(ids[start : start + per_message]), priority)
        for priority, ids in sorted(by_priority.items(), reverse=True)
        for start in range(0, len(ids), per_message)
    ]


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
    #: False only for ``NoBroker``, the poll-only mode (``broker/none.py``)
    configured: bool

    @property
    def connected(self) -> bool: ...

    def start(self, on_wakeup: OnWakeUps | None = None) -> None:
        """Connect in the background (and consume, when ``on_wakeup`` is given).

        ``on_wakeup`` is called on the broker's own thread; it must hand the receipt over, not work.
        """
        ...

    def publish(self, wakeups: Sequence[WakeUp]) -> None:
        """Queue wake-ups for publishing with confirms, one message each. Never blocks, never
        raises."""
        ...

    def publish_dead_letters(
        self, records: Sequence[dict[str, Any]], timeout_s: float | None = None
    ) -> list[bool]:
        """Publish records (JSON objects) to the group's dead-letter exchange with confirms and
        wait for the answers: one per record, True once the broker has it. Blocks up to
        ``timeout_s`` (default: a little over the confirm timeout), so call it from a thread of
        your own. Unlike wake-ups nothing is kept for later: while disconnected every answer is
        False at once, and the caller, who holds the durable copy, tries again."""
        ...

    def ack(self, receipts: Sequence[Receipt]) -> None:
        """Acknowledge received wake-ups. Thread-safe."""
        ...

    def reconnect(self) -> None:
        """Drop the connection and connect again (the watchdog's remedy)."""
        ...

    def counters(self) -> dict[str, int]: ...

    def close(self) -> None: ...
