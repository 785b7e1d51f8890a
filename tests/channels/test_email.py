"""The email channel against a real SMTP server (aiosmtpd) on 127.0.0.1: nothing is mocked at the
socket. Each test starts its own server with the handler it needs through ``smtp_server``."""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
from collections.abc import Callable, Iterator
from dataclasses import replace
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notifyctl.channels import BUILDERS, open_channels
from notifyctl.channels.email import EmailChannel
from notifyctl.channels.smtp_pool import IDLE_LIMIT_S, SmtpPool, SmtpRelay
from notifyctl.channels.tls import provider_ssl_context
from notifyctl.model import Notification, Priority, Status
from notifyctl.retry import ResultKind
from tests.conftest import make_config

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(60)]

SENDER = "Notifier <noreply@notify.example.com>"
TO = "ada@example.com"
USER, PASSWORD = "mailer", "s3cret-pa55"


def notification(**changes: Any) -> Notification:
    base = Notification(
        id="01JN0000000000000000000001", user_id="user-1", channel="email", to=TO,
        title="Your report", body="It is ready.", data={}, priority=Priority.NORMAL,
        status=Status.PENDING, scheduled_for=0, available_at=0, attempts=1, max_attempts=3,
        last_error=None, idempotency_key=None, request_hash="h", locked_by=None, locked_at=None,
        lock_expiry=None, lock_version=1, created_at=0, updated_at=0,
    )  # fmt: skip
    return replace(base, **changes)


class Receiver:
    """An aiosmtpd handler that keeps what it received; the tests script its replies."""

    def __init__(self) -> None:
        self.received: list[Envelope] = []
        #: one client port per connection that began a transaction
        self.peers: set[Any] = set()
        #: replies to DATA, used up in order; then 250
        self.data_replies: list[str] = []
        #: a reply to every RCPT instead of accepting the recipient
        self.rcpt_reply: str | None = None
        #: replies to MAIL on a connection that already carried an email, used up in order
        self.mail_replies_on_reuse: list[str] = []
        #: a reply to every MAIL instead of accepting the sender
        self.mail_reply: str | None = None
        #: seconds to sit on the message before answering it, used up in order
        self.data_delays: list[float] = []
        #: close the connection after taking the message, without answering, this many times
        self.drops_after_data = 0
        #: the server's connections that carried an email, and the server's loop (their
        #: transports may only be touched from it)
        self.transports: list[Any] = []
        self.loop: asyncio.AbstractEventLoop | None = None

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if session.peer in self.peers and self.mail_replies_on_reuse:
            return self.mail_replies_on_reuse.pop(0)
        self.peers.add(session.peer)
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        if self.data_delays:
            await asyncio.sleep(self.data_delays.pop(0))
        self.received.append(envelope)
        self.transports.append(server.transport)
        self.loop = asyncio.get_running_loop()
        if self.drops_after_data:
            self.drops_after_data -= 1
            assert server.transport is not None
            server.transport.close()  # the message is taken, the reply never leaves
        return "250 OK queued"

    def hang_up(self, index: int) -> None:
        """Close a connection from the server's side, as a relay closing an idle one does."""
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.transports[index].close)

    def message(self, index: int = 0) -> EmailMessage:
        content = self.received[index].original_content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


Start = Callable[..., tuple[Receiver, int]]


@pytest.fixture
def smtp_server() -> Iterator[Start]:
    """``smtp_server(**smtp_options)`` starts an aiosmtpd server with a fresh ``Receiver`` on a
    free port of 127.0.0.1 and returns (receiver, port); every server stops after the test."""
    started: list[Controller] = []

    def start(**options: Any) -> tuple[Receiver, int]:
        receiver, port = Receiver(), free_port()
        controller = Controller(
            receiver, hostname="127.0.0.1", port=port, ready_timeout=5, **options
        )
        controller.start()
        started.append(controller)
        return receiver, port

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


