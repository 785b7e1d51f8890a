"""Delivery channels: webhook (against a real local HTTP server) and log (to a real file)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from notifyctl.channels.log import LogChannel
from notifyctl.channels.secrets import SigningSecrets, secret_key
from notifyctl.channels.webhook import WebhookChannel, retry_after_ms, sign
from notifyctl.errors import ChannelError
from notifyctl.model import Notification, Priority, Status
from notifyctl.retry import DeliveryResult, ResultKind

NOW = 1_700_000_000_000
#: the raw bytes behind SECRET, as a receiver decodes them
SECRET_BYTES = b"a receiver's shared signing key!"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def notification(**changes: Any) -> Notification:
    base = Notification(
        id="01HZX3V8Q2T0000000000000AB",
        user_id="user-1",
        channel="webhook",
        to=None,
        title="Your order shipped",
        body="It arrives on Tuesday.",
        data={"order": 42},
        priority=Priority.HIGH,
        status=Status.PENDING,
        scheduled_for=NOW,
        available_at=NOW,
        attempts=1,
        max_attempts=3,
        last_error=None,
        idempotency_key="order-42",
        request_hash="0" * 64,
        locked_by="host-1-deadbeef",
        locked_at=NOW,
        lock_expiry=NOW + 30_000,
        lock_version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    return dataclasses.replace(base, **changes)


# --- Standard Webhooks signing, checked against the spec -------------------------------------


def expected_signature(key: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks signature, written here from the spec and not from our code."""
    signed_content = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed_content, hashlib.sha256).digest()).decode()


def test_signing_reproduces_the_standard_webhooks_reference_vector() -> None:
    # The published test vector of the Standard Webhooks reference libraries.
    key = secret_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_whsec_secret_is_base64_decoded() -> None:
    assert secret_key(SECRET) == SECRET_BYTES


def test_a_secret_without_the_whsec_prefix_is_used_as_raw_bytes() -> None:
    assert secret_key("plain secret") == b"plain secret"


def test_signature_is_v1_base64_hmac_sha256_of_id_timestamp_and_body() -> None:
    body = b'{"id":"msg_1","x":[1,2]}'
    assert sign(SECRET_BYTES, "msg_1", 1_700_000_000, body) == expected_signature(
        SECRET_BYTES, "msg_1", "1700000000", body
    )


def test_signature_changes_with_id_timestamp_body_and_key() -> None:
    reference = sign(b"k", "id", 1, b"{}")
    assert sign(b"k", "id2", 1, b"{}") != reference
    assert sign(b"k", "id", 2, b"{}") != reference
    assert sign(b"k", "id", 1, b"{ }") != reference
    assert sign(b"k2", "id", 1, b"{}") != reference


def test_headers_carry_the_id_a_timestamp_and_a_verifiable_signature() -> None:
    channel = WebhookChannel(1_000)
    body = b'{"id":"n1"}'
    headers = channel.headers(notification(id="n1"), body, [SECRET_BYTES])
    assert headers["webhook-id"] == "n1"
    assert headers["content-type"] == "application/json"
    assert headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"] == expected_signature(
        SECRET_BYTES, "n1", headers["webhook-timestamp"], body
    )


def test_headers_have_no_signature_without_a_secret() -> None:
    headers = WebhookChannel(1_000).headers(notification(), b"{}", [])
    assert "webhook-signature" not in headers
    assert headers["webhook-id"] == notification().id


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [("7", 7_000), ("0", 0), (" 120 ", 120_000)])
def test_retry_after_in_seconds(value: str, expected: int) -> None:
    assert retry_after_ms(value, now_s=1_700_000_000.0) == expected


def test_retry_after_as_an_http_date_is_the_time_until_then() -> None:
    now_s = 1_700_000_000.0
    assert retry_after_ms(formatdate(now_s + 30, usegmt=True), now_s) == 30_000


def test_retry_after_as_an_http_date_in_the_past_is_zero() -> None:
    now_s = 1_700_000_000.0
    assert retry_after_ms(formatdate(now_s - 30, usegmt=True), now_s) == 0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Wed, 99 Foo 2015 07:28:00 GMT"])
def test_retry_after_absent_or_unreadable_is_none(value: str | None) -> None:
    assert retry_after_ms(value, now_s=1_700_000_000.0) is None


# --- webhook deliveries against a real local server -------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    requests: list[Received] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [request.path for request in self.requests]


