"""End-to-end benchmark: ``notifyctl up`` on a fresh store, N notifications in, all delivered.

For each channel (webhook to a local receiver, and/or the log channel to a file) and each run:
start ``notifyctl up --workers W`` in a temporary data dir, wait for ``GET /health``, send N
notifications through ``POST /v1/notifications/batch`` with several concurrent senders, wait
(bounded) until every accepted notification is delivered, then stop everything it started.

Reported first: CPU µs per delivered notification of the whole service (supervisor, API,
workers; plus RabbitMQ's with a broker), by role (``cpu_figures.py``); then intake (accepted/s),
delivered/s (first POST to last delivery), end-to-end latency p50/p99 (delivery time minus the
notification's ``created_at``), duplicates, lost, and the peak RSS of each worker process
(sampled from the children of the ``up`` process). With ``--runs K`` the table shows the median
of K runs.

With ``--broker amqp://...`` the service runs as ``notifyctl --broker URL up ...`` with a consumer
group (queue) of each run's own, deleted afterwards; before each run's channels, ``raw_pika.py``
measures the raw RabbitMQ consume rate (``--ceiling``: 1 and 2 consumer processes) as the ceiling,
and the report adds delivered/s as a share of it.

``--channel template`` sends to a person by template (issue 16) to the same webhook receiver: before
the timed run it PUTs one template (a webhook channel with a two-variable JSON body) and upserts
``--recipients`` recipients (one webhook URL each, the receiver's) through
``POST /v1/recipients/batch``, timing those upserts; then it sends ``--count`` items ``{"user_id",
"template", "data"}``, each fanning out to one webhook notification, and checks the receiver by
the notification ids the batch answers returned. With ``webhook`` and ``template`` in one
invocation (``--channel webhook,template --interleave``) the report adds their delivered/s ratio.

    .venv/bin/python benchmarks/e2e.py --count 20000 --workers 2 --channel both --runs 3
    .venv/bin/python benchmarks/e2e.py --broker amqp://guest:guest@127.0.0.1:5672/%2F --runs 3
    .venv/bin/python benchmarks/e2e.py --channel webhook,template --interleave --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import cpu_figures
import httpx
import pg_store
import psutil
import raw_pika
import webhook_ceiling
from prometheus_client.parser import text_string_to_metric_families

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
STOP_WAIT_S = 25.0  # the service's shutdown grace (10 s) plus its own margin, plus ours
CHANNELS = ("webhook", "log", "template")
CHANNEL_SETS = {"both": ("webhook", "log"), "all": CHANNELS}
#: modes whose deliveries reach benchmarks/receiver.py
RECEIVER_MODES = ("webhook", "template")
TEMPLATE_NAME = "bench"
TEMPLATE = {
    "variables": ["order_id", "name"],
    "channels": {
        "webhook": {
            "body": {"text": "Order {{ order_id }} for {{ name }}", "order": "{{ order_id }}"}
        }
    },
}


# --------------------------------------------------------------------------- options and helpers


@dataclass(frozen=True)
class Options:
    count: int
    workers: int
    channels: tuple[str, ...]
    runs: int
    senders: int
    batch: int
    rate: float
    timeout: float
    stall: float
    profile: Path | None
    py_spy_args: tuple[str, ...]
    keep: bool
    env: dict[str, str]
    broker: str | None = None
    ceiling: tuple[int, ...] = ()
    recipients: int = 1000
    interleave: bool = False
    #: copies of the package (``--package DIR``), each run in turn within every run index
    packages: tuple[str, ...] = ()
    #: measure the raw aiohttp client against the receiver before each webhook run
    webhook_ceiling: bool = False
    #: stores (``--store``), each run in turn within every run index: "sqlite" (the data dir's)
    #: or a PostgreSQL server's URL (a fresh schema on it per run)
    stores: tuple[str, ...] = ()


def channel_list(text: str) -> tuple[str, ...]:
    """``webhook``, ``log``, ``template``, ``both`` (webhook, log), ``all``, or a comma list."""
    if text in CHANNEL_SETS:
        return CHANNEL_SETS[text]
    names = tuple(dict.fromkeys(c.strip() for c in text.split(",") if c.strip()))
    unknown = [c for c in names if c not in CHANNELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected one of {', '.join(CHANNELS)}, both, all, or a comma list"
        )
    return names


def parse_args(argv: list[str] | None = None) -> Options:
    p = argparse.ArgumentParser(description="notifyctl end-to-end benchmark")
    p.add_argument("--count", type=int, default=20_000, help="notifications per run")
    p.add_argument("--workers", type=int, default=2, help="worker processes (notifyctl up)")
    p.add_argument(
        "--channel",
        type=channel_list,
        default=CHANNEL_SETS["both"],
        help="webhook, log, template, both (webhook,log), all, or a comma list",
    )
    p.add_argument("--runs", type=int, default=1, help="runs per channel; the median is reported")
    p.add_argument(
        "--interleave",
        action="store_true",
        help="run by run, channels alternating (default: every run of one channel, then the next)",
    )
    p.add_argument(
        "--recipients",
        type=int,
        default=1000,
        help="template mode: recipients upserted before the run (the sends cycle through them)",
    )
    p.add_argument("--senders", type=int, default=4, help="concurrent batch senders")
    p.add_argument("--batch", type=int, default=1000, help="notifications per batch (max 1000)")
    p.add_argument("--rate", type=float, default=0, help="intake rate limit /s; 0 = flat out")
    p.add_argument("--timeout", type=float, default=600, help="longest wait for delivery, s")
    p.add_argument("--stall", type=float, default=60, help="give up after this long w/o progress")
    p.add_argument("--profile", type=Path, help="py-spy each worker into this directory")
    p.add_argument(
        "--py-spy-arg",
        action="append",
        default=[],
        help="extra py-spy record flag, e.g. --py-spy-arg=--gil or --py-spy-arg=--idle",
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    p.add_argument(
        "--webhook-ceiling",
        action="store_true",
        help="before each webhook run: the raw aiohttp client against the same receiver",
    )
    p.add_argument(
        "--package",
        action="append",
        default=[],
        help="a copy of the package (git archive COMMIT notifyctl | tar -x -C DIR) run with"
        " PYTHONPATH=DIR; repeat it to compare copies, run after run, in one invocation",
    )
    p.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the service")
    p.add_argument(
        "--store",
        action="append",
        default=[],
        help="sqlite, or a postgresql:// server URL (a fresh schema per run); repeat it to"
        " compare stores, run after run, in one invocation",
    )
    p.add_argument(
        "--broker", help="amqp:// URL: run the service with RabbitMQ (notifyctl --broker)"
    )
    p.add_argument(
        "--ceiling",
        default="1,2",
        help="with --broker: raw pika consumer process counts for the ceiling ('' = none)",
    )
    a = p.parse_args(argv)
    if not 1 <= a.batch <= 1000:
        p.error("--batch must be between 1 and 1000")
    if a.recipients < 1:
        p.error("--recipients must be at least 1")
    channels = a.channel
    env = dict(item.split("=", 1) for item in a.env)
    ceiling = tuple(int(c) for c in a.ceiling.split(",") if c.strip()) if a.broker else ()
    return Options(
        a.count, a.workers, channels, a.runs, a.senders, a.batch, a.rate, a.timeout, a.stall,
        a.profile, tuple(a.py_spy_arg), a.keep, env, a.broker, ceiling, a.recipients,
        a.interleave, tuple(a.package), a.webhook_ceiling, tuple(a.store),
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port_block(size: int) -> int:
    """A base B such that B+1 .. B+size are free (the workers' monitoring ports)."""
    for _ in range(200):
        base = free_port()
        if base + size < 65_000 and all(port_is_free(base + i) for i in range(1, size + 1)):
            return base
    raise RuntimeError("no free block of ports for the workers' monitoring servers")


def notifyctl_argv() -> list[str]:
    script = Path(sys.executable).parent / "notifyctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "notifyctl"]


def parse_ms(stamp: str) -> float:
    """RFC 3339 (``...Z``) to epoch seconds."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def wait_until(check: Any, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError):
            result = check()
            if result:
                return result
        time.sleep(every)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f} s")


def stop_process(proc: subprocess.Popen[bytes], wait_s: float) -> None:
    """SIGTERM by PID, then SIGKILL if it has not exited in ``wait_s``."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(wait_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --------------------------------------------------------------------------- the processes


@dataclass
class ProcInfo:
    role: str
    pids: set[int] = field(default_factory=set)
    peak_rss: int = 0
    cpu_s: dict[int, float] = field(default_factory=dict)

    @property
    def cpu_total(self) -> float:
        return sum(self.cpu_s.values())


def role_of(cmdline: list[str]) -> str | None:
    if "worker" in cmdline and "--id" in cmdline:
        return f"worker-{cmdline[cmdline.index('--id') + 1]}"
    if "api" in cmdline:
        return "api"
    return None


class Sampler(threading.Thread):
    """Samples RSS and CPU time of the ``up`` process's children every ``every`` seconds."""

    def __init__(self, parent_pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.parent = psutil.Process(parent_pid)
        self.every = every
        self.procs: dict[str, ProcInfo] = {}
        self.extra: dict[int, str] = {}  # processes outside the ``up`` tree, e.g. the receiver
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.every)

    def sample(self) -> None:
        try:
            children = self.parent.children(recursive=True)
        except psutil.Error:
            children = []
        with contextlib.suppress(psutil.Error):  # the supervisor is a service process too
            self._record(self.parent, "up")
        for child in children:
            with contextlib.suppress(psutil.Error):
                self._record(child, role_of(child.cmdline()))
        for pid, role in list(self.extra.items()):
            with contextlib.suppress(psutil.Error):
                self._record(psutil.Process(pid), role)

    def _record(self, proc: psutil.Process, role: str | None) -> None:
        if role is None:
            return
        with proc.oneshot():
            rss = proc.memory_info().rss
            cpu = proc.cpu_times()
        info = self.procs.setdefault(role, ProcInfo(role))
        info.pids.add(proc.pid)
        info.peak_rss = max(info.peak_rss, rss)
        info.cpu_s[proc.pid] = cpu.user + cpu.system

    def cpu_now(self) -> dict[str, float]:
        self.sample()
        own = os.times()
        cpu = {role: info.cpu_total for role, info in self.procs.items()}
        return {**cpu, "driver": own.user + own.system}

    def workers(self) -> list[ProcInfo]:
        return sorted((p for p in self.procs.values() if p.role.startswith("worker")),
                      key=lambda p: int(p.role.split("-")[1]))  # fmt: skip


class Service:
    """``notifyctl up`` in its own data dir; stopped by PID (SIGTERM, SIGKILL on timeout)."""

    def __init__(self, opts: Options, data_dir: Path, channel: str) -> None:
        self.opts = opts
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log_path = data_dir / "deliveries.log"
        self.monitor_base = free_port_block(opts.workers)
        # a consumer group (queue) of this run's own, deleted at the end
        self.group = f"notifyctl-bench-{uuid.uuid4().hex[:12]}" if opts.broker else None
        self.env = {
            **os.environ,
            "NOTIFYCTL_DATA_DIR": str(data_dir),
            "NOTIFYCTL_MONITOR_PORT_BASE": str(self.monitor_base),
            "NOTIFYCTL_LOG_CHANNEL_PATH": str(self.log_path) if channel == "log" else "-",
            **({"RABBITMQ_CONSUMER_GROUP": self.group} if self.group else {}),
            **opts.env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.sampler: Sampler | None = None
        self.spies: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        root = ["--broker", self.opts.broker] if self.opts.broker else []
        argv = [*notifyctl_argv(), *root, "up", "--workers", str(self.opts.workers),
                "--port", str(self.port), "--data-dir", str(self.data_dir)]  # fmt: skip
        with (self.data_dir / "service.log").open("wb") as out:
            self.proc = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
        self.sampler = Sampler(self.proc.pid)
        rabbit = raw_pika.rabbitmq_process() if self.opts.broker else None
        if rabbit is not None:  # the broker's CPU is this benchmark's, not other load
            self.sampler.extra[rabbit.pid] = "rabbitmq"
        self.sampler.start()
        wait_until(self._healthy, 60, "notifyctl up /health")
        if "NOTIFYCTL_STORE_URL" not in self.env and not (self.data_dir / "notifyctl.db").exists():
            raise RuntimeError(f"notifyctl up is not using its store in {self.data_dir}")
        wait_until(self._workers_up, 30, "worker processes")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"notifyctl up exited with {self.proc.returncode}; see service.log")
        return httpx.get(f"{self.url}/health", timeout=2).status_code == 200

    def _workers_up(self) -> bool:
        assert self.sampler is not None
        self.sampler.sample()
        return len(self.sampler.workers()) == self.opts.workers

    def store_calls(self) -> dict[str, int]:
        """Store calls by operation and their total milliseconds, summed over the workers."""
        calls: Counter[str] = Counter()
        for n in range(1, self.opts.workers + 1):
            url = f"http://{HOST}:{self.monitor_base + n}/metrics"
            try:
                text = httpx.get(url, timeout=5).text
            except httpx.HTTPError as exc:
                print(f"  cannot scrape worker {n}: {exc!r}", file=sys.stderr)
                continue
            for family in text_string_to_metric_families(text):
                if family.name != "database_operation_duration_seconds":
                    continue
                for sample in family.samples:
                    operation = sample.labels.get("operation")
                    if sample.name.endswith("_count"):
                        calls[operation] += int(sample.value)
                    elif sample.name.endswith("_sum"):
                        calls[f"{operation} ms"] += int(sample.value * 1000)
        return dict(calls)

    def worker_stats(self) -> list[dict[str, Any]]:
        """Each worker's ``GET /stats`` on its monitoring port (9090+N style: base + N)."""
        out = []
        for n in range(1, self.opts.workers + 1):
            url = f"http://{HOST}:{self.monitor_base + n}/stats"
            try:
                out.append(dict(httpx.get(url, timeout=5).json()))
            except (httpx.HTTPError, ValueError) as exc:
                out.append({"worker": n, "error": repr(exc)})
        return out

    def queue_report(self) -> dict[str, int | None]:
        """Messages left in this run's queues (None: the queue does not exist)."""
        if not (self.opts.broker and self.group):
            return {}
        queues = {"queue": self.group, "dead_letters": f"{self.group}.dead-letters"}
        try:
            return {k: raw_pika.queue_depth(self.opts.broker, q) for k, q in queues.items()}
        except Exception as exc:  # the report must not lose the run
            print(f"  cannot read the queues: {exc!r}", file=sys.stderr)
            return {}

    def delete_queues(self) -> None:
        if not (self.opts.broker and self.group):
            return
        queues = [self.group, f"{self.group}.dead-letters"]
        if raw_pika.delete_quietly(self.opts.broker, queues):  # RabbitMQ down: wait, try again
            raw_pika.wait_for_rabbitmq(self.opts.broker)
            if raw_pika.delete_quietly(self.opts.broker, queues):
                print(f"  could not delete the queues {queues}", file=sys.stderr)

    def broker_drops(self) -> int:
        """Lost connections and failed connects to RabbitMQ in the service's log.

        Other sessions' tests restart the shared RabbitMQ node now and then; a run that saw it is
        marked, since the workers then ran on the sweep alone for a while."""
        path = self.data_dir / "service.log"
        if not self.opts.broker or not path.exists():
            return 0
        text = path.read_text(errors="replace")
        return sum(
            text.count(m) for m in ("RabbitMQ connection closed", "cannot connect to RabbitMQ")
        )

    def start_profilers(self, directory: Path, label: str) -> None:
        """py-spy every worker and the API until they exit (raw stacks, by function).

        Files: ``<directory>/<role kind>/<label>-<role>.txt``.
        """
        assert self.sampler is not None
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        targets = [*self.sampler.workers(), self.sampler.procs["api"]]
        for info in targets:
            kind = info.role.split("-")[0]
            (directory / kind).mkdir(parents=True, exist_ok=True)
            out = directory / kind / f"{label}-{info.role}.txt"
            pid = str(max(info.pids))
            argv = [spy, "record", "--pid", pid, "--rate", "100", "--function", "--threads",
                    "--nonblocking", "--format", "raw", "--output", str(out)]  # fmt: skip
            argv += self.opts.py_spy_args
            quiet = subprocess.DEVNULL
            spy_proc = subprocess.Popen(argv, stdout=quiet, stderr=quiet)
            self.spies.append(spy_proc)
            self.sampler.extra[spy_proc.pid] = f"py-spy-{info.role}"

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, STOP_WAIT_S)
        if self.sampler is not None:
            self.sampler.halt.set()
            self.sampler.join(2)
            self._kill_leftovers()
        for spy in self.spies:  # py-spy exits by itself when its worker does
            try:
                spy.wait(15)
            except subprocess.TimeoutExpired:
                stop_process(spy, 5)

    def _kill_leftovers(self) -> None:
        """Children of ours that outlived a killed ``up`` (normally none)."""
        assert self.sampler is not None
        for info in self.sampler.procs.values():
            for pid in info.pids:
                with contextlib.suppress(psutil.Error):
                    proc = psutil.Process(pid)
                    if role_of(proc.cmdline()) == info.role:
                        proc.kill()

    def status_counts(self) -> dict[str, int]:
        if "NOTIFYCTL_STORE_URL" in self.env:
            return pg_store.status_counts(self.env["NOTIFYCTL_STORE_URL"])
        db = self.data_dir / "notifyctl.db"
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            rows = conn.execute("SELECT status, count(*), sum(attempts) FROM notifications"
                                " GROUP BY status").fetchall()  # fmt: skip
        counts = {status: n for status, n, _ in rows}
        counts["attempts"] = sum(a or 0 for *_, a in rows)
        return counts


