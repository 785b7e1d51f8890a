"""What does scraping ``/metrics`` cost a worker delivering at full speed? (target: < 2 %)

Each run: a fresh SQLite store pre-filled with ``--count`` due notifications, one
``notifyctl worker --id 1`` draining it flat out, and, in the scraped runs, a client GETting the
worker's ``/metrics`` every ``--interval`` seconds for the whole drain. Throughput is deliveries
divided by the time from the first delivery to the last (the log channel's ``delivered_at``, or
the receiver's first/last arrival for webhooks). Unscraped and scraped runs alternate, so the
noise of this shared machine hits both alike; the table shows medians and the per-pair ratio.

With ``--baseline PYTHON`` (the interpreter of another checkout, e.g. main's ``.venv/bin/python``)
the pairs compare that checkout's worker with this one, neither scraped: the cost of recording
the metrics on the hot path (histograms, store-call timing) rather than of scraping them.

Also measured in this process: the CPU one scrape costs (``WorkerMetrics.exposition`` of a worker
with counters in every family), which divided by the scrape interval is the fraction of a core
that scraping takes, whatever the noise.

    .venv/bin/python benchmarks/metrics_overhead.py --count 60000 --pairs 5 --interval 1
    .venv/bin/python benchmarks/metrics_overhead.py --interval 0.1      # 150x Prometheus' rate
    .venv/bin/python benchmarks/metrics_overhead.py --channel webhook --count 20000
    .venv/bin/python benchmarks/metrics_overhead.py --baseline /work/main/.venv/bin/python
"""

from __future__ import annotations

import argparse
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
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psutil

from notifyctl import config as config_module
from notifyctl.ids import new_id
from notifyctl.model import NewNotification, Priority, now_ms
from notifyctl.store import open_store

HERE = Path(__file__).resolve().parent
FILL_BATCH = 5_000


@dataclass(frozen=True)
class Variant:
    label: str
    python: str
    scraped: bool


@dataclass
class Run:
    variant: Variant
    delivered_per_s: float
    cpu_us_per_delivery: float
    scrapes: list[float] = field(default_factory=list)
    exposition_bytes: int = 0
    #: CPU other processes used during the drain (this machine is shared), in cores
    other_load_cores: float = 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fill(config: config_module.Config, count: int, channel: str, url: str | None) -> None:
    store = open_store(config)
    now = now_ms()
    for start in range(0, count, FILL_BATCH):
        items = [
            NewNotification(
                id=new_id(now),
                user_id=f"u{i}",
                channel=channel,
                to=url,
                title="t",
                body="b",
                data={"i": i},
                priority=Priority.NORMAL,
                scheduled_for=now,
                max_attempts=3,
                idempotency_key=None,
                request_hash=str(i),
                created_at=now,
            )  # fmt: skip
            for i in range(start, min(start + FILL_BATCH, count))
        ]
        store.insert_many(items, now)
    store.close()


def sent(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM notifications WHERE status = 'sent'")
                   .fetchone()[0])  # fmt: skip


def scrape_until(url: str, interval: float, stop: threading.Event, run: Run) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                run.exposition_bytes = len(response.read())
            run.scrapes.append(time.perf_counter() - started)
        except OSError:
            pass  # not listening yet
        stop.wait(max(interval - (time.perf_counter() - started), 0.0))


