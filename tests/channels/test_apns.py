"""The APNs channel against a local HTTP/2 server over TLS (Hypercorn with a trustme
certificate) that checks what Apple checks: the provider token's signature, the headers, the
path, and answers with APNs' documented reasons."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig

from notifyctl.channels import offered
from notifyctl.channels.apns import ApnsChannel, base_url_of, from_config
from notifyctl.channels.apns_push import MAX_PAYLOAD_BYTES, apns_id, push_headers
from notifyctl.channels.apns_token import (
    MIN_AGE_TO_RENEW_S,
    TOKEN_LIFETIME_S,
    ProviderTokens,
    load_signing_key,
)
from notifyctl.channels.tls import provider_ssl_context
from notifyctl.config import load
from notifyctl.errors import ChannelError
from notifyctl.model import Notification, Priority, Status
from notifyctl.retry import ResultKind
from tests.helpers import free_port

KEY_ID = "ABC123DEFG"
TEAM_ID = "TEAM456XYZ"
TOPIC = "com.example.app"
DEVICE = "a1b2c3d4" * 8
NOW = 1_700_000_000_000
#: what the test server announces as SETTINGS_MAX_CONCURRENT_STREAMS
SERVER_MAX_STREAMS = 3
MAX_STREAMS = h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS
#: (status, reason, headers) the server answers
Answer = tuple[int, str, dict[str, str]]


def notification(**changes: Any) -> Notification:
    base = Notification(
        id="01HZX3V8Q2T0000000000000AB",
        user_id="user-1",
        channel="apns",
        to=DEVICE,
        title="Your order shipped",
        body="It arrives on Tuesday.",
        data={"order": 42},
        priority=Priority.NORMAL,
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


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    http_version: str


@dataclass
class FakeApns:
    """An ASGI app standing for APNs. Runs on the server's thread; read it after the calls."""

    public_key: ec.EllipticCurvePublicKey
    answer: Callable[[Seen], Answer] = lambda seen: (200, "", {})
    delay_s: float = 0.0
    #: the first token presented is treated as expired (ExpiredProviderToken)
    expire_first_token: bool = False
    seen: list[Seen] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    expired: set[str] = field(default_factory=set)
    #: requests answered ExpiredProviderToken
    refused: int = 0
    connections: set[tuple[str, int]] = field(default_factory=set)
    in_flight: int = 0
    max_in_flight: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while (message := await receive())["type"] == "http.request":
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        seen = Seen(scope["path"], headers, body, scope["http_version"])
        self.connections.add(tuple(scope["client"]))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
            status, reason, extra = self.respond(seen)
        finally:
            self.in_flight -= 1
        content = json.dumps({"reason": reason}).encode() if reason else b""
        response_headers = [(k.encode(), v.encode()) for k, v in extra.items()]
        response_headers.append((b"apns-id", headers.get("apns-id", "").encode()))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": content})

    def respond(self, seen: Seen) -> Answer:
        token = seen.headers.get("authorization", "").removeprefix("bearer ")
        if token not in self.tokens:
            if self.expire_first_token and not self.tokens:
                self.expired.add(token)
            self.tokens.append(token)
        if token in self.expired:
            self.refused += 1
            return 403, "ExpiredProviderToken", {}
        try:
            jwt.decode(token, self.public_key, algorithms=["ES256"], issuer=TEAM_ID)
            assert jwt.get_unverified_header(token)["kid"] == KEY_ID
        except (jwt.InvalidTokenError, AssertionError, KeyError):
            return 403, "InvalidProviderToken", {}
        self.seen.append(seen)
        return self.answer(seen)


@dataclass
class Server:
    app: FakeApns
    url: str
    ca_file: Path
    key_file: Path


def write_key(path: Path, key: Any) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    return path


@contextmanager
def running(app: FakeApns, tmp_path: Path, max_streams: int) -> Iterator[str]:
    """Hypercorn serving ``app`` over h2 with TLS on 127.0.0.1, in a thread; its base URL."""
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(
        str(tmp_path / "server.pem")
    )
    port = free_port()
    config = HypercornConfig()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = config.keyfile = str(tmp_path / "server.pem")
    config.h2_max_concurrent_streams = max_streams
    config.graceful_timeout = 1
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete,
        args=(serve(app, config, shutdown_trigger=stop.wait),),
        daemon=True,
    )
    thread.start()
    try:
        wait_for_port(port, timeout_s=10)
        yield f"https://127.0.0.1:{port}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        assert not thread.is_alive(), "the test APNs server did not stop"
        loop.close()


