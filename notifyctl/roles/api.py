"""The intake API: validate, store, answer. 201 only once the store has the notification."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from notifyctl.broker import Broker, WakeUp
from notifyctl.channels.base import iso_ms
from notifyctl.config import Config
from notifyctl.errors import StoreError
from notifyctl.model import InsertResult, NewNotification, Notification, now_ms
from notifyctl.store import Store
from notifyctl.validation import FieldError, Invalid, parse_notification

log = logging.getLogger("notifyctl.api")
MAX_BODY_BYTES = 1024 * 1024
MAX_BATCH = 1_000


class HTTPProblem(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def problem_json(problem: HTTPProblem) -> dict[str, Any]:
    details = problem.details or []
    return {"error": {"code": problem.code, "message": problem.message, "details": details}}


def problem_response(problem: HTTPProblem) -> JSONResponse:
    return JSONResponse(problem_json(problem), status_code=problem.status)


def notification_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id, "user_id": n.user_id, "channel": n.channel, "to": n.to, "title": n.title,
        "body": n.body, "data": n.data, "priority": n.priority.label, "status": n.status.value,
        "scheduled_for": iso_ms(n.scheduled_for), "attempts": n.attempts,
        "max_attempts": n.max_attempts, "last_error": n.last_error,
        "idempotency_key": n.idempotency_key, "locked_by": n.locked_by,
        "lock_expiry": iso_ms(n.lock_expiry), "created_at": iso_ms(n.created_at),
        "updated_at": iso_ms(n.updated_at), "sent_at": iso_ms(n.sent_at),
    }  # fmt: skip


async def read_json(request: Request) -> Any:
    """The body as JSON, refusing more than MAX_BODY_BYTES while reading, not after."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPProblem(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPProblem(413, "body_too_large", f"the body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks), parse_constant=reject_constant)
    except (ValueError, RecursionError) as exc:
        raise HTTPProblem(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


def reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), though Python's parser accepts them."""
    raise ValueError(f"{name} is not a valid JSON value")


def invalid(errors: list[FieldError]) -> HTTPProblem:
    details = [e.as_json() for e in errors]
    fields = ", ".join(sorted({e.field or "body" for e in errors}))
    return HTTPProblem(422, "invalid_fields", f"invalid fields: {fields}", details)


def insert_response(result: InsertResult) -> tuple[int, dict[str, Any]]:
    if result.conflict:
        message = "this idempotency key was used with a different request"
        error = {"code": "idempotency_conflict", "message": message,
                 "details": [{"id": result.notification.id}]}  # fmt: skip
        return 409, {"error": error}
    return (201 if result.created else 200), notification_json(result.notification)


