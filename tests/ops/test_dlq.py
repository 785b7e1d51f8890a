"""``notifyctl dlq replay``: dead notifications go back as due with their ids, a real worker
delivers them once, and the command's choices (ids, filters, dry run) are exact."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.errors import NotifyError
from notifyctl.model import Outcome, Status, Verdict, now_ms
from notifyctl.ops.dlq import parse_since
from notifyctl.store import Store, open_store
from tests.conftest import make_config
from tests.helpers import Receiver, child_env, insert, start_worker, stop, wait_until, webhooks

runner = CliRunner()


def replay(config: Config, *args: str) -> dict[str, Any]:
    argv = ["--data-dir", str(config.data_dir), "dlq", "replay", *args, "--json"]
    result = runner.invoke(app, argv, env={})
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def bury(store: Store, ids: list[str], error: str = "HTTP 410", at: int | None = None) -> None:
    """Claim these notifications and record a permanent failure: they end dead."""
    now = now_ms() if at is None else at
    claims = store.claim_ids(ids, "w-test", now, 30_000)
    assert len(claims) == len(ids)
    store.finish([Outcome(c, Verdict.DEAD, error) for c in claims], now)


def status(store: Store, notification_id: str) -> Status:
    found = store.get(notification_id)
    assert found is not None
    return found.status


@pytest.mark.integration
def test_replayed_dead_letters_are_delivered_once_with_the_same_id(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(config)
    # The first attempt of every id is refused for good (410): each dies at once.
    with Receiver(lambda attempt: (410, 0.0) if attempt == 1 else (200, 0.0)) as receiver:
        ids = set(insert(store, webhooks(receiver.url, 30)))
        worker = start_worker(config, 1)
        try:
            wait_until(lambda: store.counts(now_ms())["dead"] == 30, 60, "30 dead letters")
            argv = [sys.executable, "-m", "notifyctl", "dlq", "replay", "--all", "--json"]
            done = subprocess.run(argv, env=child_env(config), capture_output=True, timeout=60)
            assert done.returncode == 0, done.stderr.decode()
            assert set(json.loads(done.stdout)["replayed"]) == ids
            wait_until(lambda: store.counts(now_ms())["sent"] == 30, 60, "30 replayed deliveries")
        finally:
            assert stop(worker) == 0
        deliveries = receiver.snapshot()
    assert {d.webhook_id for d in deliveries} == ids
    assert all(d.body["id"] == d.webhook_id for d in deliveries)
    assert sorted(receiver.counts().values()) == [2] * 30  # the refused attempt, then one delivery
    for notification_id in ids:
        found = store.get(notification_id)
        history = store.history(notification_id)
        assert found is not None and history is not None
        assert (found.status, found.attempts, found.replays) == (Status.SENT, 1, 1)
        assert [h.outcome for h in history] == ["dead", "replayed", "sent"]


@pytest.fixture
def graveyard(tmp_path: Path) -> tuple[Config, Store, dict[str, str]]:
    """Three dead letters: an old webhook (2 days ago), a recent webhook and a recent log one;
    plus one pending notification."""
    config = make_config(tmp_path)
    store = open_store(config)
    url, two_days_ago = "https://example.test/hook", now_ms() - 2 * 86_400_000
    (old,) = insert(store, webhooks(url, 1, scheduled_for=two_days_ago))
    recent, pending = insert(store, webhooks(url, 2))
    (logged,) = insert(store, [replace(webhooks(url, 1)[0], channel="log", to=None)])
    bury(store, [old], at=two_days_ago)
    bury(store, [recent, logged])
    ids = {"old": old, "recent": recent, "log": logged, "pending": pending}
    return config, store, ids


def test_a_dry_run_shows_what_would_move_and_changes_nothing(
    graveyard: tuple[Config, Store, dict[str, str]],
) -> None:
    config, store, ids = graveyard
    report = replay(config, "--all", "--dry-run")
    assert report["dry_run"] and report["replayed"] == []
    assert {d["id"] for d in report["selected"]} == {ids["old"], ids["recent"], ids["log"]}
    assert all(status(store, ids[k]) is Status.DEAD for k in ("old", "recent", "log"))


def test_replay_all_since_a_time_leaves_older_dead_letters(
    graveyard: tuple[Config, Store, dict[str, str]],
) -> None:
    config, store, ids = graveyard
    report = replay(config, "--all", "--since", "1d")
    assert set(report["replayed"]) == {ids["recent"], ids["log"]}
    assert status(store, ids["old"]) is Status.DEAD
    assert status(store, ids["recent"]) is Status.PENDING


def test_replay_by_id_skips_what_is_not_dead(
    graveyard: tuple[Config, Store, dict[str, str]],
) -> None:
    config, store, ids = graveyard
    report = replay(config, "--id", ids["old"], "--id", ids["pending"], "--id", "nope")
    assert report["replayed"] == [ids["old"]]
    assert report["skipped"] == {ids["pending"]: "pending", "nope": "unknown"}
    found = store.get(ids["old"])
    assert found is not None and found.replays == 1 and found.attempts == 0


def test_replay_filters_by_channel(graveyard: tuple[Config, Store, dict[str, str]]) -> None:
    config, store, ids = graveyard
    assert replay(config, "--all", "--channel", "log")["replayed"] == [ids["log"]]
    assert set(replay(config, "--all", "--channel", "webhook")["replayed"]) == {
        ids["old"], ids["recent"],
    }  # fmt: skip


def test_replay_all_filters_by_error_past_a_page_of_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More dead letters the error filter keeps than one page holds, newer than the one it
    wants: the replay goes on past them and finds it."""
    from notifyctl.ops import dlq

    monkeypatch.setattr(dlq, "PAGE", 3)
    config = make_config(tmp_path)
    store = open_store(config)
    earlier = now_ms() - 20_000
    (wanted,) = insert(store, webhooks("http://127.0.0.1:9/x", 1, scheduled_for=earlier))
    bury(store, [wanted], "HTTP 410 Gone", at=earlier + 10_000)
    others = insert(store, webhooks("http://127.0.0.1:9/x", 5))
    bury(store, others, "certificate verify failed")
    dry = replay(config, "--all", "--error", "410", "--dry-run")
    assert [d["id"] for d in dry["selected"]] == [wanted] and dry["replayed"] == []
    assert replay(config, "--all", "--error", "410")["replayed"] == [wanted]
    assert [status(store, n) for n in others] == [Status.DEAD] * 5
    store.close()


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--id", "x", "--all"],
        ["--id", "x", "--since", "1h"],
        ["--all", "--since", "soon"],
        ["--id", "x", "--error", "410"],
    ],
)
def test_contradictory_or_bad_options_are_refused(config: Config, args: list[str]) -> None:
    open_store(config).close()
    argv = ["--data-dir", str(config.data_dir), "dlq", "replay", *args]
    result = runner.invoke(app, argv, env={})
    assert result.exit_code == 2
    assert "--id" in result.output or "--since" in result.output


