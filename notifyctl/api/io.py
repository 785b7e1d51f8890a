"""The intake API's request and response plumbing, apart from its handlers (``api/app.py``).

In: a JSON body refused past its size limit while it streams, strict JSON (no NaN), and the list
endpoint's query with each bad parameter named. Out: an insert's outcome, a failed store as a
503, encoded by one encoder built once. The shapes other roles share (a notification as the API
shows it) are in ``notifyctl/shapes.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from notifyctl.api.problems import HTTPProblem, invalid
from notifyctl.errors import StoreError
from notifyctl.limits import TenantLimits
from notifyctl.model import DEFAULT_TENANT, InsertResult, Status
from notifyctl.shapes import finite, loads, notification_json
from notifyctl.validation import FieldError

log = logging.getLogger("notifyctl.api")  # the API's logger: a failed store is the API's failure
DEFAULT_PAGE, MAX_PAGE = 100, 1_000
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")
JSON_TYPE = re.compile(r"application/([\w.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)
#: what Starlette's JSONResponse builds anew for every response
ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


async def read_json(request: Request, limit: int, timeout_s: float) -> Any:
    """The body as JSON, refusing more than ``limit`` bytes while reading, not after, and a body
    that takes more than ``timeout_s`` seconds to arrive (a client trickling it would hold the
    connection and this request's memory)."""
    content_type = request.headers.get("content-type", "")
    if not JSON_TYPE.match(content_type):
        message = f"send Content-Type: application/json, not {content_type or 'nothing'!r}"
        raise HTTPProblem(415, "unsupported_media_type", message)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    try:
        with anyio.fail_after(timeout_s):
            body = await read_body(request, limit)
    except TimeoutError:
        message = f"the body did not arrive within {timeout_s:g} s"
        raise HTTPProblem(408, "body_timeout", message, headers={"Connection": "close"}) from None
    try:
        return loads(body, parse_constant=reject_constant)  # orjson where it reads the same
    except (ValueError, RecursionError) as exc:
        raise HTTPProblem(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


async def read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(limit: int) -> HTTPProblem:
    return HTTPProblem(413, "body_too_large", f"the body exceeds {limit} bytes")


def reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON (RFC 8259), though Python's parser accepts them."""
    raise ValueError(f"{name} is not a valid JSON value")


def list_query(request: Request) -> tuple[str | None, str | None, int, str | None]:
    """The list endpoint's query, each bad parameter named."""
    query = request.query_params
    errors: list[FieldError] = []
    unknown = set(query) - {"status", "user_id", "limit", "cursor"}
    errors += [FieldError(name, "unknown query parameter") for name in sorted(unknown)]
    status = query.get("status")
    if status is not None and status not in {s.value for s in Status}:
        errors.append(FieldError("status", f"must be one of {', '.join(s.value for s in Status)}"))
    raw_limit = query.get("limit", str(DEFAULT_PAGE))
    # isdigit alone also takes digits int() refuses ("²"): ASCII digits only, and not too many
    plain = raw_limit.isascii() and raw_limit.isdigit() and len(raw_limit) <= 6
    limit = int(raw_limit) if plain else 0
    if not 1 <= limit <= MAX_PAGE:
        errors.append(FieldError("limit", f"must be an integer from 1 to {MAX_PAGE}"))
    cursor = query.get("cursor")
    if cursor is not None and not ULID.fullmatch(cursor):
        errors.append(FieldError("cursor", "must be a next_cursor from an earlier page"))
    user_id = query.get("user_id")
    if user_id is not None and not 0 < len(user_id) <= 256:
        errors.append(FieldError("user_id", "must be 1 to 256 characters"))
    if errors:
        raise invalid(errors)
    return status, user_id, limit, cursor


class JsonResponse(JSONResponse):
    """Starlette's JSONResponse, byte for byte, with one encoder built once (every POST has one)."""

    def render(self, content: Any) -> bytes:
        # orjson writes the same bytes about 5x faster (a batch's answer is 1,000 notifications),
        # except NaN and infinities (null there; refused here) and what it refuses itself
        if finite(content):
            with contextlib.suppress(TypeError):
                return orjson.dumps(content)
        return ENCODER.encode(content).encode("utf-8")


def insert_response(result: InsertResult) -> tuple[int, dict[str, Any]]:
    if result.conflict:
        message = "this idempotency key was used with a different request"
        error = {"code": "idempotency_conflict", "message": message,
                 "details": [{"id": result.notification.id}]}  # fmt: skip
        return 409, {"error": error}
    return (201 if result.created else 200), notification_json(result.notification)


@contextlib.contextmanager
def unavailable_store_is_503() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        log.error("store failed: %s", exc, extra={"event": "store_unavailable"})
        raise HTTPProblem(503, "store_unavailable", "the store is unavailable; retry") from exc


def tenant_of(request: Request) -> str:
    """Whose request this is: the tenant the guard found for its API key (``request.state``);
    ``default`` on an API without keys."""
    return str(getattr(request.state, "tenant", DEFAULT_TENANT))


def limits_of(request: Request) -> TenantLimits:
    """The caller's tenant's own limits, as the guard read them (none on an app without it)."""
    limits = getattr(request.state, "limits", None)
    return limits if isinstance(limits, TenantLimits) else TenantLimits(tenant_of(request))
