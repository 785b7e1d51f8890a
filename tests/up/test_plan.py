"""What ``notifyctl up`` decides before it starts anything (issue 12, item 1 and "a taken port"):
the webhook addresses it allows by the address the API binds, its banner, API keys, and ports.
The command runs for real up to the supervisor, whose ``run`` is replaced by a recorder."""

from __future__ import annotations

import dataclasses
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from notifyctl import config
from notifyctl.channels.destinations import LOOPBACK_ONLY
from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.exposure import check_api_keys, loopback_only, open_api_warning
from notifyctl.up.supervisor import Supervisor
from tests.helpers import free_port
from tests.ports import free, free_base, hold

KEY = "k" * 32


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Config]:
    """The configs ``up`` handed its supervisor, which starts nothing here."""
    configs: list[Config] = []

    def record(self: Supervisor) -> int:
        configs.append(self.config)
        return 0

    monkeypatch.setattr(Supervisor, "run", record)
    return configs


def up(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    """``notifyctl up`` with a clean environment; its exit code and everything it printed."""
    environ = {"NOTIFYCTL_MONITOR_PORT_BASE": str(free_base(2)), **env}
    argv = ["up", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), *args]
    result = CliRunner().invoke(app, argv, env=environ, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("NOTIFYCTL_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("host", "expected"),
    [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True), ("[::1]", True),
     ("localhost", True), ("LOCALHOST.", True), ("0.0.0.0", False), ("::", False),
     ("192.168.1.10", False), ("10.0.0.1", False), ("example.org", False), ("", False)],
)  # fmt: skip
def test_loopback_only_is_the_loopback_addresses_and_localhost(host: str, expected: bool) -> None:
    assert loopback_only(host) is expected


def test_up_on_loopback_allows_loopback_webhooks_and_warns_of_nothing(
    tmp_path: Path, started: list[Config]
) -> None:
    code, output = up(tmp_path, "--host", "127.0.0.1")
    assert code == 0, output
    assert started[0].webhook_allow == LOOPBACK_ONLY
    assert "WARNING" not in output
    assert f"public addresses and {LOOPBACK_ONLY}" in output


def test_up_on_another_address_refuses_loopback_webhooks_and_says_the_api_is_open(
    tmp_path: Path, started: list[Config], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="notifyctl.up"):
        code, output = up(tmp_path, "--host", "0.0.0.0")
    assert code == 0, output
    assert started[0].webhook_allow == ""
    assert "public addresses only" in output
    warning = [line for line in output.splitlines() if "WARNING" in line]
    assert len(warning) == 1 and "no API keys" in warning[0] and "0.0.0.0" in warning[0]
    assert "NOTIFYCTL_API_KEYS" in warning[0]
    assert any("no API keys" in r.getMessage() for r in caplog.records), "and in the log"


def test_up_on_another_address_with_keys_warns_of_nothing(
    tmp_path: Path, started: list[Config]
) -> None:
    code, output = up(tmp_path, "--host", "0.0.0.0", NOTIFYCTL_API_KEYS=KEY)
    assert code == 0 and "WARNING" not in output, output
    assert started[0].webhook_allow == ""


def test_up_keeps_an_explicit_webhook_allow_list(tmp_path: Path, started: list[Config]) -> None:
    code, output = up(tmp_path, "--host", "0.0.0.0", NOTIFYCTL_WEBHOOK_ALLOW="10.1.0.0/16")
    assert code == 0, output
    assert started[0].webhook_allow == "10.1.0.0/16"


def test_api_on_another_address_without_keys_warns_in_its_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    built = config.load(environ={"NOTIFYCTL_API_HOST": "0.0.0.0"})
    with caplog.at_level(logging.WARNING, logger="notifyctl.api"):
        check_api_keys(built)
        check_api_keys(dataclasses.replace(built, api_host="127.0.0.1"))
        check_api_keys(dataclasses.replace(built, api_keys=KEY))
    assert [r.getMessage() for r in caplog.records if "no API keys" in r.getMessage()] == [
        open_api_warning(built)
    ]


def test_required_api_keys_stop_up_and_api_with_one_line(tmp_path: Path) -> None:
    code, output = up(tmp_path, NOTIFYCTL_REQUIRE_API_KEYS="true")
    assert code == 2
    assert "NOTIFYCTL_API_KEYS" in output and "NOTIFYCTL_REQUIRE_API_KEYS=false" in output
    argv = ["api", "--port", str(free_port())]
    env = {"NOTIFYCTL_REQUIRE_API_KEYS": "true", "NOTIFYCTL_DATA_DIR": str(tmp_path / "data")}
    result = CliRunner().invoke(app, argv, env=env, catch_exceptions=False)
    assert result.exit_code == 2 and "NOTIFYCTL_API_KEYS" in result.output


def store_key(tmp_path: Path) -> None:
    """A key in the store of ``up``'s data directory, as ``notifyctl keys create`` makes one."""
    argv = ["--data-dir", str(tmp_path / "data"), "keys", "create", "--tenant", "acme",
            "--scope", "send"]  # fmt: skip
    assert CliRunner().invoke(app, argv, catch_exceptions=False).exit_code == 0


def test_up_says_at_start_whether_requests_need_a_key(
    tmp_path: Path, started: list[Config]
) -> None:
    code, output = up(tmp_path, "--host", "127.0.0.1")
    assert code == 0 and "API keys   none: one open tenant 'default'" in output, output
    store_key(tmp_path)
    code, output = up(tmp_path, "--host", "127.0.0.1")
    assert code == 0 and "API keys   required" in output, output


def test_store_keys_count_as_keys_for_the_open_api_warning_and_the_requirement(
    tmp_path: Path, started: list[Config]
) -> None:
    store_key(tmp_path)
    code, output = up(tmp_path, "--host", "0.0.0.0", NOTIFYCTL_REQUIRE_API_KEYS="true")
    assert code == 0 and "WARNING" not in output, output


@pytest.fixture
def listening() -> Iterator[list[socket.socket]]:
    """Sockets listening on 127.0.0.1 (ports another ``up`` holds), closed afterwards."""
    held: list[socket.socket] = []
    yield held
    for sock in held:
        sock.close()


def test_up_moves_taken_monitoring_ports_and_prints_them(
    tmp_path: Path, started: list[Config], listening: list[socket.socket]
) -> None:
    base = free_base(2)
    hold(listening, base + 1)
    code, output = up(tmp_path, "--host", "127.0.0.1", NOTIFYCTL_MONITOR_PORT_BASE=str(base))
    assert code == 0, output
    moved = started[0].monitor_port_base
    assert moved > base and free(moved + 1) and free(moved + 2)
    assert f"ports {moved + 1}-{moved + 2} ({base + 1}-{base + 2} are taken" in output


def test_up_stops_with_one_line_when_the_api_port_is_taken(
    tmp_path: Path, started: list[Config], listening: list[socket.socket]
) -> None:
    port = free_port()
    hold(listening, port)
    argv = ["up", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    result = CliRunner().invoke(app, argv, env={"NOTIFYCTL_MONITOR_PORT_BASE": "0"})
    assert result.exit_code == 2 and not started
    assert f"127.0.0.1:{port}" in result.output and "--port" in result.output
