"""The deployment files as the spec describes them: the Dockerfile (its install and entry point
run here, since Docker cannot), the systemd units (``systemd-analyze``, and the stop budget), and
a real worker telling systemd READY=1 then STOPPING=1. The compose file: test_deploy_compose.py."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from notifyctl import config
from notifyctl.lifecycle import SUPERVISOR_S, stop_budget
from tests.conftest import make_config
from tests.helpers import (
    answers,
    call,
    child_env,
    free_port,
    installed_tool,
    start_worker,
    stop,
    wait_until,
)
from tests.ports import free_base

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
SYSTEMD = REPO / "examples" / "systemd"


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+)(ms|s|m)", duration)
    assert match, f"unexpected duration {duration!r}"
    return int(match[1]) * {"ms": 0.001, "s": 1, "m": 60}[match[2]]


def test_notifyctl_accepts_the_settings_systemd_gives_it() -> None:
    """Every setting notifyctl knows gets a valid value; the others are for features to come."""
    assert env_file_config().trusted_proxies == "10.0.0.10/32"


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions, continuation lines joined, grouped by FROM."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, rest = line.strip().partition(" ")
        if keyword == "FROM":
            stages.append([])
        stages[-1].append((keyword, rest.strip()))
    return stages


def install_like_the_dockerfile(build: list[tuple[str, str]], venv: Path, src: Path) -> None:
    """Lay out the build stage's COPY sources and run its RUN lines, the venv under tmp."""
    for keyword, rest in build:
        if keyword == "COPY":
            *sources, dest = rest.split()
            for source in sources:
                target = src / dest / Path(source).name if dest.endswith("/") else src / dest
                if (REPO / source).is_dir():
                    ignore = shutil.ignore_patterns("__pycache__")
                    shutil.copytree(REPO / source, target, ignore=ignore)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / source, target)
        elif keyword == "RUN":
            command = rest.replace("/opt/notifyctl", str(venv))
            env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
            subprocess.run(["sh", "-c", command], cwd=src, env=env, check=True, timeout=600)


@dataclass(frozen=True)
class Image:
    """The image's install in a virtualenv here, and its final stage's instructions."""

    venv: Path
    instructions: dict[str, str]

    @property
    def command(self) -> list[str]:
        """ENTRYPOINT + CMD: what ``docker run IMAGE`` runs."""
        entry_point = json.loads(self.instructions["ENTRYPOINT"])
        return [*entry_point, *json.loads(self.instructions["CMD"])]

    def environment(self, **overrides: str) -> dict[str, str]:
        """The image's ENV (PATH: this venv first), with ``overrides``."""
        image_env = dict(item.split("=", 1) for item in shlex.split(self.instructions["ENV"]))
        image_env["PATH"] = f"{self.venv}/bin:{os.environ['PATH']}"
        base = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFYCTL_")}
        return {**base, **image_env, **overrides}


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    build, final = dockerfile_stages()
    root = tmp_path_factory.mktemp("image")
    venv, src = root / "opt-notifyctl", root / "src"
    src.mkdir()
    assert ("COPY", "--from=build /opt/notifyctl /opt/notifyctl") in final
    install_like_the_dockerfile(build, venv, src)
    return Image(venv, dict(final))


