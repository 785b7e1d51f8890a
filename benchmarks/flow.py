"""Flow control benchmark (issue 17): a fast destination alone, then beside a slow and a dead one.

Each run starts ``notifyctl up --workers W`` on a fresh SQLite data dir (no broker, as ``e2e.py``,
whose ``Service`` it uses) and one receiver process (this script with ``--serve``) that serves
four webhook endpoints on four ports of 127.0.0.1, i.e. four destinations (a destination is
scheme + host + port):

- FAST: 200 at once (``receiver.py``'s app as it is);
- SLOW: 200 after ``--slow-delay`` s (10); the request is recorded on arrival;
- DEAD: 503 to every request (the service counts a 5xx as the destination's failure);
- OTHER: a second FAST, used only by mode C.

Mode A (``alone``): ``--count`` fast notifications. Mode B (``mixed``): the same fast ones plus
``--slow`` and ``--dead`` notifications, shuffled together into the same batches. Mode C
(``control``, optional: ``--modes alone,mixed,control``): the same fast ones plus as many extra
notifications as B adds, all to OTHER, a healthy destination; it separates the cost of handling
more notifications on the same cores from the cost of their destinations being slow or dead. The
modes alternate run by run (A1 B1 A2 B2 ...) so that they share the machine's noise.

Measured per run: the fast destination's delivered/s (unique fast ids counted at the receiver, from
the first accepted batch to the last fast delivery), its duplicates and lost; CPU per fast
notification per role (API, workers, receiver, this driver) over the same window; and, in mode B,
what happened to slow and dead when the last fast one arrived (and again after ``--linger`` s):
requests that reached them, the store's statuses and attempts per destination, the workers'
``worker_circuit_deferred_total`` and ``worker_circuits_open`` (``/metrics``) and
``notifyctl inspect destinations --json``; the workers' claims won per accepted notification (1.0
when nothing is given back and claimed again). Reported: per-run values, medians, and B/A against
the issue's target (>= 0.90), plus C/A and B/C with mode C.

    .venv/bin/python benchmarks/flow.py --runs 3
    .venv/bin/python benchmarks/flow.py --runs 1 --env NOTIFYCTL_DESTINATION_CONCURRENCY=20
    .venv/bin/python benchmarks/flow.py --runs 3 --modes alone,mixed,control
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import e2e
import httpx
import psutil
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families
from receiver import Recorder, build_app

HOST = e2e.HOST
#: "other" is a second fast destination (mode C, the control)
KINDS = ("fast", "slow", "dead", "other")
MODES = ("alone", "mixed", "control")
LABELS = {"alone": "A alone", "mixed": "B mixed", "control": "C control"}
TARGET = 0.90
#: settings printed with the report (their defaults come from the package that runs)
SHOWN_SETTINGS = (
    "NOTIFYCTL_WORKER_CONCURRENCY", "NOTIFYCTL_DESTINATION_CONCURRENCY", "WORKER_BATCH_SIZE",
    "NOTIFYCTL_BREAKER_FAILURES", "NOTIFYCTL_BREAKER_FAILURE_PERCENT",
    "NOTIFYCTL_BREAKER_WINDOW_S", "NOTIFYCTL_BREAKER_MIN_REQUESTS", "NOTIFYCTL_BREAKER_COOLDOWN_S",
    "NOTIFYCTL_BREAKER_MAX_COOLDOWN_S", "NOTIFYCTL_WEBHOOK_TIMEOUT_MS", "NOTIFYCTL_MAX_ATTEMPTS",
    "NOTIFYCTL_RETRY_BASE_MS", "NOTIFYCTL_RETRY_MAX_MS",
)  # fmt: skip
#: worker metrics read for the report, summed over the workers (circuits_open: per worker too)
METRICS = (
    "worker_circuit_deferred_total", "worker_circuits_open", "worker_retries_total",
    "worker_dead_letters_total", "worker_claims_total",
)  # fmt: skip


# --------------------------------------------------------------------------- the receiver process


def flow_app(kind: str, delay: float) -> web.Application:
    """``receiver.py``'s app (records each POST's ``webhook-id`` on arrival; ``/stats``,
    ``/dump``) plus ``GET /flow``; SLOW answers 200 after ``delay`` s, DEAD answers 503."""
    recorder = Recorder()
    app = build_app(recorder)
    state = {"in_flight": 0, "peak_in_flight": 0, "answered": 0, "client_gone": 0}

    @web.middleware
    async def behave(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.method != "POST" or request.path == "/reset":
            return await handler(request)  # type: ignore[no-any-return]
        state["in_flight"] += 1
        state["peak_in_flight"] = max(state["peak_in_flight"], state["in_flight"])
        try:
            response = await handler(request)  # records the arrival
            if kind == "dead":
                return web.Response(status=503, text="dead destination (benchmark)")
            await asyncio.sleep(delay)
            transport = request.transport
            gone = transport is None or transport.is_closing()  # the client timed out
            state["client_gone" if gone else "answered"] += 1
            return response  # type: ignore[no-any-return]
        finally:
            state["in_flight"] -= 1

    async def flow(request: web.Request) -> web.Response:
        return web.json_response({"kind": kind, **recorder.stats(), **state})

    if kind in ("slow", "dead"):  # FAST (and OTHER) stay exactly receiver.py's app
        app.middlewares.append(behave)
    app.router.add_get("/flow", flow)
    return app


async def serve(ports: list[int], delay: float) -> None:
    runners = []
    for kind, port in zip(KINDS, ports, strict=True):
        runner = web.AppRunner(flow_app(kind, delay), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, HOST, port, backlog=1024).start()
        runners.append(runner)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for runner in runners:
        await runner.cleanup()


class FlowReceiver:
    """This script with ``--serve``: FAST, SLOW and DEAD on three ports, one process."""

    def __init__(self, slow_delay: float) -> None:
        ports: list[int] = []
        while len(ports) < len(KINDS):
            port = e2e.free_port()
            if port not in ports:
                ports.append(port)
        self.ports = dict(zip(KINDS, ports, strict=True))
        self.slow_delay = slow_delay
        self.proc: subprocess.Popen[bytes] | None = None

    def base(self, kind: str) -> str:
        return f"http://{HOST}:{self.ports[kind]}"

    def start(self) -> None:
        ports = ",".join(str(self.ports[k]) for k in KINDS)
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", ports,
                "--slow-delay", str(self.slow_delay)]  # fmt: skip
        self.proc = subprocess.Popen(argv)
        e2e.wait_until(lambda: all(self.stats(k) for k in KINDS), 20, "flow receiver")

    def stats(self, kind: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base(kind)}/flow", timeout=5).json())

    def dump(self, kind: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base(kind)}/dump", timeout=30).json())

    def stop(self) -> None:
        if self.proc is not None:
            e2e.stop_process(self.proc, 10)


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    count: int
    slow: int
    dead: int
    slow_delay: float
    runs: int
    workers: int
    senders: int
    batch: int
    timeout: float
    stall: float
    linger: float
    env: dict[str, str]
    keep: bool
    json_path: Path | None
    seed: int
    modes: tuple[str, ...] = ("alone", "mixed")

    def e2e_options(self) -> e2e.Options:
        """What ``e2e.Service`` and ``e2e.wait_for`` read."""
        return e2e.Options(
            self.count, self.workers, ("webhook",), self.runs, self.senders, self.batch, 0.0,
            self.timeout, self.stall, None, (), self.keep, self.env,
        )  # fmt: skip


def parse_args(argv: list[str] | None = None) -> Options | tuple[list[int], float]:
    p = argparse.ArgumentParser(description="notifyctl flow control benchmark (issue 17)")
    p.add_argument("--count", type=int, default=20_000, help="fast notifications per run")
    p.add_argument("--slow", type=int, default=2_000, help="slow notifications (mode B)")
    p.add_argument("--dead", type=int, default=2_000, help="dead notifications (mode B)")
    p.add_argument("--slow-delay", type=float, default=10.0, help="SLOW's answer delay, s")
    p.add_argument("--runs", type=int, default=3, help="runs per mode, alternating A B A B ...")
    p.add_argument("--workers", type=int, default=2, help="worker processes (notifyctl up)")
    p.add_argument("--senders", type=int, default=4, help="concurrent batch senders")
    p.add_argument("--batch", type=int, default=1000, help="notifications per batch (max 1000)")
    p.add_argument("--timeout", type=float, default=300, help="longest wait for the fast, s")
    p.add_argument("--stall", type=float, default=60, help="give up after this long w/o progress")
    p.add_argument(
        "--linger", type=float, default=15, help="mode B: look at slow and dead again after this"
    )
    p.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the service")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    p.add_argument("--json", type=Path, dest="json_path", help="write every run here as JSON")
    p.add_argument("--seed", type=int, default=17, help="the shuffle of the batches")
    p.add_argument(
        "--modes",
        default="alone,mixed",
        help="comma list of alone (A), mixed (B), control (C: the fast plus --slow + --dead"
        " more to a second fast destination); run in this order within each run index",
    )
    p.add_argument("--serve", help=argparse.SUPPRESS)  # the receiver process: FAST,SLOW,DEAD ports
    a = p.parse_args(argv)
    if a.serve:
        return [int(x) for x in a.serve.split(",")], a.slow_delay
    if not 1 <= a.batch <= 1000:
        p.error("--batch must be between 1 and 1000")
    env = dict(item.split("=", 1) for item in a.env)
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    if not modes or any(m not in MODES for m in modes):
        p.error(f"--modes: a comma list of {', '.join(MODES)}")
    return Options(
        a.count, a.slow, a.dead, a.slow_delay, a.runs, a.workers, a.senders, a.batch, a.timeout,
        a.stall, a.linger, env, a.keep, a.json_path, a.seed, modes,
    )  # fmt: skip


def settings_shown(opts: Options) -> dict[str, str]:
    """The effective value of each setting in SHOWN_SETTINGS: --env, else the environment, else
    the default of the package the service runs (read in a subprocess with the service's
    PYTHONPATH, so a pinned package's defaults are the ones shown)."""
    code = (
        "import json; from notifyctl.config.settings import SETTINGS;"
        "print(json.dumps({s.env: str(s.default) for s in SETTINGS}))"
    )
    env = {**os.environ, **opts.env}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tempfile.gettempdir(),
                         capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    defaults = json.loads(out.stdout)
    return {name: env.get(name, defaults.get(name, "?")) for name in SHOWN_SETTINGS}


# --------------------------------------------------------------------------- intake


@dataclass
class Intake:
    accepted: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    rejected: int = 0
    first_post: float = 0.0
    first_accepted: float = 0.0
    finished_at: float = 0.0


def kinds_of(opts: Options, mode: str) -> list[str]:
    """The kind of each item in send order: modes B and C shuffle their extra ones among the
    fast."""
    kinds = ["fast"] * opts.count
    if mode == "mixed":
        kinds += ["slow"] * opts.slow + ["dead"] * opts.dead
    elif mode == "control":  # as many extra notifications, to a second healthy destination
        kinds += ["other"] * (opts.slow + opts.dead)
    random.Random(opts.seed).shuffle(kinds)
    return kinds


def item_for(seq: int, url: str) -> dict[str, Any]:
    return {
        "user_id": f"user-{seq % 997}", "channel": "webhook", "to": url, "title": "benchmark",
        "body": "notifyctl flow control benchmark", "data": {"seq": seq},
    }  # fmt: skip


async def post_batch(session: aiohttp.ClientSession, url: str, body: bytes) -> list[Any]:
    for attempt in range(5):
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
            if r.status == 200:
                return list((await r.json())["results"])
            if r.status not in (429, 503) or attempt == 4:
                raise RuntimeError(f"batch refused: HTTP {r.status} {await r.text()}")
        await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def send_all(opts: Options, api_url: str, kinds: list[str], urls: dict[str, str]) -> Intake:
    url = f"{api_url}/v1/notifications/batch"
    starts = list(range(0, len(kinds), opts.batch))
    intake = Intake()

    async def sender(session: aiohttp.ClientSession) -> None:
        while starts:
            start = starts.pop(0)
            batch = kinds[start : start + opts.batch]
            items = [item_for(start + i, urls[k]) for i, k in enumerate(batch)]
            results = await post_batch(session, url, json.dumps({"notifications": items}).encode())
            intake.first_accepted = intake.first_accepted or time.time()
            for kind, result in zip(batch, results, strict=True):
                if result["status"] == 201:
                    intake.accepted[kind].add(result["notification"]["id"])
                else:
                    intake.rejected += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        intake.first_post = time.time()
        await asyncio.gather(*(sender(session) for _ in range(opts.senders)))
        intake.finished_at = time.time()
    return intake


# --------------------------------------------------------------------------- observations


def worker_metrics(service: e2e.Service, workers: int) -> dict[str, Any]:
    """METRICS summed over the workers, plus ``worker_circuits_open`` per worker."""
    sums: Counter[str] = Counter()
    open_per_worker: list[float] = []
    for n in range(1, workers + 1):
        try:
            text = httpx.get(f"http://{HOST}:{service.monitor_base + n}/metrics", timeout=5).text
        except httpx.HTTPError as exc:
            print(f"  cannot scrape worker {n}: {exc!r}", file=sys.stderr)
            continue
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name not in METRICS:
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                sums[f"{sample.name}{{{labels}}}" if labels else sample.name] += sample.value
                if sample.name == "worker_circuits_open":
                    open_per_worker.append(sample.value)
    return {**{k: int(v) for k, v in sums.items()}, "circuits_open_per_worker": open_per_worker}


def inspect_destinations(service: e2e.Service) -> list[dict[str, Any]] | str:
    argv = [*e2e.notifyctl_argv(), "--data-dir", str(service.data_dir), "inspect",
            "destinations", "--json"]  # fmt: skip
    try:
        out = subprocess.run(argv, env=service.env, cwd=service.data_dir, capture_output=True,
                             text=True, timeout=60)  # fmt: skip
        return list(json.loads(out.stdout)) if out.returncode == 0 else out.stderr.strip()
    except (subprocess.TimeoutExpired, ValueError) as exc:
        return repr(exc)


def store_by_destination(service: e2e.Service, ports: dict[str, int]) -> dict[str, Any]:
    """Per kind: notifications by status, and attempts spent, from the run's SQLite store."""
    db = service.data_dir / "notifyctl.db"
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)) as conn:
        rows = conn.execute("SELECT dest, status, count(*), sum(attempts) FROM notifications"
                            " GROUP BY dest, status").fetchall()  # fmt: skip
    kind_of = {f":{port}/": kind for kind, port in ports.items()}
    out: dict[str, Any] = {k: {"attempts": 0} for k in KINDS}
    for dest, status, count, attempts in rows:
        kind = next((k for marker, k in kind_of.items() if marker in (dest or "")), "other")
        entry = out.setdefault(kind, {"attempts": 0})
        entry[status] = entry.get(status, 0) + count
        entry["attempts"] += attempts or 0
    return out