def channel(url: str, **options: Any) -> EmailChannel:
    options.setdefault("timeout_ms", 3_000)
    reply_to = options.pop("reply_to", "")
    return EmailChannel(SmtpRelay.from_url(url), SENDER, reply_to, **options)


def plain(port: int) -> str:
    return f"smtp://127.0.0.1:{port}?starttls=off"


async def test_the_email_channel_is_built_from_its_module() -> None:
    assert BUILDERS["email"] == "notifyctl.channels.email"


async def test_an_email_carries_subject_from_reply_to_message_id_and_both_parts(
    smtp_server: Start,
) -> None:
    receiver, port = smtp_server()
    email = channel(plain(port), reply_to="support@notify.example.com")
    html = "<p>It is <b>ready</b>.</p>"
    try:
        result = await email.deliver(notification(html=html))
    finally:
        await email.aclose()
    assert result.kind is ResultKind.OK, result.error
    envelope = receiver.received[0]
    assert envelope.mail_from == "noreply@notify.example.com" and envelope.rcpt_tos == [TO]
    message = receiver.message()
    assert message["Subject"] == "Your report"
    assert message["From"] == SENDER and message["To"] == TO
    assert message["Reply-To"] == "support@notify.example.com"
    assert message["Message-ID"] == "<01JN0000000000000000000001@notify.example.com>"
    assert message.get_content_type() == "multipart/alternative"
    text, rich = message.iter_parts()
    assert text.get_content_type() == "text/plain" and text.get_content().strip() == "It is ready."
    assert rich.get_content_type() == "text/html" and rich.get_content().strip() == html


