"""The APNs channel: Apple's provider API over HTTP/2, with token (JWT) authentication.

Each worker keeps one HTTP/2 connection to APNs and multiplexes its pushes on it as concurrent
streams. The request a notification becomes and what each answer means are in apns_push.py, the
provider tokens in apns_token.py; docs/channels/apns.md describes all three.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import httpx

from notifyctl.channels.apns_push import (
    TOKEN_REFUSED_REASONS,
    Unsendable,
    encoded_payload,
    push_headers,
    result_of,
)
from notifyctl.channels.apns_token import ProviderTokens, load_signing_key
from notifyctl.channels.gate import ProviderGate
from notifyctl.channels.tls import provider_ssl_context
from notifyctl.channels.webhook import retry_after_ms
from notifyctl.config import Config
from notifyctl.model import Notification
from notifyctl.retry import DeliveryResult, ResultKind

PRODUCTION_URL = "https://api.push.apple.com"
SANDBOX_URL = "https://api.sandbox.push.apple.com"
#: the gate's bound with NOTIFYCTL_APNS_MAX_STREAMS=0: the HTTP/2 layer then waits for a free
#: stream under the server's SETTINGS_MAX_CONCURRENT_STREAMS (and httpcore's own 100) instead
UNBOUNDED_STREAMS = 10_000


def base_url_of(setting: str) -> str:
    return {"production": PRODUCTION_URL, "sandbox": SANDBOX_URL}.get(setting, setting)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    reason: str
    retry_after_ms: int | None


class ApnsChannel:
    name = "apns"

    def __init__(
        self,
        tokens: ProviderTokens,
        topic: str,
        base_url: str = PRODUCTION_URL,
        timeout_ms: int = 10_000,
        max_streams: int = 0,
        rate_per_s: float = 0.0,
        tls: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tokens = tokens
        self._topic = topic
        self._timeout_s = timeout_ms / 1000
        self._clock = clock
        self._gate = ProviderGate(max_streams or UNBOUNDED_STREAMS, rate_per_s)
        keep_tokens_out_of_debug_logs()
        self._base_url = base_url
        self._tls = tls or ssl.create_default_context()
        self._client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        # One connection, many streams: Apple asks providers to keep connections open and
        # reuse them rather than open one per push.
        return httpx.AsyncClient(
            http2=True,
            base_url=self._base_url,
            verify=self._tls,
            timeout=httpx.Timeout(self._timeout_s),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
        )

    async def deliver(self, notification: Notification) -> DeliveryResult:
        if not notification.to:
            return DeliveryResult(ResultKind.PERMANENT, "apns notification has no device token")
        try:
            headers = push_headers(notification, self._topic, self._clock())
            body = encoded_payload(notification)
        except Unsendable as exc:
            return DeliveryResult(ResultKind.PERMANENT, str(exc))
        path = f"/3/device/{notification.to}"
        async with self._gate.slot():
            try:
                # one deadline for the attempt, waiting for a free stream and a renewed
                # token's second request included
                with anyio.fail_after(self._timeout_s):
                    return await self._send(path, headers, body)
            except (httpx.TimeoutException, TimeoutError):
                return DeliveryResult(ResultKind.RETRYABLE, f"timed out after {self._timeout_s} s")
            except httpx.TransportError as exc:
                return DeliveryResult(ResultKind.RETRYABLE, f"APNs connection failed: {exc!r}")

    async def _send(self, path: str, headers: dict[str, str], body: bytes) -> DeliveryResult:
        token = self._tokens.current()
        answer = await self._post(path, headers, body, token)
        if answer.reason in TOKEN_REFUSED_REASONS:
            renewed = self._tokens.refused(token)
            if renewed is not None:
                answer = await self._post(path, headers, body, renewed)
        return result_of(answer.status, answer.reason, answer.retry_after_ms)

    async def _post(self, path: str, headers: dict[str, str], body: bytes, token: str) -> Answer:
        client = self._client
        headers = {**headers, "authorization": f"bearer {token}"}
        try:
            response = await client.post(path, content=body, headers=headers)
        except httpx.LocalProtocolError:
            # The HTTP/2 layer refused to open the stream ("Max outbound streams is 1, 4
            # open": httpcore's count of streams fell out of step with h2's after APNs lowered
            # SETTINGS_MAX_CONCURRENT_STREAMS), so nothing was sent, and that connection would
            # refuse every later push too: a new connection takes this one.
            client = await self._replace(client)
            response = await client.post(path, content=body, headers=headers)
        return Answer(
            response.status_code,
            reason_of(response),
            retry_after_ms(response.headers.get("retry-after"), self._clock()),
        )

    async def _replace(self, broken: httpx.AsyncClient) -> httpx.AsyncClient:
        """The connection to use instead of ``broken``: made once, whichever of the pushes that
        found it broken comes first."""
        if self._client is broken:
            self._client = self._new_client()
            await broken.aclose()
        return self._client

    async def aclose(self) -> None:
        await self._client.aclose()


def keep_tokens_out_of_debug_logs() -> None:
    """hpack logs every header block it encodes at DEBUG, the provider token among them
    (Huffman-coded, which anyone can undo): with NOTIFYCTL_LOG_LEVEL=debug, tokens would reach
    the logs. Nothing else it logs is worth that."""
    logging.getLogger("hpack").setLevel(max(logging.getLogger("hpack").level, logging.INFO))


def reason_of(response: httpx.Response) -> str:
    if response.status_code == 200:
        return ""
    try:
        reason = response.json().get("reason", "")
    except (ValueError, AttributeError):
        return ""
    return reason if isinstance(reason, str) else ""


def from_config(config: Config) -> ApnsChannel:
    tokens = ProviderTokens(
        load_signing_key(config.apns_key_file), config.apns_key_id, config.apns_team_id
    )
    return ApnsChannel(
        tokens,
        config.apns_topic,
        base_url_of(config.apns_url),
        config.channel_timeout_ms,
        config.apns_max_streams,
        config.apns_rate_per_s,
        provider_ssl_context(config.channel_ca_file),
    )