def snapshot(service: e2e.Service, receiver: FlowReceiver, opts: Options) -> dict[str, Any]:
    at = time.time()
    return {
        "at": at,
        "receiver": {k: receiver.stats(k) for k in ("slow", "dead")},
        "metrics": worker_metrics(service, opts.workers),
        "circuits": inspect_destinations(service),
        "store": store_by_destination(service, receiver.ports),
        "ports": {port: kind for kind, port in receiver.ports.items()},
    }


# --------------------------------------------------------------------------- one run


@dataclass
class Run:
    mode: str
    index: int
    accepted: dict[str, int]
    rejected: int
    intake_s: float
    fast_delivered: int
    fast_per_s: float
    fast_per_s_from_first_post: float
    fast_s: float
    duplicates: int
    lost: int
    unknown: int
    cpu_s: dict[str, float]
    window_s: float
    restarts: int
    #: the workers' claims won (worker_claims_total) when the last fast one had arrived: one per
    #: notification if nothing was given back and claimed again
    claims_won: int = -1
    snapshots: list[dict[str, Any]] = field(default_factory=list)

    def cpu_us(self) -> dict[str, float]:
        """CPU µs per fast notification delivered, by role (workers summed)."""
        n = max(self.fast_delivered, 1)
        workers = sum(s for role, s in self.cpu_s.items() if role.startswith("worker-"))
        roles = {"api": self.cpu_s.get("api", 0.0), "workers": workers,
                 "receiver": self.cpu_s.get("receiver", 0.0),
                 "driver": self.cpu_s.get("driver", 0.0)}  # fmt: skip
        return {role: 1e6 * s / n for role, s in roles.items()}

    @property
    def claims_per_notification(self) -> float:
        return self.claims_won / max(sum(self.accepted.values()), 1)

    @property
    def other_cores(self) -> float:
        return max(0.0, self.cpu_s.get("others", 0.0) / max(self.window_s, 1e-9))