def parse_ms(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def log_rate(path: Path) -> float:
    times = [parse_ms(json.loads(line)["delivered_at"]) for line in path.open()]
    return (len(times) - 1) / (max(times) - min(times))


def receiver_rate(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=10) as response:
        stats = json.loads(response.read())
    return float((stats["count"] - 1) / (stats["last_at"] - stats["first_at"]))


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def machine_busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def drain(worker: subprocess.Popen[bytes], db: Path, opts: argparse.Namespace, run: Run) -> None:
    """Wait until every notification is sent. The worker's CPU is counted from the first poll
    that sees deliveries (start-up excluded); other processes' CPU over the same time too."""
    deadline = time.monotonic() + opts.timeout
    process, me = psutil.Process(worker.pid), psutil.Process()
    first: tuple[int, float, float, float, float] | None = None
    while (done := sent(db)) < opts.count:
        if time.monotonic() > deadline or worker.poll() is not None:
            raise RuntimeError("the worker did not deliver everything in time")
        if first is None and done:
            first = (done, cpu_seconds(process), machine_busy_seconds(), cpu_seconds(me),
                     time.monotonic())  # fmt: skip
        time.sleep(0.5)
    if first is None:
        return  # drained between two polls: too few notifications to measure CPU
    done0, cpu0, busy0, mine0, at0 = first
    ours = cpu_seconds(process) - cpu0
    run.cpu_us_per_delivery = ours / (opts.count - done0) * 1e6
    other = machine_busy_seconds() - busy0 - ours - (cpu_seconds(me) - mine0)
    run.other_load_cores = max(other, 0.0) / (time.monotonic() - at0)


def one_run(opts: argparse.Namespace, variant: Variant, receiver_port: int | None) -> Run:
    workdir = Path(tempfile.mkdtemp(prefix="notifyctl-metrics-"))
    port = free_port()
    settings = {
        "data_dir": str(workdir), "monitor_port_base": port - 1, "sqlite_synchronous": "normal",
        "log_channel_path": str(workdir / "deliveries.log"),
    }  # fmt: skip
    config = config_module.load(settings, environ={})
    url = f"http://127.0.0.1:{receiver_port}/hook" if receiver_port else None
    fill(config, opts.count, opts.channel, url)
    if receiver_port:
        reset = f"http://127.0.0.1:{receiver_port}/reset"
        urllib.request.urlopen(urllib.request.Request(reset, method="POST"), timeout=10).close()
    env = {**os.environ, **config.to_environ(), "NOTIFYCTL_LOG_LEVEL": "warning"}
    argv = [variant.python, "-m", "notifyctl", "worker", "--id", "1"]
    run = Run(variant, 0.0, 0.0)
    stop = threading.Event()
    worker = subprocess.Popen(argv, env=env, cwd=workdir)
    try:
        if variant.scraped:
            metrics_url = f"http://127.0.0.1:{port}/metrics"
            threading.Thread(target=scrape_until, args=(metrics_url, opts.interval, stop, run),
                             daemon=True).start()  # fmt: skip
        db = Path(config.store_url.removeprefix("sqlite:///"))
        drain(worker, db, opts, run)
    finally:
        stop.set()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    rate = receiver_rate(receiver_port) if receiver_port else log_rate(workdir / "deliveries.log")
    run.delivered_per_s = rate
    if not opts.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return run


def exposition_cost(samples: int = 2_000) -> tuple[float, int]:
    """CPU seconds per ``exposition()`` of a busy-looking worker, and its size in bytes."""
    from notifyctl.worker.worker import Worker

    workdir = Path(tempfile.mkdtemp(prefix="notifyctl-metrics-"))
    config = config_module.load({"data_dir": str(workdir)}, environ={})
    store = open_store(config)
    worker = Worker(config, store, {}, 1)
    for channel in ("webhook", "log"):
        for outcome in ("sent", "retried", "dead"):
            worker.stats.by_channel[(channel, outcome)] = 1_000
        for latency in (30, 300, 3_000):
            worker.metrics.delivered(channel, latency)
    for operation in ("claim_batch", "claim_ids", "finish", "renew", "heartbeat"):
        worker.metrics.observe_store_call(operation, 0.002)
    for route in ("/metrics", "/health", "/stats", "/resources"):
        worker.metrics.observe_request("GET", route, 200, 0.001)
    size = len(worker.metrics.exposition())
    started = time.process_time()
    for _ in range(samples):
        worker.metrics.exposition()
    cost = (time.process_time() - started) / samples
    store.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return cost, size


def served_scrape_cost(seconds: float = 8.0, rate: float = 20.0) -> tuple[float, int]:
    """CPU the worker process spends per scrape, HTTP serving included: an idle worker's CPU
    while scraped ``rate`` times a second, minus its CPU over as long unscraped."""
    workdir = Path(tempfile.mkdtemp(prefix="notifyctl-metrics-"))
    port = free_port()
    config = config_module.load({"data_dir": str(workdir), "monitor_port_base": port - 1},
                                environ={})  # fmt: skip
    env = {**os.environ, **config.to_environ(), "NOTIFYCTL_LOG_LEVEL": "warning"}
    worker = subprocess.Popen([sys.executable, "-m", "notifyctl", "worker", "--id", "1"], env=env)
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        process = psutil.Process(worker.pid)
        before = cpu_seconds(process)
        time.sleep(seconds)
        idle = cpu_seconds(process) - before
        run = Run(Variant("idle", sys.executable, True), 0.0, 0.0)
        stop = threading.Event()
        before = cpu_seconds(process)
        thread = threading.Thread(target=scrape_until, args=(url, 1 / rate, stop, run))
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join()
        scraped = cpu_seconds(process) - before
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)
    return max(scraped - idle, 0.0) / len(run.scrapes), len(run.scrapes)


