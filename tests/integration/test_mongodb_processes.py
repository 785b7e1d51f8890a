"""Several processes sharing one MongoDB store: concurrent claims, real workers, ``notifyctl up``.

Bounded for the stand-in server (it scans, so a few hundred notifications at most); every wait
has a deadline, and no timing is asserted.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from collections import Counter
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from notifyctl.model import now_ms
from notifyctl.store import open_store
from notifyctl.store.mongodb.pool import PoolSize
from notifyctl.store.mongodb.store import MongoStore
from tests.conftest import make_config
from tests.helpers import Receiver, free_port, insert, start_worker, stop, wait_until, webhooks
from tests.integration.test_broker_processes import Service, assert_delivered_once, broker_config
from tests.integration.test_up import answers, call, notification, sent

pytestmark = pytest.mark.integration

CLAIMERS, NOTIFICATIONS, BATCH = 4, 120, 5


def claim_until_empty(url: str, number: int, start: Barrier, results: Any) -> None:
    """One claiming process: take batches until nothing is left; report every id won."""
    store = MongoStore(url, PoolSize(max=2, min=0))
    won: list[str] = []
    try:
        start.wait(60)
        while batch := store.claim_batch(f"claimer-{number}", BATCH, now_ms(), 600_000):
            won.extend(claim.id for claim in batch)
    finally:
        store.close()
        results.put((number, won))


def test_four_processes_claim_each_notification_exactly_once(mongodb_url: str) -> None:
    store = MongoStore(mongodb_url, PoolSize(max=2, min=0))
    ids = set(insert(store, webhooks("http://127.0.0.1:9/hook", NOTIFICATIONS)))
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(CLAIMERS), spawn.Queue()
    claimers = [
        spawn.Process(target=claim_until_empty, args=(mongodb_url, n, start, results))
        for n in range(CLAIMERS)
    ]
    for process in claimers:
        process.start()
    try:
        won = dict(results.get(timeout=180) for _ in claimers)
    finally:
        for process in claimers:
            process.join(30)
    claimed = Counter(i for ids_won in won.values() for i in ids_won)
    assert [i for i, n in claimed.items() if n > 1] == []
    assert set(claimed) == ids
    assert sum(1 for ids_won in won.values() if ids_won) >= 2, "no concurrency: proves nothing"
    for notification_id in ids:
        found = store.get(notification_id)
        assert found is not None and found.attempts == 1 and found.lock_version == 1
    store.close()


def test_worker_processes_deliver_every_notification_once(tmp_path: Path, mongodb_url: str) -> None:
    config = make_config(tmp_path, store_url=mongodb_url)
    store = open_store(config)
    with Receiver() as receiver:
        ids = set(insert(store, webhooks(receiver.url, 100)))
        workers = [start_worker(config, n) for n in (1, 2)]
        try:
            wait_until(lambda: len(store.workers()) == 2, 60, "both workers registered")
            wait_until(lambda: store.counts(now_ms())["sent"] == 100, 120, "all marked sent")
        finally:
            codes = [stop(w) for w in workers]
        counts = receiver.counts()
    assert set(counts) == ids
    assert [i for i, n in counts.items() if n > 1] == []
    assert codes == [0, 0]
    assert store.counts(now_ms())["locked"] == 0
    assert store.workers() == []
    store.close()


def test_up_runs_unchanged_on_the_mongodb_store(tmp_path: Path, mongodb_url: str) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "notifyctl", "--store", mongodb_url, "up", "--workers", "2",
            "--port", str(port), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    env = {**os.environ, "NOTIFYCTL_MONITOR_PORT_BASE": "0"}
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}"
    try:
        with Receiver() as receiver:
            wait_until(lambda: up.poll() is not None or answers(f"{api}/health"), 60, "the API")
            assert up.poll() is None, log.read_text()
            assert call("GET", f"{api}/health")[1]["database"] == "connected"
            batch = {"notifications": [notification(receiver.url) for _ in range(20)]}
            status, body = call("POST", f"{api}/v1/notifications/batch", batch)
            assert status == 200
            ids = [item["notification"]["id"] for item in body["results"]]
            wait_until(lambda: set(receiver.counts()) == set(ids), 60, "20 deliveries")
            wait_until(lambda: all(sent(api, i) for i in ids), 20, "all sent")
            assert all(n == 1 for n in receiver.counts().values())
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()


def test_the_rabbitmq_mode_runs_unchanged_on_the_mongodb_store(
    tmp_path: Path, mongodb_url: str, rabbit_group: str
) -> None:
    # a sweep only every 10 minutes: what is delivered came through the broker and claim_ids
    config = broker_config(tmp_path, rabbit_group, store_url=mongodb_url, poll_interval_ms=600_000)
    store = open_store(config)
    with Receiver() as receiver:
        service = Service(config, workers=2)
        try:
            service.wait_ready()
            ids = service.send(receiver, 100)
            wait_until(lambda: store.counts(now_ms())["sent"] == 100, 120, "all sent")
        finally:
            codes = service.stop()
        assert_delivered_once(receiver, ids, store)
    assert codes == [0, 0, 0]
    store.close()
