"""Port helpers for the tests of taken ports: free ranges, and sockets standing for what another
``notifyctl up`` on this host holds. Loopback only."""

from __future__ import annotations

import socket

from tests.helpers import free_port


def free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_base(workers: int) -> int:
    """A monitoring base whose ``workers`` ports above it are free, as are a few more beyond."""
    for _ in range(100):
        base = free_port()
        if base < 60_000 and all(free(base + n) for n in range(1, workers * 3 + 1)):
            return base
    raise RuntimeError("no free port range")


def hold(held: list[socket.socket], port: int) -> None:
    """Listen on 127.0.0.1:``port`` until the caller closes what ``held`` holds."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    held.append(sock)