class Receiver:
    """benchmarks/receiver.py as a process of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, str(HERE / "receiver.py"), "--port", str(self.port)]
        self.proc = subprocess.Popen(argv)
        wait_until(lambda: self.stats() is not None, 20, "receiver")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/stats", timeout=5).json())

    def dump(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/dump", timeout=30).json())

    def reset(self) -> None:
        httpx.post(f"{self.url}/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)


# --------------------------------------------------------------------------- intake


@dataclass
class Intake:
    accepted: set[str] = field(default_factory=set)
    rejected: int = 0
    #: template mode: messages that did not fan out to exactly one notification, and
    #: notifications stored suppressed at intake (never delivered, so not expected at the sink)
    fanout_other: int = 0
    suppressed: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.accepted) / max(self.finished_at - self.started_at, 1e-9)


def make_item(seq: int, channel: str, dest: str | None) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": f"user-{seq % 997}",
        "channel": channel,
        "title": "benchmark",
        "body": "notifyctl end-to-end benchmark",
        "data": {"seq": seq},
    }
    if dest:
        item["to"] = dest
    return item


def make_template_item(seq: int, users: list[str]) -> dict[str, Any]:
    """A send to a person by template: two variables, a recipient picked round robin."""
    data = {"order_id": f"A-{seq}", "name": f"Customer {seq % 997}"}
    return {"user_id": users[seq % len(users)], "template": TEMPLATE_NAME, "data": data}


def recipient_ids(opts: Options) -> list[str]:
    return [f"bench-user-{i}" for i in range(opts.recipients)]


async def send_batch(
    session: aiohttp.ClientSession, url: str, items: list[dict[str, Any]], intake: Intake
) -> None:
    body = json.dumps({"notifications": items}).encode()
    for attempt in range(5):
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
            if r.status == 200:
                results = (await r.json())["results"]
                break
            if r.status not in (429, 503) or attempt == 4:
                raise RuntimeError(f"batch refused: HTTP {r.status} {await r.text()}")
        await asyncio.sleep(0.2 * (attempt + 1))
    for result in results:
        if result["status"] != 201:
            intake.rejected += 1
        elif "message" in result:  # a send by template: the ids its fan-out stored
            notifications = result["message"]["notifications"]
            if len(notifications) != 1:
                intake.fanout_other += 1
            for n in notifications:
                if n["status"] == "suppressed":
                    intake.suppressed += 1
                else:
                    intake.accepted.add(n["id"])
        else:
            intake.accepted.add(result["notification"]["id"])


async def send_all(
    opts: Options, api_url: str, channel: str, dest: str | None, users: list[str] | None = None
) -> Intake:
    url = f"{api_url}/v1/notifications/batch"
    starts = list(range(0, opts.count, opts.batch))
    queue: asyncio.Queue[int] = asyncio.Queue()
    for start in starts:
        queue.put_nowait(start)
    intake = Intake()
    timeout = aiohttp.ClientTimeout(total=120)

    async def sender(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            start = queue.get_nowait()
            if opts.rate > 0:  # open model: batch k goes out at k * batch / rate
                await asyncio.sleep(max(0.0, intake.started_at + start / opts.rate - time.time()))
            stop = min(start + opts.batch, opts.count)
            if users is not None:
                items = [make_template_item(seq, users) for seq in range(start, stop)]
            else:
                items = [make_item(seq, channel, dest) for seq in range(start, stop)]
            await send_batch(session, url, items, intake)

    async with aiohttp.ClientSession(timeout=timeout) as session:
        intake.started_at = time.time()
        await asyncio.gather(*(sender(session) for _ in range(opts.senders)))
        intake.finished_at = time.time()
    return intake


@dataclass
class Upserts:
    """The template mode's setup: recipients upserted through POST /v1/recipients/batch."""

    recipients: int = 0
    failed: int = 0
    seconds: float = 0.0
    api_cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.recipients / max(self.seconds, 1e-9)

    @property
    def api_us(self) -> float:
        return 1e6 * self.api_cpu_s / max(self.recipients, 1)


