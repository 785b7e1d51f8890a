"""Every Prometheus metric notifyctl exports, declared here and nowhere else.

Each process (the API, each worker) builds its own ``CollectorRegistry``, never the global one, so
several can live side by side in tests. Counters the worker keeps anyway (``WorkerStats``), the
broker's counters, the pool and the resources are read when ``/metrics`` is scraped, so the hot
path pays nothing for them; histograms are observed where the event happens, with a bisect and
two additions (``LoopHistogram``). A failure to collect or record a metric is counted in
``monitoring_errors_total`` and logged; it never reaches the work.
"""

from __future__ import annotations

import logging
import socket
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from notifyctl.broker import Broker
from notifyctl.model import QueueSnapshot, Status, WorkerStats, now_ms
from notifyctl.resources import ResourceSampler
from notifyctl.store import Store

log = logging.getLogger("notifyctl.metrics")

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
DELIVERY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 14400)
QUEUE_STATUSES = (*(s.value for s in Status), "locked")
#: broker counter -> the reason label of broker_publish_failures_total
PUBLISH_FAILURES = {
    "publish_nacked": "nacked",
    "publish_timeouts": "confirm_timeout",
    "publish_dropped": "outbox_full",
    "publish_unconfirmed": "connection_lost",
}
#: broker counter -> (metric name without _total, help)
BROKER_COUNTERS = {
    "published": ("broker_messages_published", "Messages published (wake-ups and dead letters)."),
    "publish_confirmed": ("broker_publish_confirmed", "Publishes the broker confirmed."),
    "received": ("broker_messages_received", "Wake-ups received from the shared queue."),
    "acked": ("broker_messages_acked", "Wake-ups acknowledged once their claim was decided."),
    "bad_messages": ("broker_bad_messages", "Messages that were not wake-ups (dropped)."),
    "reconnects": ("broker_reconnects", "Connections to the broker opened after a loss."),
}
Collect = Callable[[], Iterable[Metric]]