def wait_for_port(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise AssertionError(f"the test APNs server did not listen on {port} in {timeout_s} s")


@pytest.fixture
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def server(tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey) -> Iterator[Server]:
    app = FakeApns(signing_key.public_key())
    key_file = write_key(tmp_path / f"AuthKey_{KEY_ID}.p8", signing_key)
    with running(app, tmp_path, SERVER_MAX_STREAMS) as url:
        yield Server(app, url, tmp_path / "ca.pem", key_file)


def environment(server: Server, **extra: str) -> dict[str, str]:
    return {
        "NOTIFYCTL_APNS_KEY_FILE": str(server.key_file),
        "NOTIFYCTL_APNS_KEY_ID": KEY_ID,
        "NOTIFYCTL_APNS_TEAM_ID": TEAM_ID,
        "NOTIFYCTL_APNS_TOPIC": TOPIC,
        "NOTIFYCTL_APNS_URL": server.url,
        "NOTIFYCTL_CHANNEL_CA_FILE": str(server.ca_file),
        **extra,
    }


def channel_for(server: Server, tokens: ProviderTokens, **options: Any) -> ApnsChannel:
    return ApnsChannel(
        tokens, TOPIC, server.url, tls=provider_ssl_context(str(server.ca_file)), **options
    )


def tokens_for(server: Server, key_file: Path | None = None, age_s: float = 0) -> ProviderTokens:
    """Provider tokens whose first token was made ``age_s`` ago."""
    clock = [time.time() - age_s]
    key = load_signing_key(str(key_file or server.key_file))
    tokens = ProviderTokens(key, KEY_ID, TEAM_ID, clock=lambda: clock[0] or time.time())
    tokens.current()
    clock[0] = 0  # from now on, the real clock
    return tokens


# -- a push as APNs sees it ------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_push_is_signed_addressed_and_shaped_as_apns_asks(server: Server) -> None:
    config = load({}, environment(server))
    assert "apns" in offered(config)
    channel = from_config(config)
    collapsing = notification(data={"order": 42, "apns_collapse_id": "order-42"})
    try:
        result = await channel.deliver(collapsing)
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.OK, result
    [seen] = server.app.seen
    assert seen.http_version == "2"
    assert seen.path == f"/3/device/{DEVICE}"
    assert uuid.UUID(seen.headers["apns-id"]).int == ulid_value(collapsing.id)
    assert seen.headers["apns-push-type"] == "alert"
    assert seen.headers["apns-priority"] == "10"
    assert seen.headers["apns-topic"] == TOPIC
    assert seen.headers["apns-collapse-id"] == "order-42"
    assert int(seen.headers["apns-expiration"]) > time.time() + 3600
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {
        "aps": {"alert": {"title": "Your order shipped", "body": "It arrives on Tuesday."}},
        "order": 42,
    }
    claims = jwt.decode(
        server.app.tokens[0], server.app.public_key, algorithms=["ES256"], issuer=TEAM_ID
    )
    assert abs(claims["iat"] - time.time()) < 60
    assert jwt.get_unverified_header(server.app.tokens[0])["alg"] == "ES256"


@pytest.mark.anyio
async def test_low_priority_and_background_pushes_go_with_priority_5(server: Server) -> None:
    channel = channel_for(server, tokens_for(server))
    try:
        low = await channel.deliver(notification(priority=Priority.LOW))
        silent = await channel.deliver(
            notification(title=None, body=None, data={"aps": {"badge": 3}, "sync": True})
        )
    finally:
        await channel.aclose()
    assert low.kind is silent.kind is ResultKind.OK
    low_seen, silent_seen = server.app.seen
    assert (low_seen.headers["apns-push-type"], low_seen.headers["apns-priority"]) == ("alert", "5")
    assert silent_seen.headers["apns-push-type"] == "background"
    assert silent_seen.headers["apns-priority"] == "5"
    assert "apns-collapse-id" not in silent_seen.headers
    assert json.loads(silent_seen.body) == {
        "aps": {"badge": 3, "content-available": 1},
        "sync": True,
    }


@pytest.mark.anyio
async def test_a_payload_over_4_kb_is_refused_before_sending(server: Server) -> None:
    channel = channel_for(server, tokens_for(server))
    try:
        result = await channel.deliver(notification(data={"blob": "x" * MAX_PAYLOAD_BYTES}))
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.PERMANENT
    assert result.error is not None and "4096-byte limit" in result.error
    assert server.app.seen == []


@pytest.mark.anyio
async def test_debug_logs_never_show_the_provider_token(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    channel = channel_for(server, tokens_for(server))
    try:
        result = await channel.deliver(notification())
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.OK
    assert any(record.name.startswith("httpcore") for record in caplog.records)
    assert not [record for record in caplog.records if record.name.startswith("hpack")]
    [token] = server.app.tokens
    assert token.split(".")[2] not in caplog.text


# -- APNs' answers ---------------------------------------------------------------------------------

PERMANENT, RETRYABLE = ResultKind.PERMANENT, ResultKind.RETRYABLE
#: every reason Apple documents: (status, reason, outcome, the device token is no good)
REASONS = [
    (400, "BadCollapseId", PERMANENT, False),
    (400, "BadDeviceToken", PERMANENT, True),
    (400, "BadExpirationDate", PERMANENT, False),
    (400, "BadMessageId", PERMANENT, False),
    (400, "BadPriority", PERMANENT, False),
    (400, "BadTopic", PERMANENT, False),
    (400, "DeviceTokenNotForTopic", PERMANENT, True),
    (400, "DuplicateHeaders", PERMANENT, False),
    (400, "IdleTimeout", RETRYABLE, False),
    (400, "InvalidPushType", PERMANENT, False),
    (400, "MissingDeviceToken", PERMANENT, False),
    (400, "MissingTopic", PERMANENT, False),
    (400, "PayloadEmpty", PERMANENT, False),
    (400, "TopicDisallowed", PERMANENT, False),
    (403, "BadCertificate", PERMANENT, False),
    (403, "BadCertificateEnvironment", PERMANENT, False),
    (403, "Forbidden", PERMANENT, False),
    (403, "MissingProviderToken", PERMANENT, False),
    (404, "BadPath", PERMANENT, False),
    (405, "MethodNotAllowed", PERMANENT, False),
    (410, "ExpiredToken", PERMANENT, True),
    (410, "Unregistered", PERMANENT, True),
    (413, "PayloadTooLarge", PERMANENT, False),
    (429, "TooManyProviderTokenUpdates", RETRYABLE, False),
    (429, "TooManyRequests", RETRYABLE, False),
    (500, "InternalServerError", RETRYABLE, False),
    (503, "ServiceUnavailable", RETRYABLE, False),
    (503, "Shutdown", RETRYABLE, False),
]


@pytest.mark.anyio
async def test_every_documented_reason_maps_to_its_outcome(server: Server) -> None:
    answers = iter(REASONS)
    server.app.answer = lambda seen: next(answers)[:2] + ({},)
    channel = channel_for(server, tokens_for(server))
    try:
        for status, reason, kind, invalid_address in REASONS:
            result = await channel.deliver(notification())
            assert (result.kind, result.invalid_address) == (kind, invalid_address), reason
            assert result.error == f"APNs {status} {reason}"
    finally:
        await channel.aclose()


@pytest.mark.anyio
async def test_retry_after_is_honoured_and_the_apns_id_stays_the_same(server: Server) -> None:
    answers = iter([(429, "TooManyRequests", {"retry-after": "30"}), (200, "", {})])
    server.app.answer = lambda seen: next(answers)
    channel = channel_for(server, tokens_for(server))
    try:
        first = await channel.deliver(notification())
        second = await channel.deliver(notification(attempts=2))
    finally:
        await channel.aclose()
    assert (first.kind, first.retry_after_ms) == (ResultKind.RETRYABLE, 30_000)
    assert second.kind is ResultKind.OK
    assert len({seen.headers["apns-id"] for seen in server.app.seen}) == 1


# -- provider tokens -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_an_expired_provider_token_is_renewed_once_and_the_push_sent(
    server: Server,
) -> None:
    server.app.expire_first_token = True
    tokens = tokens_for(server, age_s=600)
    channel = channel_for(server, tokens)
    try:
        result = await channel.deliver(notification())
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.OK, result
    assert tokens.issued == 2
    assert len(server.app.tokens) == 2
    [accepted] = server.app.seen
    assert accepted.headers["authorization"] == f"bearer {server.app.tokens[1]}"


@pytest.mark.anyio
async def test_concurrent_streams_refused_together_renew_the_token_once(server: Server) -> None:
    server.app.expire_first_token = True
    server.app.delay_s = 0.05
    tokens = tokens_for(server, age_s=600)
    channel = channel_for(server, tokens)
    try:
        results = await deliver_all(channel, [notification(id=ulid(n)) for n in range(8)])
    finally:
        await channel.aclose()
    assert all(result.kind is ResultKind.OK for result in results), results
    assert server.app.refused > 1  # several streams carried the expired token
    assert tokens.issued == 2


@pytest.mark.anyio
@pytest.mark.parametrize("age_s, issued, requests", [(600, 2, 2), (10, 1, 1)])
async def test_a_token_of_the_wrong_key_is_retryable_and_renewed_only_when_old(
    server: Server, tmp_path: Path, age_s: float, issued: int, requests: int
) -> None:
    """Renewed once when it was old enough to have expired; not renewed when fresh (a new
    token of the same key would be refused alike, and renewals are rationed by Apple)."""
    stranger = write_key(tmp_path / "other.p8", ec.generate_private_key(ec.SECP256R1()))
    tokens = tokens_for(server, key_file=stranger, age_s=age_s)
    channel = channel_for(server, tokens)
    try:
        result = await channel.deliver(notification())
    finally:
        await channel.aclose()
    assert (result.kind, result.error) == (ResultKind.RETRYABLE, "APNs 403 InvalidProviderToken")
    assert (tokens.issued, len(server.app.tokens)) == (issued, requests)


def test_a_token_is_kept_for_50_minutes_and_renewed_once_when_refused(
    signing_key: ec.EllipticCurvePrivateKey,
) -> None:
    now = [1_000_000.0]
    tokens = ProviderTokens(signing_key, KEY_ID, TEAM_ID, clock=lambda: now[0])
    first = tokens.current()
    now[0] += TOKEN_LIFETIME_S - 1
    assert tokens.current() == first
    now[0] += 1
    second = tokens.current()
    assert second != first
    assert tokens.refused(second) is None  # refused fresh: a new one would be refused alike
    now[0] += MIN_AGE_TO_RENEW_S
    third = tokens.refused(second)
    assert third not in (None, second)
    assert tokens.refused(second) == third  # another stream's refusal of the same token
    assert tokens.issued == 3


# -- streams and connections -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_pushes_share_one_connection_within_the_servers_stream_limit(
    server: Server,
) -> None:
    server.app.delay_s = 0.1
    channel = from_config(load({}, environment(server, NOTIFYCTL_APNS_MAX_STREAMS="0")))
    try:
        results = await deliver_all(channel, [notification(id=ulid(n)) for n in range(12)])
    finally:
        await channel.aclose()
    assert all(result.kind is ResultKind.OK for result in results), results
    assert len(server.app.connections) == 1
    assert 1 < server.app.max_in_flight <= SERVER_MAX_STREAMS


