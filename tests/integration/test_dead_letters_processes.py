"""Dead letters with worker processes and the real RabbitMQ behind a gate
(``tests/integration/gate.py``): every notification that dies reaches ``<group>.dead-letters``,
whatever the broker and the workers were doing when it died."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

import pytest

from notifyctl.config import Config
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from notifyctl.store.sqlite.connection import path_of
from tests.helpers import Receiver, start_worker, wait_until
from tests.integration.gate import Gate
from tests.integration.test_broker_processes import Service, broker_config
from tests.rabbit import get_all, queue_state

pytestmark = pytest.mark.integration


def marked(config: Config) -> int:
    """Deaths whose dead letter the broker has not confirmed yet (read without taking them)."""
    with sqlite3.connect(path_of(config.store_url)) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM notifications WHERE dead_letter_at IS NOT NULL"
        ).fetchone()
    conn.close()
    return int(count)


def die(service: Service, receiver: Receiver, store: Store, count: int) -> list[str]:
    """Send ``count`` notifications that the receiver refuses for good, and wait for them to die."""
    dead_before = store.counts(now_ms())["dead"]
    ids = service.send(receiver, count)
    wait_until(lambda: store.counts(now_ms())["dead"] == dead_before + count, 60, "the deaths")
    return ids


def test_every_death_reaches_the_dead_letter_queue_across_outages_and_a_crash(
    tmp_path: Path, rabbit_group: str
) -> None:
    with Gate() as gate, Receiver(lambda attempt: (410, 0.0)) as receiver:
        # the API needs no broker here; the workers reach RabbitMQ only through the gate
        config = broker_config(tmp_path, rabbit_group, rabbitmq_url=gate.url())
        store = open_store(config)
        service = Service(config, workers=1, api_env={"RABBITMQ_URL": "none"})
        try:
            service.wait_ready(queue="none")
            # 1. the broker is down while they die, and their worker crashes before it is back
            ids = die(service, receiver, store, 30)
            victim = service.workers.pop(1)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            gate.open()
            service.workers[2] = start_worker(config, 2)
            wait_until(lambda: marked(config) == 0, 90, "the first 30 dead letters confirmed")
            # 2. the broker goes away under a running worker while more die, then comes back
            gate.shut()
            ids += die(service, receiver, store, 20)
            assert marked(config) == 20
            gate.open()
            wait_until(lambda: marked(config) == 0, 90, "the next 20 dead letters confirmed")
        finally:
            service.stop()
    letters = [json.loads(body) for body in get_all(f"{rabbit_group}.dead-letters")]
    assert {letter["id"] for letter in letters} == set(ids)  # each at least once
    assert all(letter["status"] == "dead" and "410" in letter["last_error"] for letter in letters)
    assert queue_state(rabbit_group)[1] == 0
