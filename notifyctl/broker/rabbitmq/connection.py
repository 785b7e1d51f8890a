"""The RabbitMQ adapter (pika): one durable shared queue that every worker consumes.

All channel work happens on one background thread that owns a pika SelectConnection (pika is not
thread-safe); other threads hand work over with ``add_callback_threadsafe``. Publishing streams
through a confirm window — the API never waits for a confirm — and a wake-up that is nacked, times
out or cannot be sent is only counted: the store has the notification and the sweep finds it.
The thread is supervised: whatever ends a connection (RabbitMQ closing it, a refused connect, or
an exception out of pika or out of a callback, which pika lets escape its I/O loop) marks the
broker down at once, is logged, and is followed by a reconnect with backoff and jitter that
redeclares the topology and resumes consuming. ``connected`` is true only while a channel is
ready on a live thread.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pika
from pika.channel import Channel
from pika.spec import Basic, BasicProperties

from notifyctl.broker.base import OnWakeUps, Receipt, WakeUp
from notifyctl.broker.rabbitmq.outbox import Confirmations, Message, Outbox
from notifyctl.broker.rabbitmq.topology import EXCHANGE, declarations, run_steps

log = logging.getLogger("notifyctl.broker")
#: the ``extra=`` of every line saying the connection is down (a stable name for log pipelines)
DISCONNECTED = {"event": "broker_disconnected"}
MAX_OUTSTANDING = 20_000
RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
#: how long a connection whose loop failed gets to close cleanly (so RabbitMQ requeues at once
#: what it had delivered to us) before it is dropped
CLOSE_WAIT_S = 5.0


class RabbitBroker:
    configured = True

    def __init__(
        self, url: str, group: str, prefetch: int = 10, confirm_timeout_ms: int = 10_000
    ) -> None:
        self.url = url
        self.queue = group
        # An exchange per group: one shared fanout exchange would copy every group's dead
        # letters into every other group's queue.
        self.dead_letter_exchange = self.dead_letter_queue = f"{group}.dead-letters"
        self._params = pika.URLParameters(url)
        self._params.connection_attempts = 1
        self._params.socket_timeout = 5
        self._prefetch = prefetch
        self._confirm_timeout_s = confirm_timeout_ms / 1000
        self._on_wakeup: OnWakeUps | None = None
        self._outbox = Outbox(MAX_OUTSTANDING)
        #: the delivery tag of the last message published on the current channel
        self._published = 0
        self._lock = threading.Lock()
        self._connection: pika.SelectConnection | None = None
        self._channel: Channel | None = None
        self._generation = 0
        self._ready = False
        self._was_ready = False
        #: a callback of this connection failed: reconnect after a growing backoff
        self._failed = False
        self._stop = threading.Event()
        self._counts: Counter[str] = Counter()
        self._thread = threading.Thread(target=self._run, name="rabbitmq", daemon=True)

    @property
    def connected(self) -> bool:
        # The thread is supervised and should never end before close(); if it did anyway, a
        # stale ``_ready`` must not keep reporting a connection nobody serves.
        return self._ready and self._thread.is_alive()

    @property
    def outstanding(self) -> int:
        """Messages held: waiting to be published or for their confirm (at most
        MAX_OUTSTANDING; beyond that, a publish is dropped and counted)."""
        return len(self._outbox)

    def counters(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, **self._outbox.counters()}

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def start(self, on_wakeup: OnWakeUps | None = None) -> None:
        self._on_wakeup = on_wakeup
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._call_soon(self._close_connection)
        self._thread.join(10)
        self._outbox.discard()

    def reconnect(self) -> None:
        self._count("reconnects_requested")
        self._call_soon(self._close_connection)

    def _call_soon(self, callback: Callable[[], None]) -> bool:
        connection = self._connection
        if connection is None or connection.is_closed:
            return False
        try:
            connection.ioloop.add_callback_threadsafe(self._guarded(callback))
        except Exception:  # the loop closed between the check and the call
            return False
        return True

    def _guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback`` as pika gets it: an exception in it (ours, or the wake-up handler's) is
        logged and counted and the connection closed, to reconnect after a backoff. Let into
        pika, it would end the I/O loop (and once, the thread) or drop the connection unnoticed.
        """

        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception:
                self._count("callback_errors")
                log.exception(
                    "a RabbitMQ callback failed (%s); reconnecting",
                    self._safe_url(),
                    extra=DISCONNECTED,
                )
                self._failed = True
                self._went_down()
                self._close_connection()

        return guarded

    # -- publishing (any thread) -------------------------------------------------------------

    def publish(self, wakeups: Sequence[WakeUp]) -> None:
        self._enqueue([Message(EXCHANGE, self.queue, w.encode(), w.priority) for w in wakeups])

    def publish_dead_letters(
        self, records: Sequence[dict[str, Any]], timeout_s: float | None = None
    ) -> list[bool]:
        if not records or not self.connected:
            return [False] * len(records)
        answers = Confirmations(len(records))
        self._enqueue(
            [
                Message(self.dead_letter_exchange, "", encode(record), settle=answers.settler(i))
                for i, record in enumerate(records)
            ]
        )
        return answers.wait(self._confirm_timeout_s + 1 if timeout_s is None else timeout_s)

    def _enqueue(self, messages: Sequence[Message]) -> None:
        if self._outbox.add(messages) and self._ready:
            self._call_soon(self._drain)

    # -- acknowledging (any thread) ----------------------------------------------------------

    def ack(self, receipts: Sequence[Receipt]) -> None:
        tags = [(r.generation, r.delivery_tag) for r in receipts]
        if tags:
            self._call_soon(lambda: self._ack_now(tags))

    def _ack_now(self, tags: list[tuple[int, int]]) -> None:
        channel = self._channel
        for generation, tag in tags:
            # A tag from a closed channel is void: RabbitMQ has already requeued that message.
            if generation == self._generation and channel is not None and channel.is_open:
                channel.basic_ack(tag)
        self._count("acked", len(tags))

    # -- the connection's own thread ---------------------------------------------------------

    def _run(self) -> None:
        """One connection after another until close(); a failed one backs off (doubling, with
        jitter) before the next, a healthy one that was lost reconnects after the minimum."""
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            healthy = self._connect_and_serve()
            backoff = RECONNECT_MIN_S if healthy else min(backoff * 2, RECONNECT_MAX_S)
            if not self._stop.is_set():
                self._count("reconnects")
                self._pause(backoff * random.uniform(0.5, 1.5))

    def _pause(self, seconds: float) -> None:
        """The wait before reconnecting (the broker is down meanwhile); close() ends it."""
        self._stop.wait(seconds)

    def _connect_and_serve(self) -> bool:
        """Run one connection until it ends; True if it became ready and ended without an
        exception. Nothing escapes: an exception is logged and the connection torn down."""
        self._was_ready = self._failed = False
        connection: pika.SelectConnection | None = None
        try:
            connection = self._connection = pika.SelectConnection(
                self._params,
                on_open_callback=self._on_open,
                on_open_error_callback=self._on_open_error,
                on_close_callback=self._on_closed,
            )
            connection.ioloop.start()
            return self._was_ready and not self._failed
        except Exception:
            self._count("io_errors")
            log.exception(
                "the RabbitMQ I/O loop failed (%s); reconnecting",
                self._safe_url(),
                extra=DISCONNECTED,
            )
            self._went_down()
            if connection is not None:
                self._tear_down(connection)
            return False
        finally:
            self._went_down()
            if connection is not None:
                connection.ioloop.close()  # frees the loop's wake-up socket pair

    def _tear_down(self, connection: pika.SelectConnection) -> None:
        """Close a connection whose loop failed, within CLOSE_WAIT_S; if even that fails, drop
        it (RabbitMQ notices the dead socket and requeues what we held)."""
        try:
            if connection.is_open:
                connection.close()  # _on_closed stops the loop once RabbitMQ answers
            if not connection.is_closed:
                connection.ioloop.call_later(CLOSE_WAIT_S, connection.ioloop.stop)
                connection.ioloop.start()
        except Exception as exc:
            log.warning("closing the failed RabbitMQ connection failed too: %r", exc)

    def _went_down(self) -> None:
        """The connection is gone (or going): stop reporting it, give up on its confirms."""
        self._ready = False
        self._channel = None
        self._outbox.lose_unconfirmed()

    def _on_open(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)

    def _on_open_error(self, connection: pika.SelectConnection, error: BaseException) -> None:
        log.warning(
            "cannot connect to RabbitMQ at %s: %s; retrying",
            self._safe_url(),
            error,
            extra=DISCONNECTED,
        )
        connection.ioloop.stop()

    def _on_closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        self._went_down()
        if not self._stop.is_set():
            log.warning("RabbitMQ connection closed (%s); reconnecting", reason, extra=DISCONNECTED)
        connection.ioloop.stop()

    def _close_connection(self) -> None:
        connection = self._connection
        if connection is not None and not (connection.is_closing or connection.is_closed):
            connection.close()

    def _on_channel_open(self, channel: Channel) -> None:
        self._channel = channel
        self._generation += 1
        self._published = 0
        channel.add_on_close_callback(self._on_channel_closed)
        steps = declarations(
            channel, self.queue, self.dead_letter_exchange, self._guarded(self._on_confirm),
            self._prefetch,
        )  # fmt: skip
        run_steps(steps, self._on_topology_ready, self._close_connection)

    def _on_channel_closed(self, channel: Channel, reason: BaseException) -> None:
        if not self._stop.is_set():
            log.warning("RabbitMQ channel closed (%s)", reason)
        self._close_connection()

    def _on_topology_ready(self) -> None:
        channel = self._channel
        if channel is None:
            return
        if self._on_wakeup is not None:
            channel.basic_consume(self.queue, self._guarded(self._on_message), auto_ack=False)
        self._ready = True
        self._was_ready = True
        event = "broker_connected" if self._generation <= 1 else "broker_reconnected"
        log.info(
            "RabbitMQ ready: queue %s (%s)", self.queue, self._safe_url(), extra={"event": event}
        )
        self._drain()
        self._check_confirms()

    def _drain(self) -> None:
        channel = self._channel
        while self._ready and channel is not None and channel.is_open:
            message = self._outbox.take(self._published + 1, time.monotonic())
            if message is None:
                return
            self._published += 1
            properties = BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent, priority=message.priority,
                content_type="application/json",
            )  # fmt: skip
            channel.basic_publish(message.exchange, message.routing_key, message.body, properties)
            self._count("published")

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, Basic.Ack)
        self._outbox.confirm(method.delivery_tag, method.multiple, acked)

    def _check_confirms(self) -> None:
        self._outbox.expire(time.monotonic() - self._confirm_timeout_s)
        connection = self._connection
        if self._ready and connection is not None:
            connection.ioloop.call_later(1.0, self._guarded(self._check_confirms))

    def _on_message(
        self, channel: Channel, method: Basic.Deliver, properties: BasicProperties, body: bytes
    ) -> None:
        self._count("received")
        try:
            wakeup = WakeUp.decode(body)
        except (ValueError, RecursionError) as exc:
            # A message we cannot read is not ours to keep: drop it, count it, carry on.
            log.warning("dropping an unreadable broker message: %s", exc)
            self._count("bad_messages")
            channel.basic_ack(method.delivery_tag)
            return
        assert self._on_wakeup is not None
        self._on_wakeup(Receipt(wakeup, self._generation, method.delivery_tag))

    def _safe_url(self) -> str:
        return f"amqp://{self._params.host}:{self._params.port}{self._params.virtual_host}"


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode()
