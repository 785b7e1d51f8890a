"""Serve an ASGI app with Hypercorn inside the caller's event loop, until an event is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import anyio
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from starlette.types import ASGIApp

log = logging.getLogger("notifyctl")


def hypercorn_config(host: str, port: int) -> HypercornConfig:
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5.0
    config.keep_alive_timeout = 75.0  # above nginx's upstream keepalive_timeout of 60 s
    return config


async def serve_until(app: ASGIApp, host: str, port: int, stop: anyio.Event) -> None:
    trigger: Callable[..., Awaitable[None]] = stop.wait
    try:
        await serve(app, hypercorn_config(host, port), shutdown_trigger=trigger)  # type: ignore[arg-type]
    except asyncio.CancelledError:
        # Hypercorn 0.18 ends its shutdown with ``lifespan_task.cancel(); await lifespan_task``,
        # which re-raises that task's cancellation in ours. Only a cancellation aimed at this
        # task may propagate; the other one just means the server has finished stopping.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
