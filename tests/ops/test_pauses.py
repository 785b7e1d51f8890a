"""``notifyctl pause``, ``notifyctl resume`` and ``notifyctl inspect pauses`` through the real CLI
on a real SQLite store: what a pause holds is parked and counted, a second pause of the same
thing parks what slipped through, resume moves back what no other pause holds, and every mistake
an operator can type is a clear error that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config
from tests.helpers import insert, webhooks

HOOK = "https://hooks.example.com/a"


def run(tmp_path: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(
        app, ["--data-dir", str(tmp_path / "data"), *args], env={"COLUMNS": "200"}
    )
    assert result.exit_code == code, result.output
    return result.output


def pauses(tmp_path: Path) -> Any:
    return json.loads(run(tmp_path, "inspect", "pauses", "--json"))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = open_store(make_config(tmp_path))
    insert(opened, webhooks(HOOK, 3))
    insert(opened, webhooks("https://other.example.com/b", 2))
    return opened


def test_pause_parks_inspect_counts_and_resume_moves_back(tmp_path: Path, store: Store) -> None:
    said = run(tmp_path, "pause", "--destination", "https://HOOKS.example.com/x",
               "--reason", "INC-42 [bold]")  # fmt: skip
    assert "paused destination https://hooks.example.com:443; 3 waiting notifications parked" in (
        said
    )
    run(tmp_path, "pause", "--channel", "log")
    (channel, destination) = pauses(tmp_path)
    assert (channel["kind"], channel["value"], channel["waiting"]) == ("channel", "log", 0)
    assert destination["value"] == "https://hooks.example.com:443"
    assert (destination["waiting"], destination["reason"]) == (3, "INC-42 [bold]")
    assert "INC-42 [bold]" in run(tmp_path, "inspect", "pauses")  # shown as written
    assert store.counts(now_ms())["paused"] == 3
    insert(store, webhooks(HOOK, 1))  # stored while paused by a process that did not know
    assert "(it was paused already); 1 waiting" in run(tmp_path, "pause", "--destination", HOOK)
    said = run(tmp_path, "resume", "--destination", HOOK)
    assert "resumed destination https://hooks.example.com:443; 4 notifications due again" in said
    assert store.counts(now_ms())["paused"] == 0
    assert [p["value"] for p in pauses(tmp_path)] == ["log"]
    run(tmp_path, "resume", "--channel", "log")
    assert "nothing is paused" in run(tmp_path, "inspect", "pauses")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["pause"], "exactly one of --channel, --destination or --tenant"),
        (["pause", "--channel", "log", "--tenant", "acme"], "exactly one of"),
        (["pause", "--channel", "pigeon"], "unknown channel 'pigeon'"),
        (["pause", "--tenant", "Not A Tenant"], "invalid tenant name"),
        (["pause", "--destination", "mailgun"], "neither a URL"),
        (["resume", "--tenant", "acme"], "tenant acme is not paused (paused now: nothing)"),
    ],
)
def test_mistakes_are_clear_errors_that_change_nothing(
    tmp_path: Path, store: Store, args: list[str], says: str
) -> None:
    output = run(tmp_path, *args, code=2)
    assert says in " ".join(output.split())
    assert store.pauses() == [] and store.counts(now_ms())["paused"] == 0