@pytest.mark.anyio
async def test_apns_max_streams_caps_the_streams_below_the_servers(server: Server) -> None:
    server.app.delay_s = 0.1
    channel = from_config(load({}, environment(server, NOTIFYCTL_APNS_MAX_STREAMS="2")))
    try:
        results = await deliver_all(channel, [notification(id=ulid(n)) for n in range(8)])
    finally:
        await channel.aclose()
    assert all(result.kind is ResultKind.OK for result in results), results
    assert len(server.app.connections) == 1
    assert server.app.max_in_flight == 2


@pytest.mark.anyio
async def test_apns_lowering_its_stream_limit_costs_one_attempt_not_the_connection(
    tmp_path: Path, signing_key: Any
) -> None:
    """APNs may lower SETTINGS_MAX_CONCURRENT_STREAMS while streams are in flight. httpcore
    1.0 then stalls the connection until the attempts' deadline (httpx2 issue 1216), and its
    stream count no longer matches h2's: every later push on that connection would fail. The
    stalled attempts end retryable, and the next pushes go over a new connection."""
    server = LoweringH2Server(first_limit=4)
    ca_file = tmp_path / "ca.pem"
    async with server.running(ca_file) as url:
        tokens = ProviderTokens(signing_key, KEY_ID, TEAM_ID)
        channel = ApnsChannel(
            tokens, TOPIC, url, timeout_ms=1_000, tls=provider_ssl_context(str(ca_file))
        )
        try:
            stalled = await deliver_all(channel, [notification(id=ulid(n)) for n in range(6)])
            after = await deliver_all(channel, [notification(id=ulid(n)) for n in range(3)])
        finally:
            await channel.aclose()
    assert server.lowered
    assert {result.kind for result in stalled} <= {ResultKind.OK, ResultKind.RETRYABLE}
    assert [result.kind for result in after] == [ResultKind.OK] * 3, after
    assert server.max_in_flight <= 4
    assert server.connections == 2


