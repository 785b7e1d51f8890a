"""Workers and the API with the real RabbitMQ: consumer groups, crashes, broker restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from notifyctl.config import Config
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config
from tests.helpers import (
    Receiver,
    api_health,
    child_env,
    free_port,
    http_json,
    leased_by_pid,
    start_api,
    start_worker,
    stop,
    wait_until,
)
from tests.rabbit import RABBITMQ_URL, get_all, queue_state, rabbitmqctl

pytestmark = pytest.mark.integration


def broker_config(tmp_path: Path, group: str, **overrides: Any) -> Config:
    settings = {"rabbitmq_url": RABBITMQ_URL, "rabbitmq_consumer_group": group, **overrides}
    return make_config(tmp_path, **settings)


class Service:
    """An API process and worker processes sharing one store and one queue."""

    def __init__(self, config: Config, workers: int, api_env: dict[str, str] | None = None):
        self.config = config
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = start_api(config, self.port, **(api_env or {}))
        self.workers = {n: start_worker(config, n) for n in range(1, workers + 1)}

    def wait_ready(self, queue: str = "connected") -> None:
        wait_until(lambda: (api_health(self.url) or {}).get("messageQueue") == queue, 60, "API")

    def send(self, receiver: Receiver, count: int, **fields: Any) -> list[str]:
        ids: list[str] = []
        while len(ids) < count:
            items = [
                {"user_id": f"u{len(ids) + i}", "channel": "webhook", "to": receiver.url, **fields}
                for i in range(min(1_000, count - len(ids)))
            ]
            status, body = http_json("POST", f"{self.url}/v1/notifications/batch",
                                     {"notifications": items})  # fmt: skip
            assert status == 200
            ids += [r["notification"]["id"] for r in body["results"]]
        return ids

    def stop(self) -> list[int]:
        return [stop(p) for p in [*self.workers.values(), self.api]]


def assert_delivered_once(receiver: Receiver, ids: list[str], store: Store) -> None:
    counts = receiver.counts()
    assert set(counts) == set(ids)
    assert [i for i, n in counts.items() if n > 1] == []
    final = store.counts(now_ms())
    assert final["sent"] == len(ids) and final["locked"] == 0


def test_four_workers_share_the_queue_and_deliver_10000_exactly_once(
    tmp_path: Path, rabbit_group: str
) -> None:
    config = broker_config(tmp_path, rabbit_group, heartbeat_interval_ms=200)
    store = open_store(config)
    with Receiver() as receiver:
        service = Service(config, workers=4)
        try:
            service.wait_ready()
            ids = service.send(receiver, 10_000)
            wait_until(lambda: len(receiver.counts()) >= 10_000, 180, "10,000 deliveries")
            wait_until(lambda: store.counts(now_ms())["sent"] == 10_000, 30, "all sent")
            wait_until(lambda: sum(w.processed for w in store.workers()) == 10_000, 10, "beats")
            processed = [w.processed for w in store.workers()]
        finally:
            codes = service.stop()
        assert_delivered_once(receiver, ids, store)
    assert codes == [0] * 5
    assert len(processed) == 4 and min(processed) > 0, processed
    assert queue_state(rabbit_group) == (0, 0)


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_only_its_in_flight_work(
    tmp_path: Path, rabbit_group: str
) -> None:
    config = broker_config(tmp_path, rabbit_group, lock_duration_ms=1_500, poll_interval_ms=500)
    store = open_store(config)
    with Receiver(lambda attempt: (200, 0.1)) as receiver:
        service = Service(config, workers=2)
        try:
            service.wait_ready()
            ids = service.send(receiver, 1_000)
            wait_until(lambda: len(receiver.counts()) >= 150, 60, "150 deliveries")
            victim = service.workers[1]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            orphaned = leased_by_pid(store, victim.pid)
            wait_until(lambda: set(receiver.counts()) >= set(ids), 120, "every notification")
            wait_until(lambda: store.counts(now_ms())["sent"] == 1_000, 30, "all sent")
        finally:
            service.stop()
        deliveries = receiver.snapshot()
    repeats = {i for i, n in receiver.counts().items() if n > 1}
    # Only what the killed worker still held (delivering, or delivered but not yet recorded)
    # may come twice.
    assert repeats <= orphaned
    assert all(d.body["id"] == d.webhook_id for d in deliveries)
    assert store.counts(now_ms())["locked"] == 0


def test_a_broker_restart_mid_run_loses_and_repeats_nothing(
    tmp_path: Path, rabbit_group: str
) -> None:
    config = broker_config(tmp_path, rabbit_group, poll_interval_ms=500)
    store = open_store(config)
    with Receiver(lambda attempt: (200, 0.02)) as receiver:
        service = Service(config, workers=2)
        try:
            service.wait_ready()
            ids = service.send(receiver, 1_500)
            wait_until(lambda: len(receiver.counts()) >= 200, 60, "200 deliveries")
            rabbitmqctl("stop_app")
            try:
                ids += service.send(receiver, 1_500)  # accepted while the broker is down
            finally:
                rabbitmqctl("start_app")
            wait_until(lambda: set(receiver.counts()) >= set(ids), 120, "every notification")
            wait_until(lambda: queue_state(rabbit_group)[1] == 2, 60, "both workers consuming")
            wait_until(lambda: api_health(service.url) is not None, 10, "the API")
            more = service.send(receiver, 100)
            wait_until(lambda: set(receiver.counts()) >= set(more), 30, "deliveries after")
        finally:
            codes = service.stop()
        assert_delivered_once(receiver, ids + more, store)
    assert codes == [0, 0, 0]


def test_notifications_accepted_while_the_broker_is_unreachable_are_delivered_by_the_sweep(
    tmp_path: Path, rabbit_group: str
) -> None:
    config = broker_config(tmp_path, rabbit_group, poll_interval_ms=300)
    store = open_store(config)
    unreachable = {"RABBITMQ_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/%2F"}
    with Receiver() as receiver:
        service = Service(config, workers=1, api_env=unreachable)
        try:
            service.wait_ready(queue="disconnected")
            ids = service.send(receiver, 20)
            wait_until(lambda: set(receiver.counts()) >= set(ids), 30, "the sweep to deliver")
        finally:
            service.stop()
        assert_delivered_once(receiver, ids, store)


def test_high_priority_overtakes_a_low_priority_backlog(tmp_path: Path, rabbit_group: str) -> None:
    config = broker_config(tmp_path, rabbit_group, worker_concurrency=1, prefetch_count=1)
    store = open_store(config)
    with Receiver() as receiver:
        service = Service(config, workers=0)
        try:
            service.wait_ready()
            low = service.send(receiver, 30, priority="low")
            high = service.send(receiver, 30, priority="high")
            # one wake-up message per batch of up to 50 ids of one priority
            wait_until(lambda: queue_state(rabbit_group)[0] == 2, 30, "the backlog")
            service.workers[1] = start_worker(config, 1)
            wait_until(lambda: len(receiver.counts()) == 60, 60, "60 deliveries")
        finally:
            service.stop()
        order = [d.webhook_id for d in receiver.snapshot()]
    assert set(order[:30]) == set(high)
    assert set(order[30:]) == set(low)
    assert store.counts(now_ms())["sent"] == 60


@pytest.mark.parametrize("cap", [100, 10])
def test_an_idle_worker_is_woken_by_the_broker_not_found_by_its_sweep(
    tmp_path: Path, rabbit_group: str, cap: int
) -> None:
    """With a 10-minute POLL_INTERVAL_MS, only wake-ups deliver promptly. Until its broker
    connection is up the sweep polls adaptively; the first sweep that ends after that rests the
    full POLL_INTERVAL_MS, and /stats says so (``sweepRestMs``). Sending only then makes every
    claim a wake-up's by construction, where this test used to retry until one round was.

    With the destination's cap at 10 (``cap``), most of the 120 claims by wake-up find no room
    and are given back for a moment later, which no wake-up will name: the worker's sweep must
    come back for them then, not after its 10-minute rest."""
    config = broker_config(
        tmp_path, rabbit_group, poll_interval_ms=600_000, destination_concurrency=cap
    )
    monitor = free_port()
    store = open_store(config)
    with Receiver() as receiver:
        service = Service(config, workers=0)
        service.workers[1] = start_worker(config, 1, NOTIFYCTL_MONITOR_PORT_BASE=str(monitor - 1))
        worker = f"http://127.0.0.1:{monitor}"
        try:
            service.wait_ready()
            wait_until(lambda: (worker_stats(worker) or {}).get("sweepRestMs") == 600_000,
                       60, "the sweep to rest POLL_INTERVAL_MS")  # fmt: skip
            ids = service.send(receiver, 120)  # 3 messages: 50 + 50 + 20 ids
            wait_until(lambda: len(receiver.counts()) == len(ids), 30, "the deliveries")
            stats = worker_stats(worker)
        finally:
            service.stop()
        assert_delivered_once(receiver, ids, store)
    assert stats is not None
    if cap == 100:  # room for all: every claim is a wake-up's
        assert stats["claimedByWakeup"] == stats["claimed"] == 120, stats
    else:  # the given back were claimed again by the sweep (which, woken early for them, may
        # also take ids whose wake-up had not come yet), within the wait above, not 10 minutes
        assert stats["claimed"] > 120 and stats["claimedByWakeup"] < stats["claimed"], stats
    assert stats["broker"]["acked"] == stats["broker"]["received"] == 3
    assert queue_state(rabbit_group) == (0, 0)


def worker_stats(monitor_url: str) -> dict[str, Any] | None:
    """A worker's /stats, or None while its monitoring server is not up yet."""
    if api_health(monitor_url) is None:
        return None
    return http_json("GET", f"{monitor_url}/stats")[1]


