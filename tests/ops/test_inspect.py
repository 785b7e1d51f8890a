"""``notifyctl inspect``: the real command line against a real SQLite store of known contents,
and a real worker process that goes stale after ``kill -9``."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.model import Outcome, Priority, Verdict, WorkerRecord, now_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config
from tests.helpers import insert, start_worker, stop, wait_until, webhooks

LEASE = 600_000
runner = CliRunner()


def cli(config: Config, *args: str, heartbeat_interval_ms: str = "5000") -> Any:
    """Run ``notifyctl --data-dir D <args> --json`` in-process; return the parsed JSON."""
    env = {"NOTIFYCTL_HEARTBEAT_INTERVAL_MS": heartbeat_interval_ms}
    result = runner.invoke(app, ["--data-dir", str(config.data_dir), *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def known(tmp_path: Path) -> tuple[Config, Store, dict[str, str]]:
    """A store holding, relative to now: 3 normal webhooks due for a minute, 1 high log due now,
    2 low webhooks due in an hour, 1 leased, 2 sent, 1 dead, 1 cancelled; and two workers, one
    alive and one whose heartbeats stopped an hour ago."""
    config = make_config(tmp_path)
    store = open_store(config)
    now = now_ms()
    url = "https://example.test/hook"
    insert(store, webhooks(url, 3, scheduled_for=now - 60_000))
    high = webhooks(url, 1, priority=Priority.HIGH)[0]
    insert(store, [replace(high, channel="log", to=None)])
    insert(store, webhooks(url, 2, priority=Priority.LOW, scheduled_for=now + 3_600_000))
    leased, sent_a, sent_b, dead, cancelled = insert(store, webhooks(url, 5, scheduled_for=now))
    store.claim_ids([leased], "w-live", now, LEASE)
    claims = store.claim_ids([sent_a, sent_b, dead], "w-live", now, LEASE)
    verdicts = {sent_a: Verdict.SENT, sent_b: Verdict.SENT, dead: Verdict.DEAD}
    store.finish([Outcome(c, verdicts[c.id], "HTTP 410: gone" if c.id == dead else None)
                  for c in claims], now)  # fmt: skip
    store.cancel(cancelled, now)
    store.register_worker(WorkerRecord("w-live", 1, "host-a", 101, now, now, 1, 3))
    store.register_worker(WorkerRecord("w-gone", 2, "host-b", 202, now - 7_200_000,
                                       now - 3_600_000, 4, 9))  # fmt: skip
    return config, store, {"leased": leased, "sent": sent_a, "dead": dead}


def test_inspect_stats_gives_the_known_numbers(known: tuple[Config, Store, dict[str, str]]) -> None:
    config, _, _ = known
    stats = cli(config, "inspect", "stats")
    assert stats["counts"] == {
        "pending": 5, "scheduled": 2, "sent": 2, "dead": 1, "cancelled": 1, "suppressed": 0,
        "expired": 0, "paused": 0,
        "locked": 1,
    }  # fmt: skip
    for window in ("1m", "5m", "15m"):
        assert stats["throughput"][window]["sent"] == 2
        assert stats["throughput"][window]["dead"] == 1
    assert stats["throughput"]["1m"]["sent_per_second"] == round(2 / 60, 2)
    assert stats["success_rate"] == round(100 * 2 / 3, 2)
    assert 60 <= stats["oldest_due_age_seconds"] < 120


def test_inspect_queue_gives_the_known_numbers(known: tuple[Config, Store, dict[str, str]]) -> None:
    config, _, _ = known
    queue = cli(config, "inspect", "queue")
    assert queue["rows"] == [
        {"priority": "high", "channel": "log", "due": 1, "scheduled": 0, "locked": 0},
        {"priority": "normal", "channel": "webhook", "due": 3, "scheduled": 0, "locked": 1},
        {"priority": "low", "channel": "webhook", "due": 0, "scheduled": 2, "locked": 0},
    ]
    assert queue["totals"] == {"due": 4, "scheduled": 2, "locked": 1}
    assert queue["due_by_priority"] == {"high": 1, "normal": 3, "low": 0}
    assert queue["due_by_channel"] == {"log": 1, "webhook": 3}
    assert 60 <= queue["oldest_due_age_seconds"] < 120


def test_inspect_workers_tells_alive_from_stale(
    known: tuple[Config, Store, dict[str, str]],
) -> None:
    config, _, _ = known
    workers = cli(config, "inspect", "workers")
    assert [(w["id"], w["number"], w["host"], w["pid"], w["state"], w["in_flight"],
             w["processed"]) for w in workers] == [
        ("w-live", 1, "host-a", 101, "alive", 1, 3),
        ("w-gone", 2, "host-b", 202, "stale", 4, 9),
    ]  # fmt: skip
    assert workers[1]["heartbeat_age_seconds"] >= 3_600


def test_inspect_notification_shows_the_record_and_its_history(
    known: tuple[Config, Store, dict[str, str]],
) -> None:
    config, _, ids = known
    dead = cli(config, "inspect", "notification", ids["dead"])
    assert dead["id"] == ids["dead"] and dead["status"] == "dead" and dead["attempts"] == 1
    assert dead["replays"] == 0 and dead["last_error"] == "HTTP 410: gone"
    assert [(h["outcome"], h["attempt"], h["worker"], h["error"]) for h in dead["history"]] == [
        ("dead", 1, "w-live", "HTTP 410: gone")
    ]
    leased = cli(config, "inspect", "notification", ids["leased"])
    assert leased["locked_by"] == "w-live" and leased["lock_version"] == 1
    assert leased["history"] == []


def test_inspect_dead_lists_the_dead_letters_with_their_errors(
    known: tuple[Config, Store, dict[str, str]],
) -> None:
    config, _, ids = known
    (dead,) = cli(config, "inspect", "dead")
    assert (dead["id"], dead["last_error"], dead["attempts"]) == (ids["dead"], "HTTP 410: gone", 1)
    assert cli(config, "inspect", "dead", "--channel", "log") == []
    assert cli(config, "inspect", "dead", "--since", "1h") == [dead]


def test_tables_for_people_and_a_few_refreshes_of_top(
    known: tuple[Config, Store, dict[str, str]],
) -> None:
    config, _, ids = known
    base = ["--data-dir", str(config.data_dir), "inspect"]
    for args in (["stats"], ["queue"], ["workers"], ["dead"], ["notification", ids["dead"]]):
        result = runner.invoke(app, [*base, *args], env={"COLUMNS": "200"})
        assert result.exit_code == 0, result.output
    assert ids["dead"] in runner.invoke(app, [*base, "dead"], env={"COLUMNS": "200"}).stdout
    top = runner.invoke(app, [*base, "top", "--interval", "0.1", "-n", "3"], env={})
    assert top.exit_code == 0, top.output
    assert "w-gone" in top.stdout and "Undelivered" in top.stdout


def test_client_and_receiver_text_is_shown_as_written_never_read_as_markup(
    tmp_path: Path,
) -> None:
    """A title, a receiver's error, a worker's host name: data, shown literally. ``[/bold]``
    used to crash the view (rich read it as a closing tag) and ``[red]`` vanished."""
    config = make_config(tmp_path)
    store = open_store(config)
    now = now_ms()
    marked = replace(webhooks("https://example.test/[/bold]", 1)[0], title="[/bold] [red]x",
                     user_id="[link=file:///etc]u[/link]")  # fmt: skip
    (nid,) = insert(store, [marked])
    claims = store.claim_ids([nid], "w-[/]", now, LEASE)
    store.finish([Outcome(claims[0], Verdict.DEAD, "HTTP 500: [/] [bold]oops")], now)
    store.register_worker(WorkerRecord("w-[/]", 1, "host-[/i]", 101, now, now, 0, 1))
    base = ["--data-dir", str(config.data_dir), "inspect"]
    shown = {}
    for args in (["notification", nid], ["dead"], ["workers"], ["top", "-n", "1"]):
        result = runner.invoke(app, [*base, *args], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        shown[args[0]] = result.stdout
    assert "[/bold] [red]x" in shown["notification"]
    assert "[link=file:///etc]u[/link]" in shown["notification"]
    assert "HTTP 500: [/] [bold]oops" in shown["notification"]
    assert "HTTP 500: [/] [bold]oops" in shown["dead"]
    assert "host-[/i]" in shown["workers"] and "w-[/]" in shown["top"]
    unknown = runner.invoke(app, [*base, "notification", "[/bold]"], env={})
    assert unknown.exit_code == 1 and "no notification has the id '[/bold]'" in unknown.output
    bad_flag = runner.invoke(app, ["--store", "[/x]db", "inspect", "stats"], env={})
    assert bad_flag.exit_code == 2 and "got '[/x]db'" in bad_flag.output


def test_unknown_ids_and_missing_stores_are_clear_errors(
    known: tuple[Config, Store, dict[str, str]], tmp_path: Path
) -> None:
    config, _, _ = known
    unknown = runner.invoke(app, ["--data-dir", str(config.data_dir), "inspect", "notification",
                                  "nope"], env={})  # fmt: skip
    assert unknown.exit_code == 1 and "no notification has the id 'nope'" in unknown.output
    missing = runner.invoke(app, ["--data-dir", str(tmp_path / "none"), "inspect", "stats"], env={})
    assert missing.exit_code == 2 and "no store at" in missing.output
    assert not (tmp_path / "none").exists()  # inspecting never creates a store
    bad = runner.invoke(app, ["--data-dir", str(config.data_dir), "inspect", "dead", "--since",
                              "yesterday"], env={})  # fmt: skip
    assert bad.exit_code == 2 and "--since 'yesterday'" in bad.output


@pytest.mark.integration
def test_a_worker_killed_with_kill_9_shows_as_stale(tmp_path: Path) -> None:
    config = make_config(tmp_path, heartbeat_interval_ms=200)
    open_store(config).close()
    worker = start_worker(config, 7)

    def states() -> list[tuple[int, int, str]]:
        workers = cli(config, "inspect", "workers", heartbeat_interval_ms="200")
        return [(w["number"], w["pid"], w["state"]) for w in workers]

    try:
        wait_until(lambda: states() == [(7, worker.pid, "alive")], 60, "the worker to be alive")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        wait_until(lambda: states() == [(7, worker.pid, "stale")], 30, "the worker to be stale")
    finally:
        stop(worker)


def test_a_push_notifications_device_token_is_shown_shortened(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(config)
    token = "ab" * 32
    (item,) = webhooks("https://example.test/hook", 1)
    (push,) = insert(store, [replace(item, channel="apns", to=token)])
    (claim,) = store.claim_batch("host-1-2-w", 1, now_ms(), 30_000)
    store.finish([Outcome(claim, Verdict.DEAD, "410 Unregistered")], now_ms())
    store.close()
    shown = cli(config, "inspect", "notification", push)
    assert shown["to"] == "abababab...abab"
    (dead,) = cli(config, "inspect", "dead")
    assert dead["to"] == "abababab...abab"
    assert token not in json.dumps([shown, dead])
