"""The RabbitMQ adapter against the real broker: the broker contract."""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from typing import Any

import pika
import pytest

from notifyctl.broker import Receipt, WakeUp
from notifyctl.broker.rabbitmq.connection import MAX_OUTSTANDING, RabbitBroker
from tests.helpers import wait_until
from tests.rabbit import RABBITMQ_URL, delete_queues, get_all, queue_state

pytestmark = pytest.mark.integration


def wakeups(count: int, priority: int = 1, prefix: str = "n") -> list[WakeUp]:
    return [WakeUp((f"{prefix}{i}",), priority) for i in range(count)]


@pytest.fixture
def publisher(rabbit_group: str) -> Iterator[RabbitBroker]:
    broker = RabbitBroker(RABBITMQ_URL, rabbit_group)
    broker.start()
    wait_until(lambda: broker.connected, 20, "the publisher to connect")
    yield broker
    broker.close()


class Consumer:
    def __init__(self, group: str, prefetch: int) -> None:
        self.received: queue.Queue[Receipt] = queue.Queue()
        self.broker = RabbitBroker(RABBITMQ_URL, group, prefetch=prefetch)

    def __enter__(self) -> Consumer:
        self.broker.start(self.received.put)
        wait_until(lambda: self.broker.connected, 20, "the consumer to connect")
        return self

    def __exit__(self, *exc: object) -> None:
        self.broker.close()

    def take(self, count: int, timeout: float = 10) -> list[Receipt]:
        return [self.received.get(timeout=timeout) for _ in range(count)]


