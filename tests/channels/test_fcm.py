"""The fcm channel against a stand-in for Google on 127.0.0.1: a real HTTPS server (trustme's CA,
trusted through NOTIFYCTL_CHANNEL_CA_FILE) with an OAuth2 token endpoint that verifies the
service account's signed assertion, and FCM's ``messages:send`` that checks the bearer token.
Nothing is mocked below the HTTP client."""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest
import trustme
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from notifyctl import channels
from notifyctl.channels import fcm
from notifyctl.channels.fcm import FcmChannel, data_strings, message, parse_error
from notifyctl.channels.fcm_auth import GRANT_TYPE, SCOPE, load_service_account
from notifyctl.channels.gate import ProviderGate
from notifyctl.errors import ChannelError
from notifyctl.model import Notification, Priority, Status
from notifyctl.retry import DeliveryResult, ResultKind
from tests.conftest import make_config

NOW = 1_700_000_000_000
PROJECT = "notifyctl-test"
CLIENT_EMAIL = "sender@notifyctl-test.iam.gserviceaccount.com"
KEY_ID = "0123456789abcdef"
DEVICE = "dQw4w9WgXcQ:APA91bH" + "x" * 140
#: every scenario is over well within this, or it is a bug, not a slow machine
SCENARIO_TIMEOUT_S = 15


def notification(**changes: Any) -> Notification:
    base = Notification(
        id="01HZX3V8Q2T0000000000000AB", user_id="user-1", channel="fcm", to=DEVICE,
        title="Your order shipped", body="It arrives on Tuesday.",
        data={"order": 42, "gift": True, "note": "fragile"}, priority=Priority.HIGH,
        status=Status.PENDING, scheduled_for=NOW, available_at=NOW, attempts=1, max_attempts=3,
        last_error=None, idempotency_key=None, request_hash="0" * 64, locked_by="host-1",
        locked_at=NOW, lock_expiry=NOW + 30_000, lock_version=1, created_at=NOW, updated_at=NOW,
    )  # fmt: skip
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def write_credentials(path: Path, key_pem: str, token_uri: str, **changes: Any) -> Path:
    document = {
        "type": "service_account", "project_id": PROJECT, "private_key_id": KEY_ID,
        "private_key": key_pem, "client_email": CLIENT_EMAIL, "token_uri": token_uri, **changes,
    }  # fmt: skip
    path.write_text(json.dumps(document))
    return path


def fcm_error(status: int, code: str, message: str, **extra: Any) -> dict[str, Any]:
    """FCM v1's error body: a google.rpc.Status with an FcmError detail."""
    status_names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                    404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL",
                    503: "UNAVAILABLE"}  # fmt: skip
    details: list[dict[str, Any]] = [
        {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code}
    ]
    if "field" in extra:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": extra["field"],
                                             "description": message}]})  # fmt: skip
    error = {"code": status, "message": message, "status": status_names[status]}
    return {"error": {**error, "details": details}}