class Api:
    def __init__(self, config: Config, store: Store, broker: Broker | None = None) -> None:
        self.config = config
        self.store = store
        self.broker = broker

    def wake_workers(self, results: list[InsertResult], now: int) -> None:
        """Publish what is due now; scheduled ones are found by the workers' sweep."""
        if self.broker is None:
            return
        wakeups = [
            WakeUp(r.notification.id, int(r.notification.priority))
            for r in results
            if r.created and r.notification.scheduled_for <= now
        ]
        if wakeups:
            self.broker.publish(wakeups)

    async def _store(self, method: Any, *args: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(method, *args)
        except StoreError as exc:
            log.error("store failed: %s", exc)
            raise HTTPProblem(503, "store_unavailable", "the store is unavailable; retry") from exc

    async def create(self, request: Request) -> Response:
        body = await read_json(request)
        now = now_ms()
        try:
            item = parse_notification(
                body, now, self.config.max_attempts, request.headers.get("idempotency-key")
            )
        except Invalid as exc:
            raise invalid(exc.errors) from None
        (result,) = await self._store(self.store.insert_many, [item], now)
        self.wake_workers([result], now)
        status, payload = insert_response(result)
        return JSONResponse(payload, status_code=status)

    async def create_batch(self, request: Request) -> Response:
        body = await read_json(request)
        items = body.get("notifications") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or set(body) != {"notifications"}:
            error = FieldError("notifications", 'the body must be {"notifications": [...]}')
            raise invalid([error])
        if len(items) > MAX_BATCH:
            raise invalid([FieldError("notifications", f"at most {MAX_BATCH} per batch")])
        now = now_ms()
        parsed: list[NewNotification | Invalid] = []
        for raw in items:
            try:
                parsed.append(parse_notification(raw, now, self.config.max_attempts))
            except Invalid as exc:
                parsed.append(exc)
        valid = [p for p in parsed if isinstance(p, NewNotification)]
        inserted = await self._store(self.store.insert_many, valid, now) if valid else []
        self.wake_workers(inserted, now)
        stored = iter(inserted)
        return JSONResponse({"results": [self._item(p, stored) for p in parsed]})

    @staticmethod
    def _item(parsed: NewNotification | Invalid, stored: Any) -> dict[str, Any]:
        if isinstance(parsed, Invalid):
            return {"status": 422, **problem_json(invalid(parsed.errors))}
        status, payload = insert_response(next(stored))
        if status == 409:
            return {"status": status, **payload}
        return {"status": status, "notification": payload}

    async def get(self, request: Request) -> Response:
        found = await self._store(self.store.get, request.path_params["id"])
        if found is None:
            raise HTTPProblem(404, "not_found", "no notification has this id")
        return JSONResponse(notification_json(found))

    async def cancel(self, request: Request) -> Response:
        outcome, found = await self._store(self.store.cancel, request.path_params["id"], now_ms())
        if outcome == "not_found":
            raise HTTPProblem(404, "not_found", "no notification has this id")
        if outcome == "conflict":
            raise HTTPProblem(
                409, "not_cancellable",
                f"the notification is {found.status.value}"
                + (" and being delivered" if found.locked_by else ""),
            )  # fmt: skip
        return JSONResponse(notification_json(found))

    async def health(self, request: Request) -> Response:
        queue = broker_state(self.broker)
        try:
            await anyio.to_thread.run_sync(self.store.ping)
        except StoreError:
            body = {"status": "unhealthy", "database": "disconnected", "messageQueue": queue}
            return JSONResponse(body, status_code=503)
        # Without the broker the API still accepts: the workers' sweep delivers, only slower.
        return JSONResponse({"status": "healthy", "database": "connected", "messageQueue": queue})


async def on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPProblem)
    return problem_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    codes = {404: "not_found", 405: "method_not_allowed"}
    return problem_response(
        HTTPProblem(status, codes.get(status, "http_error"), str(getattr(exc, "detail", exc)))
    )


def broker_state(broker: Broker | None) -> str:
    if broker is None:
        return "none"
    return "connected" if broker.connected else "disconnected"


def build_app(config: Config, store: Store, broker: Broker | None = None) -> Starlette:
    from starlette.exceptions import HTTPException

    api = Api(config, store, broker)
    routes = [
        Route("/v1/notifications", api.create, methods=["POST"]),
        Route("/v1/notifications/batch", api.create_batch, methods=["POST"]),
        Route("/v1/notifications/{id}", api.get, methods=["GET"]),
        Route("/v1/notifications/{id}", api.cancel, methods=["DELETE"]),
        Route("/health", api.health, methods=["GET"]),
    ]
    handlers: dict[Any, Any] = {HTTPProblem: on_problem, HTTPException: on_http_exception}
    return Starlette(routes=routes, exception_handlers=handlers)


async def serve_api(
    config: Config, store: Store, host: str, port: int, broker: Broker | None = None
) -> None:
    """Serve the API until SIGTERM/SIGINT."""
    from notifyctl.roles.lifecycle import handle_stop_signals
    from notifyctl.roles.serving import serve_until

    stop = anyio.Event()
    if broker is not None:
        broker.start()  # publishing only; connects in the background
    handle_stop_signals(stop.set)
    try:
        log.info("api listening on http://%s:%d (store %s)", host, port, store.url)
        await serve_until(build_app(config, store, broker), host, port, stop)
    finally:
        if broker is not None:
            await anyio.to_thread.run_sync(broker.close)
