"""The real Prometheus server (Debian's package) scraping a running ``notifyctl up`` (with
RabbitMQ) through the project's docker/prometheus/prometheus.yml, its targets moved to this
test's ports: every Grafana dashboard query returns data through Prometheus' HTTP API, and the
alert rules load and evaluate without error. Skips without the server, except in CI (``CI``
set), where .ci/run installs it. Bounded: at most about two minutes of waiting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import (
    Receiver,
    answers,
    call,
    free_port,
    installed_tool,
    stop,
    wait_until,
)
from tests.integration.test_dashboards import queries
from tests.integration.test_deploy import DOCKER
from tests.ports import steady_base
from tests.rabbit import RABBITMQ_URL, delete_queues, require_rabbitmq

pytestmark = pytest.mark.integration

WORKERS = 2


def prometheus_binary() -> str:
    return installed_tool("prometheus", "Debian's prometheus package")


def adapted_config(api_port: int, monitor_base: int) -> dict[str, Any]:
    """The project's prometheus.yml, scraping every second, its targets on this host."""
    config: dict[str, Any] = yaml.safe_load((DOCKER / "prometheus/prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DOCKER / "prometheus" / name) for name in config["rule_files"]]
    for job in config["scrape_configs"]:
        if job["job_name"] == "workers":
            del job["dns_sd_configs"]
            ports = range(monitor_base + 1, monitor_base + 1 + WORKERS)
            job["static_configs"] = [{"targets": [f"127.0.0.1:{port}" for port in ports]}]
        else:
            job["static_configs"] = [{"targets": [f"127.0.0.1:{api_port}"]}]
    return config


@pytest.fixture
def up(tmp_path: Path) -> Iterator[tuple[int, int]]:
    """``notifyctl up`` with RabbitMQ; (API port, monitoring base port)."""
    require_rabbitmq()
    port, base, group = free_port(), steady_base(WORKERS), f"prom-test-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "NOTIFYCTL_MONITOR_PORT_BASE": str(base), "RABBITMQ_URL": RABBITMQ_URL,
           "RABBITMQ_CONSUMER_GROUP": group, "NOTIFYCTL_QUEUE_METRICS_INTERVAL_MS": "500",
           "NOTIFYCTL_RETRY_BASE_MS": "100", "NOTIFYCTL_RETRY_MAX_MS": "200"}  # fmt: skip
    argv = [sys.executable, "-m", "notifyctl", "up", "--workers", str(WORKERS), "--port",
            str(port), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    with (tmp_path / "up.log").open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: process.poll() is not None or answers(f"http://127.0.0.1:{port}/health"),
                   60, "the API")  # fmt: skip
        assert process.poll() is None, (tmp_path / "up.log").read_text()
        yield port, base
    finally:
        stop(process, 60)
        delete_queues(group, f"{group}.dead-letters")


@pytest.fixture
def prometheus(tmp_path: Path, up: tuple[int, int]) -> Iterator[str]:
    """The Prometheus server on the adapted config; its base URL."""
    binary, port = prometheus_binary(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(adapted_config(*up)))
    argv = [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with (tmp_path / "prometheus.log").open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.poll() is not None or is_ready(url), 60,
                   "Prometheus ready")  # fmt: skip
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        yield url
    finally:
        stop(process, 30)


def is_ready(prometheus: str) -> bool:
    try:
        with urllib.request.urlopen(f"{prometheus}/-/ready", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def api_get(prometheus: str, path: str, **params: str) -> Any:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{prometheus}{path}?{query}", timeout=10) as response:
        answer = json.loads(response.read())
    assert answer["status"] == "success", answer
    return answer["data"]


def returns_data(prometheus: str, expr: str) -> bool:
    return bool(api_get(prometheus, "/api/v1/query", query=expr)["result"])


def send_traffic(api: str, receiver: Receiver) -> None:
    """Deliveries, retries and a dead letter, so that every counter and histogram moves."""
    for n in range(20):
        body = {"user_id": f"u{n}", "channel": "webhook", "to": receiver.url,
                "max_attempts": 1 if n == 0 else 3}  # fmt: skip
        assert call("POST", f"{api}/v1/notifications", body)[0] == 201


def test_every_dashboard_query_returns_data_from_a_running_deployment(
    up: tuple[int, int], prometheus: str
) -> None:
    api_port, _ = up
    with Receiver(lambda attempt: (503 if attempt == 1 else 200, 0.0)) as receiver:
        send_traffic(f"http://127.0.0.1:{api_port}", receiver)
        wait_until(lambda: len(receiver.counts()) == 20, 120, "every notification tried")
        targets = lambda: api_get(prometheus, "/api/v1/targets")["activeTargets"]  # noqa: E731
        wait_until(lambda: sum(t["health"] == "up" for t in targets()) == WORKERS + 1, 60,
                   "every target scraped")  # fmt: skip
        pending = {expr for _, _, expr in queries()}

        def all_answered() -> bool:
            pending.difference_update(answered(prometheus, pending))
            return not pending

        try:
            wait_until(all_answered, 90, "every dashboard query to return data")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; no data: {sorted(pending)}") from None
    groups = api_get(prometheus, "/api/v1/rules")["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == 10 and all(rule["health"] == "ok" for rule in loaded), loaded


def answered(prometheus: str, pending: set[str]) -> set[str]:
    return {expr for expr in pending if returns_data(prometheus, expr)}
