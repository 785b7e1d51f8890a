"""The raw webhook client's ceiling (issue 21 item 3): what the HTTP client library the webhook
channel uses (aiohttp) does alone, one process, against the same receiver with the same
concurrency, posting the same JSON body and ``webhook-id`` header as the channel.

``e2e.py --webhook-ceiling`` measures it before each webhook run, against that run's receiver
(its counts reset afterwards), and reports the run's delivered/s as a share of it and the workers'
CPU per webhook as a multiple of this client's CPU per request.

    .venv/bin/python benchmarks/webhook_ceiling.py --url http://127.0.0.1:8765/hook --count 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import cpu_figures

#: the worker's default NOTIFYCTL_WORKER_CONCURRENCY: deliveries in flight per worker process
CONCURRENCY = 100


@dataclass(frozen=True)
class Ceiling:
    rate: float  # requests/s that got a 2xx
    cpu_us: float  # the client process's CPU per request
    ok: int


async def post_all(url: str, count: int, concurrency: int) -> int:
    """``count`` POSTs with ``concurrency`` in flight on one kept-alive pool; the 2xx count."""
    ok, next_seq = 0, 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_lane() -> None:
            nonlocal ok, next_seq
            while next_seq < count:
                seq, next_seq = next_seq, next_seq + 1
                nid = f"ceiling-{seq:08d}"
                body = json.dumps({"id": nid, "user_id": f"user-{seq % 997}", "channel": "webhook",
                                   "title": "benchmark", "body": "notifyctl end-to-end benchmark",
                                   "data": {"seq": seq}, "priority": "normal",
                                   "created_at": None, "attempt": 1},
                                  separators=(",", ":")).encode()  # fmt: skip
                headers = {"content-type": "application/json", "webhook-id": nid}
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    ok += 200 <= response.status < 300

        await asyncio.gather(*(one_lane() for _ in range(concurrency)))
    return ok


def child(url: str, count: int, concurrency: int) -> None:
    """In the measuring process: uvloop as the workers, then one JSON line of figures."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    wall, cpu = time.perf_counter(), time.process_time()
    ok = asyncio.run(post_all(url, count, concurrency))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(json.dumps({"rate": ok / wall, "cpu_us": 1e6 * cpu / max(ok, 1), "ok": ok}))


def measure(url: str, count: int, concurrency: int = CONCURRENCY) -> Ceiling:
    argv = [sys.executable, str(Path(__file__).resolve()), "--url", url, "--count", str(count),
            "--concurrency", str(concurrency)]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return Ceiling(**json.loads(out.splitlines()[-1]))


def report(rows: dict[str, list[Any]]) -> str:
    """Per mode whose runs carry a ceiling: delivered/s over it, worker CPU over its CPU."""
    lines = ["| mode | raw client req/s (median) | delivered/s share of it | per run"
             " | raw client CPU µs/request | worker CPU µs/webhook | multiple | per run |",
             "|---|---:|---:|---|---:|---:|---:|---|"]  # fmt: skip
    for mode, runs in rows.items():
        runs = [r for r in runs if r.ceiling is not None]
        if not runs:
            continue
        share = [r.delivered_per_s / r.ceiling.rate for r in runs]
        workers = [cpu_figures.per_notification_us(r.cpu_s, r.delivered)["workers"] for r in runs]
        multiple = [w / r.ceiling.cpu_us for w, r in zip(workers, runs, strict=True)]
        lines.append(
            f"| {mode} | {statistics.median(r.ceiling.rate for r in runs):,.0f}"
            f" | {statistics.median(share):.0%} | {', '.join(f'{x:.0%}' for x in share)}"
            f" | {statistics.median(r.ceiling.cpu_us for r in runs):,.0f}"
            f" | {statistics.median(workers):,.0f} | {statistics.median(multiple):.2f}x"
            f" | {', '.join(f'{x:.2f}' for x in multiple)} |"
        )
    return "\n".join(lines) if len(lines) > 2 else ""


def main() -> None:
    p = argparse.ArgumentParser(description="the raw aiohttp webhook client's ceiling")
    p.add_argument("--url", required=True)
    p.add_argument("--count", type=int, default=20_000)
    p.add_argument("--concurrency", type=int, default=CONCURRENCY)
    a = p.parse_args()
    child(a.url, a.count, a.concurrency)


if __name__ == "__main__":
    main()