def put_template(api_url: str) -> None:
    r = httpx.put(f"{api_url}/v1/templates/{TEMPLATE_NAME}", json=TEMPLATE, timeout=30)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"PUT template refused: HTTP {r.status_code} {r.text}")


async def upsert_recipients(opts: Options, api_url: str, users: list[str], dest: str) -> Upserts:
    """Every user with one webhook URL (the receiver's), ``--batch`` per request, ``--senders``
    requests at a time; timed from the first request to the last answer."""
    url = f"{api_url}/v1/recipients/batch"
    batches = [users[i : i + opts.batch] for i in range(0, len(users), opts.batch)]
    done = Upserts()

    async def post(session: aiohttp.ClientSession, batch: list[str]) -> None:
        body = json.dumps({"recipients": [{"user_id": u, "webhooks": [dest]} for u in batch]})
        for attempt in range(5):
            async with session.post(
                url, data=body.encode(), headers={"content-type": "application/json"}
            ) as r:
                if r.status == 200:
                    results = (await r.json())["results"]
                    break
                if r.status not in (429, 503) or attempt == 4:
                    raise RuntimeError(f"recipient batch refused: HTTP {r.status} {await r.text()}")
            await asyncio.sleep(0.2 * (attempt + 1))
        for result in results:
            if result["status"] in (200, 201):
                done.recipients += 1
            else:
                done.failed += 1
                if done.failed == 1:
                    print(f"  recipient refused: {result}", file=sys.stderr)

    async def sender(session: aiohttp.ClientSession) -> None:
        while batches:
            await post(session, batches.pop(0))

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        started = time.monotonic()
        await asyncio.gather(*(sender(session) for _ in range(opts.senders)))
        done.seconds = time.monotonic() - started
    return done


