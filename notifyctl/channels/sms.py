"""The sms channel: one text message per notification through a Twilio-compatible HTTP API.

``POST {NOTIFYCTL_SMS_URL}/2010-04-01/Accounts/{sid}/Messages.json`` with the form fields ``To``,
``From`` and ``Body``, authenticated with HTTP basic auth (account sid : auth token). The
provider's error codes decide what a refusal means (docs/channels/sms.md): a number that can
never take an SMS is permanent and flagged ``invalid_address``; throttling, provider outages and
refused credentials are retried, the last so that fixing the setting recovers every waiting SMS.

The API has no idempotency key: when an attempt ends without knowing whether the provider
accepted (the worker killed before the outcome is stored, an answer lost to a timeout), the retry
sends it again (docs/channels/sms.md, "What a phone may receive twice").
The auth token is never logged nor put into an error, and phone numbers are masked in errors.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp

from notifyctl import __version__
from notifyctl.channels.gate import ProviderGate
from notifyctl.channels.tls import provider_ssl_context
from notifyctl.channels.webhook import retry_after_ms
from notifyctl.config import Config
from notifyctl.model import Notification
from notifyctl.retry import OK, DeliveryResult, ResultKind, classify_http_status

log = logging.getLogger("notifyctl.channels.sms")

#: a provider answer is read this far at most: enough for any error document
MAX_RESPONSE_READ = 64 * 1024
#: how much of an answer that is not JSON goes into the error
EXCERPT_CHARS = 200

# Twilio's error codes (https://www.twilio.com/docs/api/errors).
#: the 'To' number can never take an SMS from us: invalid (21211), not reachable from the
#: sending number (21612), not a mobile number (21614), a landline (21635)
INVALID_TO_CODES = frozenset({21211, 21612, 21614, 21635})
#: the recipient replied STOP to the sending number; they must send START to receive again
UNSUBSCRIBED = 21610
#: the destination's country is disabled in the account's Messaging Geo Permissions (or not
#: served at all): the account's setting, not the number, so the address is not flagged
GEO_PERMISSION = 21408
#: too many concurrent requests (HTTP 429): never processed, safe to retry
TOO_MANY_REQUESTS = 20429

CREDENTIALS_HINT = (
    "the SMS provider refused the credentials: check NOTIFYCTL_SMS_ACCOUNT_SID and"
    " NOTIFYCTL_SMS_AUTH_TOKEN (retried, so the waiting SMS go out once they are fixed)"
)
#: a run of digits long enough to be a phone number, with an optional '+'
_PHONE_NUMBER = re.compile(r"\+?\d{6,}")


def mask_number(number: str) -> str:
    """A phone number with all but its last 4 digits hidden, for logs and errors."""
    return "*" * max(len(number) - 4, 0) + number[-4:]


@dataclass(frozen=True, slots=True)
class ProviderAnswer:
    """The provider's refusal of a send: its HTTP status, its error code when it gave one, a
    readable account (already scrubbed of numbers and the token) and its Retry-After."""

    status: int
    code: int | None
    detail: str
    retry_after_ms: int | None = None


class SmsChannel:
    name = "sms"

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        gate: ProviderGate,
        timeout_ms: int = 10_000,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._messages_url = (
            f"{base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
            "/Messages.json"
        )
        # Built here rather than with aiohttp.BasicAuth (deprecated in newer aiohttp).
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._headers = {
            "Authorization": f"Basic {credentials}",
            "User-Agent": f"notifyctl/{__version__}",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        #: what must never reach an error: the token, and the header that carries it encoded
        self._secrets = tuple(secret for secret in (auth_token, credentials) if secret)
        self._sender = sender
        self._gate = gate
        self._timeout_ms = timeout_ms
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Created lazily: a ClientSession must be made inside the running event loop. One per
        # worker, its connections kept and reused; the gate bounds how many are in use.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._gate.max_in_flight,
                ttl_dns_cache=60,
                ssl=self._ssl_context if self._ssl_context is not None else True,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self._timeout_ms / 1000),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def deliver(self, notification: Notification) -> DeliveryResult:
        # Intake refuses these already; a notification stored before that rule still must not
        # reach the provider half-made.
        if not notification.to or not notification.body:
            return DeliveryResult(ResultKind.PERMANENT, "an SMS needs a 'to' number and a body")
        async with self._gate.slot():
            return await self._send(notification.id, notification.to, notification.body)

    async def _send(self, notification_id: str, to: str, body: str) -> DeliveryResult:
        # encoded here: a dict makes aiohttp build a form writer per request, which cost a third
        # more client CPU than these bytes (benchmarks/RESULTS.md, provider channels)
        form = urlencode({"To": to, "From": self._sender, "Body": body}).encode()
        try:
            async with self._client().post(
                self._messages_url, data=form, headers=self._headers, allow_redirects=False
            ) as response:
                raw = await response.content.read(MAX_RESPONSE_READ)
        except TimeoutError:
            return DeliveryResult(ResultKind.RETRYABLE, f"timed out after {self._timeout_ms} ms")
        except aiohttp.ClientError as exc:
            return DeliveryResult(ResultKind.RETRYABLE, self._scrub(f"connection failed: {exc!r}"))
        document = json_object(raw)
        if classify_http_status(response.status) is ResultKind.OK:
            # The status decides: an accepted message without a readable sid was still sent.
            sid = document.get("sid") if document else None
            log.debug("sms %s accepted by the provider as %s", notification_id, sid or "(no sid)")
            return OK
        return outcome(self._refusal(response, document, raw))

    def _refusal(
        self, response: aiohttp.ClientResponse, document: dict[str, Any] | None, raw: bytes
    ) -> ProviderAnswer:
        code = document.get("code") if document else None
        return ProviderAnswer(
            response.status,
            code if isinstance(code, int) else None,
            self._scrub(describe_refusal(response.status, response.reason, document, raw)),
            retry_after_ms(response.headers.get("Retry-After"), time.time()),
        )

    def _scrub(self, text: str) -> str:
        """``text`` without the auth token and with phone numbers masked: errors are stored
        with the notification and logged by the worker."""
        for secret in self._secrets:
            text = text.replace(secret, "[auth token]")
        return _PHONE_NUMBER.sub(lambda match: mask_number(match.group()), text)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def json_object(raw: bytes) -> dict[str, Any] | None:
    """The answer as a JSON object, or None when it is not one."""
    try:
        document = json.loads(raw)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        return None
    return document if isinstance(document, dict) else None


def describe_refusal(
    status: int, reason: str | None, document: dict[str, Any] | None, raw: bytes
) -> str:
    """``HTTP 400: error 21211: <the provider's message>``, or with an answer that is not a
    provider error document, the status and a short excerpt of what came back."""
    head = f"HTTP {status}"
    if document is not None and "code" in document:
        return f"{head}: error {document.get('code')}: {document.get('message') or '(no message)'}"
    excerpt = " ".join(raw[: EXCERPT_CHARS * 4].decode("utf-8", "replace").split())
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS] + "..."
    head = f"{head} {reason}".rstrip() if reason else head
    return f"{head}: {excerpt}" if excerpt else head


def outcome(answer: ProviderAnswer) -> DeliveryResult:
    """What a refusal means for the notification."""
    if answer.status in (401, 403):
        return DeliveryResult(ResultKind.RETRYABLE, f"{CREDENTIALS_HINT}; {answer.detail}")
    kind = classify_http_status(answer.status)
    if answer.code == TOO_MANY_REQUESTS or kind is ResultKind.RETRYABLE:
        return DeliveryResult(ResultKind.RETRYABLE, answer.detail, answer.retry_after_ms)
    return permanent(answer)


def permanent(answer: ProviderAnswer) -> DeliveryResult:
    if answer.code in INVALID_TO_CODES:
        return DeliveryResult(
            ResultKind.PERMANENT,
            f"the provider says the number cannot take an SMS: {answer.detail}",
            invalid_address=True,
        )
    if answer.code == UNSUBSCRIBED:
        return DeliveryResult(
            ResultKind.PERMANENT,
            "the recipient unsubscribed (replied STOP to the sending number); they receive SMS"
            f" again once they text START to it: {answer.detail}",
        )
    if answer.code == GEO_PERMISSION:
        return DeliveryResult(
            ResultKind.PERMANENT,
            "the provider account may not send to this number's country: enable it in the"
            f" account's Messaging Geo Permissions, then replay: {answer.detail}",
        )
    return DeliveryResult(ResultKind.PERMANENT, answer.detail)


def client_ssl_context(ca_file: str) -> ssl.SSLContext | None:
    """The system's CAs plus those of NOTIFYCTL_CHANNEL_CA_FILE; None (the default) without one."""
    return provider_ssl_context(ca_file) if ca_file else None


def from_config(config: Config) -> SmsChannel:
    return SmsChannel(
        config.sms_url,
        config.sms_account_sid,
        config.sms_auth_token,
        config.sms_from,
        ProviderGate(config.sms_max_connections, config.sms_rate_per_s),
        config.channel_timeout_ms,
        client_ssl_context(config.channel_ca_file),
    )
