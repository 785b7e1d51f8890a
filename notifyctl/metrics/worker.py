"""A worker's Prometheus metrics: its work, its resources and the queue, beside what every
process exports (``base.Metrics``)."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sized
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from notifyctl.broker import Broker
from notifyctl.metrics.base import Collect, LoopHistogram, Metrics, gauge
from notifyctl.model import QueueSnapshot, Status, WorkerStats, now_ms
from notifyctl.resources import ResourceSampler
from notifyctl.store import Store

DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14400)
QUEUE_STATUSES = (*(s.value for s in Status), "locked")


class CircuitsView(Protocol):
    """What the metrics read of a worker's circuit breakers (``worker/circuits.py``)."""

    deferred: int

    @property
    def open_count(self) -> int: ...


class PausesView(Protocol):
    """What the metrics read of a worker's view of the pauses (``worker/pauses.py``)."""

    parked: int
    pauses: Sized


class WorkerView(Protocol):
    """What the worker's metrics read from a worker."""

    number: int
    id: str
    started_at: int
    stats: WorkerStats
    circuits: CircuitsView
    pause_watch: PausesView

    @property
    def in_flight(self) -> int: ...


class WorkerMetrics(Metrics):
    """A worker's metrics: the shared ones plus its work, its resources and the queue."""

    def __init__(self, worker: WorkerView, store: Store, broker: Broker) -> None:
        self._worker = worker
        self.resources = ResourceSampler()
        #: set by the queue sampler of the one worker that reports the queue (see worker/monitor.py)
        self.queue: QueueSnapshot | None = None
        self.delivery_latency = LoopHistogram(
            "notification_delivery_latency_seconds",
            "From acceptance by the API (created_at) to a successful delivery, by channel.",
            ("channel",), DELIVERY_BUCKETS,
        )  # fmt: skip
        #: terminal notifications this worker's retention sweeps removed (``worker/retention.py``)
        self.notifications_purged = 0
        super().__init__(store, broker)

    def _collectors(self) -> list[Collect]:
        return [
            *super()._collectors(), self._delivery, self._resources, self._work, self._retention,
            self._circuits, self._pauses, self._queue,
        ]  # fmt: skip

    def _delivery(self) -> Iterator[Metric]:
        yield self.delivery_latency.family()

    def delivered(self, channel: str, latency_ms: int) -> None:
        try:
            self.delivery_latency.observe((channel,), max(latency_ms, 0) / 1000)
        except Exception as exc:
            self.monitoring_error("notification_delivery_latency_seconds", exc)

    def purged(self, count: int) -> None:
        """A retention batch removed ``count`` notifications (called on the event loop)."""
        self.notifications_purged += count

    def _retention(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "notifications_purged", "Terminal notifications older than NOTIFYCTL_RETENTION_DAYS"
            " this worker's retention sweeps removed from the store.",
            value=self.notifications_purged,
        )  # fmt: skip

    def _circuits(self) -> Iterator[Metric]:
        circuits = self._worker.circuits
        yield gauge(
            "worker_circuits_open", "Destinations whose circuit breaker is open or half-open, as"
            " this worker last read them (notifyctl inspect destinations names them).",
            circuits.open_count,
        )  # fmt: skip
        yield CounterMetricFamily(
            "worker_circuit_deferred", "Claims this worker gave back unstarted because their"
            " destination's circuit was open (or half-open, its probe elsewhere): not attempts.",
            value=circuits.deferred,
        )  # fmt: skip

    def _pauses(self) -> Iterator[Metric]:
        watch = self._worker.pause_watch
        yield gauge(
            "worker_pauses", "Pauses in force (channels, destinations, tenants) as this worker"
            " last read them (notifyctl inspect pauses lists them).", len(watch.pauses),
        )  # fmt: skip
        yield CounterMetricFamily(
            "worker_paused", "Claims this worker parked because a pause held them back (what"
            " the pause command could not move itself): not attempts.", value=watch.parked,
        )  # fmt: skip

    def _resources(self) -> Iterator[Metric]:
        memory = self.resources.memory()
        yield gauge("worker_cpu_usage_percent", "CPU this worker process used since the previous"
                    " reading (at least 1 s ago), in percent of all the machine's cores (100 ="
                    " every core busy).", self.resources.cpu_percent())  # fmt: skip
        yield gauge("worker_memory_usage_bytes", "Resident set size (RSS) of the worker process.",
                    memory.rss)  # fmt: skip
        yield gauge("worker_heap_usage_bytes", "Resident anonymous memory of the worker (RSS"
                    " minus file-backed pages): Python's object arenas, the C heap and thread"
                    " stacks. Python has no single managed heap like V8; this is the memory the"
                    " process allocated itself.", memory.heap_used)  # fmt: skip
        uptime = (now_ms() - self._worker.started_at) / 1000
        yield gauge("worker_uptime_seconds", "Seconds since the worker started.", uptime)

    def _work(self) -> Iterator[Metric]:
        w, stats = self._worker, self._worker.stats
        info = GaugeMetricFamily("worker_info", "Always 1: who this worker is.",
                                 labels=["worker", "worker_id", "host"])  # fmt: skip
        info.add_metric([str(w.number), w.id, socket.gethostname()], 1)
        yield info
        yield gauge("worker_in_flight", "Deliveries in progress.", w.in_flight)
        processed = CounterMetricFamily(
            "worker_processed_notifications", "Delivery attempts recorded, by channel and outcome"
            " (sent, retried, dead).", labels=["channel", "outcome"],
        )  # fmt: skip
        for (channel, outcome), count in sorted(stats.by_channel.items()):
            processed.add_metric([channel, outcome], count)
        yield processed
        invalid = CounterMetricFamily(
            "worker_invalid_addresses", "Deliveries a provider refused for the address itself"
            " (an unregistered device token, an invalid number), by channel.", labels=["channel"],
        )  # fmt: skip
        for channel, count in sorted(stats.invalid_addresses.items()):
            invalid.add_metric([channel], count)
        yield invalid
        claims = CounterMetricFamily("worker_claims", "Notifications claimed (won), and wake-ups"
                                     " whose claim was lost to another worker or to their state"
                                     " (lost).", labels=["result"])  # fmt: skip
        claims.add_metric(["won"], stats.claimed)
        claims.add_metric(["lost"], stats.wakeups_lost)
        yield claims
        yield CounterMetricFamily(
            "worker_wakeup_claims", "Notifications claimed because a broker wake-up named them"
            " (the rest of worker_claims_total{result=\"won\"} the store sweep found).",
            value=stats.claimed_by_wakeup,
        )  # fmt: skip
        yield from self._work_counters(stats)

    @staticmethod
    def _work_counters(stats: WorkerStats) -> Iterator[Metric]:
        for name, help_text, value in (
            ("worker_retries", "Attempts that failed and were scheduled again.", stats.retried),
            ("worker_dead_letters", "Notifications this worker gave up on (now dead).",
             stats.dead),
            ("worker_buried", "Notifications this worker's claims found out of attempts, their"
             " last worker having died mid-delivery (now dead).", stats.buried),
            ("worker_stale_writes", "Outcomes refused by fencing: the lease had been taken over.",
             stats.stale_writes),
            ("worker_leases_lost", "Leases that expired and were taken over before this worker"
             " finished the delivery.", stats.leases_lost),
            ("worker_leases_reclaimed", "Claims that took over a lease another worker had let"
             " expire (it stopped mid-delivery): possible repeat deliveries.", stats.reclaimed),
            ("worker_store_errors", "Store calls that failed (retried).", stats.store_errors),
            ("worker_watchdog_reconnects", "Broker reconnections forced because no wake-up came"
             " while the store had due work.", stats.watchdog_reconnects),
        ):  # fmt: skip
            yield CounterMetricFamily(name, help_text, value=value)

    def _queue(self) -> Iterator[Metric]:
        snapshot = self.queue
        if snapshot is None:  # another worker reports the queue, or the first read is pending
            return
        depth = GaugeMetricFamily(
            "notification_queue_depth", "Notifications by status, plus locked (leased by a live"
            " worker; they are also counted as pending). Reported by one worker only, so sum()"
            " over workers is the true depth.", labels=["status"],
        )  # fmt: skip
        for status in QUEUE_STATUSES:
            depth.add_metric([status], snapshot.counts.get(status, 0))
        yield depth
        yield gauge(
            "notification_oldest_due_age_seconds",
            "How long the longest-waiting due notification has been waiting for a worker.",
            snapshot.oldest_due_age_s,
        )
        yield gauge("notification_queue_sampled_timestamp_seconds", "When the queue figures were"
                    " read from the store.", snapshot.taken_at / 1000)  # fmt: skip
