"""notifyctl against Celery and Dramatiq doing the same work on the same RabbitMQ (issue 21 item 1).

Per run index, each system in turn (so all share each stretch of the machine's noise):

- **notifyctl**: ``e2e.py``'s run with ``--broker`` (``notifyctl --broker URL up --workers W``, a
  consumer group of the run's own): N notifications in through the API (persisted in SQLite
  before the 201), delivered by W worker processes.
- **celery** / **dramatiq**: W worker processes (``celery worker --pool prefork --concurrency
  W``, ``dramatiq --processes W``) on a queue of the run's own; a separate process enqueues the N
  notifications (``apply_async`` / ``send``, persistent messages on a durable queue); the task
  (``peers_app.py``) delivers each as notifyctl does.

The sink is the same for all: a log file of one JSON line per delivery (``--mode log``) or
``receiver.py`` (``--mode webhook``). Duplicates and lost are counted from the sink. delivered/s
is N over first enqueue (first POST) to last delivery. CPU per notification: for notifyctl the
service (supervisor, API, workers) plus RabbitMQ, the HTTP client sending the batches excluded;
for a peer its worker processes (every process of the tree) plus the enqueuing process (its
sending loop, not its start-up) plus RabbitMQ. Needs ``pip install -e '.[bench,peers]'``.

    .venv/bin/python benchmarks/peers.py --count 20000 --runs 3
    .venv/bin/python benchmarks/peers.py --mode webhook --count 10000 --runs 3
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import cpu_figures
import e2e
import psutil
import raw_pika

HERE = Path(__file__).resolve().parent
PEERS = ("celery", "dramatiq")
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672/%2F"


@dataclass
class Result:
    system: str
    delivered: int
    delivered_per_s: float
    duplicates: int
    lost: int
    cpu_us: dict[str, float]  # by part, and "total"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="notifyctl against Celery and Dramatiq")
    p.add_argument("--count", type=int, default=20_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--workers", type=int, default=2, help="worker processes of every system")
    p.add_argument("--mode", choices=("log", "webhook"), default="log")
    p.add_argument("--systems", default="notifyctl,celery,dramatiq")
    p.add_argument("--broker", default=DEFAULT_BROKER)
    p.add_argument("--dramatiq-threads", type=int, default=8, help="Dramatiq's default: 8")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--stall", type=float, default=60)
    p.add_argument("--enqueue", choices=PEERS, help=argparse.SUPPRESS)  # the enqueuing child
    p.add_argument("--tag", default="", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def record_ids(tag: str, count: int) -> list[str]:
    return [f"{tag}-{seq:08d}" for seq in range(count)]


def enqueue(system: str, count: int, tag: str) -> None:
    """In the enqueuing child: send ``count`` notifications; prints when it started and ended."""
    import peers_app

    send = (
        (lambda r: peers_app.celery_deliver.apply_async((r,)))
        if system == "celery"
        else peers_app.dramatiq_deliver.send
    )
    started, cpu = time.time(), time.process_time()  # imports and connecting not counted
    for seq, nid in enumerate(record_ids(tag, count)):
        record = e2e.make_item(seq, "log", None)
        record.update(id=nid, created_at=peers_app.iso_now())
        send(record)
    cpu_s = time.process_time() - cpu
    print(json.dumps({"started_at": started, "finished_at": time.time(), "cpu_s": cpu_s}))


def worker_argv(system: str, opts: argparse.Namespace, queue: str) -> list[str]:
    if system == "celery":
        return [sys.executable, "-m", "celery", "-A", "peers_app", "worker", "--pool",
                "prefork", "--concurrency", str(opts.workers), "--loglevel", "WARNING",
                "-Q", queue]  # fmt: skip
    return [sys.executable, "-m", "dramatiq", "peers_app", "--processes", str(opts.workers),
            "--threads", str(opts.dramatiq_threads), "--queues", queue]  # fmt: skip


def tree_cpu(root: psutil.Process, seen: dict[int, float]) -> float:
    """CPU seconds of ``root`` and its descendants, each process's last reading kept."""
    with contextlib.suppress(psutil.Error):
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                seen[proc.pid] = t.user + t.system
    return sum(seen.values())