def prepare_template_mode(
    opts: Options, service: Service, receiver: Receiver | None
) -> tuple[list[str], Upserts]:
    """The template and the recipients, before the timed run and the profilers (with the API's
    CPU for them)."""
    assert service.sampler is not None and receiver is not None
    dest = f"{receiver.url}/hook"
    put_template(service.url)
    users = recipient_ids(opts)
    api_before = service.sampler.cpu_now().get("api", 0.0)
    upserts = asyncio.run(upsert_recipients(opts, service.url, users, dest))
    upserts.api_cpu_s = service.sampler.cpu_now().get("api", 0.0) - api_before
    if upserts.failed:
        raise RuntimeError(f"{upserts.failed} recipients refused; see above")
    print(f"  {upserts.recipients:,} recipients upserted in {upserts.seconds:.2f} s:"
          f" {upserts.rate:,.0f}/s, API CPU {upserts.api_us:,.0f} us/recipient",
          file=sys.stderr, flush=True)  # fmt: skip
    return users, upserts


# --------------------------------------------------------------------------- delivery


@dataclass
class Deliveries:
    """What reached the destination: id, delivery time and created_at (epoch s) per delivery."""

    ids: list[str]
    delivered_at: list[float]
    created_at: list[float]


def wait_for(progress: Any, target: int, opts: Options) -> None:
    """Poll ``progress()`` (delivered so far) until ``target``, a stall, or the timeout."""
    deadline = time.monotonic() + opts.timeout
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = progress()
        if done >= target:
            return
        if done != last:
            last, last_change = done, time.monotonic()
        elif time.monotonic() - last_change > opts.stall:
            print(f"  stalled at {done}/{target} for {opts.stall:.0f} s", file=sys.stderr)
            return
        time.sleep(0.1)
    print(f"  timed out at {progress()}/{target}", file=sys.stderr)