@asynccontextmanager
async def receiver(handler: Handler) -> AsyncIterator[Receiver]:
    """A real HTTP server on 127.0.0.1 at a free port; every request is recorded, then handled."""
    received: list[Received] = []

    async def record(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        received.append(
            Received(
                request.method,
                request.path,
                {k.lower(): v for k, v in request.headers.items()},
                body,
            )
        )
        return await handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Receiver(f"http://127.0.0.1:{port}", received)
    finally:
        await runner.cleanup()


def respond(status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, headers=headers, body=body)

    return handle


async def deliver_to(
    handler: Handler, secret: str = "", timeout_ms: int = 5_000, path: str = "/hook"
) -> tuple[DeliveryResult, Receiver]:
    channel = WebhookChannel(timeout_ms, SigningSecrets(default_secret=secret))
    try:
        async with receiver(handler) as server:
            result = await channel.deliver(notification(to=server.url + path))
    finally:
        await channel.aclose()
    return result, server


def run_delivery(
    handler: Handler, secret: str = "", timeout_ms: int = 5_000
) -> tuple[DeliveryResult, Receiver]:
    return asyncio.run(deliver_to(handler, secret, timeout_ms))


def test_a_200_is_ok_and_the_receiver_gets_the_notification_as_json() -> None:
    result, server = run_delivery(respond(200))
    assert result.kind is ResultKind.OK
    assert result.error is None
    [request] = server.requests
    assert request.method == "POST"
    assert request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    sent = json.loads(request.body)
    assert sent["id"] == notification().id
    assert sent["user_id"] == "user-1"
    assert sent["title"] == "Your order shipped"
    assert sent["data"] == {"order": 42}
    assert sent["priority"] == "high"
    assert sent["attempt"] == 1
    assert sent["created_at"] == "2023-11-14T22:13:20.000Z"


def test_every_delivery_carries_the_standard_webhooks_headers() -> None:
    _, server = run_delivery(respond(204))
    [request] = server.requests
    assert request.headers["webhook-id"] == notification().id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 300


def test_a_signed_delivery_verifies_with_the_shared_secret() -> None:
    result, server = run_delivery(respond(200), secret=SECRET)
    assert result.kind is ResultKind.OK
    [request] = server.requests
    headers = request.headers
    assert headers["webhook-signature"] == expected_signature(
        SECRET_BYTES, headers["webhook-id"], headers["webhook-timestamp"], request.body
    )


def test_an_unsigned_delivery_has_no_signature_header() -> None:
    _, server = run_delivery(respond(200))
    [request] = server.requests
    assert "webhook-signature" not in request.headers
    assert "webhook-id" in request.headers


def test_every_attempt_carries_the_same_webhook_id() -> None:
    async def twice() -> Receiver:
        channel = WebhookChannel(5_000, SigningSecrets(default_secret=SECRET))
        try:
            async with receiver(respond(503)) as server:
                for attempt in (1, 2):
                    await channel.deliver(notification(to=server.url, attempts=attempt))
        finally:
            await channel.aclose()
        return server

    server = asyncio.run(twice())
    first, second = server.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == notification().id
    assert [json.loads(r.body)["attempt"] for r in server.requests] == [1, 2]


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_ok(status: int) -> None:
    assert run_delivery(respond(status))[0].kind is ResultKind.OK


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_5xx_and_408_are_retryable(status: int) -> None:
    result, _ = run_delivery(respond(status))
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert f"HTTP {status}" in result.error
    assert result.retry_after_ms is None


def test_a_429_with_retry_after_is_retryable_after_that_long() -> None:
    result, _ = run_delivery(respond(429, {"Retry-After": "7"}))
    assert result.kind is ResultKind.RETRYABLE
    assert result.retry_after_ms == 7_000
    assert result.error is not None
    assert "429" in result.error


def test_a_503_with_an_http_date_retry_after_is_honoured() -> None:
    later = formatdate(time.time() + 120, usegmt=True)
    result, _ = run_delivery(respond(503, {"Retry-After": later}))
    assert result.kind is ResultKind.RETRYABLE
    assert result.retry_after_ms is not None
    assert 60_000 < result.retry_after_ms <= 120_000


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    result, _ = run_delivery(respond(status))
    assert result.kind is ResultKind.PERMANENT
    assert result.error is not None
    assert f"HTTP {status}" in result.error


def test_a_redirect_is_permanent_and_its_target_is_not_requested() -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        if request.path == "/hook":
            return web.Response(status=302, headers={"Location": "/elsewhere"})
        return web.Response(status=200)

    result, server = run_delivery(handle)
    assert result.kind is ResultKind.PERMANENT
    assert result.error is not None
    assert "302" in result.error
    assert "redirect" in result.error
    assert server.paths() == ["/hook"]


def test_a_large_response_body_does_not_change_the_outcome() -> None:
    result, _ = run_delivery(respond(200, body=b"x" * (1024 * 1024)))
    assert result.kind is ResultKind.OK


def test_a_refused_connection_is_retryable() -> None:
    # A port bound but not listening refuses connections, and nobody else can take it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]

        async def attempt() -> DeliveryResult:
            channel = WebhookChannel(5_000)
            try:
                return await channel.deliver(notification(to=f"http://127.0.0.1:{port}/hook"))
            finally:
                await channel.aclose()

        result = asyncio.run(attempt())
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert "connection failed" in result.error


def test_a_receiver_slower_than_the_timeout_is_retryable_and_says_so() -> None:
    async def scenario() -> tuple[DeliveryResult, Receiver]:
        release = asyncio.Event()

        async def stall(request: web.Request) -> web.StreamResponse:
            await release.wait()  # held until the client has given up: no sleeping in the test
            return web.Response(status=200)

        channel = WebhookChannel(timeout_ms=150)
        try:
            async with receiver(stall) as server:
                result = await channel.deliver(notification(to=server.url + "/hook"))
                release.set()
        finally:
            await channel.aclose()
        return result, server

    result, server = asyncio.run(scenario())
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None
    assert "timed out" in result.error
    assert "150 ms" in result.error
    assert server.paths() == ["/hook"]


def test_a_notification_without_a_url_is_permanent_without_any_request() -> None:
    async def attempt() -> DeliveryResult:
        channel = WebhookChannel(1_000)
        try:
            return await channel.deliver(notification(to=None))
        finally:
            await channel.aclose()

    result = asyncio.run(attempt())
    assert result.kind is ResultKind.PERMANENT
    assert result.error is not None
    assert "'to'" in result.error


@pytest.mark.parametrize("to", ["not a url", "ftp://127.0.0.1/hook", "http://[::1"])
def test_a_malformed_destination_is_permanent(to: str) -> None:
    async def attempt() -> DeliveryResult:
        channel = WebhookChannel(1_000)
        try:
            return await channel.deliver(notification(to=to))
        finally:
            await channel.aclose()

    result = asyncio.run(attempt())
    assert result.kind is ResultKind.PERMANENT


def test_closing_a_channel_that_never_delivered_is_harmless() -> None:
    async def close_twice() -> None:
        channel = WebhookChannel(1_000)
        await channel.aclose()
        await channel.aclose()

    asyncio.run(close_twice())


# --- the log channel -------------------------------------------------------------------------


def deliver_logged(path: Path, notifications: list[Notification]) -> list[DeliveryResult]:
    async def run() -> list[DeliveryResult]:
        channel = LogChannel(str(path))
        try:
            return [await channel.deliver(n) for n in notifications]
        finally:
            await channel.aclose()

    return asyncio.run(run())


def test_the_log_channel_writes_one_json_line_per_delivery(tmp_path: Path) -> None:
    out = tmp_path / "deliveries.jsonl"
    results = deliver_logged(out, [notification(channel="log")])
    assert [r.kind for r in results] == [ResultKind.OK]
    [line] = out.read_text().splitlines()
    record = json.loads(line)
    assert record["id"] == notification().id
    assert record["channel"] == "log"
    assert record["title"] == "Your order shipped"
    assert record["data"] == {"order": 42}
    assert record["delivered_at"].endswith("Z")


def test_the_log_channel_appends_several_deliveries_in_order(tmp_path: Path) -> None:
    out = tmp_path / "deliveries.jsonl"
    out.write_text('{"earlier": true}\n')
    ids = [f"01HZX3V8Q2T00000000000000{i}" for i in range(5)]
    deliver_logged(out, [notification(id=i, channel="log") for i in ids[:3]])
    deliver_logged(out, [notification(id=i, channel="log") for i in ids[3:]])
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert records[0] == {"earlier": True}
    assert [r["id"] for r in records[1:]] == ids


def test_the_log_channel_keeps_multiline_text_on_one_line(tmp_path: Path) -> None:
    out = tmp_path / "deliveries.jsonl"
    deliver_logged(out, [notification(channel="log", body="line one\nline two")])
    [line] = out.read_text().splitlines()
    assert json.loads(line)["body"] == "line one\nline two"


def test_the_log_channel_reports_a_path_it_cannot_open(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ChannelError, match="NOTIFYCTL_LOG_CHANNEL_PATH"):
        LogChannel(str(blocker / "deliveries.jsonl"))


def test_a_full_non_blocking_pipe_neither_stops_the_event_loop_nor_cuts_lines(
    tmp_path: Path,
) -> None:
    """The log output is a pipe whose reader is slow and whose descriptor is non-blocking (a
    shared stdout can be): the lines, each larger than the pipe, arrive whole, and the event loop
    runs other work while they wait (it used to block in ``os.write``, or cut the line short)."""
    fifo = tmp_path / "out.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    loop_ran = threading.Event()
    received = bytearray()

    def read_slowly() -> None:
        loop_ran.wait(10)  # the reader starts only once the loop proved it ran meanwhile
        os.set_blocking(reader, True)
        while chunk := os.read(reader, 65536):
            received.extend(chunk)

    big = [notification(id=f"01HZX3V8Q2T00000000000000{i}", channel="log", body="x" * 200_000)
           for i in range(3)]  # fmt: skip

    async def run() -> list[DeliveryResult]:
        channel = LogChannel(str(fifo))
        os.set_blocking(channel._fd, False)
        try:
            async with anyio.create_task_group() as group:
                results: list[DeliveryResult] = []

                async def deliver_all() -> None:
                    for n in big:
                        results.append(await channel.deliver(n))

                group.start_soon(deliver_all)
                await anyio.sleep(0.2)  # runs only if the deliveries do not hold the loop
                loop_ran.set()
            return results
        finally:
            await channel.aclose()

    thread = threading.Thread(target=read_slowly)
    thread.start()
    results = asyncio.run(run())
    thread.join(30)
    os.close(reader)
    assert [r.kind for r in results] == [ResultKind.OK] * 3
    lines = bytes(received).decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [n.id for n in big]