class Metrics:
    """The metrics of one process: HTTP requests, store calls, store pool, broker, monitoring."""

    def __init__(self, store: Store, broker: Broker | None) -> None:
        disable_created_metrics()  # type: ignore[no-untyped-call]  # no *_created series
        self.registry = CollectorRegistry()
        self._store, self._broker = store, broker
        self._errors = 0
        self._errors_lock = threading.Lock()
        self.http_request_duration = LoopHistogram(
            "http_request_duration_seconds",
            "HTTP requests served, by method, route template and status code.",
            ("method", "route", "status"), HTTP_BUCKETS,
        )  # fmt: skip
        self.store_call_duration = LoopHistogram(
            "database_operation_duration_seconds",
            "Store calls as this process waited for them (including the wait for a connection"
            " and, with SQLite, for the write lock), by operation.", ("operation",), STORE_BUCKETS,
        )  # fmt: skip
        ProcessCollector(registry=self.registry)
        # monitoring_errors comes last, so a scrape's own failures are already in it
        parts = [*self._collectors(), self._monitoring]
        self.registry.register(Sampled(parts, self.monitoring_error))

    def _collectors(self) -> list[Collect]:
        return [self._histograms, self._pool, self._broker_families]

    def _histograms(self) -> Iterator[Metric]:
        yield self.http_request_duration.family()
        yield self.store_call_duration.family()

    @property
    def monitoring_errors(self) -> int:
        return self._errors

    def monitoring_error(self, what: str, exc: BaseException) -> None:
        """Count and log a failure to collect or record a metric; never raises."""
        with self._errors_lock:
            self._errors += 1
        log.warning("monitoring: %s failed: %r", what, exc)

    def _monitoring(self) -> Iterator[Metric]:
        yield CounterMetricFamily(
            "monitoring_errors",
            "Failures to collect or record a metric (the work went on).",
            value=self._errors,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        try:
            self.http_request_duration.observe((method, route, str(status)), seconds)
        except Exception as exc:
            self.monitoring_error("http_request_duration_seconds", exc)

    def observe_store_call(self, operation: str, seconds: float) -> None:
        try:
            self.store_call_duration.observe((operation,), seconds)
        except Exception as exc:
            self.monitoring_error("database_operation_duration_seconds", exc)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric of this process."""
        return generate_latest(self.registry)

    def _pool(self) -> Iterator[Metric]:
        stats = self._store.pool_stats()
        yield gauge("database_connections_total", "Connections this process holds open to the"
                    " store.", stats["openConnections"])  # fmt: skip
        yield gauge("database_connections_pool_size", "Most connections this process may open"
                    " to the store.", stats["poolSize"])  # fmt: skip
        yield gauge("database_connections_active", "Store connections in use right now.",
                    stats["activeConnections"])  # fmt: skip
        yield gauge("database_connections_pending", "Store calls waiting for a connection.",
                    stats["pendingRequests"])  # fmt: skip

    def _broker_families(self) -> Iterator[Metric]:
        if self._broker is None:
            return
        counts = self._broker.counters()
        yield gauge("broker_connected", "1 while connected to the broker.",
                    int(self._broker.connected))  # fmt: skip
        failures = CounterMetricFamily(
            "broker_publish_failures",
            "Publishes that failed, by reason; the store still has those notifications and the"
            " workers' sweep delivers them.", labels=["reason"],
        )  # fmt: skip
        for key, reason in PUBLISH_FAILURES.items():
            failures.add_metric([reason], counts.get(key, 0))
        yield failures
        for key, (name, help_text) in BROKER_COUNTERS.items():
            yield CounterMetricFamily(name, help_text, value=counts.get(key, 0))


class ApiMetrics(Metrics):
    """The API's metrics: the shared ones plus intake."""

    def __init__(self, store: Store, broker: Broker | None) -> None:
        super().__init__(store, broker)
        self.accepted = Counter(
            "api_notifications_accepted", "Notifications the API stored (answered 201 or stored"
            " in a batch).", registry=self.registry,
        )  # fmt: skip
        self.idempotent_replays = Counter(
            "api_idempotent_replays", "Requests that repeated an idempotency key and got the"
            " first notification back instead of a new one.", registry=self.registry,
        )  # fmt: skip

    def intake(self, created: int, replayed: int) -> None:
        try:
            if created:
                self.accepted.inc(created)
            if replayed:
                self.idempotent_replays.inc(replayed)
        except Exception as exc:
            self.monitoring_error("api intake counters", exc)


class WorkerView(Protocol):
    """What the worker's metrics read from a worker."""

    number: int
    id: str
    started_at: int
    stats: WorkerStats

    @property
    def in_flight(self) -> int: ...


class WorkerMetrics(Metrics):
    """A worker's metrics: the shared ones plus its work, its resources and the queue."""

    def __init__(self, worker: WorkerView, store: Store, broker: Broker | None) -> None:
        self._worker = worker
        self.resources = ResourceSampler()
        #: set by the queue sampler of the one worker that reports the queue (see roles/monitor)
        self.queue: QueueSnapshot | None = None
        self.delivery_latency = LoopHistogram(
            "notification_delivery_latency_seconds",
            "From acceptance by the API (created_at) to a successful delivery, by channel.",
            ("channel",), DELIVERY_BUCKETS,
        )  # fmt: skip
        super().__init__(store, broker)

    def _collectors(self) -> list[Collect]:
        return [*super()._collectors(), self._delivery, self._resources, self._work, self._queue]

    def _delivery(self) -> Iterator[Metric]:
        yield self.delivery_latency.family()

    def delivered(self, channel: str, latency_ms: int) -> None:
        try:
            self.delivery_latency.observe((channel,), max(latency_ms, 0) / 1000)
        except Exception as exc:
            self.monitoring_error("notification_delivery_latency_seconds", exc)

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


class LoopHistogram:
    """A labelled histogram observed from one thread only, the process's event loop: a bisect
    and two additions, where prometheus-client's ``Histogram.observe`` takes a lock and costs
    about ten times more (it was 2 % of a worker's CPU at one observation per delivery). Its
    samples are built when ``/metrics`` is scraped, on that same loop."""

    def __init__(
        self, name: str, help_text: str, labels: tuple[str, ...], buckets: tuple[float, ...]
    ) -> None:
        self.name, self.help, self.labels, self.bounds = name, help_text, labels, buckets
        self._les = [*(repr(float(b)) for b in buckets), "+Inf"]
        #: label values -> a count per bucket (the last one above every bound), then the sum
        self._series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [0.0] * (len(self.bounds) + 2)
        series[bisect_left(self.bounds, value)] += 1  # the first bucket whose bound >= value
        series[-1] += value

    def family(self) -> HistogramMetricFamily:
        family = HistogramMetricFamily(self.name, self.help, labels=list(self.labels))
        for values, series in sorted(self._series.items()):
            cumulative, buckets = 0.0, []
            for le, count in zip(self._les, series[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric(list(values), buckets, series[-1])
        return family


def gauge(name: str, help_text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, help_text, value=value)


class Sampled:
    """A collector that builds families at scrape time; a failing part is counted and skipped."""

    def __init__(
        self, parts: list[Collect], on_error: Callable[[str, BaseException], None]
    ) -> None:
        self._parts = parts
        self._on_error = on_error

    def describe(self) -> list[Metric]:
        return []  # the names vary with what is connected; nothing to check ahead

    def collect(self) -> Iterator[Metric]:
        for part in self._parts:
            try:
                families = list(part())
            except Exception as exc:
                self._on_error(getattr(part, "__name__", "collector"), exc)
                continue
            yield from families
