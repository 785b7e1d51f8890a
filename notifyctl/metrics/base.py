"""What the metrics of every process are built on: the ``Metrics`` base class and its parts.

``Metrics`` exports what the API and each worker both have (HTTP requests, store calls, the store
pool, the broker, ``monitoring_errors_total``); the roles' subclasses (``api.py``, ``worker.py``)
add their own. Each process builds its own ``CollectorRegistry``, never the global one, so several
can live side by side in tests. Counters kept anyway (``WorkerStats``, the broker's counters), the
pool and the resources are read when ``/metrics`` is scraped (``Sampled``), so the hot path pays
nothing for them; histograms are observed where the event happens, with a bisect and two additions
(``LoopHistogram``). A failure to collect or record a metric is counted in
``monitoring_errors_total`` and logged; it never reaches the work.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
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
from notifyctl.store import Store

# the package's name, whichever of its modules speaks, so log filters keep matching
log = logging.getLogger("notifyctl.metrics")

HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STORE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
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
    "callback_errors": (
        "broker_callback_errors",
        "Exceptions in the broker's callbacks, each turned into a reconnect.",
    ),
    "io_errors": (
        "broker_io_errors",
        "Exceptions that ended the broker's I/O loop, each turned into a reconnect.",
    ),
}
Collect = Callable[[], Iterable[Metric]]


class Metrics:
    """The metrics of one process: HTTP requests, store calls, store pool, broker, monitoring."""

    def __init__(self, store: Store, broker: Broker) -> None:
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

    def observe_request(self, method: str, route: str, status: int | str, seconds: float) -> None:
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
        if not self._broker.configured:
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


class LoopHistogram:
    """A labelled histogram observed from one thread only, the process's event loop: a bisect
    and two additions, where prometheus-client's ``Histogram.observe`` takes a lock and costs
    about ten times more (it was 2 % of a worker's CPU at one observation per delivery). Its
    samples are built when ``/metrics`` is scraped, on that same loop.

    At most ``max_series`` label sets are kept; any later new one is counted under every label
    "other". Callers map their labels to fixed sets; this bound is the backstop that keeps a
    mistake there from growing memory and every scrape without limit."""

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: tuple[str, ...],
        buckets: tuple[float, ...],
        max_series: int = 1_000,
    ) -> None:
        self.name, self.help, self.labels, self.bounds = name, help_text, labels, buckets
        self.max_series = max_series
        self._les = [*(repr(float(b)) for b in buckets), "+Inf"]
        #: label values -> a count per bucket (the last one above every bound), then the sum
        self._series: dict[tuple[str, ...], list[float]] = {}

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        series = self._series.get(labels)
        if series is None:
            if len(self._series) >= self.max_series:
                labels = ("other",) * len(self.labels)
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
