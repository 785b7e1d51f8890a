"""``notifyctl --store postgresql://... up`` (issue 18 item 6): the supervisor, its API and two
workers on a PostgreSQL schema of the test's own; a notification accepted, delivered by webhook
and marked sent; SIGTERM stops everything with exit 0; nothing is written to the data dir's
SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import Receiver, answers, call, free_port, wait_until
from tests.ports import steady_base
from tests.postgres_server import postgresql_server, postgresql_url

__all__ = ["postgresql_server", "postgresql_url"]  # the fixtures these tests take

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_up_on_postgresql_accepts_delivers_and_stops_cleanly(
    tmp_path: Path, postgresql_url: str
) -> None:
    port, base, data = free_port(), steady_base(2), tmp_path / "data"
    argv = [sys.executable, "-m", "notifyctl", "--store", postgresql_url, "up", "--workers", "2",
            "--port", str(port), "--data-dir", str(data)]  # fmt: skip
    env = {**os.environ, "NOTIFYCTL_MONITOR_PORT_BASE": str(base)}
    env.pop("NOTIFYCTL_STORE_URL", None)
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        up = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    api = f"http://127.0.0.1:{port}"
    try:
        with Receiver() as receiver:
            wait_until(lambda: up.poll() is not None or answers(f"{api}/health"), 60, "the API")
            assert up.poll() is None, log.read_text()
            body = {"user_id": "u1", "channel": "webhook", "to": receiver.url, "title": "hi"}
            status, created = call("POST", f"{api}/v1/notifications", body)
            assert status == 201, created
            wait_until(lambda: created["id"] in receiver.counts(), 30, "the delivery")
            wait_until(lambda: status_of(api, created["id"]) == "sent", 20, "status sent")
            health = call("GET", f"{api}/health")[1]
            assert health["database"] == "connected"
        up.send_signal(signal.SIGTERM)
        assert up.wait(45) == 0, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert not (data / "notifyctl.db").exists()
    output = log.read_text()
    assert "postgresql://" in output and f"http://127.0.0.1:{port}" in output


def status_of(api: str, notification_id: str) -> str:
    return str(call("GET", f"{api}/v1/notifications/{notification_id}")[1]["status"])
