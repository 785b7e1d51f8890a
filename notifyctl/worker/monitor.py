"""The worker's monitoring server (port 9090 + worker number): ``/health``, ``/metrics``,
``/resources`` and ``/stats``; and the timer that reads the queue depth from the store.

Only one worker reads the queue depth (the live one with the lowest number), so ten workers
cost one count query per interval, whatever the scrape rate, and ``sum()`` over workers in
PromQL is the true depth.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifyctl.broker import broker_state
from notifyctl.errors import StoreError
from notifyctl.lease import worker_is_alive
from notifyctl.model import QueueSnapshot, now_ms
from notifyctl.serving import RequestTimer, metrics_endpoint

if TYPE_CHECKING:
    from notifyctl.worker.worker import Worker

log = logging.getLogger("notifyctl.monitor")


class QueueSampler:
    """Reads ``Store.counts`` and ``Store.oldest_due`` every ``interval_ms`` in the reporting
    worker, into ``worker.metrics.queue``; the others keep their last reading for ``/resources``."""

    def __init__(self, worker: Worker, interval_ms: int, heartbeat_interval_ms: int) -> None:
        self.worker = worker
        self.interval_ms = interval_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.last: QueueSnapshot | None = None

    async def run(self, stop: anyio.Event) -> None:
        while not stop.is_set():
            try:
                await anyio.to_thread.run_sync(self.tick)
            except Exception as exc:  # the store is down, or a bug: count it, keep sampling
                self.worker.metrics.monitoring_error("queue depth", exc)
            with anyio.move_on_after(self.interval_ms / 1000):
                await stop.wait()

    def tick(self) -> None:
        now = now_ms()
        if self.reports(now):
            self.worker.metrics.queue = self.read(now)
        else:
            self.worker.metrics.queue = None

    def reports(self, now: int) -> bool:
        """True when this worker is the live one with the lowest (number, start, id)."""
        alive = [
            w
            for w in self.worker.store.workers()
            if worker_is_alive(w.last_heartbeat, now, self.heartbeat_interval_ms)
        ]
        if not alive:
            return True
        first = min(alive, key=lambda w: (w.worker_number, w.started_at, w.id))
        return first.id == self.worker.id

    def read(self, now: int) -> QueueSnapshot:
        store = self.worker.store
        self.last = QueueSnapshot(store.counts(now), store.oldest_due(now), now)
        return self.last

    async def fresh(self) -> QueueSnapshot:
        """The latest reading if younger than the interval, else a new one."""
        last = self.last
        if last is not None and now_ms() - last.taken_at < self.interval_ms:
            return last
        return await anyio.to_thread.run_sync(self.read, now_ms())


def resources_json(worker: Worker, connected: bool, queue: QueueSnapshot | None) -> dict[str, Any]:
    """The spec's ``/resources`` shape."""
    sampler = worker.metrics.resources
    memory = sampler.memory()
    pool = worker.store.pool_stats()
    counts = queue.counts if queue is not None else None
    return {
        "cpu": {"averagePercent": sampler.cpu_percent(), "cores": sampler.cores},
        "memory": {"rss": memory.rss, "heapUsed": memory.heap_used,
                   "heapTotal": memory.heap_total, "external": memory.external},
        "database": {"connected": connected, "poolSize": pool.get("poolSize"),
                     "activeConnections": pool.get("activeConnections")},
        "queue": None if counts is None else {
            "pending": counts["pending"], "scheduled": counts["scheduled"],
            "locked": counts["locked"],
        },
        "uptime": (now_ms() - worker.started_at) // 1000,
    }  # fmt: skip


def stats_json(worker: Worker) -> dict[str, Any]:
    """``/stats``: the worker's counters, success rate and the store pool figures."""
    s = worker.stats
    by_channel: dict[str, dict[str, int]] = {}
    for (channel, outcome), count in sorted(s.by_channel.items()):
        by_channel.setdefault(channel, {})[outcome] = count
    broker = worker.broker
    uptime = (now_ms() - worker.started_at) // 1000
    return {
        "worker": worker.number, "workerId": worker.id, "uptime": uptime,
        "inFlight": worker.in_flight, "claimed": s.claimed,
        "claimedByWakeup": s.claimed_by_wakeup, "processed": s.processed,
        "sent": s.sent, "retried": s.retried, "dead": s.dead, "buried": s.buried,
        "released": s.released, "interrupted": s.interrupted,
        "successRate": s.success_rate(), "staleWrites": s.stale_writes,
        "leasesLost": s.leases_lost, "leasesReclaimed": s.reclaimed,
        "wakeupsLost": s.wakeups_lost, "storeErrors": s.store_errors,
        "watchdogReconnects": s.watchdog_reconnects, "sweepRestMs": s.sweep_rest_ms,
        "byChannel": by_channel,
        "database": worker.store.pool_stats(),
        "broker": None if not broker.configured else {"connected": broker.connected,
                                               **broker.counters()},
        "monitoringErrors": worker.metrics.monitoring_errors,
    }  # fmt: skip


def build_monitor_app(worker: Worker, queue: QueueSampler) -> Starlette:
    async def ping() -> bool:
        try:
            await anyio.to_thread.run_sync(worker.store.ping)
        except StoreError:
            return False
        return True

    async def health(request: Request) -> JSONResponse:
        database = "connected" if await ping() else "disconnected"
        healthy = database == "connected" and not worker.stopping.is_set()
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "worker": worker.number,
            "workerId": worker.id,
            "database": database,
            "messageQueue": broker_state(worker.broker),
            "inFlight": worker.in_flight,
            "processed": worker.stats.processed,
            "uptime": (now_ms() - worker.started_at) // 1000,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    async def resources(request: Request) -> JSONResponse:
        connected = await ping()
        snapshot = None
        if connected:
            try:
                snapshot = await queue.fresh()
            except StoreError as exc:
                worker.metrics.monitoring_error("queue for /resources", exc)
        return JSONResponse(resources_json(worker, connected, snapshot))

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(stats_json(worker))

    routes = [
        Route("/health", health),
        Route("/metrics", metrics_endpoint(worker.metrics)),
        Route("/resources", resources),
        Route("/stats", stats),
    ]
    return Starlette(routes=routes, middleware=[Middleware(RequestTimer, metrics=worker.metrics)])