def test_a_final_attempt_orphaned_by_kill_9_ends_dead_and_is_dead_lettered(
    tmp_path: Path, rabbit_group: str
) -> None:
    """The worker that finds the expired lease on the last attempt buries the notification and
    publishes it to the dead-letter exchange, like any other notification that ends dead."""
    config = broker_config(tmp_path, rabbit_group, lock_duration_ms=1_000, poll_interval_ms=300)
    store = open_store(config)
    with Receiver(lambda attempt: (200, 8.0)) as receiver:  # answers after the kill
        service = Service(config, workers=1)
        try:
            service.wait_ready()
            (orphan,) = service.send(receiver, 1, max_attempts=1)
            wait_until(lambda: orphan in receiver.counts(), 30, "the delivery to start")
            victim = service.workers.pop(1)
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            service.workers[2] = start_worker(config, 2)
            dead_letters = f"{rabbit_group}.dead-letters"
            wait_until(lambda: queue_state(dead_letters)[0] == 1, 30, "the dead letter")
        finally:
            service.stop()
    (body,) = get_all(dead_letters)
    letter = json.loads(body)
    assert letter["id"] == orphan and letter["status"] == "dead"
    assert "lease expired on the final attempt" in letter["last_error"]
    found = store.get(orphan)
    assert found is not None and found.status.value == "dead" and found.attempts == 1


