"""SMTP connections for the email channel: the relay named by NOTIFYCTL_SMTP_URL, and a small pool
of connections to it that a worker reuses from one email to the next.

The pool holds only idle connections; how many are open at once is bounded by the channel's
``ProviderGate`` (one connection per delivery in flight), so never more than
NOTIFYCTL_SMTP_MAX_CONNECTIONS. A connection the server closed while idle is dropped when taken.

Nothing here ever puts the URL or the password in an error: the URL may hold the password.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
import anyio

#: the port of each way of securing the connection, when the URL names none
DEFAULT_PORTS = {"starttls": 587, "implicit": 465, "none": 25}
#: an idle connection older than this is closed rather than reused: relays drop idle clients
#: (RFC 5321 lets them after 5 minutes, many sooner), often without a word a client would see
IDLE_LIMIT_S = 30.0
#: how long closing the channel waits for the relay to answer QUIT
QUIT_WAIT_S = 2.0


class SmtpSetupFailed(Exception):
    """Connecting, securing or authenticating failed: the relay or the settings are at fault,
    not the notification. The message is meant for an operator and never holds the password."""


@dataclass(frozen=True)
class SmtpRelay:
    """Where and how to reach the relay, from the URL already checked by ``config.parsers``."""

    host: str
    port: int
    #: ``starttls`` (required: refused when the server does not offer it), ``implicit`` (TLS
    #: from the first byte, smtps://) or ``none`` (plain text, only with ``?starttls=off``)
    security: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpRelay:
        parts = urlsplit(url)
        if parts.scheme == "smtps":
            security = "implicit"
        elif parse_qs(parts.query).get("starttls") == ["off"]:
            security = "none"
        else:
            security = "starttls"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or DEFAULT_PORTS[security],
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    @property
    def where(self) -> str:
        """The relay as errors name it: host and port, never the credentials."""
        return f"{self.host}:{self.port}"


class SmtpPool:
    def __init__(
        self,
        relay: SmtpRelay,
        timeout_s: float,
        context: ssl.SSLContext,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.relay = relay
        self._timeout_s = timeout_s
        self._context = context
        self._clock = clock
        #: (connection, when it became idle), the most recently used last
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        #: connections opened since the start, for the operators' curiosity and the tests
        self.opened = 0

    async def take(self) -> tuple[aiosmtplib.SMTP, bool]:
        """A connection, and whether it was reused (a reused one may turn out closed by the
        server at the first command, which the caller may retry once on a fresh one)."""
        while self._idle:
            client, idle_since = self._idle.pop()
            if client.is_connected and self._clock() - idle_since < IDLE_LIMIT_S:
                return client, True
            client.close()
        return await self.connect(), False

    def give_back(self, client: aiosmtplib.SMTP) -> None:
        if client.is_connected:
            self._idle.append((client, self._clock()))

    @staticmethod
    def discard(client: aiosmtplib.SMTP) -> None:
        """Drop a connection in an unknown state (a 421, a timeout, a connection lost)."""
        client.close()

    async def _dial(self) -> aiosmtplib.SMTP:
        """A new connection, or the exception aiosmtplib raised (the socket closed either way)."""
        relay = self.relay
        client = aiosmtplib.SMTP(
            hostname=relay.host,
            port=relay.port,
            timeout=self._timeout_s,
            use_tls=relay.security == "implicit",
            # True: STARTTLS or fail (aiosmtplib's default would go on in plain text)
            start_tls=relay.security == "starttls",
            tls_context=self._context if relay.security != "none" else None,
            username=relay.username,
            password=relay.password,
        )
        try:
            await client.connect()
        except BaseException:
            client.close()  # a connect that failed half-way leaves its socket open otherwise
            raise
        self.opened += 1
        return client

    async def connect(self) -> aiosmtplib.SMTP:
        """A new connection; its failures said as an operator can act on them
        (``SmtpSetupFailed``)."""
        relay = self.relay
        try:
            return await self._dial()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise SmtpSetupFailed(
                f"SMTP authentication as {relay.username!r} at {relay.where} was refused:"
                f" {exc.code} {exc.message} (check the user and password of NOTIFYCTL_SMTP_URL)"
            ) from None
        except ssl.SSLError as exc:  # a failed STARTTLS handshake
            raise SmtpSetupFailed(_tls_problem(relay, exc)) from None
        except aiosmtplib.SMTPException as exc:
            if isinstance(exc.__cause__, ssl.SSLError):  # a failed implicit TLS handshake
                raise SmtpSetupFailed(_tls_problem(relay, exc.__cause__)) from None
            raise SmtpSetupFailed(_setup_problem(relay, exc)) from None

    async def aclose(self) -> None:
        """QUIT the idle connections, politely but briefly: a stopping worker must not wait on
        a relay that does not answer."""
        idle, self._idle = [client for client, _ in self._idle], []
        with anyio.move_on_after(QUIT_WAIT_S):
            for client in idle:
                with suppress(aiosmtplib.SMTPException, OSError):  # closed below either way
                    await client.quit()
        for client in idle:
            client.close()
        # let the closed transports finish closing while the loop still runs: a loop that ends
        # first leaves them "closing", and each warns of an unclosed transport when collected
        await anyio.sleep(0)


def _tls_problem(relay: SmtpRelay, exc: ssl.SSLError) -> str:
    return (
        f"TLS with SMTP relay {relay.where} failed: {exc} (is the CA of its certificate in the"
        " system's store or in NOTIFYCTL_CHANNEL_CA_FILE?)"
    )


def _setup_problem(relay: SmtpRelay, exc: aiosmtplib.SMTPException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP relay {relay.where} refused the connection: {exc.code} {exc.message}"
    if "STARTTLS" in exc.message:
        return (
            f"SMTP relay {relay.where} does not offer STARTTLS, which smtp:// requires: use"
            " smtps:// for implicit TLS, or ?starttls=off for a local relay only"
        )
    return f"could not connect to SMTP relay {relay.where}: {exc.message}"
