"""docker/prometheus/alerts.yml, checked by Prometheus' own promtool: the rules load, each fires
on synthetic series that should wake someone and stays quiet on series that should not
(docker/prometheus/alerts.test.yml), every rule has both cases and a runbook section in
docs/alerts.md, and the compose Prometheus' start command writes PROMETHEUS_SCRAPE_INTERVAL into
a config promtool accepts. Without promtool these skip, except in CI (``CI`` set), where
.ci/run installs Debian's prometheus package and a missing one fails."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.helpers import installed_tool
from tests.integration.compose_env import interpolate
from tests.integration.test_deploy import DOCKER
from tests.integration.test_deploy_compose import SECRETS

PROMETHEUS = DOCKER / "prometheus"
DOCS = DOCKER.parent / "docs"


def promtool() -> str:
    return installed_tool("promtool", "Debian's prometheus package")


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_rules_load() -> None:
    checked = subprocess.run([promtool(), "check", "rules", str(PROMETHEUS / "alerts.yml")],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_rule_fires_and_stays_quiet_as_its_cases_say() -> None:
    tested = subprocess.run([promtool(), "test", "rules", str(PROMETHEUS / "alerts.test.yml")],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_rule_has_a_firing_and_a_quiet_case_and_a_runbook() -> None:
    cases = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in cases:
        for check in case["alert_rule_test"]:
            (firing if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {rule["alert"] for rule in rules()}
    assert len(names) == 10
    assert firing == names and quiet == names
    runbook = (DOCS / "alerts.md").read_text()
    for rule in rules():
        anchor = rule["annotations"]["runbook"].removeprefix("docs/alerts.md#")
        assert anchor == rule["alert"].lower()
        assert f"## {rule['alert']}" in runbook, f"docs/alerts.md has no section {rule['alert']}"


def test_the_compose_prometheus_writes_its_scrape_interval_into_a_valid_config(
    tmp_path: Path,
) -> None:
    """The container's start command, run here with its paths moved under tmp_path and
    promtool in place of the server."""
    compose = interpolate(
        yaml.safe_load((DOCKER / "docker-compose.scale.yml").read_text()),
        {**SECRETS, "PROMETHEUS_SCRAPE_INTERVAL": "30s"},
    )
    service = compose["services"]["prometheus"]
    etc, out = tmp_path / "etc", tmp_path / "out"
    shutil.copytree(PROMETHEUS, etc)
    command = service["command"][0].replace("/etc/prometheus", str(etc))
    command = command.replace("/tmp/prometheus", str(out))
    command = re.sub(
        r"exec /bin/prometheus --config.file=(\S+).*",
        rf"exec {promtool()} check config \1",
        command,
    )
    ran = subprocess.run(["/bin/sh", "-c", command], env={**os.environ, **service["environment"]},
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    written = yaml.safe_load((out / "prometheus.yml").read_text())
    assert written["global"]["scrape_interval"] == "30s"
    assert "SUCCESS: 10 rules found" in ran.stdout
