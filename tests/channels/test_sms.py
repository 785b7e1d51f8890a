"""The sms channel against a local fake of a Twilio-compatible Messages API: a real aiohttp server
on 127.0.0.1 (HTTP, or HTTPS with a trustme CA), nothing mocked at the socket."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web

from notifyctl import channels
from notifyctl.channels import sms
from notifyctl.channels.sms import SmsChannel, mask_number
from notifyctl.errors import ChannelError
from notifyctl.model import Notification, Priority, Status
from notifyctl.retry import DeliveryResult, ResultKind
from tests.conftest import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(30)]

NOW = 1_700_000_000_000
ACCOUNT_SID = "AC0123456789abcdef0123456789abcdef"
AUTH_TOKEN = "tok-5f3c2a9e1d7b-never-shown"
SENDER = "+15005550006"
RECIPIENT = "+447700900123"
ENCODED_CREDENTIALS = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


def notification(**changes: Any) -> Notification:
    base = Notification(
        id="01HZX3V8Q2T0000000000000SM",
        user_id="user-1",
        channel="sms",
        to=RECIPIENT,
        title=None,
        body="Your code is 424242",
        data={},
        priority=Priority.HIGH,
        status=Status.PENDING,
        scheduled_for=NOW,
        available_at=NOW,
        attempts=1,
        max_attempts=3,
        last_error=None,
        idempotency_key=None,
        request_hash="0" * 64,
        locked_by="host-1-deadbeef",
        locked_at=NOW,
        lock_expiry=NOW + 30_000,
        lock_version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return dataclasses.replace(base, **changes)


# --- the fake provider ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    path: str
    authorization: str
    content_type: str
    form: dict[str, str]
    started_at: float


@dataclass
class FakeProvider:
    url: str
    requests: list[Received] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0


def json_answer(
    status: int, document: dict[str, Any], headers: dict[str, str] | None = None
) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.json_response(document, status=status, headers=headers)

    return answer


def twilio_error(status: int, code: int, message: str, **headers: str) -> Answer:
    """An error document as Twilio's API sends it."""
    document = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return json_answer(status, document, headers)


def accepted(hold_s: float = 0.0) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        if hold_s:
            await asyncio.sleep(hold_s)  # keeps the request in flight so overlaps can be seen
        return web.json_response(
            {"sid": "SM" + "a" * 32, "status": "queued", "to": RECIPIENT}, status=201
        )

    return answer


