"""The fcm channel: Firebase Cloud Messaging's HTTP v1 API, one ``messages:send`` per delivery.

``to`` is the device's registration token. ``data`` travels as FCM data, whose values must be
strings: a string stays as it is, anything else is sent as its JSON text (42 -> "42", true ->
"true", {"a": 1} -> '{"a":1}'). ``data["notification_id"]`` is always the notification's id:
FCM has no idempotency key, so a retry after a lost answer may reach the device twice, and the
app recognises the repeat by that id (docs/channels/fcm.md).

How FCM's errors map (its v1 error body: ``error.status`` and ``error.details[].errorCode``):
UNREGISTERED, an INVALID_ARGUMENT about the token and SENDER_ID_MISMATCH are permanent and say
the address is no good; QUOTA_EXCEEDED, UNAVAILABLE and INTERNAL (and any other 5xx) are
retried, after FCM's Retry-After when it sends one; a 401 renews the access token and sends
once more; anything else is permanent with FCM's message.
"""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from notifyctl import __version__
from notifyctl.channels.fcm_auth import (
    ServiceAccount,
    TokenSource,
    TokenUnavailable,
    load_service_account,
)
from notifyctl.channels.gate import ProviderGate
from notifyctl.channels.tls import provider_ssl_context
from notifyctl.channels.webhook import retry_after_ms
from notifyctl.config import Config
from notifyctl.model import Notification, Priority
from notifyctl.retry import OK, DeliveryResult, ResultKind, classify_http_status

MAX_RESPONSE_READ = 64 * 1024
#: FCM's error codes that mean the registration token itself will never work
INVALID_TOKEN_CODES = frozenset({"UNREGISTERED", "SENDER_ID_MISMATCH"})
#: FCM's error codes worth trying again later, whatever the HTTP status says
RETRYABLE_CODES = frozenset({"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL"})
#: FCM's message is kept in the notification's last_error up to this long
MAX_MESSAGE = 300
#: a 401 for these is about the app's APNs or web push credentials, not our access token
THIRD_PARTY_AUTH = "THIRD_PARTY_AUTH_ERROR"


def data_strings(notification: Notification) -> dict[str, str]:
    """FCM data values must be strings; others are sent as their JSON text. The id goes in as
    ``notification_id`` so an app can drop a repeat (FCM has no idempotency key)."""
    data = {
        key: value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        for key, value in notification.data.items()
    }
    data["notification_id"] = notification.id
    return data


def apns_priority(notification: Notification) -> str:
    """10 shows at once, 5 when convenient, 1 saves power; Apple refuses 10 for a message
    without an alert, so a data-only one goes with 5 at most."""
    if notification.priority is Priority.LOW:
        return "1"
    has_alert = bool(notification.title or notification.body)
    return "10" if notification.priority is Priority.HIGH and has_alert else "5"


def message(notification: Notification) -> dict[str, Any]:
    """The body of ``messages:send``."""
    android_priority = "high" if notification.priority is Priority.HIGH else "normal"
    body: dict[str, Any] = {
        "token": notification.to,
        "data": data_strings(notification),
        "android": {"priority": android_priority},
        "apns": {"headers": {"apns-priority": apns_priority(notification)}},
    }
    shown = {"title": notification.title, "body": notification.body}
    shown = {key: value for key, value in shown.items() if value}
    if shown:  # without a title or body it is a data message the app handles silently
        body["notification"] = shown
        # a repeat of a shown notification (docs/channels/fcm.md) replaces it on the device
        # instead of showing twice: Android's tag and APNs' collapse id are the notification id
        body["android"]["notification"] = {"tag": notification.id}
        body["apns"]["headers"]["apns-collapse-id"] = notification.id
    return {"message": body}


@dataclass(frozen=True, slots=True)
class FcmError:
    """What FCM said went wrong, from its v1 error body."""

    http_status: int
    status: str = ""
    code: str = ""
    message: str = ""
    #: the request fields a ``BadRequest`` detail blames (``message.token``)
    fields: tuple[str, ...] = ()

    @property
    def about_the_token(self) -> bool:
        """An INVALID_ARGUMENT names its culprit only in a field violation or in words."""
        return any(name.endswith("token") for name in self.fields) or (
            "registration token" in self.message.lower()
        )

    @property
    def names(self) -> set[str]:
        """FCM's own error code and the RPC status; either may be missing."""
        return {name for name in (self.code, self.status) if name}

    def describe(self) -> str:
        said = " ".join(dict.fromkeys(name for name in (self.code, self.status) if name))
        head = f"FCM HTTP {self.http_status} {said}".rstrip()
        return f"{head}: {self.message[:MAX_MESSAGE]}" if self.message else head


