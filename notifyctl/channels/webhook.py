"""The webhook channel: an HTTP POST of the notification as JSON, signed per Standard Webhooks.

The notification id travels as ``webhook-id`` on every attempt, so a receiver can drop repeats.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

import aiohttp

from notifyctl import __version__
from notifyctl.channels.destinations import DestinationPolicy, ForbiddenDestination, GuardedResolver
from notifyctl.channels.secrets import SecretsUnavailable, SigningSecrets
from notifyctl.model import Notification
from notifyctl.retry import DeliveryResult, ResultKind, classify_http_status
from notifyctl.shapes import dumps, payload

MAX_RESPONSE_READ = 64 * 1024


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def retry_after_ms(value: str | None, now_s: float) -> int | None:
    """``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value) * 1000
    try:
        return max(int((parsedate_to_datetime(value).timestamp() - now_s) * 1000), 0)
    except (TypeError, ValueError):
        return None


class WebhookChannel:
    name = "webhook"

    def __init__(
        self,
        timeout_ms: int,
        secrets: SigningSecrets | None = None,
        max_connections: int = 100,
        policy: DestinationPolicy | None = None,
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_ms / 1000)
        self._timeout_ms = timeout_ms
        self._secrets = secrets or SigningSecrets()
        self._max_connections = max_connections
        self._policy = policy
        self._session: aiohttp.ClientSession | None = None
        #: adds the current trace's context to a request's headers; set by a worker that traces
        self.trace_headers: Callable[[dict[str, str]], None] | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running event loop.
        if self._session is None:
            resolver = GuardedResolver(self._policy) if self._policy is not None else None
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, ttl_dns_cache=60, resolver=resolver
            )
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, skip_auto_headers=("User-Agent",)
            )
        return self._session

    def headers(self, notification: Notification, body: bytes, keys: list[bytes]) -> dict[str, str]:
        """Standard Webhooks headers; with several keys (a rotation) one signature each,
        space-separated, so a receiver holding either secret verifies it."""
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "user-agent": f"notifyctl/{__version__}",
            "webhook-id": notification.id,
            "webhook-timestamp": str(timestamp),
        }
        if keys:
            signatures = (sign(key, notification.id, timestamp, body) for key in keys)
            headers["webhook-signature"] = " ".join(signatures)
        if self.trace_headers is not None:
            self.trace_headers(headers)
        return headers

    async def deliver(self, notification: Notification) -> DeliveryResult:
        if not notification.to:
            return DeliveryResult(ResultKind.PERMANENT, "webhook notification has no 'to' URL")
        problem = self._policy.literal_problem(notification.to) if self._policy else None
        if problem:
            return DeliveryResult(ResultKind.PERMANENT, f"forbidden destination: {problem}")
        try:
            keys = await self._secrets.keys_for(notification.tenant_id)
        except SecretsUnavailable as exc:
            return DeliveryResult(ResultKind.RETRYABLE, str(exc))
        body = dumps(payload(notification))
        try:
            async with self._client().post(
                notification.to,
                data=body,
                headers=self.headers(notification, body, keys),
                allow_redirects=False,
            ) as response:
                await response.content.read(MAX_RESPONSE_READ)
                return self._result(response)
        except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
            return DeliveryResult(ResultKind.PERMANENT, f"invalid webhook URL: {exc}")
        except TimeoutError:
            return DeliveryResult(ResultKind.RETRYABLE, f"timed out after {self._timeout_ms} ms")
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, ForbiddenDestination):
                return DeliveryResult(
                    ResultKind.PERMANENT, f"forbidden destination: {exc.os_error}"
                )
            return DeliveryResult(ResultKind.RETRYABLE, f"connection failed: {exc!r}")
        except aiohttp.ClientError as exc:
            return DeliveryResult(ResultKind.RETRYABLE, f"connection failed: {exc!r}")

    @staticmethod
    def _result(response: aiohttp.ClientResponse) -> DeliveryResult:
        kind = classify_http_status(response.status)
        if kind is ResultKind.OK:
            return DeliveryResult(kind)
        if 300 <= response.status < 400:
            error = f"HTTP {response.status}: redirects are not followed"
        else:
            error = f"HTTP {response.status} {response.reason or ''}".rstrip()
        wait = retry_after_ms(response.headers.get("Retry-After"), time.time())
        return DeliveryResult(kind, error, wait)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
