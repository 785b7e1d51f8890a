"""notifyctl/ports.py: one line naming the port and the setting, and free ranges."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from notifyctl import ports
from notifyctl.errors import ConfigError
from notifyctl.ports import bind_monitor, free_monitor_base
from tests.ports import free_base, hold


@pytest.fixture
def held() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def test_a_taken_monitoring_port_is_one_line_naming_it_and_the_setting(
    held: list[socket.socket],
) -> None:
    base = free_base(3)
    hold(held, base + 3)
    with pytest.raises(ConfigError) as taken:
        bind_monitor("127.0.0.1", base, 3)
    message = str(taken.value)
    assert "\n" not in message and f"127.0.0.1:{base + 3}" in message
    assert "worker 3" in message and "NOTIFYCTL_MONITOR_PORT_BASE" in message


def test_a_port_bound_but_not_yet_listening_is_not_served_twice(
    held: list[socket.socket],
) -> None:
    """Two SO_REUSEADDR sockets may bind one port nobody listens on: the worker's socket listens
    at once, so a second worker with the same number fails with the one line, not in Hypercorn."""
    base = free_base(1)
    first = bind_monitor("127.0.0.1", base, 1)
    held.append(first)
    with pytest.raises(ConfigError, match="NOTIFYCTL_MONITOR_PORT_BASE"):
        bind_monitor("127.0.0.1", base, 1)


def test_the_configured_base_is_kept_when_its_range_is_free() -> None:
    base = free_base(2)
    assert free_monitor_base("127.0.0.1", base, 2) == base


def test_a_taken_range_moves_to_the_next_free_one(held: list[socket.socket]) -> None:
    base = free_base(2)
    hold(held, base + 2)
    moved = free_monitor_base("127.0.0.1", base, 2)
    assert moved > base
    assert base + 2 not in (moved + 1, moved + 2)


def test_no_free_range_is_one_line_naming_the_setting(
    held: list[socket.socket], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ports, "is_free", lambda host, port: False)
    with pytest.raises(ConfigError) as none:
        free_monitor_base("127.0.0.1", 9090, 4)
    assert "\n" not in str(none.value) and "NOTIFYCTL_MONITOR_PORT_BASE" in str(none.value)