def test_dlq_replay_wakes_the_workers_through_the_broker(tmp_path: Path, rabbit_group: str) -> None:
    """With a 10-minute POLL_INTERVAL_MS, replayed dead letters are delivered promptly only if
    the replay announced them."""
    config = broker_config(tmp_path, rabbit_group, poll_interval_ms=600_000)
    monitor = free_port()
    store = open_store(config)
    # The first attempt of every id is refused for good (410): each dies at once.
    with Receiver(lambda attempt: (410, 0.0) if attempt == 1 else (200, 0.0)) as receiver:
        service = Service(config, workers=0)
        service.workers[1] = start_worker(config, 1, NOTIFYCTL_MONITOR_PORT_BASE=str(monitor - 1))
        worker = f"http://127.0.0.1:{monitor}"
        try:
            service.wait_ready()
            wait_until(lambda: (api_health(worker) or {}).get("messageQueue") == "connected",
                       60, "the worker's broker connection")  # fmt: skip
            ids = service.send(receiver, 20)
            wait_until(lambda: store.counts(now_ms())["dead"] == 20, 30, "20 dead letters")
            # who claimed the first attempts (wake-up or the sweep's last adaptive poll before
            # the broker connected) is timing; the replays are what this test is about
            _, before = http_json("GET", f"{worker}/stats")
            argv = [sys.executable, "-m", "notifyctl", "dlq", "replay", "--all", "--json"]
            done = subprocess.run(argv, env=child_env(config), capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr.decode()
            report = json.loads(done.stdout)
            assert set(report["replayed"]) == set(ids) and report["wakeups_confirmed"] == 1
            wait_until(lambda: store.counts(now_ms())["sent"] == 20, 30, "the replayed ones")
            _, stats = http_json("GET", f"{worker}/stats")
        finally:
            service.stop()
    assert stats["claimed"] == 40, (before, stats)  # 20 first attempts, 20 replays
    assert stats["claimedByWakeup"] - before["claimedByWakeup"] == 20, (before, stats)
    assert sorted(receiver.counts().values()) == [2] * 20
