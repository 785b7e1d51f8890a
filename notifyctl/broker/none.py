"""``NoBroker``: the poll-only mode as a null object, so no role checks for a missing broker.

Workers find work by polling the store; nothing wakes them, nothing is published, and no dead
letter is marked for publishing (``store.dead_letter_outbox``). ``connected`` stays false, so a
worker's sweep polls adaptively, as it does while a real broker is down.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifyctl.broker.base import OnWakeUps, Receipt, WakeUp


class NoBroker:
    url = "none"
    #: a deployment without a broker: ``/health`` says ``none`` rather than ``disconnected``
    configured = False

    @property
    def connected(self) -> bool:
        return False

    def start(self, on_wakeup: OnWakeUps | None = None) -> None:
        pass

    def publish(self, wakeups: Sequence[WakeUp]) -> None:
        pass

    def publish_dead_letters(
        self, records: Sequence[dict[str, Any]], timeout_s: float | None = None
    ) -> list[bool]:
        return [False] * len(records)  # nobody to hand them to: the caller keeps them

    def ack(self, receipts: Sequence[Receipt]) -> None:
        pass

    def reconnect(self) -> None:
        pass

    def counters(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


#: the one poll-only broker a role gets when it is given none (it holds no state)
POLL_ONLY = NoBroker()