def fast_figures(intake: Intake, dump: dict[str, Any]) -> dict[str, Any]:
    fast = intake.accepted["fast"]
    first: dict[str, float] = {}
    for nid, at in zip(dump["ids"], dump["received_at"], strict=True):
        first.setdefault(nid, at)
    known = {nid: at for nid, at in first.items() if nid in fast}
    last = max(known.values(), default=intake.first_accepted)
    return {
        "fast_delivered": len(known),
        "fast_per_s": len(known) / max(last - intake.first_accepted, 1e-9),
        "fast_per_s_from_first_post": len(known) / max(last - intake.first_post, 1e-9),
        "fast_s": last - intake.first_accepted,
        "duplicates": len(dump["ids"]) - len(first),
        "lost": len(fast - known.keys()),
        "unknown": len(first) - len(known),
    }


def measure(opts: Options, mode: str, service: e2e.Service, receiver: FlowReceiver) -> Run:
    assert service.sampler is not None and receiver.proc is not None
    service.sampler.extra[receiver.proc.pid] = "receiver"
    urls = {k: f"{receiver.base(k)}/hook" for k in KINDS}
    kinds = kinds_of(opts, mode)
    cpu_before, busy_before, t0 = service.sampler.cpu_now(), e2e.busy_core_s(), time.monotonic()
    intake = asyncio.run(send_all(opts, service.url, kinds, urls))
    target = len(intake.accepted["fast"])
    e2e.wait_for(lambda: int(receiver.stats("fast")["unique"]), target, opts.e2e_options())
    cpu_after, busy_after, t1 = service.sampler.cpu_now(), e2e.busy_core_s(), time.monotonic()
    claims = worker_metrics(service, opts.workers).get("worker_claims_total{result=won}", -1)
    snapshots = [snapshot(service, receiver, opts)] if mode == "mixed" else []
    time.sleep(1.0)  # a late duplicate of a fast one, if there is one
    figures = fast_figures(intake, receiver.dump("fast"))
    if mode == "mixed" and opts.linger > 0:
        time.sleep(max(0.0, opts.linger - 1.0))
        snapshots.append(snapshot(service, receiver, opts))
    cpu = {r: cpu_after[r] - cpu_before.get(r, 0.0) for r in sorted(cpu_after)}
    cpu["others"] = (busy_after - busy_before) - sum(cpu.values())
    for snap in snapshots:
        snap["after_last_fast_s"] = snap.pop("at") - (intake.first_accepted + figures["fast_s"])
    procs = service.sampler.procs.values()
    return Run(
        mode, 0, {k: len(v) for k, v in intake.accepted.items()}, intake.rejected,
        intake.finished_at - intake.first_post, **figures, cpu_s=cpu, window_s=t1 - t0,
        restarts=sum(len(p.pids) - 1 for p in procs if p.role != "receiver"),
        claims_won=claims, snapshots=snapshots,
    )  # fmt: skip


