"""``notifyctl up``: one API and N worker processes on one machine, restarted when they die.

Children are plain ``notifyctl api`` / ``notifyctl worker --id N`` processes that get the resolved
configuration through their environment, so they run exactly what the supervisor validated.

A child that exits with code 2 could not start: a configuration error (its one-line message is
above, e.g. a monitoring port another program took after ``up`` checked it), or a store it could
not reach after its own retries. Restarting helps only in the second case, and only for a while:
after CONFIG_ERROR_TRIES such exits in a row the supervisor stops everything and exits 2, rather
than restart a child forever while it delivers nothing.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from types import FrameType

from notifyctl.config import Config
from notifyctl.lifecycle import SUPERVISOR_ENV, stop_budget

log = logging.getLogger("notifyctl.up")

POLL_S = 0.2
RESTART_BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0
#: a child's exit code when it cannot start (``cli.fail``): a setting, a port, the store
CONFIG_ERROR = 2
#: exits with CONFIG_ERROR in a row (about 25 s with the store's own retries) before giving up
CONFIG_ERROR_TRIES = 3


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0
    cannot_start: int = 0  # exits with CONFIG_ERROR in a row
    next_start_at: float = 0.0
    backoff_s: float = field(default=0.5)


class Supervisor:
    def __init__(self, config: Config, workers: int) -> None:
        # what this deployment is, for whatever sizes itself by it (the MongoDB pool)
        config = replace(config, num_workers=workers, num_api_instances=1)
        self.config = config
        self.env = {**os.environ, **config.to_environ(), SUPERVISOR_ENV: str(os.getpid())}
        base = [sys.executable, "-m", "notifyctl"]
        self.children = [Child("api", [*base, "api"])]
        self.children += [Child(f"worker-{n}", [*base, "worker", "--id", str(n)]) for n in
                          range(1, workers + 1)]  # fmt: skip
        self.stopping = False
        self.config_error: str | None = None  # the child that exited with CONFIG_ERROR

    @property
    def stop_wait_s(self) -> float:
        """How long the children may take to stop before they are killed: a worker's grace
        period, its final outcome flush, the broker's thread and its close, all together."""
        return stop_budget(self.config).wait_s

    def _start(self, child: Child) -> None:
        # A session of its own: a terminal's Ctrl-C reaches only the supervisor, which then stops
        # each child once with SIGTERM (a second signal would make a child stop at once).
        child.process = subprocess.Popen(child.argv, env=self.env, start_new_session=True)
        child.started_at = time.monotonic()
        log.info("started %s (pid %d)", child.name, child.process.pid)

    def _check(self, child: Child, now: float) -> None:
        process = child.process
        if process is None:
            if now >= child.next_start_at:
                self._start(child)
            return
        code = process.poll()
        if code is None:
            return
        child.cannot_start = child.cannot_start + 1 if code == CONFIG_ERROR else 0
        if child.cannot_start >= CONFIG_ERROR_TRIES:
            self._give_up(child)
            return
        if now - child.started_at > STABLE_AFTER_S:
            child.backoff_s = 0.5
        child.restarts += 1
        child.process = None
        child.next_start_at = now + child.backoff_s
        log.warning("%s exited with %s; restarting in %.1f s", child.name, code, child.backoff_s)
        child.backoff_s = min(child.backoff_s * 2, RESTART_BACKOFF_MAX_S)

    def _give_up(self, child: Child) -> None:
        child.process = None
        self.config_error = child.name
        self.stopping = True
        log.error(
            "%s exited with code %d %d times in a row: it cannot start (its message is above);"
            " stopping everything",
            child.name,
            CONFIG_ERROR,
            child.cannot_start,
        )

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:  # a second Ctrl-C: stop at once
            self._signal_all(signal.SIGKILL)
            raise SystemExit(130)
        self.stopping = True

    def _signal_all(self, signum: int) -> None:
        for child in self.children:
            if child.process is not None and child.process.poll() is None:
                child.process.send_signal(signum)

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        while not self.stopping:
            now = time.monotonic()
            for child in self.children:
                self._check(child, now)
            time.sleep(POLL_S)
        code = self._stop()
        return CONFIG_ERROR if self.config_error is not None else code

    def _stop(self) -> int:
        log.info("stopping: asking every process to finish its work")
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_wait_s
        codes = {}
        for child in self.children:
            if child.process is None:
                continue
            try:
                codes[child.name] = child.process.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", child.name)
                child.process.kill()
                codes[child.name] = child.process.wait()
        # -SIGTERM: our SIGTERM reached a child still starting, before it installed its handler
        # (which it does before claiming anything): it stopped holding nothing, so that is clean.
        clean = (0, -signal.SIGTERM)
        failed = {name: code for name, code in codes.items() if code not in clean}
        if failed:
            log.warning("processes that did not exit cleanly: %s", failed)
        return 0 if not failed else 1
