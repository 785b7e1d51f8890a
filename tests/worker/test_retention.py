"""Retention in a running worker (``notifyctl/worker/retention.py``): terminal notifications older
than ``NOTIFYCTL_RETENTION_DAYS`` are deleted in batches while the worker delivers others, the
workers' outcome writes land between two batches, ``notifications_purged_total`` counts them,
nothing undelivered goes, a store failure is retried at the next period, and nothing runs when
retention is off. In-process worker, real SQLite store; the channel is a stand-in receiver."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifyctl.model import Notification, Status, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import Store, open_store
from notifyctl.store.calls import call as store_call
from notifyctl.store.sqlite import SqliteStore
from notifyctl.store.sqlite.connection import path_of
from notifyctl.worker.retention import BATCH, DAY_MS, Retention
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import webhooks

URL = "http://127.0.0.1:9/hook"  # never called: the stand-in receiver answers


class Receiver:
    """Answers every delivery with success, once ``ready()`` says so."""

    name = "webhook"

    def __init__(self, ready: Callable[[], bool] = lambda: True) -> None:
        self.ready = ready
        self.delivered: list[str] = []

    async def deliver(self, notification: Notification) -> DeliveryResult:
        with anyio.fail_after(30):
            while not self.ready():
                await anyio.sleep(0.001)
        self.delivered.append(notification.id)
        return DeliveryResult(ResultKind.OK)

    async def aclose(self) -> None:
        pass


def old_terminal(store: Store, count: int, at: int) -> list[str]:
    """``count`` notifications last changed ``at``: suppressed at intake, and a tenth cancelled."""
    cancelled = count // 10
    items = [replace(n, suppressed="opted out") for n in webhooks(URL, count - cancelled)]
    later = webhooks(URL, cancelled, scheduled_for=at + DAY_MS)
    ids = [r.notification.id for r in store.insert_many([*items, *later], at)]
    for notification_id in ids[len(items) :]:
        assert store.cancel(notification_id, at)[0] == "cancelled"
    return ids


def undelivered(store: Store, at: int) -> tuple[list[str], list[str]]:
    """Inserted ``at``, long ago: 100 due (the worker delivers them) and 20 due tomorrow."""
    due = store.insert_many(webhooks(URL, 100, scheduled_for=at), at)
    waiting = store.insert_many(webhooks(URL, 20, scheduled_for=now_ms() + DAY_MS), at)
    return [r.notification.id for r in due], [r.notification.id for r in waiting]


async def run_until(worker: Worker, done: Callable[[], bool]) -> None:
    with anyio.fail_after(60):
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            while not done():
                await anyio.sleep(0.01)
            worker.stop()


def metric(worker: Worker, name: str, labels: dict[str, str] | None = None) -> float:
    exposition = worker.metrics.exposition().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name and (labels is None or sample.labels == labels)
    )


def test_a_worker_purges_in_batches_while_it_delivers_and_keeps_the_undelivered(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, retention_days=1)
    store = open_store(config)
    try:
        long_ago = now_ms() - 2 * DAY_MS
        purged = old_terminal(store, 2 * BATCH + 100, long_ago)
        due, waiting = undelivered(store, long_ago)
        receiver = Receiver()
        worker = Worker(config, store, {"webhook": receiver}, 1)
        total = len(purged)
        anyio.run(
            run_until, worker, lambda: worker.metrics.notifications_purged >= total
            and worker.stats.sent >= len(due),
        )  # fmt: skip
        assert [store.get(nid) for nid in purged] == [None] * total
        assert sorted(receiver.delivered) == sorted(due)
        counts = store.counts(now_ms())
        assert (counts["sent"], counts["scheduled"]) == (len(due), len(waiting))
        assert counts["suppressed"] == counts["cancelled"] == 0
        assert metric(worker, "notifications_purged_total") == total
        # the first sweep, at start: 500, 500, 100 (the next is a minute away)
        calls = {"operation": "purge_terminal"}
        assert metric(worker, "database_operation_duration_seconds_count", calls) == 3
    finally:
        store.close()


class Batches:
    """The worker's metrics as the retention loop sees them, noting at each batch how many
    outcomes the worker had written by then."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.seen: list[tuple[int, int]] = []

    def purged(self, count: int) -> None:
        self.seen.append((count, self.worker.stats.sent))
        self.worker.metrics.purged(count)


def test_outcome_writes_land_between_two_batches_of_one_sweep(tmp_path: Path) -> None:
    """SQLite has one writer: the pause between batches lets the worker's outcomes in, so a long
    sweep never holds deliveries' results back."""
    config = make_config(tmp_path, retention_days=1)
    store = open_store(config)
    try:
        long_ago = now_ms() - 2 * DAY_MS
        old_terminal(store, 1_000, long_ago)
        due, _ = undelivered(store, long_ago)
        worker = Worker(config, store, {}, 1)
        # deliveries wait for the sweep to begin, so their outcomes are written during it
        worker.channels["webhook"] = Receiver(lambda: worker.metrics.notifications_purged > 0)
        batches = Batches(worker)
        call = partial(store_call, worker.metrics)
        worker.retention = Retention(store, call, 1, now_ms, batches, worker.stats, batch=10)
        anyio.run(
            run_until, worker, lambda: worker.metrics.notifications_purged >= 1_000
            and worker.stats.sent >= len(due),
        )  # fmt: skip
        assert batches.seen[0] == (10, 0)
        assert any(count == 10 and sent > 0 for count, sent in batches.seen[:-1]), batches.seen
        assert sum(count for count, _ in batches.seen) == 1_000
    finally:
        store.close()


def test_a_failed_purge_is_logged_and_tried_again_next_period(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'notifyctl.db'}", busy_timeout_s=0.05)
    try:
        old_terminal(store, 30, now_ms() - 2 * DAY_MS)
        worker = Worker(make_config(tmp_path), store, {}, 1)
        call = partial(store_call, worker.metrics)
        retention = Retention(store, call, 1, now_ms, worker.metrics, worker.stats, every_s=0.05)
        # another process holds the write lock longer than the store waits for it
        blocker = sqlite3.connect(path_of(store.url), isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")

        async def scenario() -> None:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as running:
                    running.start_soon(retention.run)
                    while worker.stats.store_errors == 0:
                        await anyio.sleep(0.01)
                    blocker.execute("ROLLBACK")
                    while worker.metrics.notifications_purged < 30:
                        await anyio.sleep(0.01)
                    running.cancel_scope.cancel()

        with caplog.at_level(logging.WARNING, logger="notifyctl.worker"):
            anyio.run(scenario)
        blocker.close()
        assert "retention: purge failed" in caplog.text
        assert store.counts(now_ms())["suppressed"] == 0
    finally:
        store.close()


def test_with_retention_off_the_loop_does_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert config.retention_days == 0
    store = open_store(config)
    try:
        ids = old_terminal(store, 10, now_ms() - 3_650 * DAY_MS)
        worker = Worker(config, store, {}, 1)

        async def run_loop() -> None:
            with anyio.fail_after(5):  # it returns at once
                await worker.retention.run()

        anyio.run(run_loop)
        assert all(store.get(nid) is not None for nid in ids)
        assert worker.metrics.notifications_purged == 0
        assert store.counts(now_ms())[Status.SUPPRESSED.value] == 9
    finally:
        store.close()
