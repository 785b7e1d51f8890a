"""A recipient: the addresses, devices and preferences a tenant keeps for one of its users
(issue 16). Pure: a request body becomes a ``Recipient`` or an ``Invalid`` naming every bad field.

PUT gives the whole recipient; PATCH is a JSON merge patch (RFC 7396) over the stored one: a
``null`` removes a field, an object merges into the object it names, anything else replaces. The
result of a PATCH is checked exactly as a PUT body is, so both store only what a PUT could.

Everything a request can grow is bounded: devices, webhooks, categories, channel lists, strings.
The rules of preferences and quiet hours themselves are ``notifyctl/preferences.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from notifyctl.addresses import address_problem, is_http_url
from notifyctl.model import CHANNELS
from notifyctl.preferences import Preferences, QuietHours, locale, timezone
from notifyctl.validation import FieldError, Invalid

MAX_USER_ID = 256
MAX_DEVICES = 20
MAX_WEBHOOKS = 10
MAX_URL_LENGTH = 2_048
MAX_APP_LENGTH = 256
MAX_CATEGORIES = 100
MAX_CATEGORY_LENGTH = 64
PLATFORMS = ("apns", "fcm")
#: what ``preferences.channels`` may allow: the channels, and ``push`` for apns and fcm both
PREFERENCE_CHANNELS = (*CHANNELS, "push")
FIELDS = ("email", "phone", "devices", "webhooks", "locale", "timezone", "preferences",
          "quiet_hours")  # fmt: skip
#: the deepest a recipient's JSON nests (preferences.channels.<category>): a merge patch that
#: goes deeper can only be wrong, and merging it must not recurse without end
MAX_PATCH_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Device:
    platform: str  # apns or fcm
    token: str
    app: str | None = None  # the app's bundle or package id, when a user has several apps


@dataclass(frozen=True, slots=True)
class Recipient:
    """One user of one tenant. Times are epoch milliseconds."""

    tenant: str
    user_id: str
    email: str | None = None
    phone: str | None = None  # E.164
    devices: tuple[Device, ...] = ()
    webhooks: tuple[str, ...] = ()
    locale: str | None = None  # BCP 47
    timezone: str | None = None  # IANA
    preferences: Preferences = field(default_factory=Preferences)
    quiet_hours: QuietHours | None = None  # in ``timezone`` (UTC without one)
    created_at: int = 0
    updated_at: int = 0
    #: the store's count of writes to it (1 once created; 0 before it is stored): a PATCH
    #: replaces the recipient it merged into only while it is still that revision
    revision: int = 0


def user_id_problem(user_id: str) -> str | None:
    """Why ``user_id`` cannot name a recipient, or None."""
    if not 1 <= len(user_id) <= MAX_USER_ID or not user_id.isprintable():
        return f"must be 1 to {MAX_USER_ID} printable characters"
    if not _utf8(user_id):
        return "must be valid Unicode text"
    return None


def parse_recipient(
    user_id: str,
    body: Any,
    *,
    tenant: str,
    now: int,
    existing: Recipient | None = None,
    patch: bool = False,
) -> Recipient:
    """The recipient ``body`` describes (PUT), or ``existing`` with ``body`` merged into it
    (PATCH, ``patch=True``). Raises Invalid naming every bad field; nothing else is raised."""
    if not isinstance(body, dict):
        raise Invalid([FieldError("", "the body must be a JSON object")])
    problem = user_id_problem(user_id)
    if problem:
        raise Invalid([FieldError("user_id", problem)])
    body = dict(body)
    given_id = body.pop("user_id", user_id)
    if given_id != user_id:
        raise Invalid([FieldError("user_id", "differs from the user id in the path")])
    if patch:
        from notifyctl.recipient_json import to_fields  # it builds on this module's types

        base = to_fields(existing) if existing is not None else {}
        body = merge_patch(base, body)
    values = _check_fields(body)
    created = existing.created_at if existing is not None else now
    return Recipient(tenant=tenant, user_id=user_id, **values, created_at=created, updated_at=now)


def merge_patch(target: dict[str, Any], patch: dict[str, Any], depth: int = 1) -> dict[str, Any]:
    """RFC 7396: ``patch`` merged into a copy of ``target``."""
    merged = dict(target)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, dict):
            if depth >= MAX_PATCH_DEPTH:
                raise Invalid([FieldError(name, "nests deeper than any field of a recipient")])
            inner = merged.get(name)
            merged[name] = merge_patch(inner if isinstance(inner, dict) else {}, value, depth + 1)
        else:
            merged[name] = value
    return merged


def _check_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Every field checked, every problem gathered: a client fixes them all in one go."""
    errors = [FieldError(str(name), "unknown field") for name in body if name not in FIELDS]
    values: dict[str, Any] = {}
    checks: dict[str, Callable[[Any], Any]] = {
        "email": _email, "phone": _phone, "devices": _devices, "webhooks": _webhooks,
        "locale": _locale, "timezone": _timezone, "preferences": _preferences,
        "quiet_hours": _quiet_hours,
    }  # fmt: skip
    for name, check in checks.items():
        value = body.get(name)
        if value is None:
            continue
        try:
            values[name] = check(value)
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return values