def parse_error(http_status: int, body: bytes) -> FcmError:
    try:
        error = json.loads(body)["error"]
        details = error.get("details") or []
    except (ValueError, TypeError, KeyError, AttributeError):
        return FcmError(http_status, message=body[:200].decode("utf-8", "replace").strip())
    codes = [d.get("errorCode") for d in details if isinstance(d, dict) and d.get("errorCode")]
    fields = [
        violation.get("field", "")
        for d in details if isinstance(d, dict)
        for violation in d.get("fieldViolations") or [] if isinstance(violation, dict)
    ]  # fmt: skip
    return FcmError(
        http_status,
        status=str(error.get("status") or ""),
        code=str(codes[0]) if codes else "",
        message=str(error.get("message") or ""),
        fields=tuple(str(name) for name in fields),
    )


def classify(error: FcmError, retry_after: int | None) -> DeliveryResult:
    names = error.names
    bad_token = "INVALID_ARGUMENT" in names and error.about_the_token
    if names & INVALID_TOKEN_CODES or bad_token:
        return DeliveryResult(ResultKind.PERMANENT, error.describe(), invalid_address=True)
    kind = classify_http_status(error.http_status)
    if names & RETRYABLE_CODES:
        kind = ResultKind.RETRYABLE
    wait = retry_after if kind is ResultKind.RETRYABLE else None
    return DeliveryResult(kind, error.describe(), wait)


class FcmChannel:
    name = "fcm"

    def __init__(
        self,
        account: ServiceAccount,
        base_url: str,
        gate: ProviderGate,
        timeout_ms: int = 10_000,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.tokens = TokenSource(account)
        self._send_url = f"{base_url.rstrip('/')}/v1/projects/{account.project_id}/messages:send"
        self._gate = gate
        self._timeout_ms = timeout_ms
        self._tls = tls or ssl.create_default_context()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running event loop.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._gate.max_in_flight, ttl_dns_cache=60, ssl=self._tls
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout_ms / 1000),
                headers={"user-agent": f"notifyctl/{__version__}"},
            )
        return self._session

    async def deliver(self, notification: Notification) -> DeliveryResult:
        if not notification.to:
            return DeliveryResult(ResultKind.PERMANENT, "no registration token to send to")
        body = json.dumps(message(notification), separators=(",", ":")).encode()
        async with self._gate.slot():
            return await self._attempt(body)

    async def _attempt(self, body: bytes) -> DeliveryResult:
        retry = ResultKind.RETRYABLE
        try:
            return await self._send_with_renewal(body)
        except TokenUnavailable as exc:
            return DeliveryResult(retry, f"no FCM access token: {exc}")
        except TimeoutError:
            return DeliveryResult(retry, f"timed out after {self._timeout_ms} ms")
        except aiohttp.ClientError as exc:
            return DeliveryResult(retry, f"connection failed: {exc!r}")

    async def _send_with_renewal(self, body: bytes) -> DeliveryResult:
        """Send; when FCM refuses the access token (it expired or was revoked early), renew it
        and send once more, within this one attempt."""
        session = self._client()
        token = await self.tokens.token(session)
        result, refused = await self._send(session, body, token)
        if not refused:
            return result
        token = await self.tokens.renew(session, token)
        result, refused = await self._send(session, body, token)
        if refused:  # a token minted this instant refused: the account lacks the right to send
            return DeliveryResult(ResultKind.RETRYABLE, f"{result.error} (after a new token)")
        return result

    async def _send(
        self, session: aiohttp.ClientSession, body: bytes, token: str
    ) -> tuple[DeliveryResult, bool]:
        """The outcome, and whether FCM refused the access token."""
        headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
        async with session.post(self._send_url, data=body, headers=headers) as response:
            answer = await response.content.read(MAX_RESPONSE_READ)
            if 200 <= response.status < 300:
                return OK, False
            error = parse_error(response.status, answer)
            wait = retry_after_ms(response.headers.get("Retry-After"), time.time())
        refused = error.http_status == 401 and error.code != THIRD_PARTY_AUTH
        return classify(error, wait), refused

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def from_config(config: Config) -> FcmChannel:
    return FcmChannel(
        load_service_account(config.fcm_credentials_file),
        config.fcm_url,
        ProviderGate(config.fcm_max_connections, config.fcm_rate_per_s),
        config.channel_timeout_ms,
        provider_ssl_context(config.channel_ca_file),
    )
