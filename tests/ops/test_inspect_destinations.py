"""``notifyctl inspect destinations``: the open and half-open circuits the workers share, through
the real CLI on a real SQLite store; a destination (a client's URL) shown as written."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.model import now_ms
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import insert, webhooks


def run(tmp_path: Path, *args: str) -> str:
    result = CliRunner().invoke(
        app,
        ["--data-dir", str(tmp_path / "data"), "inspect", "destinations", *args],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_open_and_half_open_circuits_are_listed_and_closed_ones_are_not(tmp_path: Path) -> None:
    store = open_store(make_config(tmp_path))
    now = now_ms()
    store.open_breaker("https://down.example.com:443", now, 1.0, [60_000])
    store.open_breaker("http://[bold]x[/bold]:80", now - 120_000, 0.6, [1_000])  # half-open now
    store.open_breaker("https://back.example.com:443", now, 1.0, [60_000])
    store.close_breaker("https://back.example.com:443")
    insert(store, webhooks("https://down.example.com/hook", 2))
    store.close()
    rows = json.loads(run(tmp_path, "--json"))
    assert [(r["destination"], r["state"], r["openings"]) for r in rows] == [
        ("http://[bold]x[/bold]:80", "half_open", 1),
        ("https://down.example.com:443", "open", 1),
    ]
    assert 59 <= rows[1]["reopens_in_s"] <= 60 and rows[0]["failure_ratio"] == 0.6
    assert [r["waiting"] for r in rows] == [0, 2]
    shown = run(tmp_path)
    assert "[bold]x[/bold]" in shown and "down.example.com" in shown
    assert "back.example.com" not in shown


def test_no_open_circuit_says_so(tmp_path: Path) -> None:
    open_store(make_config(tmp_path)).close()
    assert "every destination's circuit is closed" in run(tmp_path)
