"""The intake API alone: one ``notifyctl api`` process, single and batch POSTs, the front door.

Each measurement starts its own ``notifyctl api`` (a temporary data dir, a free port on
127.0.0.1, ``NOTIFYCTL_RATE_LIMIT_PER_S=0`` unless the front door is measured) and drives it from
this process (aiohttp, a connection pool large enough never to queue) with:

- **max**: closed loop, ``--concurrency`` requests in flight, flat out for ``--duration`` s:
  the highest rate of single ``POST /v1/notifications`` (log channel) the API sustains;
- **open model** at fixed rates (50 % and 90 % of that maximum, and ``--target-rate``, 500/s):
  request i is due at ``start + i / rate`` whatever happened before, and its latency counts from
  that intended time, so a stalled server is charged for every request it delayed (no
  coordinated omission);
- **batch**: ``POST /v1/notifications/batch`` with 100 and 1,000 items, closed loop with
  ``--batch-senders`` in flight: notifications/s;
- **front door**: the same open-model run at ``--door-rate`` with (a) limiter off, no keys,
  (b) limiter on with a bucket that never refuses, (c) (b) plus 10 API keys, the client sending
  one; CPU seconds of the API process per 1,000 requests (psutil) and latency, configurations
  alternating run by run; plus the Guard middleware alone, in process, per request.

Every row also reports the CPU the API process and this client used, and the other load (CPU
used by processes that are not the benchmark's; the machine is shared), in cores.

    .venv/bin/python benchmarks/api.py --runs 3
    .venv/bin/python benchmarks/api.py --sections door --runs 5
    .venv/bin/python benchmarks/api.py --sections target --sync full --profile /tmp/api-prof
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil

HOST = "127.0.0.1"
ITEM = {"user_id": "bench-user", "channel": "log", "title": "Hello", "body": "It works"}
KEYS = [f"bench-key-{i:02d}-{'x' * 24}" for i in range(10)]
SECTIONS = ("sync", "target", "batch", "door")


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def busy_core_s() -> float:
    """CPU seconds the whole machine has spent busy (all processes, all cores); as in e2e.py."""
    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0))


def cpu_s(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def notifyctl_argv() -> list[str]:
    script = Path(sys.executable).parent / "notifyctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "notifyctl"]


class ApiProcess:
    """One ``notifyctl api`` on a fresh data dir and a free port; stopped by PID."""

    def __init__(self, env: dict[str, str]) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="notifyctl-api-bench-"))
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.env = {
            **os.environ,
            "NOTIFYCTL_DATA_DIR": str(self.dir / "data"),
            "NOTIFYCTL_RATE_LIMIT_PER_S": "0",
            "NOTIFYCTL_LOG_LEVEL": "warning",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.ps: psutil.Process | None = None

    def __enter__(self) -> ApiProcess:
        argv = [*notifyctl_argv(), "api", "--host", HOST, "--port", str(self.port)]
        log = (self.dir / "api.log").open("wb")
        self.proc = subprocess.Popen(argv, env=self.env, cwd=self.dir, stdout=log, stderr=log)
        self.ps = psutil.Process(self.proc.pid)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"api exited: {(self.dir / 'api.log').read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/health", timeout=1) as r,
            ):
                if r.status == 200:
                    return self
            time.sleep(0.1)
        raise TimeoutError("api not healthy after 30 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)

    def cpu(self) -> float:
        assert self.ps is not None
        return cpu_s(self.ps)


@dataclass
class Result:
    label: str
    offered: float  # requests/s offered (0: closed loop)
    sent: int
    ok: int
    seconds: float
    latencies_ms: list[float]
    statuses: Counter[str]
    api_cpu_s: float
    client_cpu_s: float
    other_cores: float
    items_per_request: int = 1
    max_send_lag_ms: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.ok / self.seconds

    @property
    def items_rate(self) -> float:
        return self.ok * self.items_per_request / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.latencies_ms, 99)


@contextlib.contextmanager
def metered(api: ApiProcess) -> Iterator[dict[str, float]]:
    """CPU of the API, of this client and of everything else over the block."""
    me = psutil.Process()
    out: dict[str, float] = {}
    a0, c0, b0, t0 = api.cpu(), cpu_s(me), busy_core_s(), time.monotonic()
    yield out
    a1, c1, b1, t1 = api.cpu(), cpu_s(me), busy_core_s(), time.monotonic()
    out["api"], out["client"], out["window"] = a1 - a0, c1 - c0, t1 - t0
    out["other_cores"] = max(0.0, (b1 - b0) - (a1 - a0) - (c1 - c0)) / (t1 - t0)


# --------------------------------------------------------------------------- load


def session(limit: int = 2000) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def post(s: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str]) -> str:
    try:
        async with s.post(url, data=body, headers=headers) as r:
            await r.read()
            return str(r.status)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        return type(exc).__name__


def headers_for(key: str | None) -> dict[str, str]:
    h = {"content-type": "application/json"}
    if key:
        h["authorization"] = f"Bearer {key}"
    return h


async def closed_loop(
    url: str, body: bytes, headers: dict[str, str], concurrency: int, duration: float
) -> tuple[int, int, list[float], Counter[str], float]:
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    async with session() as s:
        await asyncio.gather(*(post(s, url, body, headers) for _ in range(concurrency)))  # warm
        end = loop.time() + duration
        start = loop.time()

        async def sender() -> None:
            while loop.time() < end:
                t = loop.time()
                status = await post(s, url, body, headers)
                latencies.append((loop.time() - t) * 1000)
                statuses[status] += 1

        await asyncio.gather(*(sender() for _ in range(concurrency)))
        took = loop.time() - start
    ok = sum(n for st, n in statuses.items() if st in ("200", "201"))
    return sum(statuses.values()), ok, latencies, statuses, took


async def open_model(
    url: str, body: bytes, headers: dict[str, str], rate: float, duration: float
) -> tuple[int, int, list[float], Counter[str], float, float]:
    """Request i is due at start + i/rate; latency from that intended time to the answer."""
    loop = asyncio.get_running_loop()
    n = max(1, int(rate * duration))
    latencies: list[float] = [0.0] * n
    statuses: Counter[str] = Counter()
    max_lag = 0.0
    async with session() as s:
        await asyncio.gather(*(post(s, url, body, headers) for _ in range(32)))  # warm the pool

        async def one(i: int, due: float) -> None:
            status = await post(s, url, body, headers)
            latencies[i] = (loop.time() - due) * 1000
            statuses[status] += 1

        tasks = []
        start = loop.time() + 0.05
        for i in range(n):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                max_lag = max(max_lag, -delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
        took = loop.time() - start
    ok = sum(n for st, n in statuses.items() if st in ("200", "201"))
    return n, ok, latencies, statuses, took, max_lag * 1000


def run_closed(
    api: ApiProcess, label: str, path: str, body: bytes, key: str | None, conc: int, dur: float,
    items: int = 1,
) -> Result:  # fmt: skip
    with metered(api) as m:
        sent, ok, lat, st, took = asyncio.run(
            closed_loop(api.url + path, body, headers_for(key), conc, dur)
        )
    return Result(label, 0.0, sent, ok, took, lat, st, m["api"], m["client"], m["other_cores"],
                  items)  # fmt: skip


def run_open(
    api: ApiProcess, label: str, rate: float, dur: float, key: str | None = None
) -> Result:
    body = json.dumps(ITEM).encode()
    with metered(api) as m:
        sent, ok, lat, st, took, lag = asyncio.run(
            open_model(api.url + "/v1/notifications", body, headers_for(key), rate, dur)
        )
    return Result(label, rate, sent, ok, took, lat, st, m["api"], m["client"], m["other_cores"],
                  max_send_lag_ms=lag)  # fmt: skip


# --------------------------------------------------------------------------- report


def row(r: Result) -> str:
    bad = {k: v for k, v in r.statuses.items() if k not in ("200", "201")}
    offered = f"{r.offered:,.0f}" if r.offered else "flat out"
    return (
        f"| {r.label} | {offered} | {r.rate:,.0f} | {r.items_rate:,.0f} | {r.p50:.1f} | "
        f"{r.p99:.1f} | {1e6 * r.api_cpu_s / max(1, r.sent):.0f} | "
        f"{r.api_cpu_s / r.seconds:.2f} | {r.client_cpu_s / r.seconds:.2f} | "
        f"{r.other_cores:.1f} | {r.max_send_lag_ms:.0f} | {bad or ''} |"
    )


HEADER = (
    "| run | offered/s | requests/s | notifications/s | p50 ms | p99 ms | "
    "API CPU ms per 1,000 requests | API cores | client cores | other load, cores | "
    "send lag ms | errors |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
)


def emit(r: Result) -> Result:
    print(row(r), flush=True)
    return r


def median_row(label: str, results: list[Result]) -> str:
    med = statistics.median
    return (
        f"| {label} | {len(results)} | {med(r.rate for r in results):,.0f} | "
        f"{med(r.items_rate for r in results):,.0f} | {med(r.p50 for r in results):.1f} | "
        f"{med(r.p99 for r in results):.1f} | "
        f"{med(1e6 * r.api_cpu_s / max(1, r.sent) for r in results):.0f} | "
        f"{', '.join(f'{r.p99:.0f}' for r in results)} | "
        f"{', '.join(f'{r.other_cores:.1f}' for r in results)} |"
    )


MEDIAN_HEADER = (
    "| what | runs | requests/s | notifications/s | p50 ms | p99 ms | "
    "API CPU ms per 1,000 requests | p99 per run | other load per run |\n"
    "|---|---:|---:|---:|---:|---:|---:|---|---|"
)


# --------------------------------------------------------------------------- sections


def section_sync(opts: argparse.Namespace, summary: dict[str, list[Result]]) -> None:
    """Per store setting: the maximum, then open model at 50 % and 90 % of it, and the target."""
    body = json.dumps(ITEM).encode()
    for run in range(opts.runs):
        for sync in opts.sync.split(","):
            with ApiProcess({"NOTIFYCTL_SQLITE_SYNCHRONOUS": sync, **opts.env}) as api:
                top = emit(
                    run_closed(api, f"{sync}: max (c={opts.concurrency}) #{run + 1}",
                               "/v1/notifications", body, None, opts.concurrency, opts.duration)
                )  # fmt: skip
                summary.setdefault(f"{sync}: max", []).append(top)
                for share in (0.5, 0.9):
                    rate = share * top.rate
                    label = f"{sync}: {share:.0%} of max"
                    r = emit(run_open(api, f"{label} #{run + 1}", rate, opts.duration))
                    summary.setdefault(label, []).append(r)
                label = f"{sync}: {opts.target_rate:.0f}/s"
                r = emit(run_open(api, f"{label} #{run + 1}", opts.target_rate, opts.duration))
                summary.setdefault(label, []).append(r)


def section_target(opts: argparse.Namespace, summary: dict[str, list[Result]]) -> None:
    """Only the target rate (optionally under py-spy)."""
    for run in range(opts.runs):
        for sync in opts.sync.split(","):
            with ApiProcess({"NOTIFYCTL_SQLITE_SYNCHRONOUS": sync, **opts.env}) as api:
                spy = None
                if opts.profile:
                    out = Path(opts.profile) / f"api-{sync}-{run + 1}.txt"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid",
                         str(api.proc.pid if api.proc else 0), "--rate", "200", "--format", "raw",
                         "--threads", "--nonblocking", "--idle", "--output", str(out)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    )  # fmt: skip
                    time.sleep(1.0)
                label = f"{sync}: {opts.target_rate:.0f}/s"
                r = emit(run_open(api, f"{label} #{run + 1}", opts.target_rate, opts.duration))
                summary.setdefault(label, []).append(r)
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(30)
                    print(profile_summary(out), flush=True)


def profile_summary(file: Path, limit: int = 12) -> str:
    """Where the API's threads spend their samples (py-spy raw, --idle: waits included)."""
    threads: Counter[str] = Counter()
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        thread, *frames = stack.split(";")
        if not frames:
            continue
        n = int(count_text)
        kind = "event loop" if thread.endswith("MainThread") else "store threads"
        threads[kind] += n
        own[f"[{kind}] {frames[-1]}"] += n
        for frame in set(frames):
            inclusive[f"[{kind}] {frame}"] += n
    total = sum(threads.values()) or 1
    out = [f"py-spy {file}: {total} samples (200 Hz, idle included), by thread:"]
    out += [f"  {100 * n / total:5.1f}%  {k}" for k, n in threads.most_common()]
    out += ["  own time:"] + [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(limit)]
    out += ["  inclusive:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(3 * limit)]
    return "\n".join(out)


def section_batch(opts: argparse.Namespace, summary: dict[str, list[Result]]) -> None:
    for run in range(opts.runs):
        for sync in opts.sync.split(","):
            with ApiProcess({"NOTIFYCTL_SQLITE_SYNCHRONOUS": sync, **opts.env}) as api:
                for size in (100, 1000):
                    body = json.dumps({"notifications": [ITEM] * size}).encode()
                    label = f"{sync}: batch {size}, {opts.batch_senders} senders"
                    r = emit(
                        run_closed(api, f"{label} #{run + 1}", "/v1/notifications/batch", body,
                                   None, opts.batch_senders, opts.duration, size)
                    )  # fmt: skip
                    summary.setdefault(label, []).append(r)


DOORS = {
    "a: limiter off, no keys": ({}, None),
    "b: limiter on (never refuses)": (
        {"NOTIFYCTL_RATE_LIMIT_PER_S": "1000000", "NOTIFYCTL_RATE_LIMIT_BURST": "1000000"},
        None,
    ),
    "c: limiter on + 10 API keys": (
        {
            "NOTIFYCTL_RATE_LIMIT_PER_S": "1000000",
            "NOTIFYCTL_RATE_LIMIT_BURST": "1000000",
            "NOTIFYCTL_API_KEYS": ",".join(KEYS),
        },
        KEYS[7],
    ),
}


def section_door(opts: argparse.Namespace, summary: dict[str, list[Result]]) -> None:
    sync = opts.sync.split(",")[0]
    for run in range(opts.runs):
        order = list(DOORS) if run % 2 == 0 else list(reversed(DOORS))
        for name in order:
            env, key = DOORS[name]
            with ApiProcess({"NOTIFYCTL_SQLITE_SYNCHRONOUS": sync, **opts.env, **env}) as api:
                label = f"door {name} ({sync}, {opts.door_rate:.0f}/s)"
                r = emit(run_open(api, f"{label} #{run + 1}", opts.door_rate, opts.duration, key))
                summary.setdefault(label, []).append(r)
    print(guard_alone(), flush=True)


class OneTenantsLimits:
    """The store, as far as the tenant limits' cache asks it: every tenant has its own."""

    def tenant_limits(self, tenant: str) -> Any:
        from notifyctl.limits import TenantLimits

        return TenantLimits(tenant, rate_per_s=1e6, burst=1_000_000)


class NoMetrics:
    def observe_store_call(self, operation: str, seconds: float) -> None:
        return None


def guard_alone(n: int = 50_000) -> str:
    """The Guard middleware in process, around an app that answers at once: µs per request."""
    from notifyctl.api.guard import Guard
    from notifyctl.api.limits import TenantLimitsCache
    from notifyctl.apikeys import ApiKeys
    from notifyctl.limits import Rate

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    def scope(key: str | None) -> dict[str, Any]:
        headers = [(b"content-type", b"application/json"), (b"host", b"127.0.0.1")]
        if key:
            headers.append((b"authorization", f"Bearer {key}".encode()))
        return {"type": "http", "method": "POST", "path": "/v1/notifications",
                "headers": headers, "client": ("127.0.0.1", 50000)}  # fmt: skip

    never_refuses = Rate(1e6, 1_000_000)
    keys = ApiKeys.from_config(",".join(KEYS), "")
    limits: Any = TenantLimitsCache(OneTenantsLimits(), NoMetrics())  # type: ignore[arg-type]
    cases = {
        "app alone": (app, None),
        "a": (Guard(app, ApiKeys([]), None), None),
        "b": (Guard(app, ApiKeys([]), never_refuses), None),
        "c": (Guard(app, keys, never_refuses), KEYS[7]),
        "c + tenant limits (cached)": (Guard(app, keys, never_refuses, tenant_limits=limits),
                                       KEYS[7]),
    }  # fmt: skip

    async def time_it(target: Any, key: str | None) -> float:
        sc = scope(key)
        best = float("inf")
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(n // 5):
                await target(dict(sc), receive, send)
            best = min(best, (time.perf_counter() - t) / (n // 5))
        return best * 1e6

    async def all_cases() -> dict[str, float]:
        return {name: await time_it(*case) for name, case in cases.items()}

    got = asyncio.run(all_cases())
    timings = ", ".join(f"{k} {v:.2f} µs" for k, v in got.items())
    return f"Guard alone, in process (best of 5 x {n // 5}): {timings}"


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sections", default="sync,batch,door", help=f"of {','.join(SECTIONS)}")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--concurrency", type=int, default=64, help="in flight when flat out")
    p.add_argument("--target-rate", type=float, default=500.0)
    p.add_argument("--door-rate", type=float, default=300.0)
    p.add_argument("--batch-senders", type=int, default=2)
    p.add_argument("--sync", default="full,normal", help="NOTIFYCTL_SQLITE_SYNCHRONOUS values")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the API")
    p.add_argument("--profile", default="", help="(target) py-spy raw output directory")
    opts = p.parse_args(argv)
    opts.env = dict(item.split("=", 1) for item in opts.env)
    print(
        f"# {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {psutil.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f}; duration {opts.duration:.0f} s per row",
        flush=True,
    )
    print(HEADER, flush=True)
    summary: dict[str, list[Result]] = {}
    for name in opts.sections.split(","):
        {"sync": section_sync, "target": section_target, "batch": section_batch,
         "door": section_door}[name](opts, summary)  # fmt: skip
    print("\nMedians:\n" + MEDIAN_HEADER)
    for label, results in summary.items():
        print(median_row(label, results))
    doors = {k: v for k, v in summary.items() if k.startswith("door ")}
    if doors:
        base = statistics.median(1e6 * r.api_cpu_s / r.sent for r in next(iter(doors.values())))
        for label, results in doors.items():
            cost = statistics.median(1e6 * r.api_cpu_s / r.sent for r in results)
            print(f"{label}: {cost:.0f} µs API CPU per request, {cost / base:.3f}x of (a)")
    print(f"# done, load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
