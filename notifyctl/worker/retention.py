"""The worker's retention loop: with ``NOTIFYCTL_RETENTION_DAYS`` set, terminal notifications
last changed longer ago than that are deleted from the store, on every store (MongoDB's TTL
index does the same on its own; see ``store/mongodb/retention.py``).

Every ``PURGE_EVERY_S`` a sweep deletes batches of ``BATCH`` (``Store.purge_terminal``: one short
transaction each) until a batch comes back short, pausing ``PAUSE_S`` between batches: SQLite has
one writer, and the pause lets the workers' outcome writes and the API's inserts take the write
lock between two batches, so a sweep through a large backlog never stalls them.

Every worker runs the loop, with no election: a purge is idempotent and small, so several workers
purging at once only share the work (one finds what the other already deleted, and its batch
comes back short). A failed sweep is logged and tried again at the next period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio

from notifyctl.errors import StoreError
from notifyctl.metrics import WorkerMetrics
from notifyctl.model import WorkerStats
from notifyctl.store import Store
from notifyctl.worker.outcomes import StoreCall

log = logging.getLogger("notifyctl.worker")
#: how often each worker sweeps: the cutoff moves by a minute, so each sweep finds a minute's worth
PURGE_EVERY_S = 60.0
#: notifications deleted per transaction: milliseconds of the write lock each
BATCH = 500
#: between two batches of one sweep, so others' writes get the write lock
PAUSE_S = 0.005
DAY_MS = 86_400_000


class Retention:
    def __init__(
        self,
        store: Store,
        call: StoreCall,
        retention_days: int,
        clock: Callable[[], int],
        metrics: WorkerMetrics,
        stats: WorkerStats,
        every_s: float = PURGE_EVERY_S,
        batch: int = BATCH,
        pause_s: float = PAUSE_S,
    ) -> None:
        """``metrics`` counts what went (``notifications_purged_total``), ``stats`` the store's
        failures; ``every_s``, ``batch`` and ``pause_s`` are for tests (a deployment keeps the
        module's)."""
        self._store = store
        self._call = call
        self._days = retention_days
        self._clock = clock
        self._metrics = metrics
        self._stats = stats
        self._every_s = every_s
        self._batch = batch
        self._pause_s = pause_s

    async def run(self) -> None:
        """Sweep now and then every period, until cancelled; returns at once when retention is
        off (0 days: keep everything)."""
        if self._days <= 0:
            return
        while True:
            await self.sweep()
            await anyio.sleep(self._every_s)

    async def sweep(self) -> int:
        """Delete batch after batch until one comes back short; returns how many went. A store
        error ends the sweep (what went is counted): the next period tries again."""
        before = self._clock() - self._days * DAY_MS
        removed = 0
        try:
            while True:
                count = await self._call(
                    "purge_terminal", self._store.purge_terminal, before, self._batch
                )
                removed += count
                self._metrics.purged(count)  # batch by batch: a sweep cut short loses none
                if count < self._batch:
                    break
                await anyio.sleep(self._pause_s)
        except StoreError as exc:
            self._stats.store_errors += 1
            log.warning("retention: purge failed after removing %d, next in %.0f s: %s",
                        removed, self._every_s, exc)  # fmt: skip
        # one line a sweep; at debug when nothing was old enough (most minutes)
        log.log(logging.INFO if removed else logging.DEBUG,
                "retention: removed %d terminal notifications older than %d days",
                removed, self._days)  # fmt: skip
        return removed