def run_once(opts: Options, mode: str, index: int) -> Run:
    data_dir = Path(tempfile.mkdtemp(prefix=f"notifyctl-flow-{mode}-"))
    service = e2e.Service(opts.e2e_options(), data_dir, "webhook")
    receiver = FlowReceiver(opts.slow_delay)
    try:
        receiver.start()
        service.start()
        run = measure(opts, mode, service, receiver)
        run.index = index
    finally:
        service.stop()
        receiver.stop()
        if opts.keep:
            print(f"  kept {data_dir}", file=sys.stderr)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    return run


# --------------------------------------------------------------------------- report


def describe(run: Run) -> str:
    us = ", ".join(f"{role} {v:,.0f}" for role, v in run.cpu_us().items())
    line = (
        f"  {run.mode} #{run.index}: accepted {run.accepted} (rejected {run.rejected}) in"
        f" {run.intake_s:.2f} s; fast {run.fast_delivered} at {run.fast_per_s:,.0f}/s in"
        f" {run.fast_s:.2f} s ({run.fast_per_s_from_first_post:,.0f}/s from the first POST);"
        f" dup {run.duplicates} lost {run.lost} unknown {run.unknown}; CPU us per fast: {us};"
        f" other load {run.other_cores:.2f} cores; restarts {run.restarts}; claims won"
        f" {run.claims_won} ({run.claims_per_notification:.2f} per accepted)"
    )
    for snap in run.snapshots:
        line += f"\n    {snapshot_line(snap)}"
    return line


