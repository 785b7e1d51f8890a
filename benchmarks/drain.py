"""The workers alone: how fast N workers drain a backlog, with and without the broker.

Each run starts ``notifyctl api`` on a fresh data dir (its own consumer group with ``--broker``),
accepts ``--count`` log notifications through the batch endpoint, waits for the publishes to
settle, then starts the workers and times them until every notification is ``sent``; it reports
notifications/s (worker start-up included) and each worker's CPU seconds. Modes alternate run by
run, so the machine's drift falls on both alike. Intake is not measured here (``e2e.py`` does the
whole pipeline): this isolates the worker path, and varies far less than ``e2e.py`` (about ±5 %).

    .venv/bin/python benchmarks/drain.py --pairs 4
    .venv/bin/python benchmarks/drain.py --pairs 4 --env WORKER_BATCH_SIZE=100
    .venv/bin/python benchmarks/drain.py --pairs 3 --store postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
NOTIFYCTL = [sys.executable, "-m", "notifyctl"]
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, broker: bool, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                body = json.load(answer)
            if not broker or body.get("messageQueue") == "connected":
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API at {url} did not become healthy in {timeout_s:.0f} s")


def accept(url: str, count: int) -> None:
    for start in range(0, count, 1000):
        items = [{"user_id": f"u{start + i}", "channel": "log", "title": "t"}
                 for i in range(min(1000, count - start))]  # fmt: skip
        body = json.dumps({"notifications": items}).encode()
        request = urllib.request.Request(
            f"{url}/v1/notifications/batch", body, {"content-type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            answer.read()


def sent(db: Path, store: str | None) -> int:
    """Notifications sent so far, in the run's SQLite file or its PostgreSQL schema."""
    query = "SELECT count(*) FROM notifications WHERE status = 'sent'"
    if store is None:
        with sqlite3.connect(db) as conn:
            (n,) = conn.execute(query).fetchone()
        return int(n)
    import psycopg

    with psycopg.connect(store) as pg:
        row = pg.execute(query).fetchone()
    return int(row[0]) if row else 0


def fresh_schema(base_url: str) -> str:
    """A schema of the run's own on the PostgreSQL server, as a store URL (``search_path``)."""
    import psycopg

    schema = f"notifyctl_drain_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as pg:
        pg.execute(f'CREATE SCHEMA "{schema}"')  # type: ignore[arg-type]  # a name made here
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


def drop_schema(base_url: str, store: str) -> None:
    import psycopg

    schema = store.rsplit("%3D", 1)[1]
    with psycopg.connect(base_url, autocommit=True) as pg:
        pg.execute(f'DROP SCHEMA "{schema}" CASCADE')  # type: ignore[arg-type]


def run_once(
    broker: str | None, count: int, workers: int, extra: dict[str, str], pg_base: str | None = None
) -> dict[str, float]:
    """``pg_base``: a PostgreSQL server's URL; the run's store is a fresh schema on it."""
    data = Path(tempfile.mkdtemp(prefix="notifyctl-drain-"))
    group = f"notifyctl-drain-{uuid.uuid4().hex[:12]}"
    port = free_port()
    store = fresh_schema(pg_base) if pg_base else None
    env = {
        **os.environ, "NOTIFYCTL_DATA_DIR": str(data), "RABBITMQ_URL": broker or "none",
        "RABBITMQ_CONSUMER_GROUP": group, "NOTIFYCTL_MONITOR_PORT_BASE": "0",
        "NOTIFYCTL_API_PORT": str(port), "NOTIFYCTL_RATE_LIMIT_PER_S": "0", **extra,
        **({"NOTIFYCTL_STORE_URL": store} if store else {}),
    }  # fmt: skip
    log = (data / "service.log").open("w")
    api = subprocess.Popen([*NOTIFYCTL, "api"], env=env, stdout=log, stderr=log)
    started: list[subprocess.Popen[bytes]] = []
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, broker is not None)
        accept(url, count)
        time.sleep(2)  # let the publisher confirms settle
        t0 = time.monotonic()
        started = [
            subprocess.Popen([*NOTIFYCTL, "worker", "--id", str(n)], env=env, stdout=log,
                             stderr=log)
            for n in range(1, workers + 1)
        ]  # fmt: skip
        deadline = t0 + 300
        while sent(data / "notifyctl.db", store) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"not drained in 300 s; see {data / 'service.log'}")
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        cpu = [sum(psutil.Process(w.pid).cpu_times()[:2]) for w in started]
    finally:
        for process in [*started, api]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*started, api]:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
        if broker is not None:
            sys.path.insert(0, str(HERE))
            import raw_pika

            raw_pika.delete_queues(broker, [group, f"{group}.dead-letters"])
        shutil.rmtree(data, ignore_errors=True)
        if pg_base and store:
            drop_schema(pg_base, store)
    return {"per_s": count / elapsed, "cpu_s": statistics.fmean(cpu)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--count", type=int, default=20_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--pairs", type=int, default=3, help="runs of each mode, alternating")
    p.add_argument("--broker", default=DEFAULT_BROKER, help="the RabbitMQ URL of the broker mode")
    p.add_argument("--env", action="append", default=[], help="extra NAME=VALUE for the service")
    p.add_argument("--store", help="a PostgreSQL server URL: compare SQLite and PostgreSQL stores"
                   " (no broker) instead of broker and no broker")  # fmt: skip
    opts = p.parse_args()
    extra = dict(item.split("=", 1) for item in opts.env)
    modes: tuple[tuple[str, str | None, str | None], ...] = (
        ("broker", opts.broker, None),
        ("no broker", None, None),
    )
    if opts.store:
        modes = (("sqlite", None, None), ("postgresql", None, opts.store))
    results: dict[str, list[dict[str, float]]] = {mode: [] for mode, _, _ in modes}
    for i in range(opts.pairs):
        for mode, broker, pg_base in modes:
            result = run_once(broker, opts.count, opts.workers, extra, pg_base)
            results[mode].append(result)
            print(f"  {mode} run {i + 1}: {result['per_s']:,.0f}/s, worker CPU"
                  f" {result['cpu_s']:.2f} s each", file=sys.stderr)  # fmt: skip
    print("| mode | runs | drained/s (median) | per run | worker CPU s each (median) |"
          " worker CPU µs/notification (median) |\n|---|---:|---:|---|---:|---:|")  # fmt: skip
    for mode, runs in results.items():
        rates = [r["per_s"] for r in runs]
        cpu_s = statistics.median(r["cpu_s"] for r in runs)
        print(f"| {mode} | {len(runs)} | {statistics.median(rates):,.0f}"
              f" | {', '.join(f'{r:,.0f}' for r in rates)}"
              f" | {cpu_s:.2f} | {cpu_s * opts.workers / opts.count * 1e6:,.0f} |")  # fmt: skip
    print(f"\n{opts.count:,} log notifications accepted first, then {opts.workers} workers started;"
          " drained/s counts from their start (start-up included).")  # fmt: skip


if __name__ == "__main__":
    main()
