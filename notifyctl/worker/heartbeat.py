"""The worker's heartbeat: its row in the store says it is alive (``inspect workers``, the
workers' gauges), and now and then it removes the rows of workers that died without
deregistering."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from notifyctl.errors import StoreError
from notifyctl.lease import DEAD_WORKER_ROWS_KEPT_MS, PRUNE_WORKERS_EVERY_MS
from notifyctl.model import WorkerStats
from notifyctl.resources import ResourceSampler
from notifyctl.store import Store

log = logging.getLogger("notifyctl.worker")
StoreCall = Callable[..., Awaitable[Any]]


class Heartbeat:
    def __init__(
        self,
        store: Store,
        call: StoreCall,
        worker_id: str,
        clock: Callable[[], int],
        stats: WorkerStats,
        in_flight: Callable[[], int],
        interval_ms: int,
    ) -> None:
        self._store = store
        self._call = call
        self._worker_id = worker_id
        self._clock = clock
        self._stats = stats
        self._in_flight = in_flight
        self._interval_s = interval_ms / 1000
        #: a sampler of its own: a CPU reading is "since the previous reading", and the
        #: metrics' scrapes reading the same sampler would each see a part
        self._usage = ResourceSampler()

    async def run(self) -> None:
        pruned_at: int | None = None
        while True:
            try:
                await self._call(
                    "heartbeat", self._store.heartbeat, self._worker_id, self._clock(),
                    self._in_flight(), self._stats.processed, self._usage.cpu_percent(),
                    self._usage.memory().rss,
                )  # fmt: skip
                now = self._clock()
                if pruned_at is None or now - pruned_at >= PRUNE_WORKERS_EVERY_MS:
                    pruned_at = now
                    await self._prune_dead_workers(now)
            except StoreError as exc:
                self._stats.store_errors += 1
                log.warning("heartbeat failed: %s", exc)
            await anyio.sleep(self._interval_s)

    async def _prune_dead_workers(self, now: int) -> None:
        """Rows of workers that died without deregistering would otherwise stay forever."""
        stale_before = now - DEAD_WORKER_ROWS_KEPT_MS
        removed = await self._call("prune_workers", self._store.prune_workers, stale_before)
        if removed:
            log.info("removed the rows of %d workers silent for over an hour", removed)
