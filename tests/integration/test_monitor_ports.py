"""A taken monitoring port (issue 12, "a taken port"), with real processes: a worker alone stops
with one line and exit code 2; the supervisor does not restart a child that exits 2; and a second
``up`` on this host moves its workers' monitoring ports and delivers."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl.up.supervisor import CONFIG_ERROR_TRIES, Supervisor
from tests.conftest import make_config
from tests.helpers import (
    Receiver,
    answers,
    call,
    free_port,
    start_up,
    start_worker,
    stop,
    wait_until,
)
from tests.ports import free_base, hold

pytestmark = pytest.mark.integration


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    """Listening sockets on 127.0.0.1 standing for what another ``up`` holds."""
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def test_a_worker_whose_monitoring_port_is_taken_exits_2_with_one_line(
    tmp_path: Path, held: list[socket.socket]
) -> None:
    base = free_base(1)
    hold(held, base + 1)
    config = make_config(tmp_path, monitor_port_base=base)
    argv = [sys.executable, "-m", "notifyctl", "worker", "--id", "1"]
    env = {**os.environ, **config.to_environ()}
    env.pop("NOTIFYCTL_SUPERVISOR_PID", None)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert f"127.0.0.1:{base + 1}" in lines[0] and "NOTIFYCTL_MONITOR_PORT_BASE" in lines[0]


def test_a_worker_with_a_free_monitoring_port_serves_it(tmp_path: Path) -> None:
    """The pre-bound socket is the one Hypercorn serves on."""
    base = free_base(1)
    config = make_config(tmp_path, monitor_port_base=base)
    worker = start_worker(config, 1)
    try:
        url = f"http://127.0.0.1:{base + 1}/health"
        wait_until(lambda: worker.poll() is not None or answers(url), 30, "worker 1's /health")
        assert worker.poll() is None
    finally:
        assert stop(worker) == 0


def test_the_supervisor_stops_everything_when_a_child_exits_2(tmp_path: Path) -> None:
    """Exit code 2: the child cannot start. After a few tries (a store may come back), no restart
    loop: ``up`` stops everything and exits 2."""
    supervisor = Supervisor(make_config(tmp_path), workers=1)
    api, worker = supervisor.children
    api.argv = [sys.executable, "-c", "import time; time.sleep(120)"]
    worker.argv = [sys.executable, "-c", "raise SystemExit(2)"]
    # bounded on code that restarts forever: stop it as Ctrl-C would after 60 s
    timer = threading.Timer(60, lambda: setattr(supervisor, "stopping", True))
    handlers = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    timer.start()
    try:
        code = supervisor.run()
    finally:
        timer.cancel()
        signal.signal(signal.SIGTERM, handlers[0])
        signal.signal(signal.SIGINT, handlers[1])
    assert code == 2 and supervisor.config_error == "worker-1"
    assert worker.restarts == CONFIG_ERROR_TRIES - 1, "a few tries (the store may come back)"
    assert api.process is not None and api.process.poll() is not None, "the API was stopped"


def test_a_second_up_moves_its_monitoring_ports_and_delivers(
    tmp_path: Path, held: list[socket.socket]
) -> None:
    base = free_base(2)
    for n in (1, 2):  # the first ``up`` on this host
        hold(held, base + n)
    port = free_port()
    up, log = start_up(tmp_path, port, base)
    api = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: up.poll() is not None or answers(f"{api}/health"), 30, "the API")
        assert up.poll() is None, log.read_text()
        moved = re.search(r"ports (\d+)-(\d+) \(\d+-\d+ are taken", log.read_text())
        assert moved, log.read_text()
        for worker_port in map(int, moved.groups()):
            url = f"http://127.0.0.1:{worker_port}/health"
            wait_until(lambda url=url: answers(url), 30, f"a worker on {worker_port}")
        with Receiver() as receiver:
            body = {"user_id": "u1", "channel": "webhook", "to": receiver.url, "title": "hi"}
            status, created = call("POST", f"{api}/v1/notifications", body)
            assert status == 201, created
            wait_until(lambda: created["id"] in receiver.counts(), 30, "the delivery")
        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    output = log.read_text()
    assert "Traceback" not in output and "exited with" not in output, output[-3000:]
