"""SQLite only: a purge is a seek of the partial index of terminal rows, never a scan or a sort
of every notification, and the index is there on every database, new or made by an earlier
release."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl.model import TERMINAL
from notifyctl.store.sqlite import SqliteStore
from notifyctl.store.sqlite.connection import path_of
from notifyctl.store.sqlite.retention import (
    OLDEST_TERMINAL,
    PURGE,
    TERMINAL_INDEX,
    TERMINAL_PREDICATE,
)
from tests.store.contract.builders import NOW, add, insert, make
from tests.store.sqlite.test_store import query_plan

#: the statuses ``notifications_terminal_v1`` was made for: its name pins them (see below)
V1_STATUSES = {"sent", "dead", "cancelled", "suppressed", "expired"}


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(f"sqlite:///{tmp_path / 'notifyctl.db'}")
    yield opened
    opened.close()


def fill(store: SqliteStore) -> None:
    """Terminal and undelivered rows, so the planner has more than one index to consider."""
    insert(store, *(make(scheduled_for=NOW + 60_000) for _ in range(20)))
    for nid in add(store, *(make() for _ in range(20))):
        store.cancel(nid, NOW)


def test_the_oldest_terminal_rows_are_a_range_of_the_partial_index(
    sqlite_store: SqliteStore,
) -> None:
    fill(sqlite_store)
    plan = query_plan(path_of(sqlite_store.url), OLDEST_TERMINAL, (NOW, 500))
    assert plan == [f"SEARCH notifications USING INDEX {TERMINAL_INDEX} (updated_at<?)"], plan


def test_the_purge_deletes_by_primary_key_what_the_index_range_found(
    sqlite_store: SqliteStore,
) -> None:
    fill(sqlite_store)
    plan = query_plan(path_of(sqlite_store.url), PURGE, (NOW, 500))
    assert any(f"INDEX {TERMINAL_INDEX} (updated_at<?)" in step for step in plan), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_the_index_and_the_purge_share_one_predicate(sqlite_store: SqliteStore) -> None:
    conn = sqlite3.connect(path_of(sqlite_store.url))
    try:
        (sql,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?", (TERMINAL_INDEX,)
        ).fetchone()
    finally:
        conn.close()
    assert sql.endswith(f"WHERE {TERMINAL_PREDICATE}")
    assert f"WHERE {TERMINAL_PREDICATE} AND" in OLDEST_TERMINAL


def test_the_versioned_index_holds_every_terminal_status() -> None:
    """A database keeps the index its first open made. Should ``TERMINAL`` change, one made
    before holds the old set, which the new purge's WHERE does not imply (it would fail to
    prepare): the index needs a new name (``_v2``, and ``_v1`` dropped in ADDED_INDEXES)."""
    assert {status.value for status in TERMINAL} == V1_STATUSES, (
        f"TERMINAL changed: rename {TERMINAL_INDEX} (see notifyctl/store/sqlite/retention.py)"
    )


def test_a_database_without_the_index_gains_it_at_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'notifyctl.db'}"
    SqliteStore(url).close()
    with sqlite3.connect(path_of(url)) as conn:  # as a release before retention left it
        conn.execute(f"DROP INDEX {TERMINAL_INDEX}")
    conn.close()
    store = SqliteStore(url)
    try:
        (nid,) = add(store, make())
        store.cancel(nid, NOW)
        assert store.purge_terminal(NOW + 1, 10) == 1
    finally:
        store.close()
