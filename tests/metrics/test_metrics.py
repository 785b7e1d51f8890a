"""Metrics and the monitoring endpoints: a real worker process scraped over HTTP, the API's
``/metrics``, and the rules that keep monitoring cheap and harmless (the exposition text is parsed
with prometheus_client's parser, never grepped)."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.broker import POLL_ONLY
from notifyctl.config import Config
from notifyctl.metrics import LoopHistogram, Metrics, Sampled, WorkerMetrics
from notifyctl.model import WorkerRecord, now_ms
from notifyctl.store import Store, open_store
from notifyctl.store.sqlite import SqliteStore
from notifyctl.worker.monitor import QueueSampler
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import Receiver, free_port, http_json, insert, start_worker, stop, wait_until
from tests.helpers import webhooks as make_webhooks

Families = dict[str, Any]

#: the spec's metrics (section 5 and its PromQL queries): name as parsed -> (type, label names)
SPEC_METRICS = {
    "worker_cpu_usage_percent": ("gauge", set()),
    "worker_memory_usage_bytes": ("gauge", set()),
    "worker_heap_usage_bytes": ("gauge", set()),
    "database_connections_total": ("gauge", set()),
    "database_connections_pool_size": ("gauge", set()),
    "notification_queue_depth": ("gauge", {"status"}),
    "worker_uptime_seconds": ("gauge", set()),
    "monitoring_errors": ("counter", set()),
    "worker_processed_notifications": ("counter", {"channel", "outcome"}),
    "http_request_duration_seconds": ("histogram", {"method", "route", "status"}),
}
#: what operators need beyond the spec
OPERATOR_METRICS = {
    "worker_claims": ("counter", {"result"}),
    "worker_wakeup_claims": ("counter", set()),
    "worker_stale_writes": ("counter", set()),
    "worker_leases_lost": ("counter", set()),
    "worker_leases_reclaimed": ("counter", set()),
    "worker_retries": ("counter", set()),
    "worker_dead_letters": ("counter", set()),
    "worker_buried": ("counter", set()),
    "notification_delivery_latency_seconds": ("histogram", {"channel"}),
    "notification_oldest_due_age_seconds": ("gauge", set()),
    "database_operation_duration_seconds": ("histogram", {"operation"}),
    "worker_pauses": ("gauge", set()),
    "worker_paused": ("counter", set()),
}
QUEUE_STATUSES = {
    "pending",
    "scheduled",
    "locked",
    "sent",
    "dead",
    "cancelled",
    "suppressed",
    "expired",
    "paused",
}


def parse(text: str) -> Families:
    return {family.name: family for family in text_string_to_metric_families(text)}


def scrape(url: str) -> Families:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["content-type"].startswith("text/plain")
        return parse(response.read().decode())


def samples(families: Families, name: str, suffix: str = "", **labels: str) -> list[Sample]:
    return [
        s
        for s in families[name].samples
        if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items())
    ]


def value(families: Families, name: str, suffix: str = "", **labels: str) -> float:
    (sample,) = samples(families, name, suffix, **labels)
    return float(sample.value)


def label_names(families: Families, name: str) -> set[str]:
    names: set[str] = set()
    for s in families[name].samples:
        names |= set(s.labels) - {"le"}
    return names


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[tuple[Config, Store, Receiver, str]]:
    """A worker process with its monitoring server; the first attempt of every webhook fails
    (twenty 503s in a row: the circuit breaker, which would open on them, is off here)."""
    port = free_port()
    config = make_config(
        tmp_path, monitor_port_base=port - 1, queue_metrics_interval_ms=200,
        heartbeat_interval_ms=200, retry_base_ms=10, retry_max_ms=20, breaker_failures=0,
    )  # fmt: skip
    store = open_store(config)
    with Receiver(lambda attempt: (503, 0.0) if attempt == 1 else (200, 0.0)) as receiver:
        worker = start_worker(config, 1)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _health(base), 60, "the worker's monitoring server")
            yield config, store, receiver, base
        finally:
            stop(worker)
    store.close()


def _health(base: str) -> bool:
    try:
        return http_json("GET", f"{base}/health", timeout=2)[0] == 200
    except OSError:
        return False


@pytest.mark.integration
def test_a_running_worker_exports_every_metric_and_its_counters_move(
    monitored: tuple[Config, Store, Receiver, str],
) -> None:
    config, store, receiver, base = monitored
    # the queue figures appear once the sampler's first read of the store is done (the
    # monitoring server answers from the start, before the worker has registered)
    wait_until(lambda: "notification_queue_depth" in scrape(f"{base}/metrics"), 30, "queue")
    before = scrape(f"{base}/metrics")
    for name, (kind, _) in {**SPEC_METRICS, **OPERATOR_METRICS}.items():
        assert name in before, f"{name} is not exported"
        assert before[name].type == kind, name
    assert samples(before, "worker_processed_notifications", "_total") == []
    ids = set(insert(store, make_webhooks(receiver.url, 20)))
    wait_until(lambda: store.counts(now_ms())["sent"] == 20, 60, "20 deliveries")
    wait_until(
        lambda: value(scrape(f"{base}/metrics"), "notification_queue_depth", status="sent") == 20,
        30, "the queue sampler to see them",
    )  # fmt: skip
    after = scrape(f"{base}/metrics")
    for name, (_, labels) in {**SPEC_METRICS, **OPERATOR_METRICS}.items():
        if name != "monitoring_errors":
            assert label_names(after, name) == labels, name
    processed = "worker_processed_notifications"
    assert value(after, processed, "_total", channel="webhook", outcome="sent") == 20
    assert value(after, processed, "_total", channel="webhook", outcome="retried") == 20
    assert value(after, "worker_retries", "_total") == 20
    assert value(after, "worker_claims", "_total", result="won") == 40
    assert value(after, "notification_delivery_latency_seconds", "_count", channel="webhook") == 20
    assert {s.labels["status"] for s in samples(after, "notification_queue_depth")} == (
        QUEUE_STATUSES
    )
    assert value(after, "notification_queue_depth", status="pending") == 0
    assert value(after, "database_connections_total") == 1
    assert value(after, "database_connections_pool_size") == 1
    assert value(after, "worker_memory_usage_bytes") > 10_000_000
    assert 0 < value(after, "worker_heap_usage_bytes") <= value(after, "worker_memory_usage_bytes")
    assert value(after, "monitoring_errors", "_total") == 0
    scrapes = samples(after, "http_request_duration_seconds", "_count", route="/metrics")
    assert scrapes and all(s.labels["status"] == "200" for s in scrapes)
    assert set(receiver.counts()) == ids


@pytest.mark.integration
def test_resources_and_stats_have_the_spec_shapes_with_real_values(
    monitored: tuple[Config, Store, Receiver, str],
) -> None:
    config, store, receiver, base = monitored
    insert(store, make_webhooks(receiver.url, 5))
    wait_until(lambda: store.counts(now_ms())["sent"] == 5, 60, "5 deliveries")
    answers: list[Any] = []

    def settled() -> bool:  # the queue figures may be one sampling interval old
        answers.append(http_json("GET", f"{base}/resources"))
        return bool(answers[-1][1]["queue"] == {"pending": 0, "scheduled": 0, "locked": 0})

    wait_until(settled, 30, "/resources to show the queue drained")
    status, resources = answers[-1]
    assert status == 200
    assert set(resources) == {"cpu", "memory", "database", "queue", "uptime"}
    assert set(resources["cpu"]) == {"averagePercent", "cores"}
    assert resources["cpu"]["cores"] == os.cpu_count()
    assert 0 <= resources["cpu"]["averagePercent"] <= 100
    memory = resources["memory"]
    assert set(memory) == {"rss", "heapUsed", "heapTotal", "external"}
    assert 0 < memory["heapUsed"] <= memory["rss"] and memory["heapTotal"] > 0
    assert resources["database"] == {"connected": True, "poolSize": 1, "activeConnections": 0}
    assert resources["queue"] == {"pending": 0, "scheduled": 0, "locked": 0}
    assert isinstance(resources["uptime"], int) and resources["uptime"] >= 0
    status, stats = http_json("GET", f"{base}/stats")
    assert status == 200
    assert set(stats["database"]) >= {
        "poolSize", "activeConnections", "idleConnections", "pendingRequests",
    }  # fmt: skip
    assert stats["database"]["poolSize"] == 1
    assert (stats["sent"], stats["retried"], stats["processed"]) == (5, 5, 10)
    assert stats["successRate"] == 50.0
    assert stats["byChannel"] == {"webhook": {"sent": 5, "retried": 5}}
    assert stats["worker"] == 1 and stats["inFlight"] == 0 and stats["broker"] is None


def test_the_api_times_requests_by_route_template_and_counts_intake(config: Config) -> None:
    store = open_store(config)
    try:
        client = TestClient(build_app(config, store))
        body = {"user_id": "u", "channel": "log", "title": "t"}
        created = client.post("/v1/notifications", json=body)
        assert created.status_code == 201
        client.post("/v1/notifications", json=body | {"idempotency_key": "k"})
        client.post("/v1/notifications", json=body | {"idempotency_key": "k"})
        assert client.get(f"/v1/notifications/{created.json()['id']}").status_code == 200
        assert client.get("/v1/notifications/nope").status_code == 404
        assert client.get("/no/such/path").status_code == 404
        families = parse(client.get("/metrics").text)
    finally:
        store.close()
    by_id = "/v1/notifications/{id}"
    duration = "http_request_duration_seconds"
    assert value(families, duration, "_count", method="GET", route=by_id, status="200") == 1
    assert value(families, duration, "_count", method="GET", route=by_id, status="404") == 1
    assert value(families, duration, "_count", route="unmatched", status="404") == 1
    posts = {"method": "POST", "route": "/v1/notifications"}
    assert value(families, duration, "_count", status="201", **posts) == 2
    assert value(families, duration, "_count", status="200", **posts) == 1  # the replay
    assert value(families, "api_notifications_accepted", "_total") == 2
    assert value(families, "api_idempotent_replays", "_total") == 1
    store_calls = "database_operation_duration_seconds"
    # single POSTs wait for a group commit; each waiter is timed
    assert value(families, store_calls, "_count", operation="insert_grouped") == 3
    assert value(families, store_calls, "_count", operation="get") == 2
    assert "process_cpu_seconds" in families and "database_connections_total" in families


class CountingStore(SqliteStore):
    """A real SQLite store that counts the queue reads and can be told to fail a collector."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.count_reads = 0
        self.broken_pool = False

    def counts(self, now: int) -> dict[str, int]:
        self.count_reads += 1
        return super().counts(now)

    def pool_stats(self) -> dict[str, int]:
        if self.broken_pool:
            raise RuntimeError("pool statistics unavailable")
        return super().pool_stats()


