"""The circuit breaker shared by worker processes (issue 17 item 2): two real workers deliver to a
receiver that answers 503 to everything for a while. Through the store they share one circuit:
after it opens, the two together send one probe per cooldown, not one each; when the receiver is
back, every notification arrives exactly once and none is dead, though the outage outlasted
what their attempts would have (3 attempts, 50-100 ms apart)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from notifyctl.model import Status, now_ms
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import Receiver, insert, start_worker, stop, wait_until, webhooks

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

COUNT = 40
DOWN_S = 5.0
COOLDOWN_S = 1


def test_two_workers_share_one_circuit_and_lose_nothing_to_an_outage(tmp_path: Path) -> None:
    config = make_config(
        tmp_path, worker_concurrency=4, destination_concurrency=4, breaker_failures=3,
        breaker_cooldown_s=COOLDOWN_S, breaker_max_cooldown_s=COOLDOWN_S, retry_base_ms=50,
        retry_max_ms=100,
    )  # fmt: skip
    store = open_store(config)
    down = {"until": time.time() + DOWN_S}
    with Receiver(lambda attempt: (503 if time.time() < down["until"] else 200, 0.0)) as receiver:
        insert(store, webhooks(receiver.url, COUNT, max_attempts=3))
        workers = [start_worker(config, 1), start_worker(config, 2)]
        try:
            wait_until(lambda: store.counts(now_ms())[Status.SENT.value] == COUNT, 60, "all sent")
        finally:
            for worker in workers:
                stop(worker)
        arrivals = receiver.snapshot()
    counts = store.counts(now_ms())
    assert counts[Status.DEAD.value] == 0 and counts["locked"] == 0
    failed = [d for d in arrivals if d.received_at < down["until"]]
    delivered = [d for d in arrivals if d.received_at >= down["until"]]
    assert sorted(d.webhook_id for d in delivered) == sorted({d.webhook_id for d in delivered})
    assert len(delivered) == COUNT  # each once, after the outage
    # before the circuit opened: at most three failures in a row and the slots in flight, per
    # worker; after it: one probe per cooldown for both workers together (plus the edges)
    opened = sorted(d.received_at for d in failed)
    first_second = [t for t in opened if t - opened[0] < 1.0]
    probes = len(opened) - len(first_second)
    assert len(first_second) <= 2 * (3 + 4)
    assert probes <= DOWN_S / COOLDOWN_S + 2
    assert len(failed) < COUNT  # without the breaker: every notification, three times
    assert store.breakers() == []  # the successful probe closed it
    store.close()