async def test_a_text_only_email_is_one_plain_part_without_reply_to(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    email = channel(plain(port))
    try:
        result = await email.deliver(notification(title="Grüße", body="Schön, dich zu sehen"))
    finally:
        await email.aclose()
    assert result.kind is ResultKind.OK, result.error
    message = receiver.message()
    assert message.get_content_type() == "text/plain" and "Reply-To" not in message
    assert message["Subject"] == "Grüße"
    assert message.get_content().strip() == "Schön, dich zu sehen"


async def test_a_line_break_in_the_title_cannot_add_a_header(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    email = channel(plain(port))
    try:
        title = "Hello\r\nBcc: eve@evil.example\r\n\r\nforged body"
        result = await email.deliver(notification(title=title))
    finally:
        await email.aclose()
    assert result.kind is ResultKind.OK, result.error
    message = receiver.message()
    assert "Bcc" not in message and receiver.received[0].rcpt_tos == [TO]
    assert "\n" not in message["Subject"] and message["Subject"].startswith("Hello")
    assert message.get_content().strip() == "It is ready."


async def test_auth_with_the_urls_user_and_password_after_starttls(
    smtp_server: Start, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        success = (data.login, data.password) == (USER.encode(), PASSWORD.encode())
        return AuthResult(success=success, handled=False)  # handled=False: aiosmtpd sends 535

    receiver, port = smtp_server(
        authenticator=authenticator, auth_required=True, tls_context=server_tls
    )
    good = channel(f"smtp://{USER}:{PASSWORD}@127.0.0.1:{port}", ca_file=ca_file)
    bad = channel(f"smtp://{USER}:wrong-{PASSWORD}@127.0.0.1:{port}", ca_file=ca_file)
    try:
        delivered = await good.deliver(notification())
        refused = await bad.deliver(notification())
    finally:
        await good.aclose()
        await bad.aclose()
    assert delivered.kind is ResultKind.OK, delivered.error
    assert len(receiver.received) == 1 and logins[0] == (USER.encode(), PASSWORD.encode())
    # wrong credentials are the deployment's problem, not the notification's: retryable
    assert refused.kind is ResultKind.RETRYABLE and refused.error is not None
    assert "authentication" in refused.error and "535" in refused.error
    assert PASSWORD not in refused.error


async def test_starttls_with_a_ca_from_the_ca_file(
    smtp_server: Start, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    receiver, port = smtp_server(tls_context=server_tls, require_starttls=True)
    email = channel(f"smtp://127.0.0.1:{port}", ca_file=ca_file)
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.OK, result.error
    assert len(receiver.received) == 1


async def test_an_untrusted_certificate_is_refused_and_retryable(
    smtp_server: Start, server_tls: ssl.SSLContext
) -> None:
    """Retryable, not permanent: the certificate is the relay's (or NOTIFYCTL_CHANNEL_CA_FILE's)
    problem, the same for every email, and nothing about the notification; an operator who
    fixes the CA file or the relay's certificate gets the waiting notifications delivered."""
    receiver, port = smtp_server(tls_context=server_tls, require_starttls=True)
    email = channel(f"smtp://127.0.0.1:{port}")  # no CA file: the test CA is not trusted
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.RETRYABLE and result.error is not None
    assert "TLS" in result.error and "CERTIFICATE_VERIFY_FAILED" in result.error
    assert receiver.received == []
    # the failed connection was closed: collected now, an open transport would warn (an error
    # under this project's warning filters) here rather than in some later test
    gc.collect()


async def test_a_relay_without_starttls_is_refused_unless_starttls_is_off(
    smtp_server: Start,
) -> None:
    receiver, port = smtp_server()  # offers no STARTTLS
    email = channel(f"smtp://127.0.0.1:{port}")
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.RETRYABLE and result.error is not None
    assert "does not offer STARTTLS" in result.error and receiver.received == []


async def test_implicit_tls_for_smtps(
    smtp_server: Start, server_tls: ssl.SSLContext, ca_file: str
) -> None:
    receiver, port = smtp_server(ssl_context=server_tls)
    email = channel(f"smtps://127.0.0.1:{port}", ca_file=ca_file)
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.OK, result.error
    assert len(receiver.received) == 1


async def test_a_451_is_retryable_and_the_retry_delivers_once(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    receiver.data_replies = ["451 4.3.0 Try again later"]
    email = channel(plain(port))
    try:
        first = await email.deliver(notification())
        second = await email.deliver(notification(attempts=2))
    finally:
        await email.aclose()
    assert first.kind is ResultKind.RETRYABLE and first.error is not None
    assert "451 4.3.0 Try again later" in first.error
    assert second.kind is ResultKind.OK, second.error
    assert len(receiver.received) == 1
    assert email.pool.opened == 1  # the refused transaction was reset, its connection reused


async def test_a_550_on_the_recipient_is_permanent_with_the_reply(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    receiver.rcpt_reply = "550 5.1.1 <ada@example.com>: Recipient address rejected: no such user"
    email = channel(plain(port))
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.PERMANENT and result.error is not None
    assert "550 5.1.1 <ada@example.com>: Recipient address rejected" in result.error
    assert result.invalid_address


async def test_a_policy_550_on_the_recipient_does_not_condemn_the_address(
    smtp_server: Start,
) -> None:
    receiver, port = smtp_server()
    receiver.rcpt_reply = "550 5.7.1 Relaying denied"
    email = channel(plain(port))
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.PERMANENT and "550 5.7.1 Relaying denied" in str(result.error)
    assert not result.invalid_address


async def test_a_554_to_the_message_is_permanent(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    receiver.data_replies = ["554 5.6.0 Message content rejected"]
    email = channel(plain(port))
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.PERMANENT and not result.invalid_address
    assert "554 5.6.0 Message content rejected" in str(result.error)


async def test_a_connection_lost_mid_data_is_retryable_and_the_repeat_is_recognisable(
    smtp_server: Start,
) -> None:
    """The relay took the whole message, then the connection went before its reply: the client
    cannot know the message arrived, so the attempt is retryable, and the receiver gets the
    email twice. Both copies carry the same Message-ID (made from the notification id), so the
    repeat can be recognised and dropped downstream."""
    receiver, port = smtp_server()
    receiver.drops_after_data = 1
    email = channel(plain(port))
    try:
        first = await email.deliver(notification())
        second = await email.deliver(notification(attempts=2))
    finally:
        await email.aclose()
    assert first.kind is ResultKind.RETRYABLE, first.error
    assert second.kind is ResultKind.OK, second.error
    assert len(receiver.received) == 2  # what the receiver may see twice
    ids = {receiver.message(i)["Message-ID"] for i in range(2)}
    assert ids == {"<01JN0000000000000000000001@notify.example.com>"}


async def test_deliveries_reuse_at_most_max_connections(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    email = channel(plain(port), max_connections=2)
    results = []

    async def send(number: int) -> None:
        results.append(
            await email.deliver(notification(id=f"01JN00000000000000000000{number:02d}"))
        )

    try:
        async with anyio.create_task_group() as tasks:
            for number in range(12):
                tasks.start_soon(send, number)
        for number in range(12, 16):  # one after the other: the idle connections are reused
            await send(number)
    finally:
        await email.aclose()
    assert [r.kind for r in results] == [ResultKind.OK] * 16
    assert len(receiver.received) == 16
    assert len(receiver.peers) <= 2 and email.pool.opened <= 2


async def test_a_421_on_a_reused_connection_reconnects(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    receiver.mail_replies_on_reuse = ["421 4.3.2 Service shutting down"]
    email = channel(plain(port), max_connections=1)
    try:
        first = await email.deliver(notification())
        second = await email.deliver(notification(id="01JN0000000000000000000002"))
    finally:
        await email.aclose()
    assert (first.kind, second.kind) == (ResultKind.OK, ResultKind.OK), second.error
    assert len(receiver.received) == 2 and email.pool.opened == 2


async def test_a_connection_the_relay_closed_while_idle_is_replaced(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    email = channel(plain(port), max_connections=1)
    try:
        first = await email.deliver(notification())
        receiver.hang_up(0)
        await anyio.sleep(0.1)
        second = await email.deliver(notification(id="01JN0000000000000000000002"))
    finally:
        await email.aclose()
    assert (first.kind, second.kind) == (ResultKind.OK, ResultKind.OK), second.error
    assert len(receiver.received) == 2 and email.pool.opened == 2


async def test_a_refused_port_is_retryable() -> None:
    email = channel(plain(free_port()))  # nothing listens there
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is ResultKind.RETRYABLE and result.error is not None
    assert "127.0.0.1:" in result.error


async def test_no_recipient_or_one_with_a_line_break_is_permanent_and_nothing_is_sent(
    smtp_server: Start,
) -> None:
    receiver, port = smtp_server()
    email = channel(plain(port))
    try:
        missing = await email.deliver(notification(to=None))
        forged = await email.deliver(notification(to="ada@example.com\r\nRCPT TO:<eve@x.io>"))
    finally:
        await email.aclose()
    assert missing.kind is ResultKind.PERMANENT and "'to' is required" in str(missing.error)
    assert forged.kind is ResultKind.PERMANENT and "'to' must be" in str(forged.error)
    assert receiver.peers == set() and receiver.received == []


def test_from_needs_an_address_and_no_header_can_break_a_line() -> None:
    relay = SmtpRelay.from_url("smtp://relay.example.com")
    with pytest.raises(ValueError, match="NOTIFYCTL_EMAIL_FROM"):
        EmailChannel(relay, "not an address")
    with pytest.raises(ValueError, match="NOTIFYCTL_EMAIL_REPLY_TO"):
        EmailChannel(relay, SENDER, "help@example.com\r\nBcc: eve@evil.example")


def test_open_channels_builds_the_email_channel_from_the_settings(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        smtp_url="smtps://mailer:secret@smtp.example.com",
        email_from=SENDER,
        smtp_max_connections=3,
    )
    email = open_channels(config)["email"]
    assert isinstance(email, EmailChannel)
    assert email.pool.relay == SmtpRelay("smtp.example.com", 465, "implicit", "mailer", "secret")


def test_the_relay_is_read_from_the_url_and_hides_the_password() -> None:
    relay = SmtpRelay.from_url("smtp://us%40er:p%3Ass@mail.example.com")
    assert (relay.host, relay.port, relay.security) == ("mail.example.com", 587, "starttls")
    assert (relay.username, relay.password) == ("us@er", "p:ss")
    assert "p:ss" not in repr(relay) and "p:ss" not in relay.where
    assert SmtpRelay.from_url("smtps://mail.example.com").port == 465
    local = SmtpRelay.from_url("smtp://localhost?starttls=off")
    assert (local.port, local.security) == (25, "none")


async def test_a_lone_dot_line_and_a_long_html_line_arrive_whole(smtp_server: Start) -> None:
    """A line of a single '.' would end DATA early unless dot-stuffed, and SMTP refuses lines
    over 998 characters: both must reach the receiver intact."""
    receiver, port = smtp_server()
    email = channel(plain(port))
    body = "first\n.\nafter the dot"
    html = "<p>" + "long line " * 10_000 + "</p>"
    try:
        result = await email.deliver(notification(body=body, html=html))
    finally:
        await email.aclose()
    assert result.kind is ResultKind.OK, result.error
    text, rich = receiver.message().iter_parts()
    # the message travels with CRLF line ends; the parser leaves them in a 7bit part
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == body
    assert rich.get_content().replace("\r\n", "\n").rstrip("\n") == html


async def test_an_idle_connection_past_its_limit_is_not_reused(smtp_server: Start) -> None:
    _, port = smtp_server()
    now = [100.0]
    pool = SmtpPool(
        SmtpRelay.from_url(plain(port)), 3.0, provider_ssl_context(""), clock=lambda: now[0]
    )
    try:
        first, _ = await pool.take()
        pool.give_back(first)
        now[0] += IDLE_LIMIT_S - 1
        again, reused = await pool.take()
        assert again is first and reused
        pool.give_back(again)
        now[0] += IDLE_LIMIT_S
        fresh, reused = await pool.take()
        assert fresh is not first and not reused and not first.is_connected
        pool.give_back(fresh)
    finally:
        await pool.aclose()
    assert pool.opened == 2 and not fresh.is_connected


@pytest.mark.parametrize(
    ("reply", "kind"),
    [("421 4.3.2 Shutting down", ResultKind.RETRYABLE),
     ("553 5.7.1 Sender address not allowed", ResultKind.PERMANENT)],
)  # fmt: skip
async def test_a_refused_sender_on_a_fresh_connection_is_not_retried_at_once(
    smtp_server: Start, reply: str, kind: ResultKind
) -> None:
    receiver, port = smtp_server()
    receiver.mail_reply = reply
    email = channel(plain(port))
    try:
        result = await email.deliver(notification())
    finally:
        await email.aclose()
    assert result.kind is kind and f"the sender (MAIL FROM): {reply}" in str(result.error)
    assert not result.invalid_address and email.pool.opened == 1


async def test_a_relay_that_does_not_answer_in_time_is_retryable(smtp_server: Start) -> None:
    receiver, port = smtp_server()
    receiver.data_delays = [2.0]
    email = channel(plain(port), timeout_ms=300)
    try:
        slow = await email.deliver(notification())
        after = await email.deliver(notification(id="01JN0000000000000000000002"))
    finally:
        await email.aclose()
    assert slow.kind is ResultKind.RETRYABLE and "timed out after 300 ms" in str(slow.error)
    # the timed-out connection is in an unknown state: the next email takes a fresh one
    assert after.kind is ResultKind.OK and email.pool.opened == 2
