"""The RabbitMQ adapter's outgoing messages: waiting to be published, then waiting for a confirm.

A wake-up's answer is only counted. A message someone must hear about (a dead letter, whose
durable copy in the store is cleared only once RabbitMQ has it) carries a ``Settle`` callback,
called exactly once: True when RabbitMQ confirmed it; False when it was nacked, timed out,
dropped, discarded at close or its connection was lost.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

Settle = Callable[[bool], None]


@dataclass(frozen=True, slots=True)
class Message:
    exchange: str
    routing_key: str
    body: bytes
    priority: int | None = None
    settle: Settle | None = None


class Outbox:
    """Thread-safe: any thread adds; the broker's I/O thread takes, confirms and expires.

    Bounded (``limit`` messages waiting or unconfirmed): beyond it a message is dropped and
    counted, so a publisher never waits and memory never grows with an outage. Settlers are
    called outside the lock.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._waiting: deque[Message] = deque()
        #: delivery tag on the current channel -> (when published, its settler)
        self._unconfirmed: dict[int, tuple[float, Settle | None]] = {}
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def __len__(self) -> int:
        with self._lock:
            return len(self._waiting) + len(self._unconfirmed)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def add(self, messages: Sequence[Message]) -> bool:
        """Queue what there is room for; the rest is dropped. True if anything was queued."""
        with self._lock:
            room = max(self._limit - len(self._waiting) - len(self._unconfirmed), 0)
            kept, dropped = messages[:room], messages[room:]
            self._waiting.extend(kept)
            self._counts["publish_dropped"] += len(dropped)
        settle([m.settle for m in dropped], False)
        return bool(kept)

    def take(self, tag: int, now: float) -> Message | None:
        """The next message to publish, from now on awaiting the confirm of ``tag``."""
        with self._lock:
            if not self._waiting:
                return None
            message = self._waiting.popleft()
            self._unconfirmed[tag] = (now, message.settle)
        return message

    def confirm(self, tag: int, multiple: bool, acked: bool) -> None:
        """RabbitMQ's answer for ``tag`` (and, when ``multiple``, every tag before it)."""
        with self._lock:
            if multiple:  # tags were added in increasing order: stop at the first one after
                tags = list(itertools.takewhile(lambda t: t <= tag, self._unconfirmed))
            else:
                tags = [tag] if tag in self._unconfirmed else []
            settlers = [self._unconfirmed.pop(t)[1] for t in tags]
            self._counts["publish_confirmed" if acked else "publish_nacked"] += len(tags)
        settle(settlers, acked)

    def expire(self, published_before: float) -> None:
        """Give up on confirms that never came, so the window cannot fill with ghosts."""
        with self._lock:
            tags = [t for t, (sent, _) in self._unconfirmed.items() if sent < published_before]
            settlers = [self._unconfirmed.pop(t)[1] for t in tags]
            self._counts["publish_timeouts"] += len(tags)
        settle(settlers, False)

    def lose_unconfirmed(self) -> None:
        """The channel is gone: its delivery tags will never be answered."""
        with self._lock:
            settlers = [s for _, s in self._unconfirmed.values()]
            self._unconfirmed.clear()
            self._counts["publish_unconfirmed"] += len(settlers)
        settle(settlers, False)

    def discard(self) -> None:
        """At close: what still waits will not be published by this process."""
        with self._lock:
            settlers = [m.settle for m in self._waiting]
            self._waiting.clear()
        settle(settlers, False)


class Confirmations:
    """The broker's answers for one batch of messages, awaited by the thread that published it.

    The settlers are called on the broker's I/O thread (or the publisher's, if dropped); ``wait``
    on the publisher's own thread.
    """

    def __init__(self, count: int) -> None:
        self._answers: list[bool | None] = [None] * count
        self._left = count
        self._condition = threading.Condition()

    def settler(self, index: int) -> Settle:
        return lambda confirmed: self._settle(index, confirmed)

    def _settle(self, index: int, confirmed: bool) -> None:
        with self._condition:
            if self._answers[index] is not None:  # answered already; a late answer is ignored
                return
            self._answers[index] = confirmed
            self._left -= 1
            if not self._left:
                self._condition.notify_all()

    def wait(self, timeout_s: float) -> list[bool]:
        """One answer per message, in order: True if confirmed. What is still unanswered after
        ``timeout_s`` is False, although it may yet reach RabbitMQ (at least once)."""
        with self._condition:
            self._condition.wait_for(lambda: not self._left, timeout_s)
            return [answer is True for answer in self._answers]


def settle(settlers: Iterable[Settle | None], confirmed: bool) -> None:
    for settler in settlers:
        if settler is not None:
            settler(confirmed)
