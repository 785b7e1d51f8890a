"""Several processes sharing one PostgreSQL store: concurrent claims, real workers, a kill -9.

Each test has a schema of its own on the real server (tests/postgres_server.py); every wait has
a deadline and no timing is asserted.
"""

from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path

import psycopg
import pytest

from notifyctl.model import Status, now_ms
from notifyctl.store import open_store
from notifyctl.store.postgresql.pool import PoolSize
from notifyctl.store.postgresql.store import PostgresStore
from tests.conftest import make_config
from tests.helpers import Receiver, insert, start_worker, stop, wait_until, webhooks
from tests.integration.claimers import claim_in_processes
from tests.postgres_server import postgresql_server, postgresql_url

__all__ = ["postgresql_server", "postgresql_url"]  # the fixtures these tests take

pytestmark = pytest.mark.integration

CLAIMERS, NOTIFICATIONS, BATCH = 4, 2_000, 10


def test_four_processes_claim_each_notification_exactly_once(postgresql_url: str) -> None:
    store = PostgresStore(postgresql_url, PoolSize(max=2, min=1))
    ids = set(insert(store, webhooks("http://127.0.0.1:9/hook", NOTIFICATIONS)))
    # SKIP LOCKED: claimers running together share the queue, none comes back empty-handed
    claimed = claim_in_processes("postgresql", postgresql_url, CLAIMERS, BATCH)
    assert [i for i, n in claimed.items() if n > 1] == []
    assert set(claimed) == ids
    assert store.counts(now_ms())["locked"] == NOTIFICATIONS
    store.close()


def leased_by_pid(url: str, pid: int) -> set[str]:
    """Ids a worker process still holds leases on, as it left them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT id FROM notifications WHERE locked_by LIKE %s AND status = 'pending'",
            (f"%-{pid}-%",),
        ).fetchall()
    return {row[0] for row in rows}


def test_a_worker_killed_mid_run_loses_nothing_and_repeats_only_its_in_flight(
    tmp_path: Path, postgresql_url: str
) -> None:
    lease_ms, total = 1_500, 1_200
    config = make_config(
        tmp_path, store_url=postgresql_url, lock_duration_ms=lease_ms, worker_concurrency=40
    )
    store = open_store(config)
    with Receiver(lambda attempt: (200, 0.2)) as receiver:
        ids = set(insert(store, webhooks(receiver.url, total)))
        victim = start_worker(config, 1)
        survivors = [start_worker(config, n) for n in (2, 3)]
        try:
            wait_until(lambda: len(leased_by_pid(postgresql_url, victim.pid)) >= 10, 60, "leases")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(10)
            orphaned = leased_by_pid(postgresql_url, victim.pid)
            wait_until(lambda: set(receiver.counts()) >= ids, 120, "every notification")
            wait_until(lambda: store.counts(now_ms())["sent"] == total, 30, "all marked sent")
        finally:
            codes = [stop(worker) for worker in survivors]
            stop(victim)  # killed already, unless a wait above failed first
        deliveries = receiver.snapshot()
    assert orphaned, "the killed worker held no leases: the test proves nothing"
    repeats = {i for i, n in receiver.counts().items() if n > 1}
    assert repeats <= orphaned
    assert all(d.body["id"] == d.webhook_id for d in deliveries)
    assert codes == [0, 0]
    for notification_id in orphaned:
        found = store.get(notification_id)
        assert found is not None and found.status is Status.SENT and found.attempts == 2
    assert store.counts(now_ms())["locked"] == 0
    store.close()


def test_without_a_broker_an_insert_wakes_an_idle_worker_at_once(
    tmp_path: Path, postgresql_url: str
) -> None:
    """LISTEN/NOTIFY: the worker's sweep, backed off towards a minute's rest, claims as soon as
    the insert commits. Nothing here but the wake-up can deliver within the deadline below."""
    config = make_config(tmp_path, store_url=postgresql_url, idle_poll_ms=60_000)
    store = open_store(config)
    with Receiver() as receiver:
        worker = start_worker(config, 1)
        try:
            wait_until(lambda: len(store.workers()) == 1, 60, "the worker registered")
            for round_number in range(2):
                time.sleep(8)  # idle: the sweep's rest has doubled to several seconds
                ids = set(insert(store, webhooks(receiver.url, 5)))
                delivered = functools.partial(lambda wanted: set(receiver.counts()) >= wanted, ids)
                wait_until(delivered, 4, f"woken ({round_number})")
        finally:
            code = stop(worker)
        assert all(n == 1 for n in receiver.counts().values())
    assert code == 0
    store.close()