@pytest.mark.anyio
async def test_a_refused_connection_is_retryable(tmp_path: Path, signing_key: Any) -> None:
    tokens = ProviderTokens(signing_key, KEY_ID, TEAM_ID)
    channel = ApnsChannel(tokens, TOPIC, f"https://127.0.0.1:{free_port()}", timeout_ms=2_000)
    try:
        result = await channel.deliver(notification())
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None and "connection failed" in result.error


@pytest.mark.anyio
async def test_a_connection_lost_mid_push_is_retryable(server: Server) -> None:
    """The push APNs may have taken without answering: the attempt must be retried."""
    server.app.delay_s = 5.0
    results: list[Any] = []
    async with anyio.create_task_group() as group:
        proxy = CuttableProxy(int(server.url.rsplit(":", 1)[1]))
        await group.start(proxy.serve)
        channel = ApnsChannel(
            tokens_for(server),
            TOPIC,
            f"https://127.0.0.1:{proxy.port}",
            tls=provider_ssl_context(str(server.ca_file)),
        )

        async def push() -> None:
            results.append(await channel.deliver(notification()))

        async with anyio.create_task_group() as pushing:
            pushing.start_soon(push)
            with anyio.fail_after(5):
                while server.app.in_flight == 0:
                    await anyio.sleep(0.01)
            await proxy.cut()
        await channel.aclose()
        group.cancel_scope.cancel()
    [result] = results
    assert result.kind is ResultKind.RETRYABLE, result
    assert result.error is not None and "connection failed" in result.error


