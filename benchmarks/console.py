"""The console's server time per page (issue 19: under 50 ms with 1,000,000 notifications in
SQLite). Builds a store of ``--rows`` notifications spread over the last ``--days`` days (most
sent, some dead, a waiting backlog, some scheduled), then renders each page ``--repeat`` times
in process (the real app, a signed-in operator) and prints the median and p90 per page, with the
time of each store query the overview makes.

    .venv/bin/python benchmarks/console.py --rows 1000000            # about 3 minutes to build
    .venv/bin/python benchmarks/console.py --rows 1000000 --keep /tmp/console.db   # reuse it

Timings are of this machine at the time (noisy, 2 cores): compare runs of one invocation.
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.api.console import data
from notifyctl.config import load
from notifyctl.model import now_ms
from notifyctl.ops import inspect
from notifyctl.store import Store, open_store
from notifyctl.validation import parse_notification

KEY = "console-benchmark-operator-key"
CHUNK = 5_000


def build(store: Store, rows: int, days: float) -> None:
    """``rows`` notifications created evenly over the last ``days`` days, oldest first."""
    now = now_ms()
    span = int(days * 86_400_000)
    for start in range(0, rows, CHUNK):
        items = []
        for seq in range(start, min(start + CHUNK, rows)):
            created = now - span + span * seq // rows
            body = {"user_id": f"user-{seq % 9_973}", "channel": "webhook" if seq % 3 else "log",
                    "to": "http://127.0.0.1:9/hook" if seq % 3 else None, "title": "bench",
                    "body": "console benchmark", "data": {"seq": seq}}  # fmt: skip
            if not body["to"]:
                del body["to"]
            items.append(parse_notification(body, created, 3))
        store.insert_many(items, now)
        print(f"\r  inserted {min(start + CHUNK, rows):,}", end="", flush=True)
    print()


def finish_most(db: Path, now: int) -> None:
    """As a deployment that ran for days looks: 97 % sent a second after creation, 1 % dead,
    the rest waiting (2 % pending, scheduled ones an hour ahead). Direct SQL: minutes faster
    than claiming each."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "UPDATE notifications SET status = 'sent', sent_at = created_at + 1000,"
            " updated_at = created_at + 1000, attempts = 1 WHERE abs(random()) % 100 < 97"
        )
        conn.execute(
            "UPDATE notifications SET status = 'dead', updated_at = created_at + 5000,"
            " attempts = 3, last_error = 'HTTP 410 Gone' WHERE status = 'pending'"
            " AND abs(random()) % 100 < 33"
        )
        conn.execute(
            "UPDATE notifications SET status = 'scheduled', available_at = ?, scheduled_for = ?"
            " WHERE status = 'pending' AND abs(random()) % 100 < 50",
            (now + 3_600_000, now + 3_600_000),
        )
        conn.commit()


def timed(call: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(name: str, times: list[float]) -> None:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    print(f"  {name:<38} median {statistics.median(times):8.1f} ms   p90 {p90:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", type=Path, help="the SQLite file (reused when it exists)")
    args = parser.parse_args()
    folder = (args.keep or Path(f"/tmp/notifyctl-console-bench-{args.rows}.db")).parent
    db = args.keep or folder / f"notifyctl-console-bench-{args.rows}.db"
    config = load({"data_dir": str(folder), "store_url": f"sqlite:///{db}", "api_keys": KEY}, {})
    fresh = not db.exists()
    store = open_store(config)
    if fresh:
        started = time.perf_counter()
        build(store, args.rows, args.days)
        finish_most(db, now_ms())
        print(f"  built {args.rows:,} rows in {time.perf_counter() - started:.0f} s: {db}")
    counts = store.counts(now_ms())
    print("  counts:", {k: v for k, v in counts.items() if v})
    now = now_ms()
    print("store queries of the overview (operator, every tenant):")
    report("counts", timed(lambda: store.counts(now), args.repeat))
    report("finished_since x3", timed(lambda: inspect.stats(store, now), args.repeat))
    report("oldest_due", timed(lambda: store.oldest_due(now), args.repeat))
    report("backlog (by priority and channel)", timed(lambda: store.backlog(now), args.repeat))
    chart = timed(lambda: store.delivered_series(now - 900_000, 30_000, 30), args.repeat)
    report("delivered_series (chart)", chart)
    uncached = timed(lambda: data.overview(store, now, None, True), args.repeat)
    report("all of the overview's figures (uncached)", uncached)
    dead = store.dead_letters(None, None, None, 1, None)
    with TestClient(build_app(config, store), base_url="http://127.0.0.1") as client:
        client.post("/console/login", data={"key": KEY})
        pages = {"overview": "/console", "overview fragment (2 s refresh)": "/console?fragment=1",
                 "workers": "/console/workers", "dead letters (200 listed)": "/console/dead",
                 "dead letters, error filter": "/console/dead?error=gone",
                 "a notification": f"/console/notifications/{dead[0].id}" if dead else "/console",
                 "search by user": "/console/search?q=user-42"}  # fmt: skip
        print(
            f"server time per page ({args.repeat} each, in process; the overview's figures"
            " are shared for 2 s, so most of its renders here are cache hits):"
        )
        for name, path in pages.items():
            report(name, timed(lambda path=path: client.get(path).raise_for_status(), args.repeat))
    store.close()


if __name__ == "__main__":
    main()
