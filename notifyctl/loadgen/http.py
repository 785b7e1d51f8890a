"""A lean HTTP/1.1 client for the load generator: keep-alive POSTs to one origin.

Why not aiohttp's client (which delivers the webhooks): here it spends about 200 us of CPU per
request, so one generator process tops out near 3,000 requests/s with no CPU left for anything
else; this client spends about 50 us, and the generator must be much faster than what it
measures. It does only what the generator needs, and it tells apart the failures the ledger
must tell apart: never connected (the request was not sent) versus sent, then timed out or cut
(the service may have the notification: ambiguous).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024
HEAD_END = b"\r\n\r\n"


class RequestFailed(Exception):
    """``kind`` is the outcome bucket: connect_timeout, refused, connect_error (never sent);
    timeout, reset, bad_response (sent: the answer is unknown)."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes


@dataclass(slots=True)
class Head:
    status: int
    keep_alive: bool
    length: int | None  # None: chunked, or until the server closes
    chunked: bool


def parse_head(raw: bytes) -> Head:
    """The status line and the headers that frame the body."""
    lines = raw.split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
        raise RequestFailed("bad_response", f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip().lower()
    connection = headers.get(b"connection", b"")
    persistent = version == b"HTTP/1.1" or b"keep-alive" in connection
    keep_alive = persistent and b"close" not in connection
    chunked = b"chunked" in headers.get(b"transfer-encoding", b"")
    length = headers.get(b"content-length")
    if length is not None and not length.isdigit():
        raise RequestFailed("bad_response", f"bad content-length {length[:40]!r}")
    size = None if chunked or length is None else int(length)
    if size is None and not chunked:
        keep_alive = False  # the body runs until the server closes
    return Head(int(rest[:3]), keep_alive, size, chunked)


def parse_chunked(buffer: bytes, start: int) -> tuple[bytes, int] | None:
    """The whole chunked body from ``start``, and where it ends; None until all of it is here."""
    parts: list[bytes] = []
    at = start
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            return None
        try:
            size = int(buffer[at:line_end].split(b";")[0], 16)
        except ValueError:
            raise RequestFailed("bad_response", "bad chunk size") from None
        if size == 0:
            trailer_end = buffer.find(HEAD_END, line_end)
            if buffer[line_end : line_end + 4] == HEAD_END:
                return b"".join(parts), line_end + 4
            return None if trailer_end < 0 else (b"".join(parts), trailer_end + 4)
        if len(buffer) < line_end + 2 + size + 2:
            return None
        parts.append(buffer[line_end + 2 : line_end + 2 + size])
        at = line_end + 2 + size + 2


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.head: Head | None = None
        self.body_start = 0
        self.waiter: asyncio.Future[Response] | None = None
        self.reusable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, data: bytes, waiter: asyncio.Future[Response]) -> None:
        assert self.transport is not None
        self.buffer, self.head, self.waiter = b"", None, waiter
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            self.reusable = False  # bytes nobody asked for: never reuse this connection
            return
        try:
            response = self._parse()
        except RequestFailed as exc:
            self.fail(exc)
            return
        if response is not None:
            self.waiter.set_result(response)

    def _parse(self) -> Response | None:
        if self.head is None:
            end = self.buffer.find(HEAD_END)
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    raise RequestFailed("bad_response", "response head too large")
                return None
            self.head, self.body_start = parse_head(self.buffer[:end]), end + 4
            if 100 <= self.head.status < 200:  # informational: the real answer follows
                self.buffer, self.head = self.buffer[end + 4 :], None
                return self._parse()
        return self._body(self.head)

    def _body(self, head: Head) -> Response | None:
        if len(self.buffer) - self.body_start > MAX_BODY:
            raise RequestFailed("bad_response", "response body too large")
        if head.chunked:
            parsed = parse_chunked(self.buffer, self.body_start)
            if parsed is None:
                return None
            body, end = parsed
        elif head.length is not None:
            end = self.body_start + head.length
            if len(self.buffer) < end:
                return None
            body = self.buffer[self.body_start : end]
        else:
            return None  # until the server closes: see connection_lost
        self.reusable = self.reusable and head.keep_alive and len(self.buffer) == end
        return Response(head.status, body)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        head = self.head
        if head is not None and head.length is None and not head.chunked:
            waiter.set_result(Response(head.status, self.buffer[self.body_start :]))
        else:
            waiter.set_exception(RequestFailed("reset", str(exc or "connection closed")))

    def fail(self, exc: RequestFailed) -> None:
        self.reusable = False
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


class Client:
    """POSTs to one origin over a pool of keep-alive connections (one per request in flight)."""

    def __init__(self, base_url: str, headers: dict[str, str], timeout_s: float) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.base_path = parts.path.rstrip("/")
        default_port = self.port == (443 if self.ssl else 80)
        authority = self.host if default_port else f"{self.host}:{self.port}"
        fixed = {"host": authority, **headers}
        self.fixed_head = "".join(f"{k}: {v}\r\n" for k, v in fixed.items()).encode("latin-1")
        self.timeout_s = timeout_s
        self.idle: list[Connection] = []

    async def post(self, path: str, body: bytes) -> Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        connection = await self._connection(loop, deadline)
        request = b"POST %s HTTP/1.1\r\n%scontent-length: %d\r\n\r\n%s" % (
            (self.base_path + path).encode("latin-1"), self.fixed_head, len(body), body,
        )  # fmt: skip
        waiter: asyncio.Future[Response] = loop.create_future()
        timer = loop.call_at(deadline, connection.fail, RequestFailed("timeout"))
        try:
            connection.send(request, waiter)
            response = await waiter
        except BaseException:  # failed, timed out or cancelled: this connection is done
            connection.fail(RequestFailed("reset", "abandoned"))
            raise
        finally:
            timer.cancel()
        if connection.reusable:
            self.idle.append(connection)
        elif connection.transport is not None:
            connection.transport.close()
        return response

    async def _connection(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        while self.idle:
            connection = self.idle.pop()
            transport = connection.transport
            if connection.reusable and transport is not None and not transport.is_closing():
                return connection
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(Connection, self.host, self.port, ssl=self.ssl),
                timeout=max(deadline - loop.time(), 0.0),
            )
        except TimeoutError:
            raise RequestFailed("connect_timeout") from None
        except ConnectionRefusedError as exc:
            raise RequestFailed("refused", str(exc)) from None
        except (OSError, ssl.SSLError) as exc:
            raise RequestFailed("connect_error", str(exc)) from None
        return protocol

    def close(self) -> None:
        for connection in self.idle:
            if connection.transport is not None:
                connection.transport.close()
        self.idle.clear()