def test_since_takes_ages_and_rfc_3339() -> None:
    now = 1_800_000_000_000
    assert parse_since("90s", now) == now - 90_000
    assert parse_since("30m", now) == now - 1_800_000
    assert parse_since("6h", now) == now - 21_600_000
    assert parse_since("2d", now) == now - 172_800_000
    assert parse_since("2027-01-15T08:00:00Z", now) == 1_800_000_000_000
    with pytest.raises(NotifyError, match="not an RFC 3339 time or an age"):
        parse_since("2027-01-15", now)


def test_a_tenants_replay_and_listing_leave_other_tenants_alone(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(config)
    acme = insert(store, [replace(n, tenant_id="acme") for n in webhooks("https://a.test/", 2)])
    globex = insert(store, [replace(n, tenant_id="globex") for n in webhooks("https://g.test/", 2)])
    bury(store, [*acme, *globex])
    listed = CliRunner().invoke(
        app, ["--data-dir", str(config.data_dir), "inspect", "dead", "--tenant", "acme", "--json"]
    )
    assert {d["id"] for d in json.loads(listed.stdout)} == set(acme)
    stats = CliRunner().invoke(
        app, ["--data-dir", str(config.data_dir), "inspect", "stats", "--tenant", "acme", "--json"]
    )
    assert json.loads(stats.stdout)["counts"]["dead"] == 2  # acme's two, not globex's
    # another tenant's id reads as unknown, and --all replays only the tenant's own
    named = replay(config, "--id", globex[0], "--tenant", "acme")
    assert named["replayed"] == [] and named["skipped"] == {globex[0]: "unknown"}
    everything = replay(config, "--all", "--tenant", "acme")
    assert set(everything["replayed"]) == set(acme)
    assert {status(store, i) for i in globex} == {Status.DEAD}
    store.close()
