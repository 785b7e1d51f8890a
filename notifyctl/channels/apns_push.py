"""What an APNs push is: the request a notification becomes (headers, payload) and the
outcome each APNs answer means. Pure: the channel (apns.py) does the I/O."""

from __future__ import annotations

import json
import uuid
from typing import Any

from notifyctl.model import Notification, Priority
from notifyctl.retry import OK, DeliveryResult, ResultKind

#: APNs refuses a larger payload (PayloadTooLarge) for every push type but VoIP
MAX_PAYLOAD_BYTES = 4096
#: the key of ``data`` whose value becomes ``apns-collapse-id`` (and is left out of the payload)
COLLAPSE_ID_KEY = "apns_collapse_id"
#: APNs keeps a push for an offline device this long (``apns-expiration``)
STORE_FOR_S = 24 * 3600

#: the address itself is no good: worth telling whoever keeps the device tokens
INVALID_ADDRESS_REASONS = frozenset(
    {"BadDeviceToken", "Unregistered", "DeviceTokenNotForTopic", "ExpiredToken"}
)
#: may succeed later, though their status is a 4xx
RETRYABLE_REASONS = frozenset({"TooManyRequests", "TooManyProviderTokenUpdates", "IdleTimeout"})
#: our provider token was refused: renew it and send again, once
TOKEN_REFUSED_REASONS = frozenset({"ExpiredProviderToken", "InvalidProviderToken"})

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # the ULID alphabet (notifyctl/ids.py)
_DIGIT = {char: value for value, char in enumerate(_CROCKFORD)}


class Unsendable(Exception):
    """The notification cannot become an APNs push; resending will not change that."""


def apns_id(notification_id: str) -> str:
    """The notification's ULID as a UUID: the same 128 bits, so the same on every attempt.
    An id that is not a ULID gets a UUID derived from it, stable as well."""
    value = 0
    for char in notification_id.upper():
        if char not in _DIGIT:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, f"notifyctl:{notification_id}"))
        value = value * 32 + _DIGIT[char]
    if len(notification_id) != 26 or value >> 128:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"notifyctl:{notification_id}"))
    return str(uuid.UUID(int=value))


def is_alert(notification: Notification) -> bool:
    return bool(notification.title or notification.body)


def payload(notification: Notification) -> dict[str, Any]:
    """``{"aps": {...}, ...custom data}``. An ``aps`` dictionary in ``data`` (sound, badge,
    thread-id...) is kept; the notification's title and body become its alert."""
    custom = {k: v for k, v in notification.data.items() if k != COLLAPSE_ID_KEY}
    aps = custom.pop("aps", None) or {}
    if not isinstance(aps, dict):
        raise Unsendable("data.aps must be an object (APNs' aps dictionary)")
    aps = dict(aps)
    if is_alert(notification):
        alert = {"title": notification.title, "body": notification.body}
        aps["alert"] = {k: v for k, v in alert.items() if v}
    else:
        aps.setdefault("content-available", 1)  # a background push wakes the app
    return {"aps": aps, **custom}


def encoded_payload(notification: Notification) -> bytes:
    body = json.dumps(payload(notification), separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > MAX_PAYLOAD_BYTES:
        raise Unsendable(
            f"APNs payload is {len(body)} bytes, over APNs' {MAX_PAYLOAD_BYTES}-byte limit:"
            " shorten the title, body or data"
        )
    return body


def push_headers(notification: Notification, topic: str, now_s: float) -> dict[str, str]:
    """Every header but ``authorization``."""
    alert = is_alert(notification)
    # Apple: a background push must have priority 5
    urgent = alert and notification.priority is not Priority.LOW
    headers = {
        "apns-id": apns_id(notification.id),
        "apns-push-type": "alert" if alert else "background",
        "apns-priority": "10" if urgent else "5",
        "apns-expiration": str(int(now_s) + STORE_FOR_S),
        "apns-topic": topic,
        "content-type": "application/json",
    }
    # an alert without a collapse id of its own collapses with its repeats (the notification
    # id): a push delivered twice (docs/channels/apns.md) replaces itself instead of showing twice
    collapse_id = notification.data.get(COLLAPSE_ID_KEY, notification.id if alert else None)
    if collapse_id is not None:
        if not isinstance(collapse_id, str) or len(collapse_id.encode()) > 64:
            raise Unsendable(f"data.{COLLAPSE_ID_KEY} must be a string of at most 64 bytes")
        headers["apns-collapse-id"] = collapse_id
    return headers


def result_of(status: int, reason: str, retry_after: int | None) -> DeliveryResult:
    """The outcome of one APNs answer (reason "" when APNs gave none)."""
    if status == 200:
        return OK
    error = f"APNs {status} {reason or '(no reason given)'}"
    if reason in INVALID_ADDRESS_REASONS or status == 410:
        return DeliveryResult(ResultKind.PERMANENT, error, invalid_address=True)
    # a token refused again, or refused fresh: our key, key id, team id or clock is wrong,
    # which an operator can fix; the notification itself is fine
    retryable = reason in RETRYABLE_REASONS | TOKEN_REFUSED_REASONS
    if retryable or status == 429 or status >= 500:
        return DeliveryResult(ResultKind.RETRYABLE, error, retry_after)
    return DeliveryResult(ResultKind.PERMANENT, error)
