"""SQLite's write lock between processes (here: connections): a writer waits in short steps,
takes the lock soon after it is released, and gives up with a clear error after its timeout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from notifyctl.errors import StoreError
from notifyctl.model import now_ms
from notifyctl.store import open_store
from notifyctl.store.sqlite import SqliteStore
from notifyctl.store.sqlite.connection import begin_immediate
from tests.conftest import make_config


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def test_a_waiting_writer_gets_the_lock_once_it_is_released(tmp_path: Path) -> None:
    holder, waiter = connect(tmp_path / "db"), connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    release.start()
    begin_immediate(waiter, timeout_s=10)
    waiter.execute("COMMIT")
    release.join()
    # the connection's own busy timeout is restored for every other statement
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (10_000,)


def test_a_writer_gives_up_after_its_timeout_and_keeps_its_busy_timeout(tmp_path: Path) -> None:
    holder, waiter = connect(tmp_path / "db"), connect(tmp_path / "db")
    holder.execute("BEGIN IMMEDIATE")
    tries: list[str] = []
    waiter.set_trace_callback(lambda sql: tries.append(sql) if sql == "BEGIN IMMEDIATE" else None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter, timeout_s=0.1)
    waiter.set_trace_callback(None)
    assert len(tries) > 5  # it waited in short steps until its timeout, not gave up at once
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (100,)
    holder.execute("ROLLBACK")


def test_a_failed_commit_leaves_the_shared_connection_usable(tmp_path: Path) -> None:
    """A COMMIT that fails (here a deferred constraint, checked only at COMMIT; in life a full
    disk or an I/O error) must not leave the process's one connection inside the transaction,
    or every later store call fails until the process restarts."""
    store = open_store(make_config(tmp_path))
    assert isinstance(store, SqliteStore)
    shared = store._db
    with shared.read() as conn:  # a test table whose constraint fails only at COMMIT
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE child (parent INTEGER"
                     " REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")  # fmt: skip
    with pytest.raises(StoreError, match="FOREIGN KEY"), shared.write() as held:
        held.execute("INSERT INTO child VALUES (42)")  # no parent 42: COMMIT refuses
    assert not conn.in_transaction
    assert store.counts(now_ms())["pending"] == 0  # the next calls work
    with shared.write() as held:
        held.execute("INSERT INTO parent VALUES (1)")
    store.close()