def start_receiver() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [sys.executable, str(HERE / "receiver.py"), "--port", str(port)]
    process = subprocess.Popen(argv)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the receiver did not start")


def report(
    runs: list[Run], opts: argparse.Namespace, cost: float, size: int, served: tuple[float, int]
) -> None:
    labels = list(dict.fromkeys(r.variant.label for r in runs))
    groups = {label: [r for r in runs if r.variant.label == label] for label in labels}
    reference, other = (groups[label] for label in labels)
    ratios = [o.delivered_per_s / r.delivered_per_s for r, o in zip(reference, other, strict=True)]
    scraping = "none scraped" if opts.baseline else f"scraped every {opts.interval} s"
    print(f"\n{opts.channel}, {opts.count:,} notifications per run, {len(reference)} pairs,"
          f" {scraping}\n")  # fmt: skip
    print("| worker | delivered/s per run | median | worker CPU µs/delivery (median) |"
          " scrapes/run | scrape p50 ms | other load, cores |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---|")
    for label, group in groups.items():
        rates = ", ".join(f"{r.delivered_per_s:,.0f}" for r in group)
        scrapes = [s for r in group for s in r.scrapes]
        p50 = f"{statistics.median(scrapes) * 1000:.1f}" if scrapes else "-"
        per_run = statistics.median(len(r.scrapes) for r in group)
        print(f"| {label} | {rates} | {statistics.median(r.delivered_per_s for r in group):,.0f} |"
              f" {statistics.median(r.cpu_us_per_delivery for r in group):.1f} | {per_run:.0f} |"
              f" {p50} | {', '.join(f'{r.other_load_cores:.1f}' for r in group)} |")  # fmt: skip
    pairs = ", ".join(f"{r:.3f}" for r in ratios)
    print(f"\n{labels[1]}/{labels[0]} delivered/s per pair: {pairs};"
          f" median {statistics.median(ratios):.3f}")  # fmt: skip
    print(f"one exposition in-process: {cost * 1e6:,.0f} µs CPU, {size:,} bytes; at one scrape"
          f" per {opts.interval} s that is {cost / opts.interval * 100:.3f} % of one core; at"
          f" Prometheus' 15 s, {cost / 15 * 100:.4f} %")  # fmt: skip
    per_scrape, scrapes = served
    busy = statistics.median(r.cpu_us_per_delivery * r.delivered_per_s / 1e6 for r in runs)
    print(f"served by an idle worker ({scrapes} scrapes): {per_scrape * 1e6:,.0f} µs CPU per"
          f" scrape, HTTP included; a worker at full speed uses {busy:.2f} core, so one scrape"
          f" per {opts.interval} s costs {per_scrape / opts.interval / busy * 100:.2f} % of its"
          f" CPU, one per 15 s {per_scrape / 15 / busy * 100:.3f} %")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=60_000)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between scrapes")
    parser.add_argument("--channel", choices=("log", "webhook"), default="log")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dirs")
    parser.add_argument("--baseline", help="python of another checkout: compare its worker")
    opts = parser.parse_args()
    if opts.baseline:
        variants = (Variant("baseline", opts.baseline, False),
                    Variant("this", sys.executable, False))  # fmt: skip
    else:
        variants = (Variant("unscraped", sys.executable, False),
                    Variant("scraped", sys.executable, True))  # fmt: skip
    cost, size = exposition_cost()
    served = served_scrape_cost()
    receiver, receiver_port = start_receiver() if opts.channel == "webhook" else (None, None)
    runs: list[Run] = []
    try:
        for pair in range(opts.pairs):
            for variant in variants if pair % 2 == 0 else variants[::-1]:
                run = one_run(opts, variant, receiver_port)
                runs.append(run)
                print(f"pair {pair + 1}: {variant.label} {run.delivered_per_s:,.0f}/s",
                      flush=True)  # fmt: skip
    finally:
        if receiver is not None:
            receiver.terminate()
            receiver.wait(10)
    report(runs, opts, cost, size, served)


if __name__ == "__main__":
    main()
