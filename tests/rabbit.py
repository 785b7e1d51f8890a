"""Helpers for tests against the real RabbitMQ on 127.0.0.1:5672."""

from __future__ import annotations

import os
import subprocess

import pika
import pytest

RABBITMQ_URL = os.environ.get(
    "NOTIFYCTL_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F"
)


def rabbitmq_available() -> bool:
    try:
        pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).close()
    except pika.exceptions.AMQPError:
        return False
    return True


def require_rabbitmq() -> None:
    """Skip when RabbitMQ is not running here, except in CI, where it must be."""
    if rabbitmq_available():
        return
    if os.environ.get("CI"):
        pytest.fail(f"RabbitMQ is not reachable at {RABBITMQ_URL}; .ci/run should start it")
    pytest.skip(f"RabbitMQ is not reachable at {RABBITMQ_URL}")


def queue_state(queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of a queue."""
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        method = connection.channel().queue_declare(queue, passive=True).method
        return int(method.message_count), int(method.consumer_count)
    finally:
        connection.close()


def get_all(queue: str) -> list[bytes]:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    bodies = []
    try:
        channel = connection.channel()
        while True:
            method, _, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)
    finally:
        connection.close()


def delete_queues(*queues: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL))
    try:
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
            if queue.endswith(".dead-letters"):
                channel.exchange_delete(queue)  # each group's dead-letter exchange bears its name
    finally:
        connection.close()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, timeout=120, capture_output=True)
