"""The log channel: one JSON line per delivery, appended to a file or written to stdout.

Each line is written with a single ``write`` on an ``O_APPEND`` descriptor, so several worker
processes can share one file without interleaving lines.
"""

from __future__ import annotations

import json
import os
import sys

from notifyctl.channels.base import iso_ms, payload
from notifyctl.errors import ChannelError
from notifyctl.model import Notification, now_ms
from notifyctl.retry import OK, DeliveryResult, ResultKind


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

    async def deliver(self, notification: Notification) -> DeliveryResult:
        record = payload(notification)
        record["delivered_at"] = iso_ms(now_ms())
        line = json.dumps(record, separators=(",", ":")) + "\n"
        try:
            os.write(self._fd, line.encode())
        except OSError as exc:
            return DeliveryResult(ResultKind.RETRYABLE, f"log write failed: {exc.strerror}")
        return OK

    async def aclose(self) -> None:
        if self._own_fd:
            os.close(self._fd)
            self._own_fd = False
