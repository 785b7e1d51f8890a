"""The per-notification hot path in one process, without HTTP: CPU µs per notification of each
store call a notification costs, and of the log channel's line, for one or more copies of the
package, interleaved run by run (issue 21 item 4: every cut measured before/after).

Far steadier than ``e2e.py`` on a shared machine (one thread, ``time.process_time``, no
scheduling between processes), and it isolates what a cut changes. Per run, in a fresh SQLite
database (``synchronous=normal``, as the workers run): ``insert_many`` of ``--count``
notifications built by the API's own ``parse_notification`` in batches of 1,000 (the API's
store call), then ``claim_batch`` of 50 and ``finish`` (SENT) until the backlog is drained (a
worker's store calls), then the log channel's line (``payload`` and its JSON) for each.

Each ``--pkg DIR`` is a copy of the package (``git archive COMMIT notifyctl | tar -x -C DIR``),
run in a child process with ``PYTHONPATH=DIR``; ``--pkg .`` is the working tree.

    .venv/bin/python benchmarks/hot_path.py --pkg /tmp/pkg-base --pkg . --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BATCH = 50
LEASE_MS = 30_000
STEPS = ("insert", "claim", "finish", "log line")


def make_bodies(count: int) -> list[dict[str, Any]]:
    """Request bodies shaped as ``e2e.py``'s log channel items."""
    return [
        {"user_id": f"user-{seq % 997}", "channel": "log", "title": "Benchmark",
         "body": f"notification {seq}", "data": {"seq": seq}}
        for seq in range(count)
    ]  # fmt: skip


def one_run(count: int) -> dict[str, float]:
    """In the child: CPU µs per notification of each step, and what was claimed."""
    from notifyctl.lease import worker_identity
    from notifyctl.model import Outcome, Verdict, now_ms
    from notifyctl.shapes import iso_ms, payload

    line = line_encoder()
    from notifyctl.store.sqlite import SqliteStore
    from notifyctl.validation import parse_notification

    directory = Path(tempfile.mkdtemp(prefix="notifyctl-hotpath-"))
    store = SqliteStore(f"sqlite:///{directory / 'notifyctl.db'}", synchronous="normal")
    bodies, worker, cpu = make_bodies(count), worker_identity(), dict.fromkeys(STEPS, 0.0)
    now = now_ms()
    items = [parse_notification(b, now, 3) for b in bodies]
    for start in range(0, count, 1000):
        t0 = time.process_time()
        store.insert_many(items[start : start + 1000], now_ms())
        cpu["insert"] += time.process_time() - t0
    claimed = []
    while True:
        t0 = time.process_time()
        claims = store.claim_batch(worker, BATCH, now_ms(), LEASE_MS)
        t1 = time.process_time()
        if not claims:
            break
        store.finish([Outcome(c, Verdict.SENT) for c in claims], now_ms())
        cpu["claim"] += t1 - t0
        cpu["finish"] += time.process_time() - t1
        claimed += claims
    t0 = time.process_time()
    for claim in claimed:
        record = payload(claim.notification)
        record["delivered_at"] = iso_ms(now_ms())
        line(record)
    cpu["log line"] = time.process_time() - t0
    if len(claimed) != count:
        raise RuntimeError(f"claimed {len(claimed)} of {count}")
    return {step: 1e6 * s / count for step, s in cpu.items()}


def line_encoder() -> Any:
    """The log channel's encoding of a line in the package under test (``shapes.dumps`` since
    issue 21, ``json.dumps`` before)."""
    try:
        from notifyctl.shapes import dumps  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return lambda record: (json.dumps(record, separators=(",", ":")) + "\n").encode()
    return lambda record: dumps(record) + b"\n"


def run_child(pkg: str, count: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(Path(pkg).resolve())}
    argv = [sys.executable, __file__, "--child", "--count", str(count)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.splitlines()[-1]))


def report(results: dict[str, list[dict[str, float]]]) -> str:
    lines = [
        "| package | runs | " + " | ".join(f"{s} µs" for s in STEPS) + " | worker store µs"
        " | total µs | total per run |",
        "|---|---:|" + "---:|" * (len(STEPS) + 2) + "---|",
    ]
    for pkg, runs in results.items():
        for r in runs:
            r["worker store"] = r["claim"] + r["finish"]
            r["total"] = sum(r[s] for s in STEPS)
        cells = [f"{statistics.median(r[s] for r in runs):.1f}" for s in (*STEPS, "worker store")]
        total = statistics.median(r["total"] for r in runs)
        per_run = ", ".join(f"{r['total']:.1f}" for r in runs)
        lines.append(f"| {pkg} | {len(runs)} | {' | '.join(cells)} | **{total:.1f}** | {per_run} |")
    return "\n".join(lines) + "\n\nCPU µs per notification (process_time), medians over the runs."


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pkg", action="append", default=[], help="a copy of the package ('.' = tree)")
    p.add_argument("--count", type=int, default=10_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(one_run(a.count)))
        return
    results: dict[str, list[dict[str, float]]] = {pkg: [] for pkg in a.pkg or ["."]}
    for run in range(1, a.runs + 1):
        for pkg in results:  # interleaved: every copy sees each stretch of the machine's noise
            r = run_child(pkg, a.count)
            results[pkg].append(r)
            figures = ", ".join(f"{k} {v:.1f}" for k, v in r.items())
            print(f"run {run} {pkg}: {figures}", file=sys.stderr, flush=True)
    print(report(results))


if __name__ == "__main__":
    main()