def _utf8(text: str) -> bool:
    """JSON's \\uXXXX escapes can make lone surrogates, which no store can encode."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise Invalid([FieldError(name, f"must be a string, got {type(value).__name__}")])
    if not 1 <= len(value) <= limit:
        raise Invalid([FieldError(name, f"must be 1 to {limit} characters")])
    if not _utf8(value):
        raise Invalid([FieldError(name, "must be valid Unicode text")])
    return value


def _list(value: Any, name: str, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise Invalid([FieldError(name, "must be a JSON array")])
    if len(value) > limit:
        raise Invalid([FieldError(name, f"must have at most {limit} items, not {len(value)}")])
    return value


def _email(value: Any) -> str:
    email = _text(value, "email", 254)
    if address_problem("email", email):
        raise Invalid([FieldError("email", "must be an email address such as ada@example.com")])
    return email


def _phone(value: Any) -> str:
    phone = _text(value, "phone", 16)
    if address_problem("sms", phone):
        message = "must be a phone number in E.164 form, such as +15551234567"
        raise Invalid([FieldError("phone", message)])
    return phone


def _devices(value: Any) -> tuple[Device, ...]:
    items = _list(value, "devices", MAX_DEVICES)
    devices: list[Device] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            device = _device(item, f"devices[{index}]")
        except Invalid as exc:
            errors.extend(exc.errors)
            continue
        if any(d.platform == device.platform and d.token == device.token for d in devices):
            errors.append(FieldError(f"devices[{index}]", "repeats an earlier device's token"))
        devices.append(device)
    if errors:
        raise Invalid(errors)
    return tuple(devices)


def _device(item: Any, name: str) -> Device:
    if not isinstance(item, dict):
        raise Invalid([FieldError(name, '{"platform": "apns" or "fcm", "token": ..., "app"?}')])
    errors = [FieldError(f"{name}.{key}", "unknown field") for key in item
              if key not in ("platform", "token", "app")]  # fmt: skip
    platform = item.get("platform")
    if platform not in PLATFORMS:
        errors.append(FieldError(f"{name}.platform", f"must be one of {', '.join(PLATFORMS)}"))
    token = item.get("token")
    if not isinstance(token, str):
        errors.append(FieldError(f"{name}.token", "is required: the device's push token"))
    elif platform in PLATFORMS:
        problem = address_problem(str(platform), token)
        if problem:
            errors.append(FieldError(f"{name}.token", problem))
    app = item.get("app")
    try:
        app = None if app is None else _text(app, f"{name}.app", MAX_APP_LENGTH)
    except Invalid as exc:
        errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return Device(str(platform), str(token), app)


def _webhooks(value: Any) -> tuple[str, ...]:
    items = _list(value, "webhooks", MAX_WEBHOOKS)
    errors: list[FieldError] = []
    for index, url in enumerate(items):
        name = f"webhooks[{index}]"
        try:
            if not is_http_url(_text(url, name, MAX_URL_LENGTH)):
                errors.append(FieldError(name, "must be an http:// or https:// URL with a host"))
            elif url in items[:index]:
                errors.append(FieldError(name, "repeats an earlier webhook"))
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return tuple(items)


def _locale(value: Any) -> str:
    try:
        return locale(_text(value, "locale", 35))
    except ValueError as exc:
        raise Invalid([FieldError("locale", str(exc))]) from None


def _timezone(value: Any) -> str:
    name = _text(value, "timezone", 64)
    try:
        timezone(name)
    except ValueError as exc:
        raise Invalid([FieldError("timezone", str(exc))]) from None
    return name


def _quiet_hours(value: Any) -> QuietHours:
    try:
        return QuietHours.parse(value)
    except ValueError as exc:
        raise Invalid([FieldError("quiet_hours", str(exc))]) from None


def _category(value: Any, name: str) -> str:
    category = _text(value, name, MAX_CATEGORY_LENGTH)
    if not category.isprintable():
        raise Invalid([FieldError(name, "must be printable characters")])
    return category


def _preferences(value: Any) -> Preferences:
    if not isinstance(value, dict):
        message = 'must be {"opted_out": [categories], "channels": {category: [channels]}}'
        raise Invalid([FieldError("preferences", message)])
    errors = [FieldError(f"preferences.{key}", "unknown field") for key in value
              if key not in ("opted_out", "channels")]  # fmt: skip
    opted_out: frozenset[str] = frozenset()
    channels: dict[str, frozenset[str]] = {}
    try:
        opted_out = _opted_out(_or(value.get("opted_out"), []))
    except Invalid as exc:
        errors.extend(exc.errors)
    try:
        channels = _channels(_or(value.get("channels"), {}))
    except Invalid as exc:
        errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return Preferences(opted_out, channels)


def _or(value: Any, absent: Any) -> Any:
    return absent if value is None else value


def _opted_out(value: Any) -> frozenset[str]:
    items = _list(value, "preferences.opted_out", MAX_CATEGORIES)
    return frozenset(_category(item, f"preferences.opted_out[{i}]") for i, item in enumerate(items))


def _channels(value: Any) -> dict[str, frozenset[str]]:
    name = "preferences.channels"
    if not isinstance(value, dict):
        raise Invalid([FieldError(name, "must be an object: {category: [channels allowed]}")])
    if len(value) > MAX_CATEGORIES:
        raise Invalid([FieldError(name, f"must have at most {MAX_CATEGORIES} categories")])
    errors: list[FieldError] = []
    channels: dict[str, frozenset[str]] = {}
    for category, allowed in value.items():
        where = f"{name}.{category}"
        try:
            _category(category, where)
            items = _list(allowed, where, len(PREFERENCE_CHANNELS))
            unknown = [item for item in items if item not in PREFERENCE_CHANNELS]
            if unknown:
                message = f"must name channels among {', '.join(PREFERENCE_CHANNELS)}"
                raise Invalid([FieldError(where, message)])
            channels[category] = frozenset(items)
        except Invalid as exc:
            errors.extend(exc.errors)
    if errors:
        raise Invalid(errors)
    return channels