def worker_on(config: Config, store: Store, number: int = 1) -> Worker:
    return Worker(config, store, {}, number)


def test_scraping_never_reads_the_queue_from_the_store(config: Config) -> None:
    store = CountingStore(config.store_url)
    try:
        worker = worker_on(config, store)
        sampler = QueueSampler(worker, 60_000, config.heartbeat_interval_ms)
        sampler.tick()
        assert store.count_reads == 1
        for _ in range(5):
            families = parse(worker.metrics.exposition().decode())
        assert store.count_reads == 1
        assert value(families, "notification_queue_depth", status="pending") == 0
    finally:
        store.close()


def test_only_the_live_worker_with_the_lowest_number_reports_the_queue(config: Config) -> None:
    store = CountingStore(config.store_url)
    try:
        now = now_ms()
        first, second = worker_on(config, store, 1), worker_on(config, store, 2)
        for w in (first, second):
            store.register_worker(WorkerRecord(w.id, w.number, "h", 1, now, now, 0, 0))
        samplers = [QueueSampler(w, 60_000, config.heartbeat_interval_ms) for w in (first, second)]
        for sampler in samplers:
            sampler.tick()
        assert first.metrics.queue is not None and second.metrics.queue is None
        assert store.count_reads == 1
        assert "notification_queue_depth" not in parse(second.metrics.exposition().decode())
        later = now + 10 * config.heartbeat_interval_ms  # worker 1's heartbeat has lapsed
        store.heartbeat(second.id, later, 0, 0)
        assert samplers[1].reports(later) and not samplers[0].reports(later)
    finally:
        store.close()


