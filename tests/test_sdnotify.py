"""The sd_notify client: addresses, the watchdog interval, and messages on a real socket."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from notifyctl.sdnotify import sd_notify, socket_address, watchdog_interval_s


def test_socket_addresses() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@notify-1") == "\0notify-1"
    assert socket_address("@") is None
    assert socket_address("relative/path") is None
    assert socket_address("vsock:2:1234") is None


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert sd_notify("READY=1") is False


def test_fields_arrive_as_one_datagram_on_an_abstract_socket(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = f"notifyctl-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        server.settimeout(5)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert sd_notify("READY=1", "STATUS=claiming") is True
        assert server.recv(4096) == b"READY=1\nSTATUS=claiming"


def test_a_socket_nobody_listens_on_is_reported_not_raised(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", f"{tmp_path}/gone")
    assert sd_notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "not-an-address")
    assert sd_notify("READY=1") is False


@pytest.mark.parametrize(
    ("usec", "pid", "expected"),
    [
        ("30000000", None, 15.0),
        ("30000000", "self", 15.0),
        ("30000000", "1", None),  # the watchdog is meant for another process
        ("0", None, None),
        ("", None, None),
        ("soon", None, None),
    ],
)
def test_watchdog_interval_is_half_of_watchdog_usec(
    monkeypatch: pytest.MonkeyPatch, usec: str, pid: str | None, expected: float | None
) -> None:
    monkeypatch.setenv("WATCHDOG_USEC", usec)
    if pid is None:
        monkeypatch.delenv("WATCHDOG_PID", raising=False)
    else:
        monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()) if pid == "self" else pid)
    assert watchdog_interval_s() == expected
