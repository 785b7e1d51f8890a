"""Helpers for integration tests: a webhook receiver, worker processes, bounded waits."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from notifyctl.config import Config
from notifyctl.ids import new_id
from notifyctl.model import NewNotification, Priority, now_ms


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    received_at: float
    body: dict[str, Any]
    #: the signature headers as received (``webhook-signature``, ``webhook-timestamp``)
    signature: str = ""
    timestamp: str = ""
    raw: bytes = b""
    #: the W3C trace context the delivery carried (tracing on)
    traceparent: str = ""


class Receiver:
    """A webhook receiver on 127.0.0.1 in a background thread, recording every request.

    ``respond`` maps the attempt number of an id (1 for the first) to (status, delay_s).
    """

    def __init__(self, respond: Callable[[int], tuple[int, float]] = lambda attempt: (200, 0.0)):
        self.respond = respond
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def __enter__(self) -> Receiver:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("receiver did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body, headers = json.loads(raw), request.headers
        webhook_id = headers["webhook-id"]
        signed = headers.get("webhook-signature", ""), headers.get("webhook-timestamp", "")
        with self._lock:
            traceparent = headers.get("traceparent", "")
            delivery = Delivery(webhook_id, time.time(), body, *signed, raw, traceparent)
            self.deliveries.append(delivery)
            attempt = sum(1 for d in self.deliveries if d.webhook_id == webhook_id)
        status, delay = self.respond(attempt)
        if delay:
            await asyncio.sleep(delay)
        return web.Response(status=status)

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(d.webhook_id for d in self.deliveries)

    def snapshot(self) -> list[Delivery]:
        with self._lock:
            return list(self.deliveries)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One JSON request; the status and the decoded body, whatever the status."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def answers(url: str) -> bool:
    """True once ``url`` answers 200."""
    try:
        return call("GET", url)[0] == 200
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(config: Config, **extra: str) -> dict[str, str]:
    env = {**os.environ, **config.to_environ(), **extra}
    env.pop("NOTIFYCTL_SUPERVISOR_PID", None)
    return env


def start_worker(config: Config, number: int, **extra_env: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "notifyctl", "worker", "--id", str(number)]
    return subprocess.Popen(argv, env=child_env(config, **extra_env))


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM and wait; kill if it does not stop in time. Returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    return process.returncode


def webhooks(
    url: str,
    count: int,
    priority: Priority = Priority.NORMAL,
    scheduled_for: int | None = None,
    max_attempts: int = 3,
) -> list[NewNotification]:
    now = now_ms()
    return [
        NewNotification(
            id=new_id(now), user_id=f"user-{i}", channel="webhook", to=url, title=f"t{i}",
            body=None, data={"seq": i}, priority=priority,
            scheduled_for=scheduled_for if scheduled_for is not None else now,
            max_attempts=max_attempts, idempotency_key=None,
            request_hash=json.dumps([url, i]), created_at=now,
        )
        for i in range(count)
    ]  # fmt: skip


def insert(store: Any, items: Sequence[NewNotification]) -> list[str]:
    results = store.insert_many(items, now_ms())
    return [r.notification.id for r in results]


def start_api(config: Config, port: int, **extra_env: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "notifyctl", "api", "--port", str(port)]
    return subprocess.Popen(argv, env=child_env(config, **extra_env))


def http_json(method: str, url: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
    """A plain HTTP call returning (status, parsed JSON body)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def api_health(base_url: str) -> dict[str, Any] | None:
    try:
        status, body = http_json("GET", f"{base_url}/health", timeout=2)
    except OSError:
        return None
    return body if status == 200 else None


def leased_by_pid(store: object, pid: int) -> set[str]:
    """Ids a (SQLite) worker process still holds leases on, as it left them."""
    from notifyctl.store.sqlite import SqliteStore

    assert isinstance(store, SqliteStore)
    with store._db.read() as conn:
        rows = conn.execute(
            "SELECT id FROM notifications WHERE locked_by LIKE ? AND status = 'pending'",
            (f"%-{pid}-%",),
        ).fetchall()
    return {row[0] for row in rows}


def start_up(tmp_path: Path, port: int, monitor_base: int, workers: int = 2) -> tuple[Any, Path]:
    """``notifyctl up`` as a user starts it, its output in ``tmp_path/up.log``; returns the
    process and the log's path."""
    env = {**os.environ, "NOTIFYCTL_MONITOR_PORT_BASE": str(monitor_base)}
    argv = [sys.executable, "-m", "notifyctl", "up", "--workers", str(workers), "--port",
            str(port), "--data-dir", str(tmp_path / "data")]  # fmt: skip
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    return process, log


def installed_tool(name: str, installs: str) -> str:
    """The path of the command ``name``. Without it the test skips, except in CI (``CI`` set),
    where .ci/run installs it (``installs`` says what) and a missing one is a failure."""
    found = shutil.which(name)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing: .ci/run installs {installs}")
        pytest.skip(f"{name} is not installed (.ci/run installs {installs})")
    return found
