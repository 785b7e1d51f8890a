"""The ids a worker's received wake-ups name, waiting for free delivery slots.

A wake-up message names up to ``WAKEUP_IDS`` notifications, but a worker claims only as many as
it has free slots (nothing claimed waits unstarted). So ids are taken a slot's worth at a time,
and a message is acknowledged once every id it names has been decided (claimed, or found taken):
until then RabbitMQ keeps it, and gives it to another worker if this one dies.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from notifyctl.broker import Receipt


@dataclass(slots=True)
class _Message:
    receipt: Receipt
    undecided: int


Taken = list[tuple[str, _Message]]


class WakeUpQueue:
    def __init__(self) -> None:
        self._ids: deque[tuple[str, _Message]] = deque()

    def __len__(self) -> int:
        """Ids waiting to be claimed."""
        return len(self._ids)

    def add(self, receipt: Receipt) -> None:
        message = _Message(receipt, len(receipt.wakeup.ids))
        self._ids.extend((notification_id, message) for notification_id in receipt.wakeup.ids)

    def take(self, most: int) -> Taken:
        """Up to ``most`` ids, oldest first; hand them to ``decided`` or ``put_back``."""
        return [self._ids.popleft() for _ in range(min(most, len(self._ids)))]

    def put_back(self, taken: Taken) -> None:
        """The claim failed: the ids go back to the front, in their order."""
        self._ids.extendleft(reversed(taken))

    @staticmethod
    def decided(taken: Taken) -> list[Receipt]:
        """The claim of ``taken`` is decided: the messages now wholly decided, to acknowledge."""
        done = []
        for _, message in taken:
            message.undecided -= 1
            if message.undecided == 0:
                done.append(message.receipt)
        return done

    @staticmethod
    def ids(taken: Taken) -> list[str]:
        return [notification_id for notification_id, _ in taken]