def webhook_deliveries(receiver: Receiver) -> Deliveries:
    dump = receiver.dump()
    created = [parse_ms(c) if c else float("nan") for c in dump["created_at"]]
    return Deliveries(dump["ids"], dump["received_at"], created)


class LogTail:
    """Counts the lines of the log channel's file as they are appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def count(self) -> int:
        if not self.path.exists():
            return 0
        with self.path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        self.lines += chunk.count(b"\n", 0, complete)
        return self.lines


def log_deliveries(path: Path) -> Deliveries:
    ids, delivered, created = [], [], []
    with path.open() as f:
        for line in f:
            record = json.loads(line)
            ids.append(record["id"])
            delivered.append(parse_ms(record["delivered_at"]))
            created.append(parse_ms(record["created_at"]))
    return Deliveries(ids, delivered, created)


# --------------------------------------------------------------------------- one run


@dataclass
class RunResult:
    channel: str
    count: int
    accepted: int
    intake_per_s: float
    delivered: int
    delivered_per_s: float
    drain_per_s: float
    during_intake: int
    p50_ms: float
    p99_ms: float
    duplicates: int
    lost: int
    unknown: int
    worker_rss_mb: list[float]
    api_rss_mb: float
    cpu_s: dict[str, float]
    machine_busy_pct: float
    load_before: float
    window_s: float
    restarts: int
    statuses: dict[str, int]
    wall_s: float
    worker_processed: list[int] = field(default_factory=list)
    claimed_by_wakeup: list[str] = field(default_factory=list)
    #: the workers' store calls by operation (their /metrics), over the whole run
    store_calls: dict[str, int] = field(default_factory=dict)
    #: with --broker: messages left in the run's queues at the end, peak depth during the run
    queues: dict[str, int | None] = field(default_factory=dict)
    queue_peak: int = -1
    queue_at_intake_end: int = -1
    broker_drops: int = 0
    #: template mode: the recipients' upserts before the run; fan-out anomalies at intake
    upserts: Upserts | None = None
    fanout_other: int = 0
    suppressed: int = 0
    #: --webhook-ceiling: the raw client against the same receiver just before this run
    ceiling: webhook_ceiling.Ceiling | None = None


def summarize(channel: str, opts: Options, intake: Intake, got: Deliveries) -> dict[str, Any]:
    first: dict[str, tuple[float, float]] = {}
    for nid, at, created in zip(got.ids, got.delivered_at, got.created_at, strict=True):
        if nid not in first:
            first[nid] = (at, created)
    known = {nid: v for nid, v in first.items() if nid in intake.accepted}
    latencies = [(at - created) * 1000 for at, created in known.values()]
    last = max((at for at, _ in known.values()), default=intake.started_at)
    after = sum(1 for at, _ in known.values() if at > intake.finished_at)
    drain_s = last - intake.finished_at
    return {
        "channel": channel, "count": opts.count, "accepted": len(intake.accepted),
        "intake_per_s": intake.rate, "delivered": len(known),
        "delivered_per_s": len(known) / max(last - intake.started_at, 1e-9),
        "drain_per_s": after / drain_s if drain_s > 0.2 else float("nan"),
        "during_intake": len(known) - after,
        "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "duplicates": len(got.ids) - len(first), "lost": len(intake.accepted - known.keys()),
        "unknown": len(first) - len(known), "wall_s": last - intake.started_at,
        "fanout_other": intake.fanout_other, "suppressed": intake.suppressed,
    }  # fmt: skip


def run_once(opts: Options, channel: str, index: int) -> RunResult:
    data_dir = Path(tempfile.mkdtemp(prefix=f"notifyctl-bench-{channel}-"))
    service = Service(opts, data_dir, channel)
    receiver = Receiver() if channel in RECEIVER_MODES else None
    try:
        ceiling = None
        if receiver is not None:
            receiver.start()
            if channel == "webhook" and opts.webhook_ceiling:
                ceiling = webhook_ceiling.measure(f"{receiver.url}/hook", opts.count)
                receiver.reset()
        service.start()
        people = prepare_template_mode(opts, service, receiver) if channel == "template" else None
        if opts.profile is not None:
            service.start_profilers(opts.profile, f"{channel}-run{index}")
        summary = measure(opts, channel, service, receiver, people)
        stats = service.worker_stats()
        summary["worker_processed"] = [s.get("processed", -1) for s in stats]
        summary["claimed_by_wakeup"] = [
            f"{s.get('claimedByWakeup', 0)}/{s.get('claimed', 0)}" for s in stats
        ]
        summary["queues"] = service.queue_report()
        summary["store_calls"] = service.store_calls()
        summary["ceiling"] = ceiling
    finally:
        service.stop()
        service.delete_queues()
        if receiver is not None:
            receiver.stop()
    return finish_result(service, summary, data_dir, opts.keep)


class QueueWatcher(threading.Thread):
    """Samples the depth (ready messages) of the run's queue every ``every`` seconds."""

    def __init__(self, url: str, queue: str, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.url, self.queue, self.every = url, queue, every
        self.depths: list[tuple[float, int]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        try:
            with raw_pika.connect(self.url) as conn:
                channel = conn.channel()
                while not self.halt.is_set():
                    ok = channel.queue_declare(self.queue, passive=True)
                    self.depths.append((time.time(), int(ok.method.message_count)))
                    conn.sleep(self.every)
        except Exception as exc:  # the watcher is a diagnostic: never lose the run for it
            print(f"  queue watcher stopped: {exc!r}", file=sys.stderr)

    def peak(self) -> int:
        return max((d for _, d in self.depths), default=-1)

    def at(self, when: float) -> int:
        """The depth sampled last before ``when``."""
        before = [d for t, d in self.depths if t <= when]
        return before[-1] if before else -1


def measure(
    opts: Options,
    channel: str,
    service: Service,
    receiver: Receiver | None,
    people: tuple[list[str], Upserts] | None = None,
) -> dict[str, Any]:
    """Send, wait for delivery; CPU seconds per process and machine busy % over that window.
    ``people``: the template mode's recipients (sent to round robin) and their upserts."""
    assert service.sampler is not None
    if receiver is not None and receiver.proc is not None:
        service.sampler.extra[receiver.proc.pid] = "receiver"
    dest = f"{receiver.url}/hook" if receiver is not None else None
    users, upserts = people if people is not None else (None, None)
    load_before = os.getloadavg()[0]
    watcher = QueueWatcher(opts.broker, service.group) if opts.broker and service.group else None
    if watcher is not None:
        watcher.start()
    cpu_before, busy_before, t0 = service.sampler.cpu_now(), busy_core_s(), time.monotonic()
    intake = asyncio.run(send_all(opts, service.url, channel, dest, users))
    target = len(intake.accepted)
    if receiver is not None:
        wait_for(lambda: int(receiver.stats()["unique"]), target, opts)
    else:
        wait_for(LogTail(service.log_path).count, target, opts)
    cpu_after, busy_after, t1 = service.sampler.cpu_now(), busy_core_s(), time.monotonic()
    time.sleep(1.0)  # let a late duplicate arrive, if there is one
    got = webhook_deliveries(receiver) if receiver else log_deliveries(service.log_path)
    summary = summarize(channel, opts, intake, got)
    summary["upserts"] = upserts
    summary["cpu_s"] = {r: cpu_after[r] - cpu_before.get(r, 0.0) for r in sorted(cpu_after)}
    cores = psutil.cpu_count() or 1
    busy = busy_after - busy_before
    summary["machine_busy_pct"] = 100 * busy / (cores * (t1 - t0))
    summary["cpu_s"]["others"] = busy - sum(summary["cpu_s"].values())  # not ours: noise
    summary["load_before"] = load_before
    summary["window_s"] = t1 - t0
    if watcher is not None:
        watcher.halt.set()
        watcher.join(5)
        summary["queue_peak"] = watcher.peak()
        summary["queue_at_intake_end"] = watcher.at(intake.finished_at)
    return summary


def busy_core_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores)."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def finish_result(
    service: Service, summary: dict[str, Any], data_dir: Path, keep: bool
) -> RunResult:
    assert service.sampler is not None
    procs = service.sampler.procs
    workers = service.sampler.workers()
    statuses = service.status_counts()
    summary["broker_drops"] = service.broker_drops()
    if keep:
        print(f"  kept {data_dir}", file=sys.stderr)
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
    return RunResult(
        **summary,
        worker_rss_mb=[w.peak_rss / 2**20 for w in workers],
        api_rss_mb=procs["api"].peak_rss / 2**20 if "api" in procs else float("nan"),
        restarts=sum(len(info.pids) - 1 for info in procs.values()),
        statuses=statuses,
    )