@asynccontextmanager
async def provider(
    answer: Answer, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[FakeProvider]:
    """The fake API on 127.0.0.1 at a free port; every request is recorded, then answered."""
    fake = FakeProvider("")

    async def record(request: web.Request) -> web.StreamResponse:
        started_at = time.monotonic()
        fake.in_flight += 1
        fake.most_in_flight = max(fake.most_in_flight, fake.in_flight)
        try:
            form = {key: str(value) for key, value in (await request.post()).items()}
            fake.requests.append(
                Received(
                    request.path,
                    request.headers.get("Authorization", ""),
                    request.headers.get("Content-Type", ""),
                    form,
                    started_at,
                )
            )
            return await answer(request)
        finally:
            fake.in_flight -= 1

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    scheme = "https" if ssl_context else "http"
    fake.url = f"{scheme}://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


def channel_for(tmp_path: Path, url: str, **settings: Any) -> SmsChannel:
    config = make_config(
        tmp_path,
        sms_url=url,
        sms_account_sid=ACCOUNT_SID,
        sms_auth_token=AUTH_TOKEN,
        sms_from=SENDER,
        **settings,
    )
    return sms.from_config(config)


async def send_one(
    tmp_path: Path, answer: Answer, **settings: Any
) -> tuple[DeliveryResult, FakeProvider]:
    async with provider(answer) as fake:
        channel = channel_for(tmp_path, fake.url, **settings)
        try:
            result = await channel.deliver(notification())
        finally:
            await channel.aclose()
    return result, fake


def assert_safe(result: DeliveryResult) -> None:
    """No error gives away the auth token or a whole phone number."""
    assert AUTH_TOKEN not in (result.error or "")
    assert RECIPIENT not in (result.error or "")


# --- what is sent ---------------------------------------------------------------------------


async def test_a_send_posts_the_form_to_the_accounts_messages_with_basic_auth(
    tmp_path: Path,
) -> None:
    result, fake = await send_one(tmp_path, accepted())
    assert result.kind is ResultKind.OK
    [request] = fake.requests
    assert request.path == MESSAGES_PATH
    assert request.content_type == "application/x-www-form-urlencoded"
    assert request.form == {"To": RECIPIENT, "From": SENDER, "Body": "Your code is 424242"}
    scheme, credentials = request.authorization.split(" ", 1)
    assert scheme == "Basic"
    assert base64.b64decode(credentials).decode() == f"{ACCOUNT_SID}:{AUTH_TOKEN}"


async def test_a_200_without_json_is_still_sent(tmp_path: Path) -> None:
    async def plain(request: web.Request) -> web.StreamResponse:
        return web.Response(status=200, text="queued")

    result, _ = await send_one(tmp_path, plain)
    assert result.kind is ResultKind.OK


async def test_a_notification_without_a_number_never_reaches_the_provider(tmp_path: Path) -> None:
    async with provider(accepted()) as fake:
        channel = channel_for(tmp_path, fake.url)
        try:
            result = await channel.deliver(notification(to=None))
        finally:
            await channel.aclose()
    assert result.kind is ResultKind.PERMANENT
    assert fake.requests == []


# --- how the provider's answers map ---------------------------------------------------------


@pytest.mark.parametrize("code", [21211, 21612, 21614, 21635])
async def test_a_number_that_cannot_take_an_sms_is_permanent_and_flagged(
    tmp_path: Path, code: int
) -> None:
    message = f"The 'To' number {RECIPIENT} is not a valid phone number."
    result, _ = await send_one(tmp_path, twilio_error(400, code, message))
    assert result.kind is ResultKind.PERMANENT
    assert result.invalid_address is True
    assert result.error is not None
    assert f"error {code}" in result.error
    assert mask_number(RECIPIENT) in result.error  # the provider's words, the number masked
    assert_safe(result)


async def test_an_unsubscribed_recipient_is_permanent_but_the_number_is_not_flagged(
    tmp_path: Path,
) -> None:
    answer = twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    result, _ = await send_one(tmp_path, answer)
    assert result.kind is ResultKind.PERMANENT
    assert result.invalid_address is False
    assert result.error is not None
    assert "unsubscribed" in result.error and "START" in result.error


async def test_a_country_outside_the_geo_permissions_is_permanent_and_names_the_setting(
    tmp_path: Path,
) -> None:
    answer = twilio_error(400, 21408, "Permission to send an SMS has not been enabled")
    result, _ = await send_one(tmp_path, answer)
    assert result.kind is ResultKind.PERMANENT
    assert result.invalid_address is False  # the account's setting, not the number
    assert result.error is not None
    assert "Geo Permissions" in result.error


async def test_a_429_is_retryable_after_its_retry_after(tmp_path: Path) -> None:
    answer = twilio_error(429, 20429, "Too Many Requests", **{"Retry-After": "7"})
    result, _ = await send_one(tmp_path, answer)
    assert result.kind is ResultKind.RETRYABLE
    assert result.retry_after_ms == 7_000
    assert result.error is not None
    assert "20429" in result.error


async def test_code_20429_is_retryable_whatever_the_status(tmp_path: Path) -> None:
    result, _ = await send_one(tmp_path, twilio_error(400, 20429, "Too Many Requests"))
    assert result.kind is ResultKind.RETRYABLE


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_retryable_honouring_retry_after(tmp_path: Path, status: int) -> None:
    answer = twilio_error(status, 20500, "Internal Server Error", **{"Retry-After": "3"})
    result, _ = await send_one(tmp_path, answer)
    assert result.kind is ResultKind.RETRYABLE
    assert result.retry_after_ms == 3_000


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_credentials_are_retryable_and_tell_the_operator_what_to_check(
    tmp_path: Path, status: int
) -> None:
    result, _ = await send_one(tmp_path, twilio_error(status, 20003, "Authenticate"))
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert "NOTIFYCTL_SMS_ACCOUNT_SID" in result.error
    assert "NOTIFYCTL_SMS_AUTH_TOKEN" in result.error
    assert_safe(result)


async def test_another_4xx_is_permanent_with_the_providers_code_and_message(
    tmp_path: Path,
) -> None:
    answer = twilio_error(400, 21606, "The 'From' phone number provided is not SMS-capable")
    result, _ = await send_one(tmp_path, answer)
    assert result.kind is ResultKind.PERMANENT
    assert result.invalid_address is False
    assert result.error == (
        "HTTP 400: error 21606: The 'From' phone number provided is not SMS-capable"
    )


async def test_an_answer_that_is_not_json_is_decided_by_its_status_with_a_short_excerpt(
    tmp_path: Path,
) -> None:
    async def gateway_page(request: web.Request) -> web.StreamResponse:
        return web.Response(status=502, text="<html>Bad gateway " + "x" * 5_000 + "</html>")

    result, _ = await send_one(tmp_path, gateway_page)
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert result.error.startswith("HTTP 502 Bad Gateway: <html>Bad gateway")
    assert len(result.error) < 300


async def test_a_400_that_is_not_json_is_permanent(tmp_path: Path) -> None:
    async def plain(request: web.Request) -> web.StreamResponse:
        return web.Response(status=400, text="bad request")

    result, _ = await send_one(tmp_path, plain)
    assert result.kind is ResultKind.PERMANENT
    assert result.error == "HTTP 400 Bad Request: bad request"


async def test_the_auth_token_never_appears_in_an_error_even_when_the_provider_echoes_it(
    tmp_path: Path,
) -> None:
    answers = [
        twilio_error(400, 21606, f"token {AUTH_TOKEN} for {RECIPIENT}"),
        twilio_error(401, 20003, f"Authenticate {AUTH_TOKEN}"),
        twilio_error(500, 20500, AUTH_TOKEN),
        twilio_error(400, 21606, f"got Authorization: Basic {ENCODED_CREDENTIALS}"),
    ]
    for answer in answers:
        result, _ = await send_one(tmp_path, answer)
        assert result.error is not None
        assert_safe(result)
        assert ENCODED_CREDENTIALS not in result.error


# --- connections, timeouts, TLS -------------------------------------------------------------


async def test_a_refused_connection_is_retryable(tmp_path: Path) -> None:
    # A port bound but not listening refuses connections, and nobody else can take it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        channel = channel_for(tmp_path, f"http://127.0.0.1:{port}")
        try:
            result = await channel.deliver(notification())
        finally:
            await channel.aclose()
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert "connection failed" in result.error
    assert_safe(result)


async def test_a_provider_slower_than_the_timeout_is_retryable(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def stall(request: web.Request) -> web.StreamResponse:
        await release.wait()  # held until the client has given up
        return web.Response(status=201)

    async with provider(stall) as fake:
        channel = channel_for(tmp_path, fake.url, channel_timeout_ms=150)
        try:
            result = await channel.deliver(notification())
        finally:
            release.set()
            await channel.aclose()
    assert result.kind is ResultKind.RETRYABLE
    assert result.error == "timed out after 150 ms"


async def test_https_with_the_ca_file_is_trusted_and_without_it_is_refused(
    tmp_path: Path,
) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    async with provider(accepted(), server_context) as fake:
        trusting = channel_for(tmp_path, fake.url, channel_ca_file=str(ca_file))
        default = channel_for(tmp_path, fake.url)
        try:
            trusted = await trusting.deliver(notification())
            untrusted = await default.deliver(notification())
        finally:
            await trusting.aclose()
            await default.aclose()
    assert trusted.kind is ResultKind.OK
    assert untrusted.kind is ResultKind.RETRYABLE
    assert len(fake.requests) == 1


def test_an_unreadable_ca_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="NOTIFYCTL_CHANNEL_CA_FILE"):
        channel_for(tmp_path, "https://sms.example.com", channel_ca_file=str(tmp_path / "none"))


# --- the gate: connections and rate ---------------------------------------------------------


async def test_no_more_concurrent_requests_than_max_connections(tmp_path: Path) -> None:
    async with provider(accepted(hold_s=0.1)) as fake:
        channel = channel_for(tmp_path, fake.url, sms_max_connections=3)
        try:
            results = await asyncio.gather(*(channel.deliver(notification()) for _ in range(12)))
        finally:
            await channel.aclose()
    assert all(result.kind is ResultKind.OK for result in results)
    assert len(fake.requests) == 12
    assert fake.most_in_flight == 3


async def test_a_rate_spaces_the_starts(tmp_path: Path) -> None:
    async with provider(accepted()) as fake:
        channel = channel_for(tmp_path, fake.url, sms_rate_per_s=10)
        try:
            await asyncio.gather(*(channel.deliver(notification()) for _ in range(4)))
        finally:
            await channel.aclose()
    starts = sorted(request.started_at for request in fake.requests)
    # four starts at 10/s span at least 0.3 s; a little slack for a busy machine's jitter
    assert starts[-1] - starts[0] >= 0.25


def test_numbers_are_masked_but_their_last_four_digits() -> None:
    assert mask_number("+447700900123") == "*********0123"
    assert mask_number("123") == "123"


def test_sms_is_offered_and_built_when_its_settings_are_set(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        sms_url="https://api.twilio.com",
        sms_account_sid=ACCOUNT_SID,
        sms_auth_token=AUTH_TOKEN,
        sms_from=SENDER,
    )
    assert "sms" in channels.offered(config)
    assert isinstance(
        importlib.import_module(channels.BUILDERS["sms"]).from_config(config), SmsChannel
    )
