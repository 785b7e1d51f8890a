"""The peers' side of ``peers.py``: one Celery task and one Dramatiq actor doing notifyctl's work.

Each takes a notification (the dict ``e2e.make_item`` builds, plus ``id`` and ``created_at``) and
delivers it as notifyctl's channels do: a JSON line appended to a file (``PEERS_SINK`` a path; the
same fields as notifyctl's log channel, ``delivered_at`` added), or a POST of its JSON to a
webhook receiver (``PEERS_SINK`` an http:// URL, ``webhook-id`` the notification's id; a 5xx or
a refused connection raises, so the peer retries it). Configured by the environment, read at
import, because the peers' worker processes import this module by name:

- ``PEERS_BROKER``: the amqp:// URL; ``PEERS_QUEUE``: the run's own queue (deleted afterwards).

Celery as its documentation recommends for reliability: ``task_acks_late`` (acknowledged after the
task ran, so a worker lost mid-task does not lose it) with ``worker_prefetch_multiplier = 1``;
no result backend (nothing reads results). Dramatiq's RabbitMQ broker acknowledges after the
actor ran by default; its messages and queues are durable, as Celery's are on RabbitMQ.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import dramatiq
import httpx
from celery import Celery  # type: ignore[import-untyped]
from dramatiq.brokers.rabbitmq import RabbitmqBroker

BROKER = os.environ.get("PEERS_BROKER", "amqp://guest:guest@127.0.0.1:5672/%2F")
QUEUE = os.environ.get("PEERS_QUEUE", "peers-bench")
SINK = os.environ.get("PEERS_SINK", "/tmp/peers-deliveries.log")

_local = threading.local()
_fd: int | None = None


def iso_now() -> str:
    now = time.time()
    millis = int(now * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{millis:03d}Z"


def deliver(record: dict[str, Any]) -> None:
    """The work both peers do for one notification."""
    if SINK.startswith("http"):
        post(record)
    else:
        append(record)


def append(record: dict[str, Any]) -> None:
    global _fd
    if _fd is None:
        _fd = os.open(SINK, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    line = json.dumps({**record, "delivered_at": iso_now()}, separators=(",", ":")) + "\n"
    os.write(_fd, line.encode())  # one write per line on O_APPEND: lines never interleave


def post(record: dict[str, Any]) -> None:
    client = getattr(_local, "client", None)
    if client is None:  # one kept-alive client per thread (Dramatiq runs actors on threads)
        client = _local.client = httpx.Client(timeout=10)
    body = json.dumps(record, separators=(",", ":")).encode()
    headers = {"content-type": "application/json", "webhook-id": record["id"]}
    response = client.post(SINK, content=body, headers=headers)
    if response.status_code >= 500:
        raise RuntimeError(f"webhook answered {response.status_code}")


# --------------------------------------------------------------------------- Celery

celery_app = Celery("peers", broker=BROKER)
celery_app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@celery_app.task(name="peers.deliver", max_retries=3)  # type: ignore[untyped-decorator]
def celery_deliver(record: dict[str, Any]) -> None:
    deliver(record)


# --------------------------------------------------------------------------- Dramatiq

dramatiq.set_broker(RabbitmqBroker(url=BROKER))


@dramatiq.actor(queue_name=QUEUE, max_retries=3)
def dramatiq_deliver(record: dict[str, Any]) -> None:
    deliver(record)
