"""The worker's monitoring server (port 9090 + worker number): ``/health``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from notifyctl.errors import StoreError
from notifyctl.model import now_ms
from notifyctl.roles.api import broker_state

if TYPE_CHECKING:
    from notifyctl.roles.worker import Worker


def build_monitor_app(worker: Worker) -> Starlette:
    async def health(request: Request) -> JSONResponse:
        try:
            await anyio.to_thread.run_sync(worker.store.ping)
            database = "connected"
        except StoreError:
            database = "disconnected"
        healthy = database == "connected" and not worker.stopping.is_set()
        body = {
            "status": "healthy" if healthy else "unhealthy",
            "worker": worker.number,
            "workerId": worker.id,
            "database": database,
            "messageQueue": broker_state(worker.broker),
            "inFlight": worker.in_flight,
            "processed": worker.stats.processed,
            "uptime": (now_ms() - worker.started_at) // 1000,
        }
        return JSONResponse(body, status_code=200 if healthy else 503)

    return Starlette(routes=[Route("/health", health)])
