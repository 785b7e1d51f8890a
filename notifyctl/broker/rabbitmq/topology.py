"""What every role declares on RabbitMQ before it publishes or consumes, one step at a time.

pika's declarations are asynchronous: each step starts the next from its reply, on the broker's
I/O thread. Declaring is idempotent, so every (re)connect declares everything again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pika
from pika.channel import Channel

log = logging.getLogger("notifyctl.broker")
EXCHANGE = "notifyctl.notifications"
#: priorities 0 (low) to 2 (high) map straight onto RabbitMQ message priorities
MAX_PRIORITY = 2
Step = Callable[[Callable[[Any], None]], None]


def declarations(
    channel: Channel,
    queue: str,
    dead_letters: str,
    on_confirm: Callable[[Any], None],
    prefetch: int,
) -> list[Step]:
    """The shared wake-up queue behind its direct exchange, the group's dead-letter fanout
    exchange and queue (both named ``dead_letters``), publisher confirms and the prefetch."""
    args = {"x-max-priority": MAX_PRIORITY}
    return [
        lambda done: channel.exchange_declare(EXCHANGE, "direct", durable=True, callback=done),
        lambda done: channel.queue_declare(queue, durable=True, arguments=args, callback=done),
        lambda done: channel.queue_bind(queue, EXCHANGE, queue, callback=done),
        lambda done: channel.exchange_declare(dead_letters, "fanout", durable=True, callback=done),
        lambda done: channel.queue_declare(dead_letters, durable=True, callback=done),
        lambda done: channel.queue_bind(dead_letters, dead_letters, "", callback=done),
        lambda done: channel.confirm_delivery(on_confirm, callback=done),
        lambda done: channel.basic_qos(prefetch_count=prefetch, callback=done),
    ]


def run_steps(steps: list[Step], then: Callable[[], None], failed: Callable[[], None]) -> None:
    """Run asynchronous declarations one after another, each from the previous one's reply;
    ``failed`` if the channel closed mid-way (the caller starts over on a new connection)."""
    if not steps:
        then()
        return
    first, rest = steps[0], steps[1:]
    try:
        first(lambda _frame: run_steps(rest, then, failed))
    except pika.exceptions.AMQPError as exc:
        log.warning("declaring the RabbitMQ topology failed: %s", exc)
        failed()