def test_a_failing_collector_is_counted_and_the_rest_still_exported(config: Config) -> None:
    store = CountingStore(config.store_url)
    try:
        worker = worker_on(config, store)
        store.broken_pool = True
        families = parse(worker.metrics.exposition().decode())
        assert "database_connections_total" not in families
        assert "worker_uptime_seconds" in families and "worker_claims" in families
        assert value(families, "monitoring_errors", "_total") == 1
        again = parse(worker.metrics.exposition().decode())
        assert value(again, "monitoring_errors", "_total") == 2
    finally:
        store.close()


def test_a_failing_recording_is_counted_never_raised(config: Config) -> None:
    store = open_store(config)
    try:
        metrics: Metrics = WorkerMetrics(worker_on(config, store), store, POLL_ONLY)
        metrics.delivery_latency = None  # type: ignore[attr-defined]
        metrics.delivered("webhook", 120)  # type: ignore[attr-defined]
        metrics.http_request_duration = None  # type: ignore[assignment]
        metrics.observe_request("GET", "/x", 200, 0.1)
        assert metrics.monitoring_errors == 2
    finally:
        store.close()


def test_a_loop_histogram_counts_each_value_in_the_first_bucket_at_or_above_it() -> None:
    histogram = LoopHistogram("h_seconds", "help", ("channel",), (0.1, 1.0))
    for seconds in (0.05, 0.1, 0.5, 1.0, 7.0):
        histogram.observe(("log",), seconds)
    histogram.observe(("webhook",), 0.2)
    families = parse(generate_latest_of(histogram))
    assert value(families, "h_seconds", "_bucket", channel="log", le="0.1") == 2
    assert value(families, "h_seconds", "_bucket", channel="log", le="1.0") == 4
    assert value(families, "h_seconds", "_bucket", channel="log", le="+Inf") == 5
    assert value(families, "h_seconds", "_count", channel="log") == 5
    assert value(families, "h_seconds", "_sum", channel="log") == pytest.approx(8.65)
    assert value(families, "h_seconds", "_count", channel="webhook") == 1


def generate_latest_of(histogram: LoopHistogram) -> str:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    registry.register(Sampled([lambda: [histogram.family()]], lambda what, exc: None))
    return generate_latest(registry).decode()
