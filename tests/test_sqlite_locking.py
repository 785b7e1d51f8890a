"""SQLite's write lock between processes (here: connections): a writer waits in short steps,
takes the lock soon after it is released, and gives up with a clear error after its timeout."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from notifyctl.store.sqlite import begin_immediate


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
    started = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        begin_immediate(waiter, timeout_s=0.1)
    assert time.monotonic() - started >= 0.1
    assert waiter.execute("PRAGMA busy_timeout").fetchone() == (100,)
    holder.execute("ROLLBACK")
