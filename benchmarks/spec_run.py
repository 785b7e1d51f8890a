"""The spec's run, bounded (issue 20 item 5): ``notifyctl up`` under ``notifyctl loadgen`` at the
spec's 12 notifications/s (its 1M/day) for a while, then a spike at 200/s, then 12/s again;
every delivery checked by loadgen's sink. Reports what the spec asks of such a run: lost,
duplicates, latency (p50, p99), each worker's RSS over time and the CPU of every process.

    .venv/bin/python benchmarks/spec_run.py                                  # 10 min + 2 min spike
    .venv/bin/python benchmarks/spec_run.py --steady 2m --spike 30s --cooldown 30s   # a short one

The full hour is the spec's own command against ``notifyctl up``, run by hand:
``notifyctl loadgen --rate 12 --duration 3600`` (docs/loadgen.md). The API's per-client rate
limit (100/s) is turned off for the run: the spike is one client at 200/s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

NOTIFYCTL = [sys.executable, "-m", "notifyctl"]


@dataclass
class Sample:
    at_s: float
    rss_mb: dict[str, float]
    cpu_s: dict[str, float]


@dataclass(eq=False)  # a Thread must stay hashable
class Sampler(threading.Thread):
    """Every ``every_s``: each process of ``up`` by role, its RSS and CPU seconds so far."""

    up: psutil.Process
    every_s: float
    samples: list[Sample] = field(default_factory=list)
    halt: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)
        self.started = time.monotonic()
        self.cpu_seen: dict[int, tuple[str, float]] = {}  # pid -> role, CPU s (dead ones too)

    def run(self) -> None:
        while not self.halt.is_set():
            self.sample()
            self.halt.wait(self.every_s)
        self.sample()

    def sample(self) -> None:
        rss: dict[str, float] = {}
        for process in [self.up, *self.up.children()]:
            try:
                role = role_of(process.cmdline())
                rss[role] = process.memory_info().rss / 2**20
                times = process.cpu_times()
                self.cpu_seen[process.pid] = (role, times.user + times.system)
            except psutil.Error:
                continue
        cpu: dict[str, float] = {}
        for role, seconds in self.cpu_seen.values():
            cpu[role] = cpu.get(role, 0.0) + seconds
        self.samples.append(Sample(time.monotonic() - self.started, rss, cpu))


def role_of(argv: list[str]) -> str:
    if "worker" in argv:
        return f"worker-{argv[-1]}"
    return "api" if "api" in argv else "up"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_up(opts: argparse.Namespace, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NOTIFYCTL_RATE_LIMIT_PER_S": "0",
           "NOTIFYCTL_MONITOR_PORT_BASE": str(free_port() // 2)}  # fmt: skip
    argv = [*NOTIFYCTL, "up", "--workers", str(opts.workers), "--port", str(port),
            "--data-dir", str(data_dir)]  # fmt: skip
    log = (data_dir / "up.log").open("wb")
    up = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and up.poll() is None:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).close()
            return up
        except OSError:
            time.sleep(0.2)
    up.kill()
    raise SystemExit(f"notifyctl up did not answer within 60 s; see {data_dir / 'up.log'}")


def loadgen(opts: argparse.Namespace, port: int, report: Path) -> int:
    """The spec's rate, a spike, the spec's rate again: one open-model run, every delivery
    checked."""
    ramp = (f"{opts.steady}:{opts.rate},1s:{opts.spike_rate},{opts.spike}:{opts.spike_rate},"
            f"1s:{opts.rate},{opts.cooldown}:{opts.rate}")  # fmt: skip
    argv = [*NOTIFYCTL, "loadgen", "--target", f"http://127.0.0.1:{port}", "--rate",
            str(opts.rate), "--ramp", ramp, "--json", str(report), "--progress", "30",
            "--drain-timeout", "120"]  # fmt: skip
    print("$ notifyctl " + " ".join(argv[3:]), file=sys.stderr, flush=True)
    return subprocess.run(argv, check=False).returncode


def report(summary: dict[str, Any], samples: list[Sample], exit_code: int) -> str:
    delivery, latency = summary["delivery"], summary["latency_ms"]["latency"]
    counts, rates = summary["counts"], summary["rates"]
    lines = [
        f"loadgen verdict **{summary['verdict']}** (exit {exit_code}); planned"
        f" {counts['planned_notifications']:,}, accepted {counts['success']:,}, failed"
        f" {counts['failed']:,}, not sent {counts['not_sent']:,}; achieved"
        f" {rates['achieved']:.1f}/s of {rates['target']:.1f}/s planned on average",
        f"lost **{delivery.get('lost')}**, duplicates **{delivery.get('duplicates')}**;"
        f" request latency (from the intended send) p50 {latency['p50']:.1f} ms,"
        f" p99 **{latency['p99']:.1f} ms**, max {latency['max']:.1f} ms",
    ]
    e2e = summary["latency_ms"].get("delivery")
    if e2e:
        lines.append(f"delivery latency (API answer to webhook received) p50 {e2e['p50']:.1f} ms,"
                     f" p99 **{e2e['p99']:.1f} ms**, max {e2e['max']:.1f} ms")  # fmt: skip
    lines += ["", *rss_table(samples), "", *cpu_table(samples, counts["success"])]
    return "\n".join(lines)


def rss_table(samples: list[Sample]) -> list[str]:
    roles = sorted({role for s in samples for role in s.rss_mb})
    rows = ["| t (s) | " + " | ".join(f"{r} RSS MB" for r in roles) + " |",
            "|---:|" + "---:|" * len(roles)]  # fmt: skip
    step = max(1, len(samples) // 12)  # about a dozen rows whatever the length
    shown = samples[::step]
    for sample in shown if shown[-1] is samples[-1] else [*shown, samples[-1]]:
        cells = [f"{sample.rss_mb.get(r, float('nan')):.0f}" for r in roles]
        rows.append(f"| {sample.at_s:.0f} | " + " | ".join(cells) + " |")
    return rows


def cpu_table(samples: list[Sample], accepted: int) -> list[str]:
    first, last = samples[0], samples[-1]
    span = max(last.at_s - first.at_s, 1e-9)
    rows = ["| process | CPU s | mean CPU % of a core | CPU µs per notification |",
            "|---|---:|---:|---:|"]  # fmt: skip
    for role in sorted(last.cpu_s):
        used = last.cpu_s[role] - first.cpu_s.get(role, 0.0)
        rows.append(f"| {role} | {used:.1f} | {100 * used / span:.1f} |"
                    f" {1e6 * used / max(accepted, 1):,.0f} |")  # fmt: skip
    return rows


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steady", default="10m", help="time at --rate before the spike")
    parser.add_argument("--spike", default="2m", help="time at --spike-rate")
    parser.add_argument("--cooldown", default="1m", help="time at --rate after the spike")
    parser.add_argument("--rate", type=float, default=12.0, help="the spec's rate, /s")
    parser.add_argument("--spike-rate", type=float, default=200.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample-s", type=float, default=10.0, help="RSS/CPU sampling period")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="notifyctl-spec-run-"))
    port = free_port()
    up = start_up(opts, data_dir, port)
    sampler = Sampler(psutil.Process(up.pid), opts.sample_s)
    try:
        sampler.start()
        code = loadgen(opts, port, data_dir / "loadgen.json")
    finally:
        sampler.halt.set()
        sampler.join(30)
        up.terminate()
        up.wait(60)
    summary = json.loads((data_dir / "loadgen.json").read_text())
    print(report(summary, sampler.samples, code))
    print(f"\n(run data: {data_dir})")


if __name__ == "__main__":
    main()