def wait_for_consumers(url: str, queue: str, at_least: int) -> None:
    def ready() -> bool:
        with raw_pika.connect(url) as conn:
            try:
                ok = conn.channel().queue_declare(queue, passive=True)
            except Exception:
                return False
            return int(ok.method.consumer_count) >= at_least

    e2e.wait_until(ready, 90, f"consumers on {queue}", every=0.5)


def run_peer(system: str, opts: argparse.Namespace, index: int) -> Result:
    work = Path(tempfile.mkdtemp(prefix=f"peers-{system}-"))
    tag, queue = uuid.uuid4().hex[:8], f"peers-bench-{system}-{uuid.uuid4().hex[:10]}"
    receiver = e2e.Receiver() if opts.mode == "webhook" else None
    sink = work / "deliveries.log"
    env = {**os.environ, "PEERS_BROKER": opts.broker, "PEERS_QUEUE": queue,
           "PEERS_SINK": f"{receiver.url}/hook" if receiver else str(sink),
           "PYTHONPATH": str(HERE)}  # fmt: skip
    workers = None
    try:
        if receiver is not None:
            receiver.start()
        with (work / "workers.log").open("wb") as out:
            workers = subprocess.Popen(worker_argv(system, opts, queue), env=env, cwd=work,
                                       stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
        wait_for_consumers(opts.broker, queue, 1 if system == "celery" else opts.workers)
        time.sleep(1.0)  # every process of the pool up
        return measure_peer(system, opts, env, psutil.Process(workers.pid), receiver, sink, tag)
    finally:
        if workers is not None:
            stop_tree(workers)
        if receiver is not None:
            receiver.stop()
        raw_pika.delete_quietly(opts.broker, [queue, f"{queue}.DQ", f"{queue}.XQ"])
        shutil.rmtree(work, ignore_errors=True)


def measure_peer(
    system: str,
    opts: argparse.Namespace,
    env: dict[str, str],
    workers: psutil.Process,
    receiver: e2e.Receiver | None,
    sink: Path,
    tag: str,
) -> Result:
    rabbit = raw_pika.rabbitmq_process()
    seen: dict[int, float] = {}
    cpu0, rabbit0 = tree_cpu(workers, seen), rabbit.cpu_times() if rabbit else None
    argv = [sys.executable, __file__, "--enqueue", system, "--count", str(opts.count),
            "--tag", tag]  # fmt: skip
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    times = json.loads(out.splitlines()[-1])
    progress = (lambda: int(receiver.stats()["unique"])) if receiver else e2e.LogTail(sink).count
    e2e.wait_for(progress, opts.count, opts)  # type: ignore[arg-type]
    worker_s = tree_cpu(workers, seen) - cpu0
    rabbit_s = sum(rabbit.cpu_times()[:2]) - sum(rabbit0[:2]) if rabbit and rabbit0 else 0.0
    enqueue_s = float(times["cpu_s"])  # its own sending loop: start-up and imports left out
    time.sleep(1.0)  # a late duplicate
    got = e2e.webhook_deliveries(receiver) if receiver else e2e.log_deliveries(sink)
    intake = e2e.Intake(set(record_ids(tag, opts.count)), started_at=times["started_at"],
                        finished_at=times["finished_at"])  # fmt: skip
    s = e2e.summarize(opts.mode, opts, intake, got)  # type: ignore[arg-type]
    n = max(s["delivered"], 1)
    cpu = {"workers": worker_s, "enqueuer": enqueue_s, "rabbitmq": rabbit_s}
    us = {part: 1e6 * v / n for part, v in cpu.items()}
    us["total"] = sum(us.values())
    return Result(system, s["delivered"], s["delivered_per_s"], s["duplicates"], s["lost"], us)


def stop_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the launcher (both peers stop their pools on it), then what is left, by PID."""
    children = []
    with contextlib.suppress(psutil.Error):
        children = psutil.Process(proc.pid).children(recursive=True)
    e2e.stop_process(proc, 20)
    for child in children:
        with contextlib.suppress(psutil.Error):
            child.kill()


def run_notifyctl(opts: argparse.Namespace, index: int) -> Result:
    argv = ["--count", str(opts.count), "--workers", str(opts.workers), "--channel", opts.mode,
            "--broker", opts.broker, "--timeout", str(opts.timeout),
            "--stall", str(opts.stall)]  # fmt: skip
    e2e_opts = e2e.parse_args(argv)
    r = e2e.run_once(e2e_opts, opts.mode, index)
    us = cpu_figures.per_notification_us(r.cpu_s, r.delivered)
    parts = {"service": us["service"], "rabbitmq": us["rabbitmq"], "total": us["service+broker"]}
    return Result("notifyctl", r.delivered, r.delivered_per_s, r.duplicates, r.lost, parts)


def report(rows: dict[str, list[Result]]) -> str:
    lines = ["| system | runs | delivered/s (median) | per run | CPU µs/notification (median)"
             " | per run | parts (medians) | dup | lost |",
             "|---|---:|---:|---|---:|---|---|---:|---:|"]  # fmt: skip
    for system, runs in rows.items():
        parts = ", ".join(f"{p} {statistics.median(r.cpu_us[p] for r in runs):,.0f}"
                          for p in runs[0].cpu_us if p != "total")  # fmt: skip
        lines.append(
            f"| {system} | {len(runs)} | {statistics.median(r.delivered_per_s for r in runs):,.0f}"
            f" | {', '.join(f'{r.delivered_per_s:,.0f}' for r in runs)}"
            f" | {statistics.median(r.cpu_us['total'] for r in runs):,.0f}"
            f" | {', '.join(format(r.cpu_us['total'], ',.0f') for r in runs)} | {parts}"
            f" | {sum(r.duplicates for r in runs)} | {sum(r.lost for r in runs)} |"
        )
    return "\n".join(lines) + "\n\n" + ratios(rows)


def ratios(rows: dict[str, list[Result]]) -> str:
    """notifyctl / peer delivered/s and peer / notifyctl CPU, run by run (same index)."""
    ours = rows.get("notifyctl", [])
    out = []
    for peer in (s for s in rows if s != "notifyctl"):
        pairs = list(zip(ours, rows[peer], strict=False))
        if not pairs:
            continue
        rate = [a.delivered_per_s / b.delivered_per_s for a, b in pairs]
        cpu = [b.cpu_us["total"] / a.cpu_us["total"] for a, b in pairs]
        out.append(
            f"notifyctl / {peer}: delivered/s ratio median **{statistics.median(rate):.2f}x**"
            f" (runs {', '.join(f'{x:.2f}' for x in rate)}); {peer}'s CPU per notification over"
            f" notifyctl's: median **{statistics.median(cpu):.2f}x**"
            f" (runs {', '.join(f'{x:.2f}' for x in cpu)})"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    opts = parse_args(argv)
    if opts.enqueue:
        enqueue(opts.enqueue, opts.count, opts.tag)
        return
    systems = [s.strip() for s in opts.systems.split(",") if s.strip()]
    rows: dict[str, list[Result]] = {s: [] for s in systems}
    for index in range(1, opts.runs + 1):
        for system in systems:
            print(f"{system} run {index}/{opts.runs} ...", file=sys.stderr, flush=True)
            r = run_peer(system, opts, index) if system in PEERS else run_notifyctl(opts, index)
            us = ", ".join(f"{k} {v:,.0f}" for k, v in r.cpu_us.items())
            line = f"  {system}: {r.delivered} at {r.delivered_per_s:,.0f}/s, dup {r.duplicates}"
            print(f"{line} lost {r.lost}; CPU µs/notification {us}", file=sys.stderr, flush=True)
            rows[system].append(r)
    print(report(rows))
    print(f"\n{opts.count:,} notifications per run, {opts.workers} worker processes each,"
          f" sink {opts.mode}, broker {raw_pika.safe_url(opts.broker)}.")  # fmt: skip


if __name__ == "__main__":
    main()