def test_published_wakeups_are_confirmed_and_queued(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    publisher.publish(wakeups(50))
    wait_until(lambda: publisher.counters().get("publish_confirmed", 0) == 50, 20, "50 confirms")
    assert queue_state(rabbit_group) == (50, 0)


def test_a_consumer_holds_at_most_prefetch_unacknowledged(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    publisher.publish(wakeups(30))
    with Consumer(rabbit_group, prefetch=10) as consumer:
        first = consumer.take(10)
        with pytest.raises(queue.Empty):
            consumer.received.get(timeout=0.5)
        consumer.broker.ack(first)
        second = consumer.take(10)
        consumer.broker.ack(second)
        consumer.broker.ack(consumer.take(10))
    ids = [r.wakeup.ids[0] for r in first + second]
    assert len(set(ids)) == 20
    assert queue_state(rabbit_group)[0] == 0


def test_unacknowledged_wakeups_return_to_the_queue_when_a_consumer_goes(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    publisher.publish(wakeups(5))
    with Consumer(rabbit_group, prefetch=10) as consumer:
        consumer.take(5)
    wait_until(lambda: queue_state(rabbit_group)[0] == 5, 10, "the messages to be requeued")


def test_high_priority_wakeups_overtake_low_ones_queued_earlier(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    publisher.publish(wakeups(20, priority=0, prefix="low"))
    publisher.publish(wakeups(20, priority=2, prefix="high"))
    wait_until(lambda: queue_state(rabbit_group)[0] == 40, 20, "40 queued")
    with Consumer(rabbit_group, prefetch=1) as consumer:
        order = []
        for _ in range(40):
            (receipt,) = consumer.take(1)
            order.append(receipt.wakeup)
            consumer.broker.ack([receipt])
    assert [w.priority for w in order[:20]] == [2] * 20
    assert [w.priority for w in order[20:]] == [0] * 20


def test_dead_letters_are_confirmed_and_reach_the_dead_letter_queue(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    records = [{"id": f"n{i}", "status": "dead", "last_error": "HTTP 500"} for i in range(3)]
    assert publisher.publish_dead_letters(records) == [True, True, True]
    bodies = get_all(f"{rabbit_group}.dead-letters")
    assert sorted(json.loads(body)["id"] for body in bodies) == ["n0", "n1", "n2"]
    assert json.loads(bodies[0]) == {"id": "n0", "status": "dead", "last_error": "HTTP 500"}


def test_dead_letters_while_disconnected_are_refused_at_once_not_held() -> None:
    """The caller holds the durable copy: a dead letter held in memory would only be lost."""
    broker = RabbitBroker("amqp://guest:guest@127.0.0.1:1/%2F", "unreachable")
    broker.start()
    try:
        assert broker.publish_dead_letters([{"id": "n1"}, {"id": "n2"}]) == [False, False]
        assert broker.counters().get("published", 0) == 0
    finally:
        broker.close()


def test_dead_letters_stay_within_their_consumer_group(rabbit_group: str) -> None:
    other = f"{rabbit_group}-other"
    brokers = [RabbitBroker(RABBITMQ_URL, group) for group in (rabbit_group, other)]
    for broker in brokers:
        broker.start()
    try:
        wait_until(lambda: all(b.connected for b in brokers), 20, "both connected")
        assert brokers[0].publish_dead_letters([{"id": "mine"}]) == [True]
        assert queue_state(f"{rabbit_group}.dead-letters")[0] == 1
        assert queue_state(f"{other}.dead-letters")[0] == 0
    finally:
        for broker in brokers:
            broker.close()
        delete_queues(other, f"{other}.dead-letters")


def test_an_unreadable_message_is_dropped_and_consuming_goes_on(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    channel = connection.channel()
    garbage_messages = (
        b"not json", b'{"id": 7}', b"[]", b"\xff", b'{"ids": []}', b'{"ids": ["a", 7]}',
        b'{"ids": "abc"}', json.dumps({"ids": ["x"] * 1001}).encode(),
    )  # fmt: skip
    for garbage in garbage_messages:
        channel.basic_publish("", rabbit_group, garbage)
    connection.close()
    publisher.publish(wakeups(1))
    with Consumer(rabbit_group, prefetch=10) as consumer:
        (receipt,) = consumer.take(1)
        consumer.broker.ack([receipt])
        assert receipt.wakeup.ids == ("n0",)
        # The queue orders by priority: the wake-up (priority 1) may overtake the garbage
        # (no priority), so the drops are waited for rather than assumed done.
        wait_until(
            lambda: consumer.broker.counters().get("bad_messages") == len(garbage_messages),
            10, "every unreadable message dropped",
        )  # fmt: skip
    assert queue_state(rabbit_group)[0] == 0


def test_wakeups_published_while_disconnected_are_sent_after_reconnecting(
    rabbit_group: str,
) -> None:
    broker = RabbitBroker(RABBITMQ_URL, rabbit_group)
    broker.publish(wakeups(3))  # not started yet: held in the outbox
    broker.start()
    try:
        wait_until(lambda: broker.connected, 20, "connected")
        wait_until(lambda: queue_state(rabbit_group)[0] == 3, 20, "the held wake-ups")
        broker.reconnect()
        wait_until(lambda: broker.counters().get("reconnects", 0) >= 1, 20, "a reconnect")
        wait_until(lambda: broker.connected, 20, "connected again")
        broker.publish(wakeups(2, prefix="after"))
        wait_until(lambda: queue_state(rabbit_group)[0] == 5, 20, "the later wake-ups")
    finally:
        broker.close()


def test_a_broker_that_cannot_be_reached_counts_nothing_lost_and_never_blocks() -> None:
    """While RabbitMQ cannot be reached, publishing returns at once: the wake-ups are held for
    the reconnect (none counted lost), up to MAX_OUTSTANDING, and each one beyond is dropped and
    counted rather than waited for. Meanwhile the thread keeps trying, and says disconnected."""
    broker = WatchedBroker("amqp://guest:guest@127.0.0.1:1/%2F", "unreachable")
    broker.start()
    try:
        broker.publish(wakeups(10))
        assert broker.outstanding == 10
        assert broker.counters().get("publish_dropped", 0) == 0
        broker.publish(wakeups(MAX_OUTSTANDING))  # far more than it holds: still returns
        assert broker.outstanding == MAX_OUTSTANDING
        wait_until(lambda: len(broker.connected_while_down) >= 2, 30, "two failed connects")
        counts = broker.counters()
        assert not broker.connected and not any(broker.connected_while_down)
    finally:
        broker.close()
    assert counts["publish_dropped"] == 10
    assert counts.get("published", 0) == counts.get("publish_unconfirmed", 0) == 0
    assert counts["reconnects"] >= 2


def test_one_message_names_many_notifications_and_earlier_one_id_messages_still_read(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    publisher.publish([WakeUp(tuple(f"n{i}" for i in range(50)), 2)])
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    connection.channel().basic_publish("", rabbit_group, b'{"id": "legacy", "priority": 1}')
    connection.close()
    with Consumer(rabbit_group, prefetch=10) as consumer:
        received = consumer.take(2)
        consumer.broker.ack(received)
    by_priority = sorted(received, key=lambda r: -r.wakeup.priority)
    assert by_priority[0].wakeup == WakeUp(tuple(f"n{i}" for i in range(50)), 2)
    assert by_priority[1].wakeup == WakeUp(("legacy",), 1)
    wait_until(lambda: queue_state(rabbit_group)[0] == 0, 10, "both acknowledged")


class WatchedBroker(RabbitBroker):
    """Records what ``connected`` says while the broker waits to reconnect (it is down then)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connected_while_down: list[bool] = []

    def _pause(self, seconds: float) -> None:
        self.connected_while_down.append(self.connected)
        super()._pause(seconds)


class FailsOnce:
    """A wake-up handler whose first call raises, like a bug in the worker's hand-over."""

    def __init__(self) -> None:
        self.received: queue.Queue[Receipt] = queue.Queue()
        self.failed = False

    def __call__(self, receipt: Receipt) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("injected: the wake-up handler failed")
        self.received.put(receipt)


def test_an_exception_in_the_wakeup_handler_is_a_reconnect_and_consuming_resumes(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    publisher.publish(wakeups(3))
    handler = FailsOnce()
    consumer = WatchedBroker(RABBITMQ_URL, rabbit_group, prefetch=10)
    consumer.start(handler)
    try:
        # the wake-up being handled when it raised was never acked: RabbitMQ delivers it again
        first = [handler.received.get(timeout=30) for _ in range(3)]
        consumer.ack(first)
        assert handler.failed and consumer.counters()["callback_errors"] == 1
        assert consumer.connected_while_down and not any(consumer.connected_while_down)
        publisher.publish(wakeups(2, prefix="after"))
        later = [handler.received.get(timeout=30) for _ in range(2)]
        consumer.ack(later)
        assert consumer.connected
    finally:
        consumer.close()
    assert {r.wakeup.ids[0] for r in first} == {"n0", "n1", "n2"}
    assert {r.wakeup.ids[0] for r in later} == {"after0", "after1"}
    wait_until(lambda: queue_state(rabbit_group) == (0, 0), 10, "every wake-up acknowledged")


def test_an_exception_in_the_confirm_handler_is_a_reconnect_and_publishing_resumes(
    rabbit_group: str,
) -> None:
    broker = WatchedBroker(RABBITMQ_URL, rabbit_group)
    confirm = broker._on_confirm
    failures: list[str] = []

    def confirm_fails_once(frame: Any) -> None:
        if not failures:
            failures.append("injected")
            raise RuntimeError("injected: the confirm handler failed")
        confirm(frame)

    broker._on_confirm = confirm_fails_once  # type: ignore[method-assign]
    broker.start()
    try:
        broker.publish(wakeups(1))
        wait_until(lambda: broker.counters().get("callback_errors", 0) == 1, 30, "the failure")
        wait_until(lambda: broker.connected, 30, "connected again")
        broker.publish(wakeups(2, prefix="after"))
        wait_until(lambda: broker.counters().get("publish_confirmed", 0) == 2, 30, "2 confirms")
        assert broker.connected_while_down and not any(broker.connected_while_down)
    finally:
        broker.close()
    assert queue_state(rabbit_group)[0] == 3  # the first one reached the queue; its confirm died


def test_an_exception_escaping_the_io_loop_is_a_reconnect_not_a_dead_thread(
    publisher: RabbitBroker, rabbit_group: str
) -> None:
    """pika lets an exception out of a callback it runs from its loop (a timer, a hand-over
    from another thread); it used to end the broker's thread while ``connected`` stayed true."""
    received: queue.Queue[Receipt] = queue.Queue()
    consumer = WatchedBroker(RABBITMQ_URL, rabbit_group, prefetch=10)
    consumer.start(received.put)
    try:
        wait_until(lambda: consumer.connected, 20, "the consumer to connect")
        connection = consumer._connection
        assert connection is not None

        def boom() -> None:
            raise RuntimeError("injected: a callback on the I/O loop failed")

        connection.ioloop.add_callback_threadsafe(boom)  # unguarded, as pika's own would be
        wait_until(lambda: consumer.counters().get("io_errors", 0) == 1, 30, "the failure")
        publisher.publish(wakeups(2))
        receipts = [received.get(timeout=30) for _ in range(2)]
        consumer.ack(receipts)
        assert consumer.connected
        assert consumer.connected_while_down and not any(consumer.connected_while_down)
    finally:
        consumer.close()
    assert {r.wakeup.ids[0] for r in receipts} == {"n0", "n1"}
    wait_until(lambda: queue_state(rabbit_group) == (0, 0), 10, "both acknowledged")
