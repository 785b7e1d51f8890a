"""The email channel: one email per notification, through the SMTP relay of NOTIFYCTL_SMTP_URL.

``title`` is the Subject, ``body`` the text part and ``html`` the HTML part (both:
multipart/alternative). The ``Message-ID`` is made from the notification id, the same on every
attempt: an attempt cut short after the relay took the message (a connection lost before its
reply) is retried, and the receiver may get the email twice; the repeat carries the same
Message-ID, so it can be recognised (docs/channels/email.md).

Errors map as SMTP means them: a 4xx reply, a lost connection or a timeout may pass (retryable);
a 5xx reply to the message itself will not (permanent, with the reply). Failing to connect, to
secure or to authenticate is the relay's or the settings' problem, never the notification's, so
it is retryable too: an operator has until the attempts run out to fix it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.errors import MessageError
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, parseaddr

import aiosmtplib
import anyio

from notifyctl.addresses import address_problem
from notifyctl.channels.gate import ProviderGate
from notifyctl.channels.smtp_pool import SmtpPool, SmtpRelay, SmtpSetupFailed
from notifyctl.channels.tls import provider_ssl_context
from notifyctl.config import Config
from notifyctl.model import Notification
from notifyctl.retry import OK, DeliveryResult, ResultKind

#: CRLF line ends as SMTP wants them; 7bit transfer encodings (quoted-printable or base64 for
#: non-ASCII text), so no relay needs 8BITMIME
POLICY = SMTP.clone(cte_type="7bit")
#: RCPT replies that say the mailbox itself is no good (RFC 5321 4.2.2)
MAILBOX_GONE_CODES = frozenset({550, 551, 553})
#: an enhanced status code (RFC 3463) at the start of a reply's text
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.\d{1,3}\b")
#: a reply the relay sends before it closes the connection
CLOSING = 421


class EmailChannel:
    name = "email"

    def __init__(
        self,
        relay: SmtpRelay,
        sender: str,
        reply_to: str = "",
        *,
        timeout_ms: int = 10_000,
        max_connections: int = 4,
        rate_per_s: float = 0.0,
        ca_file: str = "",
    ) -> None:
        self._envelope_from = parseaddr(sender)[1]
        if "@" not in self._envelope_from:
            raise ValueError("NOTIFYCTL_EMAIL_FROM must hold an address such as noreply@x.com")
        _check_headers(sender, reply_to)
        self._sender = sender
        self._reply_to = reply_to
        self._domain = self._envelope_from.rpartition("@")[2]
        self._timeout_ms = timeout_ms
        self._gate = ProviderGate(max_connections, rate_per_s)
        self.pool = SmtpPool(relay, timeout_ms / 1000, provider_ssl_context(ca_file))

    def message_id(self, notification: Notification) -> str:
        """The same on every attempt, so a repeated email is recognisable downstream."""
        return f"<{notification.id}@{self._domain}>"

    def message(self, notification: Notification) -> EmailMessage:
        message = EmailMessage(policy=POLICY)
        message["From"] = self._sender
        message["To"] = notification.to or ""
        if self._reply_to:
            message["Reply-To"] = self._reply_to
        if notification.title:
            # The title comes from a client: a line break in it must never start a header of
            # its own (a Bcc:). Folded to spaces here; the email policy would refuse it anyway.
            message["Subject"] = " ".join(notification.title.splitlines())
        message["Message-ID"] = self.message_id(notification)
        message["Date"] = format_datetime(datetime.now(UTC))
        _set_content(message, notification.body, notification.html)
        return message

    async def deliver(self, notification: Notification) -> DeliveryResult:
        # Intake checked the address; checked again because it goes into the SMTP commands
        # themselves (RCPT TO), where a line break would be a command of its own.
        problem = address_problem(self.name, notification.to)
        if problem or not notification.to:
            return DeliveryResult(ResultKind.PERMANENT, f"'to' {problem}")
        try:
            data = self.message(notification).as_bytes()
        except (ValueError, MessageError) as exc:  # a header the email library refuses
            return DeliveryResult(ResultKind.PERMANENT, f"cannot build the email: {exc}")
        async with self._gate.slot():
            try:
                with anyio.fail_after(self._timeout_ms / 1000):
                    await self._send(notification.to, data)
            except SmtpSetupFailed as exc:
                return DeliveryResult(ResultKind.RETRYABLE, str(exc))
            except TimeoutError:
                return DeliveryResult(
                    ResultKind.RETRYABLE, f"SMTP timed out after {self._timeout_ms} ms"
                )
            except aiosmtplib.SMTPResponseException as exc:
                return refusal_result(exc)
            except (aiosmtplib.SMTPException, OSError) as exc:
                return DeliveryResult(ResultKind.RETRYABLE, f"SMTP connection failed: {exc}")
        return OK

    async def _send(self, to: str, data: bytes) -> None:
        client, reused = await self.pool.take()
        try:
            await self._transaction(client, reused, to, data)
        except _StaleConnection:
            # The relay closed the reused connection while it sat idle (a 421, or gone) before
            # it took anything: sending on a fresh one is safe, and within this attempt.
            await self._transaction(await self.pool.connect(), False, to, data)

    async def _transaction(
        self, client: aiosmtplib.SMTP, reused: bool, to: str, data: bytes
    ) -> None:
        """One SMTP transaction. The connection goes back to the pool after it, unless its state
        is unknown (lost, timed out, cancelled) or the relay said it is closing it."""
        try:
            try:
                await client.mail(self._envelope_from)
            except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPSenderRefused) as exc:
                if reused and _closing(exc):
                    raise _StaleConnection from exc
                raise
            await client.rcpt(to)
            await client.data(data)
        except aiosmtplib.SMTPResponseException as exc:
            await self._after_refusal(client, exc.code)
            raise
        except BaseException:
            self.pool.discard(client)
            raise
        self.pool.give_back(client)

    async def _after_refusal(self, client: aiosmtplib.SMTP, code: int) -> None:
        """Reset a refused transaction so the connection can carry the next email."""
        if code == CLOSING:
            self.pool.discard(client)
            return
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError):
            self.pool.discard(client)
        except BaseException:
            self.pool.discard(client)
            raise
        else:
            self.pool.give_back(client)

    async def aclose(self) -> None:
        await self.pool.aclose()


class _StaleConnection(Exception):
    """A reused connection turned out closed by the relay at the first command."""


def _closing(exc: aiosmtplib.SMTPException) -> bool:
    """The connection is gone, or the relay says it is closing it."""
    return not isinstance(exc, aiosmtplib.SMTPResponseException) or exc.code == CLOSING


def _check_headers(sender: str, reply_to: str) -> None:
    """Refuse at start-up a From or Reply-To the email library would refuse on every email."""
    probe = EmailMessage(policy=POLICY)
    try:
        probe["From"] = sender
        if reply_to:
            probe["Reply-To"] = reply_to
    except (ValueError, MessageError) as exc:
        raise ValueError(f"NOTIFYCTL_EMAIL_FROM or NOTIFYCTL_EMAIL_REPLY_TO: {exc}") from None


def _set_content(message: EmailMessage, text: str | None, html: str | None) -> None:
    if html is not None and text is not None:
        message.set_content(text)
        message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    else:
        message.set_content(text or "")


def refusal_result(exc: aiosmtplib.SMTPResponseException) -> DeliveryResult:
    """A reply of the relay refusing the message: 4xx retryable, 5xx permanent (with the reply);
    a 5xx to RCPT saying the mailbox does not exist also marks the address as no good."""
    stage = _stage(exc)
    reply = f"{exc.code} {exc.message}"
    if 400 <= exc.code < 500:
        return DeliveryResult(ResultKind.RETRYABLE, f"SMTP relay deferred {stage}: {reply}")
    if exc.code < 500:  # not a refusal SMTP defines: do not bury the notification over it
        return DeliveryResult(ResultKind.RETRYABLE, f"SMTP relay answered {stage}: {reply}")
    invalid = isinstance(exc, aiosmtplib.SMTPRecipientRefused) and mailbox_gone(exc)
    return DeliveryResult(
        ResultKind.PERMANENT, f"SMTP relay refused {stage}: {reply}", invalid_address=invalid
    )


def mailbox_gone(exc: aiosmtplib.SMTPResponseException) -> bool:
    """550/551/553 to RCPT, unless an enhanced status code says why otherwise: 5.1.x is about the
    address; 5.7.x (a policy, relaying denied) or 5.2.x (a full mailbox) are not."""
    if exc.code not in MAILBOX_GONE_CODES:
        return False
    enhanced = _ENHANCED.match(exc.message)
    return enhanced is None or enhanced.group(2) == "1"


def _stage(exc: aiosmtplib.SMTPResponseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return "the recipient (RCPT TO)"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return "the sender (MAIL FROM)"
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return "the message (DATA)"
    return "the email"


def from_config(config: Config) -> EmailChannel:
    return EmailChannel(
        SmtpRelay.from_url(config.smtp_url),
        config.email_from,
        config.email_reply_to,
        timeout_ms=config.channel_timeout_ms,
        max_connections=config.smtp_max_connections,
        rate_per_s=config.email_rate_per_s,
        ca_file=config.channel_ca_file,
    )
