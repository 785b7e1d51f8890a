"""``notifyctl up`` end to end: a real supervisor, API and workers on a temporary data dir."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from notifyctl.up.supervisor import Supervisor
from tests.conftest import make_config
from tests.helpers import Receiver, answers, call, free_port, start_up, wait_until
from tests.ports import steady_base

pytestmark = pytest.mark.integration


def worker_pid(up: psutil.Process, number: int) -> int | None:
    for child in up.children():
        try:
            argv = child.cmdline()
        except psutil.NoSuchProcess:
            continue
        if "worker" in argv and argv[-1] == str(number):
            return child.pid
    return None


def monitor_ports() -> int:
    """A base port whose next two ports are free, outside the ephemeral range: worker 1 binds
    base + 1 again after its restart, and an ephemeral neighbour may be taken meanwhile by any
    outgoing connection (the cause of this test's rare "waiting for worker 1" timeouts)."""
    return steady_base(2)


def test_up_accepts_delivers_restarts_a_killed_worker_and_stops_cleanly(tmp_path: Path) -> None:
    port, base = free_port(), monitor_ports()
    up, log = start_up(tmp_path, port, base)
    api = f"http://127.0.0.1:{port}"
    try:
        with Receiver() as receiver:
            wait_until(lambda: up.poll() is not None or answers(f"{api}/health"), 30, "the API")
            assert up.poll() is None, log.read_text()
            status, created = call("POST", f"{api}/v1/notifications", notification(receiver.url))
            assert status == 201
            wait_until(lambda: created["id"] in receiver.counts(), 20, "the first delivery")
            wait_until(lambda: sent(api, created["id"]), 10, "status sent")

            supervisor = psutil.Process(up.pid)
            # on a loaded machine worker 1 can be between restarts here: wait until it runs
            wait_until(lambda: worker_pid(supervisor, 1) is not None, 45, "worker 1 running")
            killed = worker_pid(supervisor, 1)
            assert killed is not None
            os.kill(killed, signal.SIGKILL)
            wait_until(lambda: worker_pid(supervisor, 1) not in (None, killed), 45, "a restart")
            wait_until(lambda: answers(f"http://127.0.0.1:{base + 1}/health"), 45, "worker 1")

            status, second = call("POST", f"{api}/v1/notifications", notification(receiver.url))
            wait_until(lambda: second["id"] in receiver.counts(), 20, "the second delivery")
            assert all(n == 1 for n in receiver.counts().values())
        up.send_signal(signal.SIGTERM)
        assert up.wait(30) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    output = log.read_text()
    assert "worker-1 exited" in output and f"http://127.0.0.1:{port}" in output


def notification(url: str) -> dict[str, Any]:
    return {"user_id": "u1", "channel": "webhook", "to": url, "title": "hello"}


def sent(api: str, notification_id: str) -> bool:
    return call("GET", f"{api}/v1/notifications/{notification_id}")[1]["status"] == "sent"


def test_up_tells_its_children_how_many_workers_and_apis_the_deployment_has(
    tmp_path: Path,
) -> None:
    """What sizes itself by the deployment (the MongoDB pool: (workers + APIs) x 5) must see the
    workers ``up`` runs, not the NUM_WORKERS default."""
    supervisor = Supervisor(make_config(tmp_path), workers=3)
    assert supervisor.env["NUM_WORKERS"] == "3"
    assert supervisor.env["NUM_API_INSTANCES"] == "1"
    assert len(supervisor.children) == 4  # the API and three workers
