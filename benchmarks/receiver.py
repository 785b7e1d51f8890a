"""A fast webhook receiver for the benchmarks: answers 200 to every POST and records it.

Run as its own process so its CPU is not the benchmark driver's:

    python benchmarks/receiver.py --port 8765 [--dump deliveries.json]

For each POST it keeps the ``webhook-id`` header, the receive time (``time.time()``) and the
payload's ``created_at`` (RFC 3339 with milliseconds), which is all an end-to-end latency needs.

- ``GET /stats`` -> ``{"count", "unique", "duplicates", "first_at", "last_at"}``
- ``GET /dump``  -> ``{"ids": [...], "received_at": [...], "created_at": [...]}`` in arrival order
- ``POST /reset`` forgets everything (for a run that reuses the receiver)

With ``--dump FILE`` the same JSON as ``/dump`` is written to FILE when the process stops
(SIGTERM or SIGINT).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import web


class Recorder:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.ids: list[str] = []
        self.received_at: list[float] = []
        self.created_at: list[str | None] = []
        self.seen: set[str] = set()

    def record(self, webhook_id: str, at: float, created_at: str | None) -> None:
        self.ids.append(webhook_id)
        self.received_at.append(at)
        self.created_at.append(created_at)
        self.seen.add(webhook_id)

    def stats(self) -> dict[str, Any]:
        count = len(self.ids)
        return {
            "count": count,
            "unique": len(self.seen),
            "duplicates": count - len(self.seen),
            "first_at": self.received_at[0] if count else None,
            "last_at": self.received_at[-1] if count else None,
        }

    def dump(self) -> dict[str, Any]:
        return {"ids": self.ids, "received_at": self.received_at, "created_at": self.created_at}


def created_at_of(body: bytes) -> str | None:
    try:
        value = json.loads(body).get("created_at")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None


def build_app(recorder: Recorder) -> web.Application:
    async def hook(request: web.Request) -> web.Response:
        at = time.time()
        body = await request.read()
        recorder.record(request.headers.get("webhook-id", ""), at, created_at_of(body))
        return web.Response(status=200)

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(recorder.stats())

    async def dump(request: web.Request) -> web.Response:
        return web.json_response(recorder.dump())

    async def reset(request: web.Request) -> web.Response:
        recorder.reset()
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_get("/stats", stats)
    app.router.add_get("/dump", dump)
    app.router.add_post("/reset", reset)
    app.router.add_post("/{tail:.*}", hook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dump", type=Path, help="write every delivery here as JSON at exit")
    args = parser.parse_args()
    recorder = Recorder()
    app = build_app(recorder)
    if args.dump:

        async def write_dump(app: web.Application) -> None:
            args.dump.write_text(json.dumps(recorder.dump()))

        app.on_shutdown.append(write_dump)
    # run_app turns SIGTERM/SIGINT into a clean shutdown, so on_shutdown runs.
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        backlog=1024,
        shutdown_timeout=2.0,
    )


if __name__ == "__main__":
    main()
