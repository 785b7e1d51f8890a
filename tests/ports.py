"""Port helpers for the tests of taken ports: free ranges, and sockets standing for what another
``notifyctl up`` on this host holds. Loopback only."""

from __future__ import annotations

import random
import socket

from tests.helpers import free_port

#: below Linux's ephemeral range (32768-60999): no outgoing connection takes a port from here
#: while a test waits to bind it again (a restarted worker's monitoring port)
OUTSIDE_EPHEMERAL = (20_000, 32_000)


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


def steady_base(count: int) -> int:
    """A base port whose ``count`` ports above it are free and outside the ephemeral range, so
    that they stay free for a process restarted later (an ephemeral base's neighbours can be
    taken by any outgoing connection meanwhile)."""
    low, high = OUTSIDE_EPHEMERAL
    for _ in range(100):
        base = random.randrange(low, high - count)
        if all(free(base + n) for n in range(1, count + 1)):
            return base
    raise RuntimeError("no free port range below the ephemeral ports")
