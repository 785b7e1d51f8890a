"""SQLite only: how the embedded adapter meets the contract (its claim and dead-letter queries
walk their partial indexes; the database runs in WAL mode).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from notifyctl.model import Priority
from notifyctl.store.sqlite import SqliteStore
from notifyctl.store.sqlite.connection import path_of
from notifyctl.store.sqlite.dead_letters import DUE
from notifyctl.store.sqlite.leases import CLAIM_CANDIDATES
from tests.store.contract.builders import NOW, add, insert, kill, make

#: after every death the tests make
LATER = NOW + 600_000


def query_plan(database: Path, sql: str, params: tuple[object, ...]) -> list[str]:
    conn = sqlite3.connect(database)
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        conn.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(f"sqlite:///{tmp_path / 'notifyctl.db'}")
    yield opened
    opened.close()


def test_sqlite_claim_candidates_walk_the_partial_claim_index(sqlite_store: SqliteStore) -> None:
    insert(sqlite_store, *(make(priority=Priority(i % 3)) for i in range(30)))
    plan = query_plan(
        path_of(sqlite_store.url), CLAIM_CANDIDATES, (int(Priority.HIGH), NOW, NOW - 60_000, 50)
    )
    assert any("USING INDEX notifications_claim" in step for step in plan), plan
    assert not any(step.startswith("SCAN") and "INDEX" not in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def test_sqlite_publisher_query_seeks_the_partial_dead_letter_index(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'notifyctl.db'}", dead_letter_outbox=True)
    try:
        for nid in add(store, *(make() for _ in range(20))):
            kill(store, nid, NOW)
        plan = query_plan(path_of(store.url), DUE, (LATER, 100))
    finally:
        store.close()
    assert any(
        step.startswith("SEARCH") and "INDEX notifications_dead_letters" in step for step in plan
    ), plan
    assert not any(step.startswith("SCAN") and "INDEX" not in step for step in plan), plan
    assert not any("TEMP WORKER_B-TREE" in step for step in plan), plan


def test_sqlite_store_runs_in_wal_mode(sqlite_store: SqliteStore) -> None:
    conn = sqlite3.connect(path_of(sqlite_store.url))
    try:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    finally:
        conn.close()
    assert mode == "wal"