# --------------------------------------------------------------------------- report


def median_of(results: list[RunResult]) -> RunResult:
    """The run with the median delivered/s (its other figures belong to that same run)."""
    ordered = sorted(results, key=lambda r: r.delivered_per_s)
    return ordered[(len(ordered) - 1) // 2]


def describe(r: RunResult) -> str:
    rss = ", ".join(f"{mb:.0f}" for mb in r.worker_rss_mb)
    cpu = ", ".join(f"{role} {s:.1f}" for role, s in r.cpu_s.items())
    return (
        f"  {r.channel}: accepted {r.accepted}/{r.count} at {r.intake_per_s:,.0f}/s; delivered "
        f"{r.delivered} at {r.delivered_per_s:,.0f}/s in {r.wall_s:.1f} s; p50 {r.p50_ms:,.0f} ms"
        f" p99 {r.p99_ms:,.0f} ms; dup {r.duplicates} lost {r.lost} unknown {r.unknown};"
        f" {r.during_intake} delivered during intake, then {r.drain_per_s:,.0f}/s;"
        f" worker RSS MB [{rss}] api {r.api_rss_mb:.0f};"
        f" CPU s: {cpu}; machine busy {r.machine_busy_pct:.0f}% (load before"
        f" {r.load_before:.1f}); restarts {r.restarts};"
        f" store {r.statuses}; processed per worker (/stats) {r.worker_processed},"
        f" claimed by wake-up/claimed {r.claimed_by_wakeup};"
        f" worker store calls {r.store_calls}"
        + (
            f"; recipients upserted {r.upserts.recipients:,} in {r.upserts.seconds:.2f} s"
            f" ({r.upserts.rate:,.0f}/s, API CPU {r.upserts.api_us:,.0f} us each); messages"
            f" not fanned out to exactly one notification {r.fanout_other}, suppressed at"
            f" intake {r.suppressed}"
            if r.upserts is not None
            else ""
        )
        + (
            f"; queue depth peak {r.queue_peak}, at intake end {r.queue_at_intake_end},"
            f" left {r.queues}; RabbitMQ connections lost {r.broker_drops}"
            if r.queues
            else ""
        )
    )


def table(rows: dict[str, list[RunResult]], opts: Options) -> str:
    head = (
        "| channel | runs | accepted/s | delivered/s | e2e p50 ms | e2e p99 ms | duplicates"
        " | lost | worker peak RSS MB | delivered/s per run | other load, cores |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|"
    )
    lines = [head]
    for channel, results in rows.items():
        m = median_of(results)
        rss = " / ".join(f"{mb:.0f}" for mb in m.worker_rss_mb)
        per_run = ", ".join(
            f"{r.delivered_per_s:,.0f}{' (broker restarted)' if r.broker_drops else ''}"
            for r in results
        )
        intake = statistics.median(r.intake_per_s for r in results)
        noise = ", ".join(f"{max(0.0, r.cpu_s.get('others', 0) / r.window_s):.1f}" for r in results)
        lines.append(
            f"| {channel} | {len(results)} | {intake:,.0f}"
            f" | {m.delivered_per_s:,.0f} | {m.p50_ms:,.0f} | {m.p99_ms:,.0f}"
            f" | {max(r.duplicates for r in results)} | {max(r.lost for r in results)}"
            f" | {rss} | {per_run} | {noise} |"
        )
    broker = f" broker {raw_pika.safe_url(opts.broker)};" if opts.broker else " no broker;"
    note = (
        f"\n{opts.count:,} notifications per run, {opts.workers} workers,{broker}"
        f" {opts.senders} senders,"
        f" batches of {opts.batch}; rate {'unlimited' if not opts.rate else f'{opts.rate:g}/s'}."
        " delivered/s, p50, p99 and RSS are those of the median run by delivered/s;"
        " duplicates and lost are the worst run's. Other load: CPU used by processes that are"
        " not this benchmark's, in cores, during each run (the machine has"
        f" {psutil.cpu_count()})."
    )
    return "\n".join(lines) + note


def template_report(rows: dict[str, list[RunResult]]) -> str:
    """Recipient upserts against 5,000/s; template against plain webhook delivered/s."""
    out = []
    templated = rows.get("template", [])
    upserts = [r.upserts for r in templated if r.upserts is not None]
    if upserts:
        rate = statistics.median(u.rate for u in upserts)
        per_run = ", ".join(f"{u.rate:,.0f}" for u in upserts)
        api_us = statistics.median(u.api_us for u in upserts)
        verdict = "meets" if rate >= 5000 else "misses"
        out.append(
            f"Recipient upserts ({upserts[0].recipients:,} per run, POST /v1/recipients/batch):"
            f" median {rate:,.0f}/s (runs {per_run}); API CPU {api_us:,.0f} us/recipient;"
            f" {verdict} the 5,000/s target."
        )
        anomalies = sum(r.fanout_other + r.suppressed for r in templated)
        if anomalies:
            out.append(f"Fan-out anomalies (not exactly one notification, or suppressed): "
                       f"{anomalies}.")  # fmt: skip
    plain = rows.get("webhook", [])
    if templated and plain:
        t = statistics.median(r.delivered_per_s for r in templated)
        w = statistics.median(r.delivered_per_s for r in plain)
        ratio = t / w
        verdict = "within" if ratio >= 0.8 else "outside"
        pairs = ", ".join(
            f"{a.delivered_per_s / b.delivered_per_s:.2f}"
            for a, b in zip(templated, plain, strict=False)
        )
        out.append(
            f"Template / plain webhook delivered/s: {t:,.0f} / {w:,.0f} = {ratio:.2f}"
            f" (run by run: {pairs}); {verdict} the 20 % target (>= 0.80)."
        )
    return "\n".join(out)


def thread_kind(thread: str) -> str:
    """py-spy --threads names the thread first: ``thread (TID): NAME``."""
    if thread.endswith("MainThread"):
        return "main thread (the event loop and everything on it)"
    if "AnyIO worker thread" in thread:
        return "AnyIO worker threads (store calls: SQLite)"
    return f"other threads ({thread.partition(': ')[2] or thread})"


#: leaf frames that are waits, not work (py-spy's idle detection misses some of them)
WAITS = (
    "Condition.wait ",
    "EpollSelector.select ",
    "Thread._wait_for_tstate_lock ",
    "PollPoller.poll ",  # pika's SelectConnection waiting for its socket
)


def read_samples(directory: Path, pattern: str) -> list[tuple[str, list[str], int]]:
    """(thread kind, frames without the thread frame, count) from py-spy raw files."""
    samples = []
    for file in sorted(directory.glob(pattern)):
        for line in file.read_text().splitlines():
            stack, _, count_text = line.rpartition(" ")
            if not stack or not count_text.isdigit():
                continue
            thread, *frames = stack.split(";")
            if frames:
                kind = "waiting" if frames[-1].startswith(WAITS) else thread_kind(thread)
                samples.append((kind, frames, int(count_text)))
    return samples


def profile_top(directory: Path, pattern: str = "*.txt", limit: int = 15) -> str:
    """Where the sampled time goes: per thread kind, self time, inclusive time."""
    samples = read_samples(directory, pattern)
    total = sum(n for *_, n in samples)
    if not total:
        return "no py-spy samples"
    kinds: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    by_kind: dict[str, Counter[str]] = {}
    for kind, frames, count in samples:
        kinds[kind] += count
        if kind == "waiting":
            continue
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
            by_kind.setdefault(kind, Counter())[frame] += count
    # frames under nearly every sample of their thread (entry points, the loop) say nothing
    common = {f for k, c in by_kind.items() for f, n in c.items() if n >= 0.8 * kinds[k]}
    out = [f"{total} samples at 100 Hz over {directory.name} processes; % of all samples"]
    out += [f"{100 * n / total:5.1f}%  {kind}" for kind, n in kinds.most_common()]
    out += ["self%  function (own time)"]
    out += [f"{100 * n / total:5.1f}  {f}" for f, n in own.most_common(limit)]
    out += ["incl%  function (with callees)"]
    top = [(f, n) for f, n in inclusive.most_common() if f not in common][:limit]
    out += [f"{100 * n / total:5.1f}  {f}" for f, n in top]
    return "\n".join(out)


def ceiling_table(drains: dict[int, list[raw_pika.Drain]]) -> str:
    lines = [
        "| raw pika consumers | runs | consume/s (median) | per run | other load, cores |",
        "|---:|---:|---:|---|---|",
    ]
    for consumers, runs in drains.items():
        median = statistics.median(d.rate for d in runs)
        per_run = ", ".join(f"{d.rate:,.0f}" for d in runs)
        noise = ", ".join(f"{d.other_cores:.1f}" for d in runs)
        lines.append(f"| {consumers} | {len(runs)} | {median:,.0f} | {per_run} | {noise} |")
    return "\n".join(lines)


def ratio_table(rows: dict[str, list[RunResult]], drains: dict[int, list[raw_pika.Drain]]) -> str:
    """delivered/s against the ceiling: the best raw median, and run by run (same index)."""
    ceiling = max(statistics.median(d.rate for d in runs) for runs in drains.values())
    lines = [
        "| channel | delivered/s (median run) | ceiling: best raw median | ratio | ratio per run |",
        "|---|---:|---:|---:|---|",
    ]
    for channel, results in rows.items():
        m = median_of(results)
        per_run = []
        for i, r in enumerate(results):
            best = max(runs[i].rate for runs in drains.values() if i < len(runs))
            per_run.append(f"{100 * r.delivered_per_s / best:.0f} %")
        lines.append(
            f"| {channel} | {m.delivered_per_s:,.0f} | {ceiling:,.0f}"
            f" | {100 * m.delivered_per_s / ceiling:.0f} % | {', '.join(per_run)} |"
        )
    return "\n".join(lines)


def run_all(opts: Options) -> tuple[dict[str, list[RunResult]], dict[int, list[raw_pika.Drain]]]:
    """Without a broker: channel by channel. With one: run by run, the raw pika ceiling first, so
    that the ceiling and the service share each stretch of the machine's noise."""
    rows: dict[str, list[RunResult]] = {}
    drains: dict[int, list[raw_pika.Drain]] = {}
    if opts.broker:
        order = [(c, i) for i in range(1, opts.runs + 1) for c in ("ceiling", *opts.channels)]
    elif opts.interleave:
        order = [(c, i) for i in range(1, opts.runs + 1) for c in opts.channels]
    else:
        order = [(c, i) for c in opts.channels for i in range(1, opts.runs + 1)]
    for channel, index in order:
        if channel == "ceiling":
            assert opts.broker
            for consumers in opts.ceiling:
                print(f"raw pika x{consumers} run {index}/{opts.runs} ...", file=sys.stderr)
                drain = raw_pika.drain(opts.broker, opts.count, consumers)
                print(raw_pika.describe(drain), file=sys.stderr, flush=True)
                drains.setdefault(consumers, []).append(drain)
            continue
        for package in opts.packages or (None,):
            for store in opts.stores or (None,):
                label = channel if package is None else f"{channel} @ {package}"
                label += "" if store is None else f" on {store.split(':', 1)[0]}"
                print(f"{label} run {index}/{opts.runs} ...", file=sys.stderr, flush=True)
                with on_store(with_package(opts, package), store) as run_opts:
                    result = run_once(run_opts, channel, index)
                print(describe(result), file=sys.stderr, flush=True)
                rows.setdefault(label, []).append(result)
    return rows, drains


@contextlib.contextmanager
def on_store(opts: Options, store: str | None) -> Iterator[Options]:
    """``opts`` for a run on ``store``: SQLite in the run's data dir, or a fresh schema on a
    PostgreSQL server, dropped after the run."""
    if store is None or store == "sqlite":
        yield opts
        return
    with pg_store.schema_of_its_own(store) as url:
        yield dataclasses.replace(opts, env={**opts.env, "NOTIFYCTL_STORE_URL": url})


def with_package(opts: Options, package: str | None) -> Options:
    """The service runs ``package`` (a copy of ``notifyctl/``'s parent) ahead of the install."""
    if package is None:
        return opts
    return dataclasses.replace(opts, env={**opts.env, "PYTHONPATH": str(Path(package).resolve())})


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    rows, drains = run_all(opts)
    print(cpu_figures.headline(rows, broker=bool(opts.broker)))
    print()
    print(table(rows, opts))
    ceilings = webhook_ceiling.report(rows)
    if ceilings:
        print(f"\nRaw client ceiling (aiohttp, one process, {webhook_ceiling.CONCURRENCY} in"
              " flight, the same receiver, just before each run):\n")  # fmt: skip
        print(ceilings)
    extra = template_report(rows)
    if extra:
        print()
        print(extra)
    if drains:
        print(f"\nRaw RabbitMQ consume ceiling in the same invocation (raw_pika.py:"
              f" {opts.count:,} persistent messages, pika SelectConnection, prefetch 10,"
              " manual ack):\n")  # fmt: skip
        print(ceiling_table(drains))
        print()
        print(ratio_table(rows, drains))
    if opts.profile is not None:
        for channel in opts.channels:
            for kind in ("worker", "api"):
                print(f"\npy-spy, {channel} run(s), {kind} processes ({opts.profile / kind}):")
                print(profile_top(opts.profile / kind, f"{channel}-run*.txt"))


if __name__ == "__main__":
    main()
