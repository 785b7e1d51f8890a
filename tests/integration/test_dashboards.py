"""The Prometheus scrape config and the Grafana dashboards under docker/: they load, carry the
fields Grafana needs, and every PromQL query (the spec's included) names only metrics and labels
that notifyctl really exports (read from real registries, not from a list kept by hand)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from notifyctl.broker.rabbitmq import RabbitBroker
from notifyctl.config import Config
from notifyctl.metrics import ApiMetrics
from notifyctl.model import QueueSnapshot, now_ms
from notifyctl.store import open_store
from notifyctl.worker.worker import Worker

DOCKER = Path(__file__).resolve().parents[2] / "docker"
BOARDS = sorted((DOCKER / "grafana/provisioning/dashboards/notifyctl").glob("*.json"))
#: the spec's "Prometheus Queries", verbatim
SPEC_QUERIES = (
    'avg(worker_cpu_usage_percent{job="workers"})',
    'sum(notification_queue_depth{status="pending"})',
    "rate(worker_processed_notifications_total[5m])",
    "database_connections_total / database_connections_pool_size",
    "histogram_quantile(0.95, rate(http_request_duration_seconds_bucket[5m]))",
)
SPEC_BOARDS = {"Worker Performance", "Queue Metrics", "Database Metrics", "System Overview"}
#: labels Prometheus adds to every series it scrapes
TARGET_LABELS = {"job", "instance"}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}  # fmt: skip


def exported(config: Config) -> dict[str, set[str]]:
    """Every series name the API and a worker (with a broker) export -> its label names."""
    store = open_store(config)
    try:
        broker = RabbitBroker("amqp://guest:guest@127.0.0.1:5672/%2F", "unused")  # never started
        worker, api = Worker(config, store, {}, 1, broker=broker), ApiMetrics(store, broker)
        # One event of each kind, so that every labelled family has a sample to show its labels.
        worker.metrics.queue = QueueSnapshot(store.counts(now_ms()), None, now_ms())
        worker.stats.by_channel[("webhook", "sent")] = 1
        worker.metrics.delivered("webhook", 1_000)
        for metrics in (worker.metrics, api):
            metrics.observe_request("GET", "/health", 200, 0.01)
            metrics.observe_store_call("ping", 0.001)
        texts = [worker.metrics.exposition(), api.exposition()]
    finally:
        store.close()
    names: dict[str, set[str]] = {}
    for text in texts:
        for family in text_string_to_metric_families(text.decode()):
            for series in series_names(family.name, family.type):
                names.setdefault(series, set())
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
    return names


def series_names(name: str, kind: str) -> list[str]:
    if kind == "counter":
        return [f"{name}_total"]
    if kind == "histogram":
        return [f"{name}_bucket", f"{name}_sum", f"{name}_count"]
    return [name]


def selectors(query: str) -> list[tuple[str, set[str]]]:
    """Each metric the query reads, with the label names its matchers use."""
    query = re.sub(r'"(?:[^"\\]|\\.)*"', '""', query)  # label values can hold anything
    query = re.sub(r"\[[^\]]*\]", "", query)  # range selectors
    query = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", query)
    found: list[tuple[str, set[str]]] = []
    for match in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?", query):
        name, matchers, call = match.groups()
        if call or name.lower() in PROMQL_WORDS:
            continue
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", matchers or ""))
        found.append((name, labels))
    return found


def grouping_labels(query: str) -> set[str]:
    labels: set[str] = set()
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", query):
        labels |= {label.strip() for label in group.split(",") if label.strip()}
    return labels


def queries() -> list[tuple[str, str, str]]:
    return [
        (board.name, panel["title"], target["expr"])
        for board in BOARDS
        for panel in json.loads(board.read_text())["panels"]
        for target in panel["targets"]
    ]


def test_there_is_a_dashboard_for_each_of_the_spec_boards() -> None:
    titles = {json.loads(board.read_text())["title"] for board in BOARDS}
    assert titles == {f"notifyctl / {title}" for title in SPEC_BOARDS}


@pytest.mark.parametrize("board", BOARDS, ids=lambda path: path.stem)
def test_a_dashboard_has_the_fields_grafana_needs(board: Path) -> None:
    data = json.loads(board.read_text())
    provisioning = DOCKER / "grafana/provisioning/datasources/notifyctl-prometheus.yml"
    datasource = yaml.safe_load(provisioning.read_text())["datasources"][0]
    for key in ("uid", "title", "panels", "time", "templating", "annotations", "refresh"):
        assert key in data, key
    assert isinstance(data["schemaVersion"], int) and data["schemaVersion"] >= 36
    assert len({panel["id"] for panel in data["panels"]}) == len(data["panels"])
    for panel in data["panels"]:
        assert panel["type"] in {"timeseries", "stat", "gauge", "table"}, panel["title"]
        grid = panel["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24
        assert panel["datasource"] == {"type": "prometheus", "uid": datasource["uid"]}
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(set(refs)) == len(refs)
        assert all(target["expr"].strip() for target in panel["targets"])


def test_dashboard_uids_are_unique() -> None:
    uids = [json.loads(board.read_text())["uid"] for board in BOARDS]
    assert len(set(uids)) == len(uids) == 4


def test_every_query_names_only_exported_metrics_and_labels(config: Config) -> None:
    names = exported(config)
    checked = 0
    for board, title, expr in [*queries(), *(("spec", "spec", q) for q in SPEC_QUERIES)]:
        used = selectors(expr)
        assert used, f"{board} / {title}: no metric found in {expr!r}"
        for metric, labels in used:
            assert metric in names, f"{board} / {title}: {metric} is not exported"
            unknown = labels - names[metric] - TARGET_LABELS
            assert not unknown, f"{board} / {title}: {metric} has no label {unknown}"
            checked += 1
        grouped = grouping_labels(expr) - TARGET_LABELS - {"le"}
        known = set().union(*(names[m] for m, _ in used))
        assert grouped <= known, f"{board} / {title}: grouping by unknown labels {grouped}"
    assert checked > 40


def test_every_spec_query_is_on_a_dashboard() -> None:
    on_boards = {expr for _, _, expr in queries()}
    assert set(SPEC_QUERIES) <= on_boards


def test_the_metric_name_reader_sees_through_promql() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{job="api", route=~"x|y"}'
        "[5m]))) / on (instance) b + sum without (status) (c_total)"
    )
    assert selectors(expr) == [("a_bucket", {"job", "route"}), ("b", set()), ("c_total", set())]
    assert grouping_labels(expr) == {"le", "route", "status"}


def test_prometheus_scrapes_the_jobs_the_dashboards_use() -> None:
    config = yaml.safe_load((DOCKER / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"workers", "api"}
    # found by DNS: the `--scale worker=N` replicas (all --id 100), then the numbered ones of the
    # named-workers profile, which resolve only when that profile runs (no false "down" target)
    found = [(sd["names"], sd["port"]) for sd in jobs["workers"]["dns_sd_configs"]]
    assert found == [(["worker"], 9190)] + [([f"worker-{n}"], 9090 + n) for n in range(1, 6)]
    assert "static_configs" not in jobs["workers"]
    assert config["rule_files"] == ["alerts.yml"]
    assert jobs["api"]["static_configs"][0]["targets"] == ["api-1:3000", "api-2:3000"]
    for board, title, expr in queries():
        for job in re.findall(r'job="([^"]+)"', expr):
            assert job in jobs, f"{board} / {title}: no job {job}"


def test_grafana_loads_the_dashboards_from_where_they_are() -> None:
    provider_file = DOCKER / "grafana/provisioning/dashboards/notifyctl.yml"
    provider = yaml.safe_load(provider_file.read_text())
    path = provider["providers"][0]["options"]["path"]
    # docker-compose mounts docker/grafana/provisioning at /etc/grafana/provisioning.
    assert path.removeprefix("/etc/grafana/provisioning/") == "dashboards/notifyctl"
    assert BOARDS and all(board.parent.name == "notifyctl" for board in BOARDS)
