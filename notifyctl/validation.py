"""Turn a request body into a NewNotification, or a list of errors naming each bad field. Pure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifyctl.addresses import address_problem, content_problem
from notifyctl.ids import new_id
from notifyctl.model import CHANNELS, NewNotification, Priority

MAX_ID_LENGTH = 256
MAX_TITLE_LENGTH = 1_000
MAX_BODY_LENGTH = 100_000
#: the HTML part of an email (only the email channel uses it)
MAX_HTML_LENGTH = 100_000
MAX_URL_LENGTH = 2_048
MAX_DATA_BYTES = 64 * 1024
MAX_DATA_DEPTH = 16
MAX_SCHEDULE_AHEAD_MS = 366 * 24 * 3600 * 1000
MAX_ATTEMPTS_LIMIT = 100
#: where a request may carry its idempotency key: the body field and the HTTP header
KEY_HEADER = "Idempotency-Key"
FIELDS = frozenset(
    {"user_id", "channel", "to", "title", "body", "html", "data", "priority", "scheduled_for",
     "idempotency_key", "max_attempts", "expires_at", "ttl_seconds"}
)  # fmt: skip
#: the longest ``ttl_seconds``: the scheduling horizon
MAX_TTL_SECONDS = MAX_SCHEDULE_AHEAD_MS // 1000


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class Invalid(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def _string(body: dict[str, Any], name: str, limit: int, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid([FieldError(name, "is required")])
        return None
    if not isinstance(value, str):
        raise Invalid([FieldError(name, f"must be a string, got {type(value).__name__}")])
    if required and not value.strip():
        raise Invalid([FieldError(name, "must not be empty")])
    if len(value) > limit:
        raise Invalid([FieldError(name, f"must be at most {limit} characters")])
    if not value.isascii() and not _encodable(value):
        message = "must be valid Unicode text: a lone surrogate (such as \\ud800) is not"
        raise Invalid([FieldError(name, message)])
    return value


def _encodable(value: str) -> bool:
    """JSON's \\uXXXX escapes can produce lone surrogates, which no store can encode."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _too_deep(value: Any, limit: int) -> bool:
    """Iterative, so a hostile nesting depth cannot exhaust the interpreter's stack."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _data(body: dict[str, Any]) -> dict[str, Any]:
    value = body.get("data")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid([FieldError("data", "must be a JSON object")])
    if _too_deep(value, MAX_DATA_DEPTH):
        raise Invalid([FieldError("data", f"must nest at most {MAX_DATA_DEPTH} levels deep")])
    if len(json.dumps(value, separators=(",", ":")).encode()) > MAX_DATA_BYTES:
        raise Invalid([FieldError("data", f"must be at most {MAX_DATA_BYTES} bytes as JSON")])
    return value


def _destination(channel: str | None, to: str | None) -> None:
    if channel is None:
        return
    problem = address_problem(channel, to)
    if problem:
        raise Invalid([FieldError("to", problem)])


def _content(channel: str | None, title: str | None, body: str | None, html: str | None) -> None:
    problem = None if channel is None else content_problem(channel, title, body, html)
    if problem:
        raise Invalid([FieldError(*problem)])


def _priority(body: dict[str, Any]) -> Priority:
    value = body.get("priority")
    if value is None:
        return Priority.NORMAL
    if not isinstance(value, str) or value.lower() not in ("high", "normal", "low"):
        raise Invalid([FieldError("priority", "must be one of high, normal, low")])
    return Priority.parse(value)


def parse_timestamp(value: str) -> int:
    """RFC 3339 with an offset (``Z`` or ``+hh:mm``) to epoch milliseconds."""
    if "T" not in value.upper() and " " not in value:
        raise ValueError("needs a date and a time")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("needs a UTC offset, such as Z or +02:00")
    return int(parsed.timestamp() * 1000)


def _scheduled_for(body: dict[str, Any], now: int) -> int:
    value = body.get("scheduled_for")
    if value is None:
        return now
    if not isinstance(value, str):
        raise Invalid([FieldError("scheduled_for", "must be an RFC 3339 timestamp string")])
    try:
        at = parse_timestamp(value)
    except (ValueError, OverflowError, OSError) as exc:
        raise Invalid([FieldError("scheduled_for", f"not an RFC 3339 timestamp: {exc}")]) from None
    if abs(at - now) > MAX_SCHEDULE_AHEAD_MS:
        # Far past is as suspect as far future (a wrong clock, a wrong field): say so.
        raise Invalid([FieldError("scheduled_for", "must be within a year of now")])
    return at


def _max_attempts(body: dict[str, Any], default: int) -> int:
    value = body.get("max_attempts")
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise Invalid([FieldError("max_attempts", "must be an integer")])
    if not 1 <= value <= MAX_ATTEMPTS_LIMIT:
        raise Invalid([FieldError("max_attempts", f"must be between 1 and {MAX_ATTEMPTS_LIMIT}")])
    return value


#: built once: json.dumps with these arguments would build an encoder for every request
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_hash(body: dict[str, Any]) -> str:
    """Fingerprint of a request, to tell an idempotent replay from a conflicting reuse of a key."""
    canonical = _CANONICAL.encode(body)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _collect(
    body: dict[str, Any], now: int, default_attempts: int, header_key: str | None
) -> dict[str, Any]:
    """Run every field check (and the Idempotency-Key header's), gathering all errors rather
    than stopping at the first."""
    errors: list[FieldError] = [FieldError(k, "unknown field") for k in body if k not in FIELDS]
    errors += _header_errors(header_key)
    checks: dict[str, Callable[[], Any]] = {
        "channel": lambda: _channel(body),
        "to": lambda: _string(body, "to", MAX_URL_LENGTH),
        "title": lambda: _string(body, "title", MAX_TITLE_LENGTH),
        "body": lambda: _string(body, "body", MAX_BODY_LENGTH),
        "html": lambda: _string(body, "html", MAX_HTML_LENGTH),
        **delivery_checks(body, now, default_attempts),
    }
    values = run_checks(checks, errors)
    if "to" in values and "channel" in values:
        try:
            _destination(values["channel"], values["to"])
        except Invalid as exc:
            errors.extend(exc.errors)
    if {"channel", "title", "body", "html"} <= set(values):
        try:
            _content(values["channel"], values["title"], values["body"], values["html"])
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return values


def delivery_checks(
    body: dict[str, Any], now: int, default_attempts: int
) -> dict[str, Callable[[], Any]]:
    """The checks of the fields every send has, given texts or by template (``fanout.py``):
    field name -> a function giving its value or raising Invalid."""
    return {
        "user_id": lambda: _string(body, "user_id", MAX_ID_LENGTH, required=True),
        "data": lambda: _data(body),
        "priority": lambda: _priority(body),
        "scheduled_for": lambda: _scheduled_for(body, now),
        "idempotency_key": lambda: _idempotency_key(body),
        "max_attempts": lambda: _max_attempts(body, default_attempts),
        "expires_at": lambda: _expires_at(body, now),
    }


def _expires_at(body: dict[str, Any], now: int) -> int | None:
    """``expires_at`` (RFC 3339) or ``ttl_seconds`` (from now), not both: in the future, within
    the scheduling horizon, and after ``scheduled_for`` (else it could only expire)."""
    at, ttl = body.get("expires_at"), body.get("ttl_seconds")
    if at is not None and ttl is not None:
        raise Invalid([FieldError("ttl_seconds", "give expires_at or ttl_seconds, not both")])
    if ttl is not None:
        expires, field = _ttl(ttl, now), "ttl_seconds"
    elif at is not None:
        expires, field = _expiry_time(at, now), "expires_at"
    else:
        return None
    try:
        scheduled = _scheduled_for(body, now)
    except Invalid:  # named on its own field
        return expires
    if expires <= scheduled:
        raise Invalid([FieldError(field, "must end after scheduled_for")])
    return expires


def _ttl(ttl: Any, now: int) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= MAX_TTL_SECONDS:
        message = f"must be an integer from 1 to {MAX_TTL_SECONDS} (a year)"
        raise Invalid([FieldError("ttl_seconds", message)])
    return now + ttl * 1000


def _expiry_time(at: Any, now: int) -> int:
    if not isinstance(at, str):
        raise Invalid([FieldError("expires_at", "must be an RFC 3339 timestamp string")])
    try:
        expires = parse_timestamp(at)
    except (ValueError, OverflowError, OSError) as exc:
        raise Invalid([FieldError("expires_at", f"not an RFC 3339 timestamp: {exc}")]) from None
    if not now < expires <= now + MAX_SCHEDULE_AHEAD_MS:
        raise Invalid([FieldError("expires_at", "must be in the future, within a year")])
    return expires


def run_checks(checks: dict[str, Callable[[], Any]], errors: list[FieldError]) -> dict[str, Any]:
    """Each check's value by field name; the errors of those that failed go to ``errors``."""
    values: dict[str, Any] = {}
    for name, check in checks.items():
        try:
            values[name] = check()
        except Invalid as exc:
            errors.extend(exc.errors)
    return values


def header_errors(header_key: str | None) -> list[FieldError]:
    """The Idempotency-Key header's problem, if it has one."""
    return _header_errors(header_key)


def merged_key(body_key: str | None, header_key: str | None) -> str | None:
    """The request's idempotency key: the header's, which the body's must equal if both given."""
    if header_key is None:
        return body_key
    if body_key is not None and body_key != header_key:
        raise Invalid([FieldError("idempotency_key", f"differs from the {KEY_HEADER} header")])
    return header_key


def key_problem(key: str, ascii_only: bool = False) -> str | None:
    """Why an idempotency key is unusable, or None. An empty key would make every request that
    sends one a replay of the first; control characters end up in logs and ``inspect``."""
    if not 1 <= len(key) <= MAX_ID_LENGTH or not key.isprintable():
        return f"must be 1 to {MAX_ID_LENGTH} printable characters"
    if ascii_only and not key.isascii():
        # HTTP carries header values as bytes (read as Latin-1): a UTF-8 key would be mangled.
        return f"must be 1 to {MAX_ID_LENGTH} printable ASCII characters"
    return None


def _idempotency_key(body: dict[str, Any]) -> str | None:
    key = _string(body, "idempotency_key", MAX_ID_LENGTH)
    problem = None if key is None else key_problem(key)
    if problem:
        raise Invalid([FieldError("idempotency_key", problem)])
    return key


def _header_errors(header_key: str | None) -> list[FieldError]:
    problem = None if header_key is None else key_problem(header_key, ascii_only=True)
    return [FieldError(KEY_HEADER, f"header {problem}")] if problem else []


def _channel(body: dict[str, Any]) -> str:
    value = _string(body, "channel", 64, required=True)
    if value not in CHANNELS:
        raise Invalid([FieldError("channel", f"must be one of {', '.join(CHANNELS)}")])
    return value


def parse_notification(
    body: Any, now: int, default_attempts: int, header_key: str | None = None
) -> NewNotification:
    """Validate one notification request body. Raises Invalid naming every bad field."""
    if not isinstance(body, dict):
        error = FieldError("", "the body must be a JSON object")
        raise Invalid([error, *_header_errors(header_key)])
    values = _collect(body, now, default_attempts, header_key)
    key = merged_key(values["idempotency_key"], header_key)
    return NewNotification(
        id=new_id(now), user_id=values["user_id"], channel=values["channel"], to=values["to"],
        title=values["title"], body=values["body"], data=values["data"],
        priority=values["priority"], scheduled_for=values["scheduled_for"],
        max_attempts=values["max_attempts"], idempotency_key=key,
        request_hash=request_hash(body), created_at=now, html=values["html"],
        expires_at=values["expires_at"],
    )  # fmt: skip