def loopback(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """What the tests change in the image's environment: loopback addresses and free ports (the
    tests talk to 127.0.0.1 only), a data dir of the test's own."""
    port = str(free_port())
    return {
        "NOTIFYCTL_API_HOST": "127.0.0.1", "NOTIFYCTL_API_PORT": port,
        "NOTIFYCTL_MONITOR_HOST": "127.0.0.1", "NOTIFYCTL_MONITOR_PORT_BASE": str(free_base(2)),
        "NOTIFYCTL_DATA_DIR": str(tmp_path / "data"),
        "HEALTHCHECK_URL": f"http://127.0.0.1:{port}/health", **overrides,
    }  # fmt: skip


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_image_install_runs_the_entry_point(image: Image) -> None:
    assert image.command == ["notifyctl", "up"]
    env = image.environment()
    helped = subprocess.run(["notifyctl", "--help"], env=env, capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    assert all(command in helped.stdout for command in ("api", "worker", "up"))


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_image_refuses_to_run_an_api_without_keys(image: Image, tmp_path: Path) -> None:
    """The image listens on every address: without NOTIFYCTL_API_KEYS it is no open relay."""
    env = image.environment(**loopback(tmp_path))
    up = subprocess.Popen(image.command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        _, errors = up.communicate(timeout=60)
    finally:
        stop(up)  # bounded: had it started, it is stopped here
    assert up.returncode == 2, errors[-2000:]
    assert "NOTIFYCTL_API_KEYS" in errors and "NOTIFYCTL_REQUIRE_API_KEYS=false" in errors
    opted_out = image.environment(**loopback(tmp_path), NOTIFYCTL_REQUIRE_API_KEYS="false")
    assert config.load(environ=opted_out).require_api_keys is False, "the documented opt-out"


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_image_with_keys_serves_and_passes_its_health_check(
    image: Image, tmp_path: Path
) -> None:
    overrides = loopback(tmp_path, NOTIFYCTL_API_KEYS="k" * 32)
    env, url = image.environment(**overrides), overrides["HEALTHCHECK_URL"]
    health_check = json.loads(image.instructions["HEALTHCHECK"].partition(" CMD ")[2])
    up = subprocess.Popen(image.command, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_until(lambda: up.poll() is not None or answers(url), 30, "the image's API")
        probe = subprocess.run(health_check, env=env, timeout=30)
        unauthorised, _ = call("POST", url.replace("/health", "/v1/notifications"), {})
    finally:
        code = stop(up)
    assert probe.returncode == 0 and code == 0
    assert unauthorised == 401
    probe = subprocess.run(health_check, env=env, capture_output=True, timeout=30)
    assert probe.returncode != 0, "the health check must fail when nothing answers"


@pytest.mark.integration
def test_the_api_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """systemd and Docker stop a service with SIGTERM: exit code 0, no traceback."""
    config = make_config(tmp_path, api_port=free_port())
    argv = [sys.executable, "-m", "notifyctl", "api"]
    api = subprocess.Popen(argv, env=child_env(config), stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{config.api_port}/health"
        wait_until(lambda: api.poll() is not None or answers(url), 30, "the API")
    finally:
        api.terminate()
        _, errors = api.communicate(timeout=30)
    assert api.returncode == 0 and "Traceback" not in errors, errors


def unit_files(tmp_path: Path) -> list[Path]:
    """The units with ExecStart pointing at this virtualenv's notifyctl (verify checks it)."""
    installed = Path(sys.executable).parent / "notifyctl"
    copies = []
    for unit in sorted(SYSTEMD.glob("notifyctl*.service")) + sorted(SYSTEMD.glob("*.target")):
        text = unit.read_text()
        copy = tmp_path / unit.name
        copy.write_text(text.replace("/opt/notifyctl/bin/notifyctl", str(installed)))
        copies.append(copy)
    return copies


def systemd_analyze() -> str:
    return installed_tool("systemd-analyze", "Debian's systemd package")


def test_a_missing_systemd_analyze_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """.ci/run installs systemd and sets CI: there, the unit checks cannot skip."""
    monkeypatch.setenv("CI", "1")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(BaseException) as outcome:  # a skip too, so that it cannot pass as one
        systemd_analyze()
    assert outcome.type is pytest.fail.Exception
    assert "systemd-analyze is missing" in str(outcome.value)


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    units = unit_files(tmp_path)
    assert {u.name for u in units} == {
        "notifyctl-api@.service", "notifyctl-worker@.service", "notifyctl.target"
    }  # fmt: skip
    result = subprocess.run([systemd_analyze(), "verify", *map(str, units)],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    # verify exits 0 on unknown keys and bad values too: it must print nothing at all
    assert result.returncode == 0 and not result.stdout + result.stderr, result.stderr


def test_the_units_are_hardened(tmp_path: Path) -> None:
    analyze = systemd_analyze()
    for unit in unit_files(tmp_path)[:2]:
        argv = [analyze, "security", "--offline=true", "--threshold=20", str(unit)]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout[-400:]


def unit_settings(name: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in (SYSTEMD / name).read_text().splitlines())
    return {key: value for key, value in (p for p in pairs if len(p) == 2)}


def test_the_units_stop_gracefully_and_restart_on_failure() -> None:
    for name in ("notifyctl-api@.service", "notifyctl-worker@.service"):
        settings = unit_settings(name)
        assert settings["Restart"] == "on-failure" and settings["KillSignal"] == "SIGTERM"
        assert settings["DynamicUser"] == "yes" and settings["ProtectSystem"] == "strict"
        assert settings["WantedBy"] == "notifyctl.target"
    worker = unit_settings("notifyctl-worker@.service")
    assert worker["Type"] == "notify" and "--id %i" in worker["ExecStart"]
    assert seconds(worker["WatchdogSec"]) > 0


def env_file_config() -> config.Config:
    lines = (SYSTEMD / "notifyctl.env").read_text().splitlines()
    env_file = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return config.load(environ=env_file)


def test_the_units_give_a_stop_the_whole_stop_budget() -> None:
    """systemd kills what overruns TimeoutStopSec: a worker's grace, final flush and broker join
    must fit (stop_budget), or outcomes of a graceful stop are lost."""
    budget = stop_budget(env_file_config())
    worker = unit_settings("notifyctl-worker@.service")
    assert seconds(worker["TimeoutStopSec"]) >= budget.total_s
    api = unit_settings("notifyctl-api@.service")
    assert seconds(api["TimeoutStopSec"]) >= budget.api_s + budget.close_s + SUPERVISOR_S


def receive(server: socket.socket, until: str) -> list[str]:
    """Datagrams from the worker up to and including one that contains ``until``."""
    messages: list[str] = []
    while not any(until in m for m in messages):
        messages.append(server.recv(4096).decode())
    return messages


@pytest.mark.integration
def test_worker_tells_systemd_ready_watchdog_and_stopping(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="sd-"))  # a unix socket path must stay under 108 bytes
    path = str(short / "notify")
    config = make_config(tmp_path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        server.settimeout(30)
        worker = start_worker(config, 1, NOTIFY_SOCKET=path, WATCHDOG_USEC="200000")
        try:
            before = receive(server, "READY=1")
            assert "READY=1\nSTATUS=worker 1 claiming" in before
        finally:
            code = stop(worker)
        after = receive(server, "STOPPING=1")
    shutil.rmtree(short)
    assert code == 0
    assert after[-1].startswith("STOPPING=1\nSTATUS=worker 1 stopping"), after
    assert "WATCHDOG=1" in before + after, "WATCHDOG_USEC is honoured"