@dataclass
class Reply:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeGoogle:
    """The token endpoint and FCM, with what they were asked and what they will answer."""

    public_key: rsa.RSAPublicKey
    base_url: str = ""
    token_requests: int = 0
    #: the access tokens FCM accepts; ``expire_tokens`` empties it
    valid_tokens: set[str] = field(default_factory=set)
    sent: list[dict[str, Any]] = field(default_factory=list)
    bearers: list[str] = field(default_factory=list)
    #: answers for the next sends, in order; then 200
    replies: list[Reply] = field(default_factory=list)
    token_failure: Reply | None = None
    token_delay_s: float = 0.0
    expires_in: int = 3599
    send_delay_s: float = 0.0
    sends_in_flight: int = 0
    most_sends_in_flight: int = 0

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    def expire_tokens(self) -> None:
        self.valid_tokens.clear()

    def check_assertion(self, form: dict[str, str]) -> str | None:
        """Why the assertion is no good, as Google would refuse it; None when it is good."""
        if form.get("grant_type") != GRANT_TYPE:
            return "unsupported_grant_type"
        assertion = form.get("assertion", "")
        try:
            claims = jwt.decode(assertion, self.public_key, algorithms=["RS256"],
                                audience=self.token_uri)  # fmt: skip
        except jwt.InvalidTokenError as exc:
            return f"invalid_grant: {exc}"
        expected = {"iss": CLIENT_EMAIL, "sub": CLIENT_EMAIL, "scope": SCOPE}
        if any(claims.get(name) != value for name, value in expected.items()):
            return "invalid_grant: wrong claims"
        if (
            claims["exp"] - claims["iat"] != 3600
            or jwt.get_unverified_header(assertion).get("kid") != KEY_ID
        ):
            return "invalid_grant: wrong lifetime or kid"
        return None

    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = {key: str(value) for key, value in (await request.post()).items()}
        await anyio.sleep(self.token_delay_s)
        if self.token_failure is not None:
            return web.json_response(self.token_failure.body, status=self.token_failure.status)
        refusal = self.check_assertion(form)
        if refusal is not None:
            return web.json_response({"error": refusal}, status=400)
        access_token = f"ya29.test-{self.token_requests}"
        self.valid_tokens.add(access_token)
        return web.json_response(
            {"access_token": access_token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        self.bearers.append(bearer)
        if bearer not in self.valid_tokens:
            body = {
                "error": {
                    "code": 401,
                    "status": "UNAUTHENTICATED",
                    "message": "Request had invalid authentication credentials.",
                }
            }
            return web.json_response(body, status=401)  # fmt: skip
        self.sent.append(await request.json())
        self.sends_in_flight += 1
        self.most_sends_in_flight = max(self.most_sends_in_flight, self.sends_in_flight)
        await anyio.sleep(self.send_delay_s)
        self.sends_in_flight -= 1
        if self.replies:
            reply = self.replies.pop(0)
            return web.json_response(reply.body, status=reply.status, headers=reply.headers)
        return web.json_response({"name": f"projects/{PROJECT}/messages/{len(self.sent)}"})


def serve_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@asynccontextmanager
async def google(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA, **settings: Any
) -> AsyncIterator[tuple[FakeGoogle, FcmChannel]]:
    """A started stand-in for Google, and an fcm channel built from settings that point at it."""
    fake = FakeGoogle(signing_key.public_key())
    app = web.Application()
    app.router.add_post("/token", fake.token)
    app.router.add_post(f"/v1/projects/{PROJECT}/messages:send", fake.send)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=serve_tls(ca)).start()
    fake.base_url = f"https://127.0.0.1:{runner.addresses[0][1]}"
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    credentials = write_credentials(tmp_path / "sa.json", pem(signing_key), fake.token_uri)
    defaults = {
        "fcm_credentials_file": str(credentials), "fcm_url": fake.base_url,
        "channel_ca_file": str(ca_file), "channel_timeout_ms": 5_000,
    }  # fmt: skip
    config = make_config(tmp_path, **{**defaults, **settings})
    channel = fcm.from_config(config)
    try:
        with anyio.fail_after(SCENARIO_TIMEOUT_S):
            yield fake, channel
    finally:
        await channel.aclose()
        await runner.cleanup()


async def deliver_with_replies(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA, *replies: Reply
) -> tuple[DeliveryResult, FakeGoogle]:
    async with google(tmp_path, signing_key, ca) as (fake, channel):
        fake.replies.extend(replies)
        return await channel.deliver(notification()), fake


# -- the message -----------------------------------------------------------------------------


def test_data_values_become_strings_and_carry_the_notification_id() -> None:
    data = {"order": 42, "gift": True, "note": "fragile", "box": {"w": 1}, "none": None}
    assert data_strings(notification(data=data)) == {
        "order": "42", "gift": "true", "note": "fragile", "box": '{"w":1}', "none": "null",
        "notification_id": "01HZX3V8Q2T0000000000000AB",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("priority", "android", "apns"),
    [
        (Priority.HIGH, "high", "10"),
        (Priority.NORMAL, "normal", "5"),
        (Priority.LOW, "normal", "1"),
    ],
)
def test_priority_maps_to_android_and_apns(priority: Priority, android: str, apns: str) -> None:
    shown = notification(priority=priority)
    sent = message(shown)["message"]
    assert sent["android"] == {"priority": android, "notification": {"tag": shown.id}}
    assert sent["apns"] == {"headers": {"apns-priority": apns, "apns-collapse-id": shown.id}}


def test_a_message_without_title_or_body_is_a_data_message_at_apns_priority_5() -> None:
    sent = message(notification(title=None, body=None))["message"]
    assert "notification" not in sent
    assert sent["apns"]["headers"]["apns-priority"] == "5"  # Apple refuses 10 without an alert
    # nothing is shown, so there is nothing for a repeat to replace
    assert "notification" not in sent["android"]
    assert "apns-collapse-id" not in sent["apns"]["headers"]


@pytest.mark.parametrize(
    ("status", "body", "described"),
    [
        (502, b"", "FCM HTTP 502"),
        (502, b"<html>Bad Gateway</html>", "FCM HTTP 502: <html>Bad Gateway</html>"),
        (404, json.dumps(fcm_error(404, "UNREGISTERED", "gone")).encode(),
         "FCM HTTP 404 UNREGISTERED NOT_FOUND: gone"),
        (400, json.dumps({"error": {"status": "INVALID_ARGUMENT", "message": "x" * 1000}}).encode(),
         "FCM HTTP 400 INVALID_ARGUMENT: " + "x" * 300),
    ],
)  # fmt: skip
def test_fcms_error_body_is_described_in_one_bounded_line(
    status: int, body: bytes, described: str
) -> None:
    assert parse_error(status, body).describe() == described


# -- sending ---------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_send_is_ok_and_fcm_gets_the_message_with_a_verified_token(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    result, fake = await deliver_with_replies(tmp_path, signing_key, ca)
    assert result == DeliveryResult(ResultKind.OK)
    assert fake.token_requests == 1
    assert fake.sent == [{"message": {
        "token": DEVICE,
        "notification": {"title": "Your order shipped", "body": "It arrives on Tuesday."},
        "data": {"order": "42", "gift": "true", "note": "fragile",
                 "notification_id": "01HZX3V8Q2T0000000000000AB"},
        "android": {"priority": "high", "notification": {"tag": "01HZX3V8Q2T0000000000000AB"}},
        "apns": {"headers": {"apns-priority": "10",
                             "apns-collapse-id": "01HZX3V8Q2T0000000000000AB"}},
    }}]  # fmt: skip


@pytest.mark.anyio
async def test_the_access_token_is_cached_across_sends(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    async with google(tmp_path, signing_key, ca) as (fake, channel):
        results = [await channel.deliver(notification()) for _ in range(5)]
    assert {result.kind for result in results} == {ResultKind.OK}
    assert fake.token_requests == 1
    assert set(fake.bearers) == {"ya29.test-1"}


@pytest.mark.anyio
async def test_a_token_about_to_expire_is_renewed_before_it_is_sent(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    async with google(tmp_path, signing_key, ca) as (fake, channel):
        fake.expires_in = 0  # renewed at once: no send ever carries a lapsing token
        for _ in range(2):
            assert (await channel.deliver(notification())).kind is ResultKind.OK
    assert fake.token_requests == 2
    assert fake.bearers == ["ya29.test-1", "ya29.test-2"]


@pytest.mark.anyio
async def test_a_token_fcm_refuses_is_renewed_once_and_the_send_repeated(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    async with google(tmp_path, signing_key, ca) as (fake, channel):
        assert (await channel.deliver(notification())).kind is ResultKind.OK
        fake.expire_tokens()  # FCM now answers 401 to the cached token, once
        result = await channel.deliver(notification())
        again = await channel.deliver(notification())
    assert result.kind is ResultKind.OK and again.kind is ResultKind.OK
    assert fake.token_requests == 2
    assert fake.bearers == ["ya29.test-1", "ya29.test-1", "ya29.test-2", "ya29.test-2"]
    assert len(fake.sent) == 3


@pytest.mark.anyio
async def test_a_fresh_token_refused_too_is_retryable_after_one_renewal(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    refused = Reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED", "message": "no"}})
    result, fake = await deliver_with_replies(tmp_path, signing_key, ca, refused, refused)
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None and "UNAUTHENTICATED" in result.error
    assert fake.token_requests == 2  # one renewal, not a loop
    for secret in ("ya29.", "PRIVATE KEY", "assertion"):  # neither in the outcome nor a log
        assert secret not in result.error and secret not in caplog.text


@pytest.mark.anyio
async def test_concurrent_sends_share_one_token_refresh(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    results: list[DeliveryResult] = []
    async with google(tmp_path, signing_key, ca, fcm_max_connections=8) as (fake, channel):
        fake.token_delay_s = 0.2  # every send starts while the first refresh is still out

        async def send() -> None:
            results.append(await channel.deliver(notification()))

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(send)
        fake.expire_tokens()
        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(send)
    assert len(results) == 40 and {result.kind for result in results} == {ResultKind.OK}
    assert fake.token_requests == 2  # one at the start, one after the 401s: never one per send


@pytest.mark.anyio
async def test_no_more_sends_are_in_flight_than_fcm_max_connections(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    async with google(tmp_path, signing_key, ca, fcm_max_connections=3) as (fake, channel):
        fake.send_delay_s = 0.05
        async with anyio.create_task_group() as group:
            for _ in range(12):
                group.start_soon(channel.deliver, notification())
    assert len(fake.sent) == 12
    assert fake.most_sends_in_flight == 3


@pytest.mark.anyio
async def test_an_fcm_slower_than_the_timeout_is_retryable_and_says_so(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    async with google(tmp_path, signing_key, ca, channel_timeout_ms=200) as (fake, channel):
        fake.send_delay_s = 1.0
        result = await channel.deliver(notification())
    assert result == DeliveryResult(ResultKind.RETRYABLE, "timed out after 200 ms")


@pytest.mark.anyio
async def test_an_fcm_that_refuses_connections_is_retryable(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unused:
        unused.bind(("127.0.0.1", 0))
        refused = f"https://127.0.0.1:{unused.getsockname()[1]}"
        async with google(tmp_path, signing_key, ca, fcm_url=refused) as (fake, channel):
            result = await channel.deliver(notification())
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None and "connection failed" in result.error
    assert fake.token_requests == 1  # the token came from the token endpoint, which was up


@pytest.mark.anyio
async def test_an_fcm_whose_certificate_is_not_trusted_is_retryable(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    stranger = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(stranger))
    async with google(tmp_path, signing_key, ca, channel_ca_file=str(stranger)) as (fake, channel):
        result = await channel.deliver(notification())
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None and "certificate" in result.error.lower()
    assert fake.token_requests == 0  # the assertion never went to an untrusted endpoint


@pytest.mark.anyio
async def test_fcm_rate_per_s_spaces_the_sends(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    async with google(tmp_path, signing_key, ca, fcm_rate_per_s=20) as (fake, channel):
        started = time.monotonic()
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(channel.deliver, notification())
        elapsed = time.monotonic() - started
    assert len(fake.sent) == 5
    assert elapsed >= 4 / 20 * 0.9  # five starts 50 ms apart


# -- FCM's errors ----------------------------------------------------------------------------

UNREGISTERED = Reply(404, fcm_error(404, "UNREGISTERED", "Requested entity was not found."))
NOT_A_TOKEN = "The registration token is not a valid FCM registration token"
BAD_TOKEN = Reply(400, fcm_error(400, "INVALID_ARGUMENT", NOT_A_TOKEN, field="message.token"))
BAD_KEY = "Invalid data payload key: from"
BAD_DATA = Reply(400, fcm_error(400, "INVALID_ARGUMENT", BAD_KEY, field="message.data"))
MISMATCH = Reply(403, fcm_error(403, "SENDER_ID_MISMATCH", "SenderId mismatch"))


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (UNREGISTERED, "UNREGISTERED"),
        (BAD_TOKEN, "registration token"),
        (MISMATCH, "SENDER_ID_MISMATCH"),
    ],  # fmt: skip
)
async def test_a_token_fcm_says_is_no_good_is_permanent_and_an_invalid_address(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA, reply: Reply, says: str
) -> None:
    result, _ = await deliver_with_replies(tmp_path, signing_key, ca, reply)
    assert result.kind is ResultKind.PERMANENT and result.invalid_address
    assert result.error is not None and says in result.error


@pytest.mark.anyio
async def test_an_invalid_argument_about_the_payload_is_permanent_but_not_the_address(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    result, _ = await deliver_with_replies(tmp_path, signing_key, ca, BAD_DATA)
    assert result.kind is ResultKind.PERMANENT and not result.invalid_address
    assert result.error is not None and BAD_KEY in result.error


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "code", "retry_after", "wait_ms"),
    [
        (429, "QUOTA_EXCEEDED", "30", 30_000),
        (503, "UNAVAILABLE", "7", 7_000),
        (500, "INTERNAL", None, None),
    ],  # fmt: skip
)
async def test_quota_unavailable_and_internal_are_retryable_after_fcms_retry_after(
    tmp_path: Path,
    signing_key: rsa.RSAPrivateKey,
    ca: trustme.CA,
    status: int,
    code: str,
    retry_after: str | None,
    wait_ms: int | None,
) -> None:
    headers = {"Retry-After": retry_after} if retry_after else {}
    reply = Reply(status, fcm_error(status, code, "try later"), headers)
    result, _ = await deliver_with_replies(tmp_path, signing_key, ca, reply)
    assert result.kind is ResultKind.RETRYABLE and not result.invalid_address
    assert result.retry_after_ms == wait_ms
    assert result.error is not None and code in result.error


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("reply", "kind", "says"),
    [
        (Reply(404, {"error": {"code": 404, "status": "NOT_FOUND", "message": "no project"}}),
         ResultKind.PERMANENT, "FCM HTTP 404 NOT_FOUND: no project"),
        (Reply(403, fcm_error(403, "PERMISSION_DENIED", "missing permission")),
         ResultKind.PERMANENT, "PERMISSION_DENIED: missing permission"),
        (Reply(502, {"not": "google's"}), ResultKind.RETRYABLE, "FCM HTTP 502"),
    ],
)  # fmt: skip
async def test_other_answers_follow_the_http_status_and_keep_fcms_message(
    tmp_path: Path,
    signing_key: rsa.RSAPrivateKey,
    ca: trustme.CA,
    reply: Reply,
    kind: ResultKind,
    says: str,
) -> None:
    result, _ = await deliver_with_replies(tmp_path, signing_key, ca, reply)
    assert result.kind is kind and not result.invalid_address
    assert result.error is not None and says in result.error


@pytest.mark.anyio
async def test_a_third_party_auth_error_is_permanent_without_renewing_the_token(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    reply = Reply(401, fcm_error(401, "THIRD_PARTY_AUTH_ERROR", "APNs auth key missing"))
    result, fake = await deliver_with_replies(tmp_path, signing_key, ca, reply)
    assert result.kind is ResultKind.PERMANENT and not result.invalid_address
    assert result.error is not None and "APNs auth key missing" in result.error
    assert fake.token_requests == 1


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}),
         "the token endpoint refused: HTTP 400 invalid_grant Invalid JWT Signature."),
        (Reply(500, {"oops": True}), "the token endpoint refused: HTTP 500"),
        (Reply(200, {"token_type": "Bearer"}), "the token endpoint's answer has no access_token"),
    ],
)  # fmt: skip
async def test_a_token_endpoint_that_fails_is_retryable_and_says_why(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA, failure: Reply, says: str
) -> None:
    async with google(tmp_path, signing_key, ca) as (fake, channel):
        fake.token_failure = failure
        result = await channel.deliver(notification())
    assert result == DeliveryResult(ResultKind.RETRYABLE, f"no FCM access token: {says}")
    assert fake.sent == []


@pytest.mark.anyio
async def test_a_refused_port_is_retryable(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    # A port bound but not listening refuses connections, and nobody else can take it meanwhile.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{unused.getsockname()[1]}"
        account = load_service_account(
            str(write_credentials(tmp_path / "sa.json", pem(signing_key), f"{url}/token"))
        )
        channel = FcmChannel(account, url, ProviderGate(1), timeout_ms=5_000)
        try:
            with anyio.fail_after(SCENARIO_TIMEOUT_S):
                result = await channel.deliver(notification())
        finally:
            await channel.aclose()
    assert result.kind is ResultKind.RETRYABLE
    assert result.error is not None and "token endpoint" in result.error


# -- the credentials file --------------------------------------------------------------------


def build(tmp_path: Path, credentials: Path) -> FcmChannel:
    return fcm.from_config(make_config(tmp_path, fcm_credentials_file=str(credentials)))


def test_a_missing_credentials_file_is_named_at_build_time(tmp_path: Path) -> None:
    with pytest.raises(ChannelError, match="NOTIFYCTL_FCM_CREDENTIALS_FILE=.*cannot read"):
        build(tmp_path, tmp_path / "absent.json")


def test_a_credentials_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sa.json").write_text("-----BEGIN PRIVATE KEY-----\nsecret")
    with pytest.raises(ChannelError, match="NOTIFYCTL_FCM_CREDENTIALS_FILE=.*not JSON") as raised:
        build(tmp_path, tmp_path / "sa.json")
    assert "secret" not in str(raised.value)


def test_missing_fields_are_listed(tmp_path: Path, signing_key: rsa.RSAPrivateKey) -> None:
    path = write_credentials(tmp_path / "sa.json", pem(signing_key), "https://t", project_id="")
    del_field = json.loads(path.read_text())
    del del_field["client_email"]
    path.write_text(json.dumps(del_field))
    with pytest.raises(ChannelError, match="missing or empty fields: client_email, project_id"):
        build(tmp_path, path)


@pytest.mark.parametrize("key_pem", ["not a key", "ec"])
def test_a_bad_private_key_is_refused_without_echoing_it(tmp_path: Path, key_pem: str) -> None:
    if key_pem == "ec":
        key_pem = pem(ec.generate_private_key(ec.SECP256R1()))
    path = write_credentials(tmp_path / "sa.json", key_pem, "https://oauth2.googleapis.com/token")
    names_the_key = "NOTIFYCTL_FCM_CREDENTIALS_FILE=.*private_key"
    with pytest.raises(ChannelError, match=names_the_key) as raised:
        build(tmp_path, path)
    assert key_pem not in str(raised.value)


def test_the_private_key_is_not_in_the_accounts_repr(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey
) -> None:
    path = write_credentials(tmp_path / "sa.json", pem(signing_key), "https://t/token")
    assert "PRIVATE" not in repr(load_service_account(str(path)))
    assert "private_key=" not in repr(load_service_account(str(path)))


@pytest.mark.anyio
async def test_concurrent_sends_share_one_failed_refresh_and_a_later_send_tries_again(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey, ca: trustme.CA
) -> None:
    results: list[DeliveryResult] = []
    async with google(tmp_path, signing_key, ca, fcm_max_connections=8) as (fake, channel):
        fake.token_failure = Reply(503, {"error": "temporarily_unavailable"})
        fake.token_delay_s = 0.2

        async def send() -> None:
            results.append(await channel.deliver(notification()))

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(send)
        assert fake.token_requests == 1  # not one after another behind the lock
        fake.token_failure, fake.token_delay_s = None, 0.0
        assert (await channel.deliver(notification())).kind is ResultKind.OK
    assert [result.kind for result in results] == [ResultKind.RETRYABLE] * 8
    assert all("temporarily_unavailable" in (result.error or "") for result in results)
    assert fake.token_requests == 2


def test_a_deployment_with_a_credentials_file_offers_and_opens_the_fcm_channel(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey
) -> None:
    path = write_credentials(tmp_path / "sa.json", pem(signing_key), "https://t/token")
    config = make_config(tmp_path, fcm_credentials_file=str(path))
    assert "fcm" in channels.offered(config)
    opened = channels.open_channels(config)
    assert isinstance(opened["fcm"], FcmChannel) and opened["fcm"].name == "fcm"


def test_a_bad_ca_file_is_named_at_build_time(
    tmp_path: Path, signing_key: rsa.RSAPrivateKey
) -> None:
    path = write_credentials(tmp_path / "sa.json", pem(signing_key), "https://t/token")
    (tmp_path / "ca.pem").write_text("not a certificate")
    config = make_config(
        tmp_path, fcm_credentials_file=str(path), channel_ca_file=str(tmp_path / "ca.pem")
    )
    with pytest.raises(ChannelError, match="NOTIFYCTL_CHANNEL_CA_FILE="):
        fcm.from_config(config)
