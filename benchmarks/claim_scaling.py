"""Claim cost against the size of the backlog: a SqliteStore with 10,000 vs 1,000,000 due rows.

Each size gets a fresh database filled through the store's own ``insert_many`` (rows built by the
API's own ``parse_notification``, so they are exactly what the API stores), in batches, with
``synchronous=normal`` (as the workers run). Then, ``--claims`` times: ``claim_batch(worker, 50,
now, 30000)`` and ``finish(... SENT)`` are timed separately. Claimed-and-sent rows leave the pending
set, so after each round 50 new rows are inserted (untimed): the backlog stays at its size.

    .venv/bin/python benchmarks/claim_scaling.py                # 10,000 and 1,000,000
    .venv/bin/python benchmarks/claim_scaling.py --sizes 10000,100000,1000000 --claims 500
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from notifyctl.lease import worker_identity
from notifyctl.model import NewNotification, Outcome, Verdict, now_ms
from notifyctl.store.sqlite import SqliteStore
from notifyctl.store.sqlite.leases import CLAIM_CANDIDATES
from notifyctl.validation import parse_notification

LEASE_MS = 30_000
BATCH = 50


def make_items(start: int, count: int, base_ms: int) -> list[NewNotification]:
    """Notifications as the API makes them, created 10 per millisecond from ``base_ms`` on."""
    items = []
    for seq in range(start, start + count):
        body = {
            "user_id": f"user-{seq % 997}",
            "channel": "webhook",
            "to": "http://127.0.0.1:9/hook",
            "title": "claim scaling",
            "body": "notifyctl claim-scaling benchmark",
            "data": {"seq": seq},
        }
        items.append(parse_notification(body, base_ms + seq // 10, 3))
    return items


def fill(store: SqliteStore, rows: int, base_ms: int, chunk: int) -> float:
    started = time.perf_counter()
    for start in range(0, rows, chunk):
        items = make_items(start, min(chunk, rows - start), base_ms)
        store.insert_many(items, items[-1].created_at)
    return time.perf_counter() - started


def query_plan(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        plan = conn.execute(f"EXPLAIN QUERY PLAN {CLAIM_CANDIDATES}", (1, now_ms(), 0, BATCH))
        return "; ".join(row[-1] for row in plan)


def pending(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM notifications WHERE status IN ('pending', 'scheduled')"
        ).fetchone()
        return int(count)


@dataclass
class Timing:
    rows: int
    fill_s: float
    claim_ms: list[float]
    finish_ms: list[float]
    claimed: int
    plan: str
    pending_after: int

    def stat(self, which: str, q: float) -> float:
        values = sorted(getattr(self, f"{which}_ms"))
        return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


@dataclass
class Backlog:
    """One database of ``rows`` due notifications and the timings taken on it."""

    rows: int
    directory: Path
    store: SqliteStore
    base_ms: int
    next_seq: int
    fill_s: float = 0.0
    plan: str = ""
    pending_after: int = 0

    def __post_init__(self) -> None:
        self.worker = worker_identity()
        self.claim_ms: list[float] = []
        self.finish_ms: list[float] = []

    @property
    def db(self) -> Path:
        return self.directory / "notifyctl.db"

    def stat(self, which: str, q: float) -> float:
        values = sorted(getattr(self, f"{which}_ms"))
        return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]

    def one_round(self, timed: bool, profiler: cProfile.Profile | None = None) -> None:
        if profiler is not None:
            profiler.enable()
        t0 = time.perf_counter()
        got = self.store.claim_batch(self.worker, BATCH, now_ms(), LEASE_MS)
        t1 = time.perf_counter()
        self.store.finish([Outcome(c, Verdict.SENT) for c in got], now_ms())
        t2 = time.perf_counter()
        if profiler is not None:
            profiler.disable()
        if len(got) != BATCH:
            raise RuntimeError(f"claimed {len(got)} rows, expected {BATCH}: the backlog ran out")
        if timed:
            self.claim_ms.append((t1 - t0) * 1000)
            self.finish_ms.append((t2 - t1) * 1000)
        replacement = make_items(self.next_seq, BATCH, self.base_ms)  # untimed: same size
        self.store.insert_many(replacement, replacement[-1].created_at)
        self.next_seq += BATCH


def open_backlog(rows: int, chunk: int) -> Backlog:
    directory = Path(tempfile.mkdtemp(prefix=f"notifyctl-claims-{rows}-"))
    store = SqliteStore(f"sqlite:///{directory / 'notifyctl.db'}", synchronous="normal")
    base_ms = now_ms() - rows // 10 - 60_000  # every row due, the oldest first
    backlog = Backlog(rows, directory, store, base_ms, rows)
    backlog.fill_s = fill(store, rows, base_ms, chunk)
    print(f"  filled {rows:,} rows in {backlog.fill_s:.1f} s", file=sys.stderr, flush=True)
    return backlog


def measure(backlogs: list[Backlog], claims: int, warmup: int, profile: bool) -> str:
    """Rounds alternate between the backlogs, so the machine's noise hits every size alike.

    With ``profile``, ``claims`` more (untimed) rounds on the largest backlog run under cProfile
    afterwards, so the profiler's overhead never enters the timings.
    """
    for _ in range(warmup):
        for backlog in backlogs:
            backlog.one_round(timed=False)
    for _ in range(claims):
        for backlog in backlogs:
            backlog.one_round(timed=True)
    if not profile:
        return ""
    profiler = cProfile.Profile()
    for _ in range(claims):
        backlogs[-1].one_round(False, profiler)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(14)
    return out.getvalue()


def report(timings: list[Backlog]) -> Iterator[str]:
    yield (
        "| pending rows | fill s | claim p50 ms | claim p99 ms | finish p50 ms | finish p99 ms"
        " | claim+finish p50 ms | claims |"
    )
    yield "|---:|---:|---:|---:|---:|---:|---:|---:|"
    for t in timings:
        pair = statistics.median(c + f for c, f in zip(t.claim_ms, t.finish_ms, strict=True))
        yield (
            f"| {t.rows:,} | {t.fill_s:.1f} | {t.stat('claim', 50):.3f} | {t.stat('claim', 99):.3f}"
            f" | {t.stat('finish', 50):.3f} | {t.stat('finish', 99):.3f} | {pair:.3f}"
            f" | {len(t.claim_ms)} x {BATCH} |"
        )
    small, large = timings[0], timings[-1]
    for which in ("claim", "finish"):
        ratio = large.stat(which, 50) / small.stat(which, 50)
        yield (
            f"\n{which} p50 at {large.rows:,} / at {small.rows:,} pending rows: {ratio:.2f}x"
            + ("  (target <= 1.5x)" if which == "claim" else "")
        )
    yield f"\nclaim query plan: {large.plan}"
    for t in timings:
        yield f"pending rows after the run at {t.rows:,}: {t.pending_after:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description="claim cost vs backlog size (SqliteStore)")
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated row counts")
    parser.add_argument("--claims", type=int, default=200, help="timed claims per size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed claims first")
    parser.add_argument("--chunk", type=int, default=5_000, help="rows per insert_many")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the rounds on the largest backlog"
    )
    args = parser.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    backlogs: list[Backlog] = []
    try:
        for rows in sizes:
            print(f"{rows:,} pending rows ...", file=sys.stderr, flush=True)
            backlogs.append(open_backlog(rows, args.chunk))
        profile = measure(backlogs, args.claims, args.warmup, args.profile)
        for backlog in backlogs:
            backlog.store.close()
            backlog.plan = query_plan(backlog.db)
            backlog.pending_after = pending(backlog.db)
        print("\n".join(report(backlogs)))
        if profile:
            print(f"\ncProfile of the rounds at {sizes[-1]:,} rows (claim and finish only):")
            print(profile)
    finally:
        for backlog in backlogs:
            if args.keep:
                print(f"kept {backlog.directory}", file=sys.stderr)
            else:
                shutil.rmtree(backlog.directory, ignore_errors=True)


if __name__ == "__main__":
    main()