@pytest.mark.anyio
async def test_a_slow_answer_times_out_as_retryable(server: Server) -> None:
    server.app.delay_s = 1.0
    channel = channel_for(server, tokens_for(server), timeout_ms=200)
    try:
        result = await channel.deliver(notification())
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None and "timed out" in result.error


@pytest.mark.anyio
@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"to": None}, "no device token"),
        ({"data": {"aps": "loud"}}, "data.aps must be an object"),
        ({"data": {"apns_collapse_id": "x" * 65}}, "at most 64 bytes"),
    ],
)
async def test_a_notification_apns_cannot_take_is_permanent_unsent(
    server: Server, changes: dict[str, Any], problem: str
) -> None:
    channel = channel_for(server, tokens_for(server))
    try:
        result = await channel.deliver(notification(**changes))
    finally:
        await channel.aclose()
    assert result.kind is ResultKind.PERMANENT
    assert result.error is not None and problem in result.error
    assert server.app.seen == [] and server.app.tokens == []


def test_the_apns_url_names_apples_endpoints_or_is_taken_as_given() -> None:
    assert base_url_of("production") == "https://api.push.apple.com"
    assert base_url_of("sandbox") == "https://api.sandbox.push.apple.com"
    assert base_url_of("https://relay.example:8443") == "https://relay.example:8443"


def test_an_unreadable_ca_file_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not a certificate")
    for path in (tmp_path / "missing.pem", tmp_path / "ca.pem"):
        with pytest.raises(ChannelError, match="NOTIFYCTL_CHANNEL_CA_FILE"):
            provider_ssl_context(str(path))


# -- ids and keys ----------------------------------------------------------------------------------


def test_the_apns_id_is_the_ulid_as_a_uuid() -> None:
    assert apns_id("00000000000000000000000000") == "00000000-0000-0000-0000-000000000000"
    assert apns_id("7ZZZZZZZZZZZZZZZZZZZZZZZZZ") == "ffffffff-ffff-ffff-ffff-ffffffffffff"
    assert apns_id("01hzx3v8q2t0000000000000ab") == apns_id("01HZX3V8Q2T0000000000000AB")
    assert apns_id("not-a-ulid") == apns_id("not-a-ulid")  # stable, derived
    uuid.UUID(apns_id("not-a-ulid"))


