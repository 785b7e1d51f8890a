"""Listening ports a person can act on: one line naming the port and the setting when a port is
taken, and free monitoring ports for ``notifyctl up`` when the configured ones are.

A port counts as free when this process can bind it with ``SO_REUSEADDR`` (as Hypercorn does), so
a port held only by connections in TIME_WAIT is free and one with a listener is not.
"""

from __future__ import annotations

import errno
import socket

from notifyctl.errors import ConfigError

MONITOR_SETTING = "NOTIFYCTL_MONITOR_PORT_BASE"
#: how many other bases ``up`` tries before it gives up looking for a free monitoring range
SEARCH_LIMIT = 2_000
HIGHEST_BASE = 65_000  # the setting's own upper bound
BACKLOG = 100  # Hypercorn's default; asyncio listens again with its own when it serves


def bind_tcp(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not yet listening). Raises OSError."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def is_free(host: str, port: int) -> bool:
    try:
        bind_tcp(host, port).close()
    except OSError:
        return False
    return True


def why(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "it is taken, by another notifyctl or another program"
    return exc.strerror or str(exc)


def monitor_port_error(host: str, port: int, number: int, exc: OSError) -> ConfigError:
    """The one line a worker stops with when its monitoring port cannot be bound."""
    return ConfigError(
        f"worker {number} cannot serve monitoring on {host}:{port} ({why(exc)}): worker N uses"
        f" {MONITOR_SETTING} + N; set {MONITOR_SETTING} to a free range, or 0 to turn monitoring"
        " off"
    )


def bind_monitor(host: str, base: int, number: int) -> socket.socket:
    """Worker ``number``'s monitoring socket, bound and listening before the worker claims
    anything. Listening at once: two sockets with SO_REUSEADDR may both bind a port that nobody
    listens on yet, and only the second ``listen`` would fail, inside Hypercorn."""
    port = base + number
    try:
        sock = bind_tcp(host, port)
    except OSError as exc:
        raise monitor_port_error(host, port, number, exc) from None
    try:
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise monitor_port_error(host, port, number, exc) from None
    return sock


def range_is_free(host: str, base: int, workers: int) -> bool:
    return all(is_free(host, base + n) for n in range(1, workers + 1))


def free_monitor_base(host: str, base: int, workers: int) -> int:
    """``base`` when ports base+1..base+workers are free on ``host``, else the next base above it
    whose range is; ``up`` hands one base to every worker, so the range must be contiguous."""
    if range_is_free(host, base, workers):
        return base
    last = min(base + SEARCH_LIMIT, HIGHEST_BASE - workers)
    for candidate in range(base + 1, last + 1):
        if range_is_free(host, candidate, workers):
            return candidate
    raise ConfigError(
        f"no {workers} free monitoring ports in a row on {host} between {base + 1} and"
        f" {last + workers}: set {MONITOR_SETTING} to a free range, or 0 to turn monitoring off"
    )


def check_api_port(host: str, port: int) -> None:
    """Fail with one line, before anything starts, when the API's port cannot be bound."""
    try:
        bind_tcp(host, port).close()
    except OSError as exc:
        raise ConfigError(
            f"the API cannot listen on {host}:{port} ({why(exc)}): choose another with --port"
            " (NOTIFYCTL_API_PORT)"
        ) from None
