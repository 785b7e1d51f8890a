"""A deadline on each request head, which Hypercorn lacks: no client holds a connection by
trickling the bytes of its request line and headers.

What Hypercorn 0.17-0.18 offers falls short: ``read_timeout`` bounds the wait for each read, so one
byte a second resets it forever; ``keep_alive_timeout`` does bound a head that never completes, but
it is also the idle time between requests, kept at 75 s so that nginx (which keeps idle upstream
connections 60 s) never sends a request on a connection just closed. So ``HeadDeadlineServer`` adds
the missing clock: from the first byte of a request head, the whole head must arrive within
``header_timeout`` seconds, or the client gets 408 and the connection is closed. A connection with
no bytes at all is left to ``keep_alive_timeout`` as before.

The body has its own deadline in the API (``api_io.read_json``, ``NOTIFYCTL_BODY_TIMEOUT_MS``): the
app is what reads it, and a body the app does not read ends the connection when the response does
(Hypercorn closes a connection whose request was not read to its end).

Hypercorn builds its connections from the ``TCPServer`` name of ``hypercorn.asyncio.run``, with no
setting to choose another class; ``install`` points that name at the subclass here. The subclass
acts only for a config that is a ``DeadlineConfig``, so any other Hypercorn server in the process
is served as before, and ``tests/integration/test_slow_clients.py`` checks it against a real
socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import hypercorn.asyncio.run as hypercorn_run
from hypercorn.asyncio.tcp_server import TCPServer
from hypercorn.config import Config as HypercornConfig
from hypercorn.events import Event, Updated

_BODY = (
    b'{"error":{"code":"header_timeout","message":"the request head came too slowly","details":[]}}'
)
#: sent as is: when a head is incomplete, no response of this connection has started
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    + b"content-length: %d\r\n\r\n" % len(_BODY)
    + _BODY
)


class DeadlineConfig(HypercornConfig):
    """Hypercorn's config plus the seconds a request head may take from its first byte."""

    header_timeout: float | None = None


class HeadDeadlineServer(TCPServer):
    """Hypercorn's connection, closed with a 408 when a request head is late."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self._limit: float | None = getattr(self.config, "header_timeout", None)
        self._waiting_for_head = True  # a new connection waits for its first request
        self._timer: asyncio.TimerHandle | None = None
        if self._limit is not None:
            # duck-typed: TCPServer only calls the reader's read() and at_eof()
            self.reader = WatchedReader(self.reader, self._received)  # type: ignore[assignment]

    async def protocol_send(self, event: Event) -> None:
        if isinstance(event, Updated):  # idle: the last response is done, a new head is due
            self._waiting_for_head = event.idle
            if not event.idle and self._timer is not None:
                self._timer.cancel()  # the head is complete
                self._timer = None
        await super().protocol_send(event)

    def _received(self) -> None:
        if self._waiting_for_head and self._timer is None and self._limit is not None:
            self._timer = self.loop.call_later(self._limit, self._too_slow)

    def _too_slow(self) -> None:
        self._timer = None
        if self._waiting_for_head and not self.writer.is_closing():
            self.writer.write(REQUEST_TIMEOUT)
            self.writer.close()  # the read loop then sees the end and Hypercorn cleans up


class WatchedReader:
    """The connection's stream reader, calling ``on_data`` whenever bytes arrive."""

    def __init__(self, reader: asyncio.StreamReader, on_data: Any) -> None:
        self._reader, self._on_data = reader, on_data

    def at_eof(self) -> bool:
        return self._reader.at_eof()

    async def read(self, n: int = -1) -> bytes:
        data = await self._reader.read(n)
        if data:
            self._on_data()
        return data


def install() -> None:
    """Make Hypercorn build its connections with ``HeadDeadlineServer``."""
    # not an exported name of that module, hence the ignores
    if not issubclass(hypercorn_run.TCPServer, HeadDeadlineServer):  # type: ignore[attr-defined]
        hypercorn_run.TCPServer = HeadDeadlineServer  # type: ignore[attr-defined,assignment]
