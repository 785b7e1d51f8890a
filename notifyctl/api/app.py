"""The API as an ASGI app: its routes behind the key and rate-limit guard, and the server.

The endpoints live with their resource: ``notifications.py`` (and ``messages.py``),
``recipients.py``, ``templates.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from aiohttp.abc import AbstractResolver
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from notifyctl.api.io import JsonResponse
from notifyctl.api.keyring import StoreKeys
from notifyctl.api.limits import TenantLimitsCache
from notifyctl.api.notifications import Notifications
from notifyctl.api.problems import HTTPProblem
from notifyctl.api.templates import routes as template_routes
from notifyctl.broker import POLL_ONLY, Broker, broker_state
from notifyctl.config import Config
from notifyctl.errors import StoreError
from notifyctl.limits import Rate
from notifyctl.metrics import ApiMetrics
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver
from notifyctl.tracing import TracedRequests, Tracing

log = logging.getLogger("notifyctl.api")
KeyringFactory = Callable[[Store, CallObserver], StoreKeys]
LimitsFactory = Callable[[Store, CallObserver], TenantLimitsCache]
Endpoint = Callable[[Request], Awaitable[Response]]


def health_endpoint(api: Notifications) -> Endpoint:
    """``/health``: the store pinged, the broker's state, the channels offered."""

    async def health(request: Request) -> Response:
        queue = broker_state(api.broker)
        try:
            await anyio.to_thread.run_sync(api.store.ping)
        except StoreError:
            body = {"status": "unhealthy", "database": "disconnected", "messageQueue": queue}
            return JsonResponse(body, status_code=503)
        # Without the broker the API still accepts: the workers' sweep delivers, only slower.
        healthy = {"status": "healthy", "database": "connected", "messageQueue": queue}
        return JsonResponse({**healthy, "channels": list(api.channels)})

    return health


def by_method(**endpoints: Endpoint) -> Endpoint:
    # Starlette answers HEAD on every GET route: HEAD is the GET, its body dropped by the server
    if "GET" in endpoints:
        endpoints.setdefault("HEAD", endpoints["GET"])

    async def dispatch(request: Request) -> Response:
        return await endpoints[request.method](request)

    return dispatch


def build_app(
    config: Config,
    store: Store,
    broker: Broker = POLL_ONLY,
    metrics: ApiMetrics | None = None,
    resolver: AbstractResolver | None = None,
    store_keys: KeyringFactory = StoreKeys,
    tenant_limits: LimitsFactory = TenantLimitsCache,
    tracing: Tracing | None = None,
) -> Any:
    """The API as an ASGI app: Starlette routes behind the key and rate-limit guard, every
    request timed (``http_request_duration_seconds``), refused ones included. ``resolver``
    resolves webhook hosts at intake (tests pass a fake one); ``store_keys`` makes the cache of
    the store's keys (tests pass one with a short TTL or a clock of their own)."""
    from starlette.exceptions import HTTPException

    from notifyctl.api.guard import Guard, parse_networks
    from notifyctl.api.openapi import document
    from notifyctl.api.problems import on_http_exception, on_problem
    from notifyctl.api.recipients import routes as recipient_routes
    from notifyctl.apikeys import ApiKeys
    from notifyctl.serving import RequestTimer, metrics_endpoint

    metrics = metrics or ApiMetrics(store, broker)
    api = Notifications(config, store, broker, metrics, resolver, tracing)
    keys = ApiKeys.from_config(config.api_keys, config.api_keys_file)
    keyring = store_keys(store, metrics)
    proxies = parse_networks(config.trusted_proxies)
    spec = document()

    async def openapi(request: Request) -> Response:
        return JsonResponse(spec)

    # One route per path, so a 405 lists every method the path has in its Allow header.
    routes = [
        Route(
            "/v1/notifications", by_method(POST=api.create, GET=api.list), methods=["GET", "POST"]
        ),
        Route("/v1/notifications/batch", api.create_batch, methods=["POST"]),
        Route(
            "/v1/notifications/{id}",
            by_method(GET=api.get, DELETE=api.cancel),
            methods=["GET", "DELETE"],
        ),  # fmt: skip
        *template_routes(config, store, metrics),
        Route("/v1/messages/{id}", api.get_message, methods=["GET"]),
        Route("/health", health_endpoint(api), methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/metrics", metrics_endpoint(metrics), methods=["GET"]),
        *recipient_routes(config, store, metrics, api.destinations),
    ]
    if config.console:
        from notifyctl.api.console import console_routes

        routes += console_routes(config, store, broker, keys, keyring, metrics, proxies)
    handlers: dict[Any, Any] = {HTTPProblem: on_problem, HTTPException: on_http_exception}
    app = Starlette(routes=routes, exception_handlers=handlers)
    rate = None
    if config.rate_limit_per_s:
        rate = Rate(config.rate_limit_per_s, config.rate_limit_burst)
    guard = Guard(app, keys, rate, proxies, config.metrics_require_key,
                  store_keys=keyring,
                  tenant_limits=tenant_limits(store, metrics))  # fmt: skip
    timed = RequestTimer(guard, metrics)
    return timed if tracing is None else TracedRequests(timed, tracing)


async def serve_api(
    config: Config,
    store: Store,
    host: str,
    port: int,
    broker: Broker = POLL_ONLY,
    tracing: Tracing | None = None,
) -> None:
    """Serve the API until SIGTERM/SIGINT."""
    from notifyctl.lifecycle import handle_stop_signals
    from notifyctl.serving import serve_until

    # a bad key file stops start-up here, before binding
    app = build_app(config, store, broker, tracing=tracing)
    stop = anyio.Event()
    broker.start()  # publishing only; connects in the background
    handle_stop_signals(stop.set)
    try:
        log.info("api listening on http://%s:%d (store %s)", host, port, store.url)
        await serve_until(app, host, port, stop, config.header_timeout_ms / 1000)
    finally:
        await anyio.to_thread.run_sync(broker.close)