def circuits_text(circuits: list[dict[str, Any]] | str, ports: dict[int, str]) -> str:
    if isinstance(circuits, str):
        return f"inspect failed: {circuits}"
    parts = []
    for c in circuits:
        port = int(c["destination"].rsplit(":", 1)[-1]) if ":" in c["destination"] else 0
        name = ports.get(port, c["destination"])
        parts.append(f"{name} {c['state']} (openings {c['openings']}, ratio"
                     f" {c['failure_ratio']}, reopens in {c['reopens_in_s']:.0f} s)")  # fmt: skip
    return "; ".join(parts) or "none open"


def snapshot_line(snap: dict[str, Any]) -> str:
    rx, m, store = snap["receiver"], snap["metrics"], snap["store"]
    slow, dead = rx["slow"], rx["dead"]
    ports = snap.get("ports", {})
    return (
        f"+{snap['after_last_fast_s']:.1f} s after the last fast: slow: reached {slow['unique']}"
        f" ({slow['count']} requests, peak {slow['peak_in_flight']} in flight, answered"
        f" {slow['answered']}, client gone {slow['client_gone']}), store {store['slow']};"
        f" dead: reached {dead['unique']} ({dead['count']} requests), store {store['dead']};"
        f" deferred {m.get('worker_circuit_deferred_total', 0)}, circuits open per worker"
        f" {m.get('circuits_open_per_worker')}, retries {m.get('worker_retries_total', 0)},"
        f" dead letters {m.get('worker_dead_letters_total', 0)}, claims won"
        f" {m.get('worker_claims_total{result=won}', 0)}; circuits:"
        f" {circuits_text(snap['circuits'], ports)}"
    )


