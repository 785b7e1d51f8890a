"""Serve an ASGI app with Hypercorn inside the caller's event loop, until an event is set; time
its requests; serve its metrics."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import anyio
from hypercorn.asyncio import serve
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifyctl.metrics import Metrics
from notifyctl.slow_clients import DeadlineConfig
from notifyctl.slow_clients import install as install_head_deadline

log = logging.getLogger("notifyctl")


#: the default head deadline (NOTIFYCTL_HEADER_TIMEOUT_MS's), also of the workers' monitoring ports
HEADER_TIMEOUT_S = 10.0


def hypercorn_config(host: str, port: int, header_timeout_s: float) -> DeadlineConfig:
    config = DeadlineConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 5.0
    config.keep_alive_timeout = 75.0  # above nginx's upstream keepalive_timeout of 60 s
    config.header_timeout = header_timeout_s  # see slow_clients.py
    return config


async def serve_until(
    app: ASGIApp,
    host: str,
    port: int,
    stop: anyio.Event,
    header_timeout_s: float = HEADER_TIMEOUT_S,
    bound: socket.socket | None = None,
) -> None:
    """Serve on ``host:port``, or on ``bound``: a socket the caller bound already, so that a taken
    port was reported in one line before anything started (Hypercorn then owns and closes it)."""
    trigger: Callable[..., Awaitable[None]] = stop.wait
    install_head_deadline()
    config = hypercorn_config(host, port, header_timeout_s)
    if bound is not None:
        config.bind = [f"fd://{bound.detach()}"]
    try:
        await serve(app, config, shutdown_trigger=trigger)  # type: ignore[arg-type]
    except asyncio.CancelledError:
        # Hypercorn 0.18 ends its shutdown with ``lifespan_task.cancel(); await lifespan_task``,
        # which re-raises that task's cancellation in ours. Only a cancellation aimed at this
        # task may propagate; the other one just means the server has finished stopping.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise


#: RFC 9110's methods and PATCH. Anyone may send any token as a method, before a key is checked:
#: the rest are labelled "other", so made-up methods cannot add series.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                     "PATCH"})  # fmt: skip
#: the status codes IANA registers; an app may send any integer, labelled "other" then
STATUSES = frozenset(int(status) for status in HTTPStatus)


def request_labels(scope: Scope, status: int) -> tuple[str, str, str]:
    """(method, route, status) from a fixed set each, so the series stay bounded whatever is
    sent: the route is the matched template (``/v1/notifications/{id}``), never the raw path."""
    method = scope["method"] if scope["method"] in METHODS else "other"
    template = getattr(scope.get("route"), "path", None) or "unmatched"
    return method, template, str(status) if status in STATUSES else "other"


class RequestTimer:
    """ASGI middleware observing ``http_request_duration_seconds`` by method, route template and
    status (``request_labels``). On the hot path: two clock reads, one wrapped ``send`` and a
    cached histogram child per request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            method, route, code = request_labels(scope, status)
            self.metrics.observe_request(method, route, code, time.perf_counter() - started)


def metrics_endpoint(metrics: Metrics) -> Callable[[Request], Awaitable[Response]]:
    """``GET /metrics``: the Prometheus text format of this process's registry."""

    async def serve_metrics(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return serve_metrics
