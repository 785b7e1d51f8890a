"""Several processes sharing one MongoDB store: concurrent claims, real workers, ``notifyctl up``.

Bounded for the stand-in server (it scans, so a few hundred notifications at most); every wait
has a deadline, and no timing is asserted.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from notifyctl.model import now_ms
from notifyctl.store import open_store
from notifyctl.store.mongodb.pool import PoolSize
from notifyctl.store.mongodb.store import MongoStore
from tests.conftest import make_config
from tests.helpers import Receiver, free_port, insert, start_worker, stop, wait_until, webhooks
from tests.integration.claimers import claim_in_processes
from tests.integration.test_broker_processes import Service, assert_delivered_once, broker_config
from tests.integration.test_up import answers, call, notification, sent

pytestmark = pytest.mark.integration

CLAIMERS, NOTIFICATIONS, BATCH = 4, 120, 5


def test_four_processes_claim_each_notification_exactly_once(mongodb_url: str) -> None:
    store = MongoStore(mongodb_url, PoolSize(max=2, min=0))
    ids = set(insert(store, webhooks("http://127.0.0.1:9/hook", NOTIFICATIONS)))
    claimed = claim_in_processes("mongodb", mongodb_url, CLAIMERS, BATCH)
    assert [i for i, n in claimed.items() if n > 1] == []
    assert set(claimed) == ids
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
