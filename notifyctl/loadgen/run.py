"""The engine of `notifyctl loadgen`: an open-model load run that checks every delivery.

Request ``i`` is due at ``t0 + due(i)`` on the monotonic clock. The dispatcher sleeps until then
and starts the request as a task of its own: it never waits for an answer, so a slow service
cannot lower the offered load. Latency counts from the due time, not from the actual send: that
is the correction for coordinated omission (a stalled service shows its stall in the latency of
every request that was due meanwhile). The actual send is recorded too (service time, and the
generator's own lag behind its schedule); a generator that falls behind marks the run INVALID.

Every notification is a webhook to the generator's own sink, tagged with the run id and its
sequence number (also its idempotency key), so the run ends with a ledger: accepted, delivered,
lost, duplicated.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console

from notifyctl import __version__
from notifyctl.errors import NotifyError
from notifyctl.loadgen.http import Client
from notifyctl.loadgen.plan import Plan
from notifyctl.loadgen.report import Timing, summarize
from notifyctl.loadgen.send import Sender
from notifyctl.loadgen.sink import Ledger, Sink
from notifyctl.loadgen.stats import Stats
from notifyctl.loadgen.view import banner, progress_line

START_DELAY_S = 0.05  # lets the sink and the progress task settle before request 0 is due
HICCUP_TICK_S = 0.01
ROOM_POLL_S = 0.001
DRAIN_POLL_S = 0.05
FD_RESERVE = 256  # descriptors kept for the sink's connections, logs and the rest


class TargetUnreachable(NotifyError):
    """The target does not accept connections: nothing to measure."""


async def check_reachable(target: str, timeout_s: float) -> None:
    url = urlsplit(target)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(url.hostname, port), timeout=min(timeout_s, 5.0)
        )
    except (OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise TargetUnreachable(
            f"--target {target}: cannot connect ({reason}); is the API running (notifyctl up)?"
        ) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


@dataclass
class LoadRun:
    """One run of a plan: sink up, dispatch on schedule, wait for answers, drain, summarize."""

    plan: Plan
    console: Console | None = None  # progress lines go here; None: quiet
    stats: Stats = field(default_factory=Stats)
    ledger: Ledger | None = None
    timing: Timing = field(default_factory=Timing)
    intervals: list[dict[str, Any]] = field(default_factory=list)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stopping: bool = False

    async def run(self) -> dict[str, Any]:
        self.stats.in_flight_cap = min(self.plan.in_flight_cap, open_files_budget())
        if self.plan.checks_delivery:
            self.ledger = Ledger(self.plan.run_id, self.stats.delivery.record)
        async with contextlib.AsyncExitStack() as stack:
            sink_url = None
            if self.ledger is not None:
                sink = Sink(self.ledger, self.plan.sink_host, self.plan.sink_port)
                sink_url = (await stack.enter_async_context(sink)).url
            client = Client(self.plan.target, self._headers(), self.plan.timeout_s)
            stack.callback(client.close)
            stack.enter_context(self._signals())
            background = [asyncio.create_task(c) for c in (self._hiccups(), self._progress())]
            stack.push_async_callback(cancel, background)
            sender = Sender(self.plan, self.stats, self.ledger, client, sink_url)
            await self._measure(sender)
        return summarize(self.plan, self.stats, self.ledger, self.timing, self.intervals)

    async def _measure(self, sender: Sender) -> None:
        self.timing.start(START_DELAY_S)
        await self._dispatch(sender)
        self.timing.dispatched()
        if self._tasks:  # each has a hard timeout: this wait is a safety net
            _, late = await asyncio.wait(self._tasks, timeout=self.plan.timeout_s + 5)
            await cancel(list(late))
        self.timing.answered()
        await self._drain()
        self.timing.drained()

    def _headers(self) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "user-agent": f"notifyctl-loadgen/{__version__}",
        }
        if self.plan.api_key:
            headers["authorization"] = f"Bearer {self.plan.api_key}"
        return headers

    async def _dispatch(self, sender: Sender) -> None:
        schedule, rng = self.plan.schedule, random.Random(self.plan.seed)
        for request in range(schedule.requests):
            if self._stopping:
                self.timing.interrupted(request)
                return
            due = self.timing.t0 + schedule.due(request)
            users = [rng.randrange(self.plan.users) for _ in range(schedule.size(request))]
            late = time.monotonic() - due
            if late > self.plan.max_backlog_s:  # skipped at once: catching up costs nothing
                self.stats.count("not_sent", len(users))
                continue
            # when behind, still yield once per request so that the sends already due can start
            await asyncio.sleep(max(-late, 0))
            if await self._room(due):
                self._spawn(sender.send(request * schedule.batch, users, due))
            else:
                self.stats.count("not_sent", len(users))

    async def _room(self, due: float) -> bool:
        """Whether request due at ``due`` may go now: in-flight under the cap, backlog small."""
        while self.stats.in_flight >= self.stats.in_flight_cap:
            if time.monotonic() - due > self.plan.max_backlog_s:
                return False
            await asyncio.sleep(ROOM_POLL_S)
        return time.monotonic() - due <= self.plan.max_backlog_s

    def _spawn(self, send: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(send)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self) -> None:
        """Wait until every accepted notification arrived, or ``--drain-timeout`` passed."""
        if self.ledger is None:
            return
        deadline = time.monotonic() + self.plan.drain_timeout_s
        while self.ledger.outstanding > 0:  # even when interrupted: else "lost" would be wrong
            if time.monotonic() >= deadline:
                return
            await asyncio.sleep(DRAIN_POLL_S)

    async def _hiccups(self) -> None:
        """The event loop's own stalls: how late a 10 ms sleep wakes up (as jHiccup does)."""
        while True:
            before = time.monotonic()
            await asyncio.sleep(HICCUP_TICK_S)
            self.stats.hiccup.record(time.monotonic() - before - HICCUP_TICK_S)

    async def _progress(self) -> None:
        cpu, wall = time.process_time(), time.monotonic()
        while True:
            await asyncio.sleep(self.plan.progress_s)
            cpu, wall, cpu_percent = cpu_since(cpu, wall)
            interval = self.stats.next_interval()
            entry = {
                "t_s": round(self.timing.elapsed(), 3),
                "requests_sent": self.stats.requests_sent,
                "in_flight": self.stats.in_flight,
                "cpu_percent": cpu_percent,
                "latency": interval.encode(),
            }
            self.intervals.append(entry)
            if self.console is not None:
                self.console.print(progress_line(self.plan, self.stats, self.ledger, entry))

    @contextlib.contextmanager
    def _signals(self) -> Any:
        """Ctrl-C or SIGTERM: stop sending, finish what is in flight, report (a second: abort)."""
        loop = asyncio.get_running_loop()

        def stop() -> None:
            self._stopping = True
            if self.console is not None:
                self.console.print("stopping: no more requests; waiting for answers and "
                                   "deliveries (again to abort)")  # fmt: skip
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)

        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop)
        try:
            yield
        finally:
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)


def open_files_budget() -> int:
    """Connections the process may open: one file descriptor each (two when the target is the
    in-process null API). Raises the soft limit to the hard one, as load tools do."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return max((soft - FD_RESERVE) // 2, 16)


def cpu_since(cpu: float, wall: float) -> tuple[float, float, float]:
    now_cpu, now_wall = time.process_time(), time.monotonic()
    percent = round((now_cpu - cpu) / max(now_wall - wall, 1e-9) * 100, 1)
    return now_cpu, now_wall, percent


async def cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def run_load(plan: Plan, console: Console | None) -> dict[str, Any]:
    """Check the target answers, run the plan, return the summary (see report)."""
    await check_reachable(plan.target, plan.timeout_s)
    if console is not None:
        console.print(banner(plan), highlight=False)
    return await LoadRun(plan, console).run()
