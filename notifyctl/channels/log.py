"""The log channel: one JSON line per delivery, appended to a file or written to stdout.

Lines are written off the event loop: a full pipe (stdout read by a slow log shipper) or a slow
disk must not stop every other delivery of the worker. Deliveries that finish together share one
``write`` on an ``O_APPEND`` descriptor, done on a thread, so the hop costs little per line and
several worker processes can share one file without interleaving lines. A write that the kernel
takes only in part (a pipe, a non-blocking stdout) is continued until every byte is out.
"""

from __future__ import annotations

import asyncio
import os
import select
import sys

import anyio

from notifyctl.errors import ChannelError
from notifyctl.model import Notification, now_ms
from notifyctl.retry import OK, DeliveryResult, ResultKind
from notifyctl.shapes import dumps, iso_ms, payload

#: how long one write may wait for a non-blocking descriptor to take more bytes
WRITABLE_WAIT_S = 30.0


def write_all(fd: int, data: bytes) -> None:
    """Every byte of ``data`` to ``fd``, across partial writes and a full non-blocking pipe."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            written = 0
        view = view[written:]
        if view and not written and not select.select([], [fd], [], WRITABLE_WAIT_S)[1]:
            raise OSError(f"the log output took no bytes for {WRITABLE_WAIT_S:.0f} s")


class LineWriter:
    """Lines queued by deliveries, written together on a thread; each delivery awaits its line."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lines: list[bytes] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._writing: asyncio.Task[None] | None = None

    async def write(self, line: bytes) -> None:
        """Once ``line`` is written; raises the OSError of a failed write."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._lines.append(line)
        self._waiters.append(done)
        if self._writing is None:
            self._writing = loop.create_task(self._write_queued())
        await done

    async def _write_queued(self) -> None:
        try:
            while self._lines:
                lines, waiters = self._lines, self._waiters
                self._lines, self._waiters = [], []
                error: OSError | None = None
                try:
                    await anyio.to_thread.run_sync(write_all, self._fd, b"".join(lines))
                except OSError as exc:
                    error = exc
                for waiter in waiters:
                    if waiter.done():  # its delivery was cancelled meanwhile
                        continue
                    if error is None:
                        waiter.set_result(None)
                    else:
                        waiter.set_exception(error)
        finally:
            self._writing = None

    async def drain(self) -> None:
        """Until the lines queued so far are written (or failed)."""
        writing = self._writing
        if writing is not None:
            await asyncio.wait([writing])


class LogChannel:
    name = "log"

    def __init__(self, path: str = "-") -> None:
        self._own_fd = path != "-"
        try:
            self._fd = (
                os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                if self._own_fd
                else sys.stdout.fileno()
            )
        except OSError as exc:
            raise ChannelError(
                f"NOTIFYCTL_LOG_CHANNEL_PATH: cannot open {path} ({exc.strerror})"
            ) from exc
        self._writer = LineWriter(self._fd)

    async def deliver(self, notification: Notification) -> DeliveryResult:
        record = payload(notification)
        record["delivered_at"] = iso_ms(now_ms())
        try:
            await self._writer.write(dumps(record) + b"\n")
        except OSError as exc:
            return DeliveryResult(ResultKind.RETRYABLE, f"log write failed: {exc.strerror or exc}")
        return OK

    async def aclose(self) -> None:
        await self._writer.drain()
        if self._own_fd:
            os.close(self._fd)
            self._own_fd = False
