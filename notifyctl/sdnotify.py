"""Tell systemd what the process is doing: the sd_notify(3) protocol, with no dependency.

systemd hands a ``Type=notify`` service the path of a unix datagram socket in ``NOTIFY_SOCKET``;
each message is one datagram of newline-separated ``KEY=VALUE`` fields (``READY=1``,
``STOPPING=1``, ``STATUS=...``, ``WATCHDOG=1``). Without ``NOTIFY_SOCKET`` every call does nothing,
so the same code runs under systemd, in a container and in a terminal. These variables belong to
systemd's protocol, not to notifyctl's settings, which is why they are read here and not in Config.
"""

from __future__ import annotations

import logging
import os
import socket

import anyio

log = logging.getLogger("notifyctl.sdnotify")


def socket_address(raw: str) -> str | None:
    """The address to send to: a path, or ``@name`` for the abstract namespace."""
    if raw.startswith("/"):
        return raw
    if raw.startswith("@") and len(raw) > 1:
        return "\0" + raw[1:]
    return None  # e.g. systemd's vsock: addresses, which a service on this host never gets


def sd_notify(*fields: str) -> bool:
    """Send ``fields`` to systemd; True if a message was sent. Never raises: a service whose
    manager cannot be told keeps working (systemd will time it out if READY never arrives)."""
    raw = os.environ.get("NOTIFY_SOCKET", "")
    if not raw:
        return False
    address = socket_address(raw)
    if address is None:
        log.warning("NOTIFY_SOCKET=%s is not a unix socket address; not notifying", raw)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto("\n".join(fields).encode(), address)
    except OSError as exc:
        log.warning("could not notify systemd at %s: %s", raw, exc)
        return False
    return True


def watchdog_interval_s() -> float | None:
    """How often to send ``WATCHDOG=1``: half of ``WATCHDOG_USEC``, as sd_watchdog_enabled(3)
    advises; None when systemd's watchdog is off or meant for another process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000


async def feed_watchdog(until: anyio.Event) -> None:
    """Ping systemd's watchdog until ``until`` is set: a hung event loop stops the pings and
    systemd restarts the service."""
    interval = watchdog_interval_s()
    if interval is None or not os.environ.get("NOTIFY_SOCKET"):
        return
    while not until.is_set():
        sd_notify("WATCHDOG=1")
        with anyio.move_on_after(interval):
            await until.wait()
