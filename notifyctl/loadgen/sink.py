"""Endpoints the load generator serves itself, and the ledger that checks what came back.

- ``Ledger``: every notification the API accepted, against every delivery the sink received:
  lost (accepted, never delivered), duplicates, and delivery latency (accepted -> received).
- ``Sink``: the webhook receiver every generated notification is addressed to.
- ``NullApi``: an API that answers 201 at once, so ``--calibrate`` measures only the generator.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from notifyctl.errors import NotifyError

SAMPLE = 20  # ids listed in the report for each kind of problem
BACKLOG = 4096  # a burst of new connections must queue, not be dropped (a SYN retry costs 1 s)


class SinkError(NotifyError):
    """The sink could not listen where it was asked to."""


@dataclass
class Ledger:
    """Accepted versus delivered, keyed by notification id (the ``webhook-id`` of a delivery)."""

    run_id: str
    record_delivery_latency: Callable[[float], None]
    accepted: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (seq, when)
    first_arrival: dict[str, tuple[int, float]] = field(default_factory=dict)  # id -> (seq, when)
    arrivals_by_seq: Counter[int] = field(default_factory=Counter)
    ambiguous: set[int] = field(default_factory=set)  # seqs whose fate the answer did not tell
    deliveries: int = 0
    foreign: int = 0  # deliveries not from this run, or unreadable
    early: int = 0  # deliveries that arrived before the API's answer was read
    outstanding: int = 0  # accepted, not yet delivered

    def accept(self, notification_id: str, seq: int, when: float) -> None:
        if notification_id in self.accepted:
            return
        self.accepted[notification_id] = (seq, when)
        arrived = self.first_arrival.get(notification_id)
        if arrived is None:
            self.outstanding += 1
        else:
            self.early += 1
            self.record_delivery_latency(arrived[1] - when)

    def receive(self, notification_id: str, seq: int, when: float) -> None:
        self.deliveries += 1
        self.arrivals_by_seq[seq] += 1
        if notification_id in self.first_arrival:
            return
        self.first_arrival[notification_id] = (seq, when)
        accepted = self.accepted.get(notification_id)
        if accepted is not None:
            self.outstanding -= 1
            self.record_delivery_latency(when - accepted[1])

    def summary(self) -> dict[str, Any]:
        lost = sorted(
            (seq, nid) for nid, (seq, _) in self.accepted.items() if nid not in self.first_arrival
        )
        unacknowledged = sorted(
            seq
            for nid, (seq, _) in self.first_arrival.items()
            if nid not in self.accepted and seq not in self.ambiguous
        )
        settled = sum(1 for seq in self.ambiguous if seq in self.arrivals_by_seq)
        return {
            "checked": True,
            "accepted": len(self.accepted),
            "delivered": len(self.accepted) - len(lost),
            "lost": len(lost),
            "lost_sample": [{"seq": seq, "id": nid} for seq, nid in lost[:SAMPLE]],
            "deliveries": self.deliveries,
            "duplicates": self.deliveries - len(self.arrivals_by_seq),
            "duplicate_ids": self.deliveries - len(self.first_arrival),
            "duplicate_sample": sorted(s for s, n in self.arrivals_by_seq.items() if n > 1)[
                :SAMPLE
            ],
            "ambiguous": len(self.ambiguous),
            "ambiguous_delivered": settled,
            "ambiguous_unresolved": len(self.ambiguous) - settled,
            "unacknowledged": len(unacknowledged),
            "unacknowledged_sample": unacknowledged[:SAMPLE],
            "foreign": self.foreign,
            "arrived_before_answer": self.early,
        }


def not_checked(reason: str) -> dict[str, Any]:
    return {"checked": False, "reason": reason}


class Sink:
    """The webhook receiver: records ``webhook-id``, the run's seq and the arrival time."""

    def __init__(self, ledger: Ledger, host: str, port: int) -> None:
        self.ledger = ledger
        self.host = host
        self.port = port
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/hook"

    async def __aenter__(self) -> Sink:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            raise SinkError(
                f"--sink-host/--sink-port: cannot listen on {self.host}:{self.port} ({exc})"
            ) from None
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        received = time.monotonic()
        notification_id = request.headers.get("webhook-id", "")
        seq = self._seq(await request.read())
        if seq is None or not notification_id:
            self.ledger.foreign += 1
        else:
            self.ledger.receive(notification_id, seq, received)
        return web.Response(status=200)

    def _seq(self, raw: bytes) -> int | None:
        """The seq of a delivery from this run; None for anything else."""
        try:
            data = json.loads(raw)["data"]
            run, seq = data["run"], data["seq"]
        except (ValueError, KeyError, TypeError):
            return None
        if run != self.ledger.run_id or not isinstance(seq, int):
            return None
        return seq


HEAD_END = b"\r\n\r\n"
CREATED = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


class NullProtocol(asyncio.Protocol):
    """A keep-alive HTTP/1.1 server that only counts: the cheapest API there can be."""

    def __init__(self, api: NullApi) -> None:
        self.api = api
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while (end := self.buffer.find(HEAD_END)) >= 0:
            head = self.buffer[:end].lower()
            length = content_length(head)
            if length is None:
                self.transport.close()
                return
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.api.answer(head, body))


def content_length(head: bytes) -> int | None:
    start = head.find(b"content-length:")
    if start < 0:
        return 0
    line_end = head.find(b"\r\n", start)
    try:
        return int(head[start + 15 : line_end if line_end > 0 else None])
    except ValueError:
        return None


class NullApi:
    """``POST /v1/notifications`` -> 201 ``{"id": ...}``; ``.../batch`` -> one 201 per item.

    Items of a batch are counted by their ``"user_id"`` key (every notification has one), so the
    null API never parses JSON: what ``--calibrate`` measures is the generator's own cost.
    """

    def __init__(self) -> None:
        self.issued = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> NullApi:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: NullProtocol(self), "127.0.0.1", 0, backlog=BACKLOG
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()

    def _next_id(self) -> str:
        self.issued += 1
        return f"null{self.issued:022d}"

    def answer(self, head: bytes, body: bytes) -> bytes:
        if head.startswith(b"post /v1/notifications/batch "):
            results = b",".join(
                b'{"status":201,"notification":{"id":"%s"}}' % self._next_id().encode()
                for _ in range(body.count(b'"user_id"'))
            )
            payload = b'{"results":[%s]}' % results
            return OK % len(payload) + payload
        if head.startswith(b"post /v1/notifications "):
            payload = b'{"id":"%s","status":"pending"}' % self._next_id().encode()
            return CREATED % len(payload) + payload
        return NOT_FOUND