@pytest.mark.parametrize(
    "make, problem",
    [
        (lambda p: None, "no such file"),
        (lambda p: p.write_text("not a key at all"), "not an unencrypted PEM private key"),
        (lambda p: write_key(p, ec.generate_private_key(ec.SECP384R1())), "not an EC P-256"),
        (lambda p: write_key(p, rsa.generate_private_key(65537, 2048)), "not an EC P-256"),
    ],
)
def test_a_bad_key_file_names_the_setting(
    tmp_path: Path, make: Callable[[Path], Any], problem: str
) -> None:
    path = tmp_path / "AuthKey.p8"
    make(path)
    with pytest.raises(ChannelError, match=problem) as raised:
        load_signing_key(str(path))
    assert "NOTIFYCTL_APNS_KEY_FILE" in str(raised.value)
    if path.exists():
        assert path.read_text() not in str(raised.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_key_file_names_the_setting(tmp_path: Path, signing_key: Any) -> None:
    path = write_key(tmp_path / "AuthKey.p8", signing_key)
    path.chmod(0)
    with pytest.raises(ChannelError, match="NOTIFYCTL_APNS_KEY_FILE: cannot read"):
        load_signing_key(str(path))


class CuttableProxy:
    """A TCP relay to the test server whose connections the test can cut, as a network would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._streams: list[anyio.abc.SocketStream] = []

    async def serve(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
        self.port = listener.extra(anyio.abc.SocketAttribute.local_port)
        task_status.started()
        async with listener:
            await listener.serve(self._relay)

    async def _relay(self, client: anyio.abc.SocketStream) -> None:
        upstream = await anyio.connect_tcp("127.0.0.1", self.target_port)
        self._streams += [client, upstream]
        async with anyio.create_task_group() as group:
            group.start_soon(self._pipe, client, upstream)
            group.start_soon(self._pipe, upstream, client)

    @staticmethod
    async def _pipe(source: anyio.abc.SocketStream, sink: anyio.abc.SocketStream) -> None:
        try:
            async for chunk in source:
                await sink.send(chunk)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass
        finally:
            await sink.aclose()

    async def cut(self) -> None:
        for stream in self._streams:
            await stream.aclose()


class LoweringH2Server:
    """A bare HTTP/2 server (h2, TLS) announcing ``first_limit`` concurrent streams that, once
    that many requests wait on its first connection, lowers the limit to 1 and then answers
    them; later requests are answered at once."""

    def __init__(self, first_limit: int) -> None:
        self.first_limit = first_limit
        self.lowered = False
        self.connections = 0
        self.max_in_flight = 0
        self._writers: list[asyncio.StreamWriter] = []

    @asynccontextmanager
    async def running(self, ca_file: Path) -> AsyncIterator[str]:
        ca = trustme.CA()
        ca.cert_pem.write_to_path(str(ca_file))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(tls)
        tls.set_alpn_protocols(["h2"])
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=tls)
        try:
            yield f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        finally:
            server.close()
            for writer in self._writers:
                writer.close()
            await server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        first_connection = self.connections == 1
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        connection.local_settings = h2.settings.Settings(
            client=False, initial_values={MAX_STREAMS: self.first_limit}
        )
        connection.initiate_connection()
        waiting: list[int] = []
        try:
            while data := await reader.read(65_535):
                waiting += [event.stream_id for event in connection.receive_data(data)
                            if isinstance(event, h2.events.StreamEnded)]  # fmt: skip
                self.max_in_flight = max(self.max_in_flight, len(waiting))
                if first_connection and len(waiting) >= self.first_limit and not self.lowered:
                    self.lowered = True
                    connection.update_settings({MAX_STREAMS: 1})
                if self.lowered or not first_connection:
                    for stream_id in waiting:
                        connection.send_headers(stream_id, [(":status", "200")], end_stream=True)
                    waiting.clear()
                writer.write(connection.data_to_send())
                await writer.drain()
        except (ConnectionError, h2.exceptions.ProtocolError):
            pass  # the client went away, or broke the protocol: the test sees it by its results
        finally:
            writer.close()


# -- helpers ---------------------------------------------------------------------------------------


async def deliver_all(channel: ApnsChannel, items: list[Notification]) -> list[Any]:
    results: list[Any] = [None] * len(items)

    async def one(index: int) -> None:
        results[index] = await channel.deliver(items[index])

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for index in range(len(items)):
                group.start_soon(one, index)
    return results


def ulid(n: int) -> str:
    return f"01HZX3V8Q2T00000000000{n:04d}"


def ulid_value(text: str) -> int:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    value = 0
    for char in text:
        value = value * 32 + alphabet.index(char)
    return value


def test_an_alert_without_its_own_collapse_id_collapses_with_its_repeats() -> None:
    alert = notification()
    assert push_headers(alert, TOPIC, 0.0)["apns-collapse-id"] == alert.id
    own = notification(data={"apns_collapse_id": "order-42"})
    assert push_headers(own, TOPIC, 0.0)["apns-collapse-id"] == "order-42"
    silent = notification(title=None, body=None)
    assert "apns-collapse-id" not in push_headers(silent, TOPIC, 0.0)
