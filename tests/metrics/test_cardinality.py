"""What anyone can send cannot grow the metrics: made-up methods, paths and status codes fall into
fixed label values, on the API (API keys on or off) and on a worker's monitoring port, and a
histogram keeps at most ``max_series`` label sets whatever its caller passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.config import Config
from notifyctl.metrics import LoopHistogram
from notifyctl.store import Store, open_store
from notifyctl.worker.monitor import QueueSampler, build_monitor_app
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.metrics.test_metrics import Families, generate_latest_of, parse, samples

DURATION = "http_request_duration_seconds"
MADE_UP = 300


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def series(families: Families) -> set[tuple[str, str, str]]:
    found = samples(families, DURATION, "_count")
    return {(s.labels["method"], s.labels["route"], s.labels["status"]) for s in found}


def send_made_up_requests(client: TestClient) -> None:
    for n in range(MADE_UP):
        client.request(f"M{n}X", f"/v1/notifications/{n}")  # a made-up method, a real route
        client.request("GET", f"/made/up/{n}")  # a made-up path
        client.request(f"P{n}", f"/nothing/{n}")  # both


@pytest.mark.parametrize("keys", ["", "a-key"], ids=["keys off", "keys on"])
def test_made_up_methods_and_paths_add_no_series_on_the_api(
    tmp_path: Path, store: Store, keys: str
) -> None:
    config = make_config(tmp_path, api_keys=keys, rate_limit_per_s=0)
    with TestClient(build_app(config, store)) as client:
        send_made_up_requests(client)
        found = series(parse(client.get("/metrics").text))
    assert {method for method, _, _ in found} <= {"GET", "other"}
    assert len(found) <= 4, found  # 3 * MADE_UP made-up requests: a handful of series


def test_made_up_methods_and_paths_add_no_series_on_a_monitoring_port(
    config: Config, store: Store
) -> None:
    worker = Worker(config, store, {}, 1)
    app = build_monitor_app(worker, QueueSampler(worker, 60_000, config.heartbeat_interval_ms))
    with TestClient(app) as client:
        send_made_up_requests(client)
        found = series(parse(client.get("/metrics").text))
    assert {method for method, _, _ in found} <= {"GET", "other"}
    assert len(found) <= 4, found


def test_an_unregistered_status_code_is_labelled_other() -> None:
    from notifyctl.serving import request_labels

    scope = {"type": "http", "method": "GET"}
    assert request_labels(scope, 799) == ("GET", "unmatched", "other")
    assert request_labels(scope, 404) == ("GET", "unmatched", "404")


def test_a_histogram_folds_label_sets_past_its_bound_into_other() -> None:
    histogram = LoopHistogram("h_seconds", "help", ("a", "b"), (0.1, 1.0), max_series=10)
    for n in range(1_000):
        histogram.observe((f"a{n}", "b"), 0.5)
    found = samples(parse(generate_latest_of(histogram)), "h_seconds", "_count")
    assert len(found) == 11  # the first ten, and every later one under ("other", "other")
    overflow = [s for s in found if s.labels == {"a": "other", "b": "other"}]
    assert [s.value for s in overflow] == [990]