def median_rate(runs: list[Run]) -> float:
    return statistics.median(r.fast_per_s for r in runs) if runs else float("nan")


def rate_table(by_mode: dict[str, list[Run]]) -> str:
    lines = [
        "| mode | runs | fast delivered/s (median) | per run | intake s (median) | dup"
        " | lost | API µs/fast | workers µs/fast | receiver µs/fast | driver µs/fast"
        " | claims per notification | other load, cores |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for mode, runs in by_mode.items():
        us = [r.cpu_us() for r in runs]

        def med(role: str, us: list[dict[str, float]] = us) -> float:
            return statistics.median(u[role] for u in us)

        per_run = ", ".join(f"{r.fast_per_s:,.0f}" for r in runs)
        noise = ", ".join(f"{r.other_cores:.1f}" for r in runs)
        claims = ", ".join(f"{r.claims_per_notification:.2f}" for r in runs)
        lines.append(
            f"| {LABELS[mode]} | {len(runs)}"
            f" | {median_rate(runs):,.0f} | {per_run}"
            f" | {statistics.median(r.intake_s for r in runs):.2f}"
            f" | {sum(r.duplicates for r in runs)} | {sum(r.lost for r in runs)}"
            f" | {med('api'):,.0f} | {med('workers'):,.0f} | {med('receiver'):,.0f}"
            f" | {med('driver'):,.0f} | {claims} | {noise} |"
        )
    return "\n".join(lines)


def ratio_line(by_mode: dict[str, list[Run]], top: str, bottom: str) -> str:
    above, below = by_mode.get(top, []), by_mode.get(bottom, [])
    if not above or not below:
        return ""
    ratio = median_rate(above) / median_rate(below)
    pairs = [b.fast_per_s / a.fast_per_s for a, b in zip(below, above, strict=False)]
    name = f"{LABELS[top][0]}/{LABELS[bottom][0]}"
    line = (
        f"{name} (median {top} / median {bottom}): {ratio:.2f}; run by run"
        f" {', '.join(f'{p:.2f}' for p in pairs)} (median {statistics.median(pairs):.2f})"
    )
    if (top, bottom) == ("mixed", "alone"):
        line += f"; {'meets' if ratio >= TARGET else 'misses'} the target (>= {TARGET:.2f})"
    return line + "."


def report(opts: Options, settings: dict[str, str], by_mode: dict[str, list[Run]]) -> str:
    head = (
        f"{opts.count:,} fast per run; mode B adds {opts.slow:,} slow (200 after"
        f" {opts.slow_delay:g} s) and {opts.dead:,} dead (503) in the same batches (shuffled,"
        f" seed {opts.seed}); mode C adds {opts.slow + opts.dead:,} to a second fast"
        f" destination; {opts.workers} workers, SQLite, no broker; {opts.senders} senders,"
        f" batches of {opts.batch}; the machine has {psutil.cpu_count()} cores.\nSettings: "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )
    out = [head, "", rate_table(by_mode), ""]
    for top, bottom in (("mixed", "alone"), ("control", "alone"), ("mixed", "control")):
        out += [line for line in [ratio_line(by_mode, top, bottom)] if line]
    for run in by_mode.get("mixed", []):
        out.append(f"\nB #{run.index}, slow and dead:")
        out += [f"  {snapshot_line(s)}" for s in run.snapshots]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parsed = parse_args(argv)
    if isinstance(parsed, tuple):
        asyncio.run(serve(*parsed))
        return
    opts = parsed
    settings = settings_shown(opts)
    print("settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()), file=sys.stderr)
    by_mode: dict[str, list[Run]] = {}
    for index in range(1, opts.runs + 1):
        for mode in opts.modes:
            print(f"{mode} run {index}/{opts.runs} ...", file=sys.stderr, flush=True)
            run = run_once(opts, mode, index)
            print(describe(run), file=sys.stderr, flush=True)
            by_mode.setdefault(mode, []).append(run)
            if opts.json_path is not None:
                dumped = {m: [asdict(r) for r in rs] for m, rs in by_mode.items()}
                opts.json_path.write_text(json.dumps({"settings": settings, "runs": dumped}))
    print(report(opts, settings, by_mode))


if __name__ == "__main__":
    main()
