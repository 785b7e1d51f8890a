"""Databases made by earlier releases open, gain the new columns and indexes, and keep working:
the first release's (no ``history``/``replays``) and the previous release's (no dead-letter
outbox, ``dead_letter_at``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from notifyctl.config import Config
from notifyctl.model import Outcome, Status, Verdict
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.rabbit import RABBITMQ_URL

NOW = 1_800_000_000_000
FIRST_RELEASE_TABLE = """
CREATE TABLE notifications (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, channel TEXT NOT NULL, dest TEXT, title TEXT,
    body TEXT, data TEXT NOT NULL, priority INTEGER NOT NULL, status TEXT NOT NULL,
    scheduled_for INTEGER NOT NULL, available_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, max_attempts INTEGER NOT NULL, last_error TEXT,
    idempotency_key TEXT, request_hash TEXT NOT NULL, locked_by TEXT, locked_at INTEGER,
    lock_expiry INTEGER, lock_version INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL, sent_at INTEGER
) WITHOUT ROWID;
"""
#: the previous release: the first one's table plus history and replays
PREVIOUS_RELEASE_TABLE = FIRST_RELEASE_TABLE.replace(
    "updated_at INTEGER NOT NULL, sent_at INTEGER",
    "updated_at INTEGER NOT NULL, sent_at INTEGER, history TEXT NOT NULL DEFAULT '[]',"
    " replays INTEGER NOT NULL DEFAULT 0",
)
INSERT_OLD = (
    "INSERT INTO notifications (id, user_id, channel, data, priority, status, scheduled_for,"
    " available_at, max_attempts, request_hash, created_at, updated_at)"
    " VALUES (?, 'u', 'log', '{}', 1, ?, ?, ?, 1, 'h', ?, ?)"
)


def old_database(config: Config, table: str, rows: dict[str, str]) -> None:
    """A database file holding ``table`` and one row per id -> status, as an older release
    left it."""
    file = Path(config.store_url.removeprefix("sqlite:///"))
    file.parent.mkdir(parents=True)
    with sqlite3.connect(file) as conn:
        conn.executescript(table)
        for nid, status in rows.items():
            conn.execute(INSERT_OLD, (nid, status, NOW, NOW, NOW, NOW))
    conn.close()


def test_an_old_database_gains_the_new_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    file = Path(config.store_url.removeprefix("sqlite:///"))
    file.parent.mkdir(parents=True)
    with sqlite3.connect(file) as conn:
        conn.executescript(FIRST_RELEASE_TABLE)
        conn.execute(
            "INSERT INTO notifications (id, user_id, channel, data, priority, status,"
            " scheduled_for, available_at, max_attempts, request_hash, created_at, updated_at)"
            " VALUES ('old-1', 'u', 'log', '{}', 1, 'pending', ?, ?, 1, 'h', ?, ?)",
            (NOW, NOW, NOW, NOW),
        )
    conn.close()
    store = open_store(config)
    try:
        old = store.get("old-1")
        assert old is not None and old.replays == 0 and store.history("old-1") == []
        (claim,) = store.claim_batch("w", 10, NOW, 30_000)
        store.finish([Outcome(claim, Verdict.DEAD, "HTTP 410")], NOW + 1)
        assert store.replay(["old-1"], NOW + 2) == ["old-1"]
        replayed = store.get("old-1")
        assert replayed is not None and replayed.status is Status.PENDING
        assert replayed.replays == 1
    finally:
        store.close()
    reopened = open_store(config)  # a second open finds nothing left to add
    try:
        history = reopened.history("old-1")
        assert history is not None and [h.outcome for h in history] == ["dead", "replayed"]
    finally:
        reopened.close()


def test_a_previous_release_database_gains_the_dead_letter_outbox(tmp_path: Path) -> None:
    config = make_config(tmp_path, rabbitmq_url=RABBITMQ_URL)  # a broker: deaths are marked
    old_database(config, PREVIOUS_RELEASE_TABLE, {"died-before": "dead", "old-1": "pending"})
    store = open_store(config)
    try:
        # a death of the previous release had its one best-effort publish: it is not marked
        assert store.take_dead_letters(10, NOW, 60_000) == []
        (claim,) = store.claim_batch("w", 10, NOW, 30_000)
        store.finish([Outcome(claim, Verdict.DEAD, "HTTP 410")], NOW + 1)
        (letter,) = store.take_dead_letters(10, NOW + 1, 60_000)
        assert letter.id == "old-1"
    finally:
        store.close()
    with sqlite3.connect(Path(config.store_url.removeprefix("sqlite:///"))) as conn:
        indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "notifications_dead_letters" in indexes


#: the release before tenants: history, replays, the dead-letter outbox, a global idempotency index
BEFORE_TENANTS_SCHEMA = (
    PREVIOUS_RELEASE_TABLE.replace(
        "replays INTEGER NOT NULL DEFAULT 0",
        "replays INTEGER NOT NULL DEFAULT 0, dead_letter_at INTEGER",
    )
    + "CREATE UNIQUE INDEX notifications_idempotency ON notifications (idempotency_key)"
    " WHERE idempotency_key IS NOT NULL;"
)


def test_a_database_from_before_tenants_moves_to_tenant_default(tmp_path: Path) -> None:
    """Its rows belong to tenant ``default``, its global idempotency index makes way for the
    per-tenant one, and its keys still replay for ``default`` while another tenant may reuse
    them."""
    from dataclasses import replace

    from tests.helpers import webhooks

    config = make_config(tmp_path)
    old_database(config, BEFORE_TENANTS_SCHEMA, {"01OLDKEYED0000000000000000": "pending"})
    file = Path(config.store_url.removeprefix("sqlite:///"))
    with sqlite3.connect(file) as conn:
        conn.execute("UPDATE notifications SET idempotency_key = 'k1'")
    conn.close()
    store = open_store(config)
    old = store.get("01OLDKEYED0000000000000000", "default")
    assert old is not None and old.tenant_id == "default"
    (item,) = webhooks("https://example.test/hook", 1)
    again, elsewhere = (
        replace(item, idempotency_key="k1"),
        replace(
            item, idempotency_key="k1", tenant_id="acme", id=webhooks("https://x.test/", 1)[0].id
        ),
    )
    replayed, created = store.insert_many([again, elsewhere], NOW)
    assert (replayed.created, replayed.notification.id) == (False, "01OLDKEYED0000000000000000")
    assert created.created and created.notification.tenant_id == "acme"
    with sqlite3.connect(file) as conn:
        indexes = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
    conn.close()
    assert "notifications_idempotency" not in indexes
    assert {"notifications_tenant_idempotency", "notifications_tenant"} <= indexes
    store.close()
