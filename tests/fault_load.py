"""A service under faults, and a loadgen-like sender that keeps a ledger of what the API said.

``Sender`` posts webhook notifications, each with an idempotency key of its own, from a few
threads at a steady pace. A request that fails (a 503, a timeout, a refused connection) is sent
again later with the same key, as a careful client does, so the ledger ends with every key
accepted once the store is back: ``created`` holds the ids the API answered ``201`` for, and
``accepted`` every id it answered ``201`` or ``200`` (a replay of a key whose first answer was
lost, or a 503 whose insert did commit). ``ServiceProcesses`` is the API and its workers as
processes, each writing its output to a file for the failure message.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from notifyctl.config import Config
from tests.helpers import api_health, child_env, free_port, http_json, stop, wait_until

#: the API may wait up to its pool's checkout timeout (30 s) before answering 503
REQUEST_TIMEOUT_S = 45.0


class ServiceProcesses:
    """The API and ``workers`` worker processes on one store, their output in ``logs``."""

    def __init__(self, config: Config, workers: int, logs: Path) -> None:
        self.config, self.logs = config, logs
        logs.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api = self._start("api", "api", "--port", str(self.port))
        self.workers = [
            self._start(f"worker-{n}", "worker", "--id", str(n)) for n in range(1, workers + 1)
        ]

    def _start(self, name: str, *argv: str) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "notifyctl", *argv],
                env=child_env(self.config), stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_ready(self) -> None:
        wait_until(lambda: (api_health(self.url) or {}).get("database") == "connected", 60, "API")

    def alive(self) -> bool:
        return all(p.poll() is None for p in [self.api, *self.workers])

    def stop(self) -> list[int]:
        return [stop(p) for p in [*self.workers, self.api]]

    def output(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}"
            for log in sorted(self.logs.glob("*.log"))
        )


class Sender:
    """``threads`` threads posting about ``rate`` notifications a second in all, until stopped."""

    def __init__(self, api: str, to: str, rate: float, threads: int = 4) -> None:
        self.api, self.to, self.threads = api, to, threads
        self.pause_s = threads / rate
        self.created: dict[str, str] = {}  # key -> id, answered 201
        self.accepted: dict[str, str] = {}  # key -> id, answered 201 or 200
        self.answers: Counter[str] = Counter()  # "201", "503", "timeout", ...
        self.last_503_at = 0.0
        self._retry: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._next = 0
        self._running = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def start(self) -> Sender:
        for thread in self._running:
            thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._running:
            thread.join(REQUEST_TIMEOUT_S + 5)

    def _key(self) -> str:
        with self._lock:
            if self._retry:
                return self._retry.pop(0)
            self._next += 1
            return f"fault-{self._next}"

    def _run(self) -> None:
        while not self._stopping.is_set():
            self.post(self._key())
            self._stopping.wait(self.pause_s)

    def post(self, key: str) -> bool:
        """One try for ``key``; False (and the key queued again) unless the API accepted it."""
        body = {"user_id": key, "channel": "webhook", "to": self.to, "title": key,
                "idempotency_key": key}  # fmt: skip
        try:
            status, answer = http_json("POST", f"{self.api}/v1/notifications", body,
                                       timeout=REQUEST_TIMEOUT_S)  # fmt: skip
            outcome = str(status)
        except (OSError, ValueError) as exc:  # refused, reset, timed out: the answer is unknown
            status, answer, outcome = 0, None, type(exc).__name__
        with self._lock:
            self.answers[outcome] += 1
            if status in (200, 201):
                self.accepted[key] = answer["id"]
                if status == 201:
                    self.created[key] = answer["id"]
                return True
            if status == 503:
                self.last_503_at = time.monotonic()
            self._retry.append(key)
            return False

    def settle(self, timeout: float) -> None:
        """After ``stop``: send every key not yet accepted again until each is, or fail."""
        deadline = time.monotonic() + timeout
        while (missing := self.unaccepted()) and time.monotonic() < deadline:
            for key in missing:
                if not self.post(key):
                    time.sleep(0.2)
        assert not self.unaccepted(), f"never accepted: {self.unaccepted()[:10]} ({self.answers})"

    def unaccepted(self) -> list[str]:
        with self._lock:
            return [k for k in dict.fromkeys(self._retry) if k not in self.accepted]
