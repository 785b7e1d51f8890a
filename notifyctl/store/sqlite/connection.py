"""The SQLite store's one connection per process: opening the file, its write lock, its sharing.

Apart from the store's statements because this is where the concurrency lives: between the
threads of one process (a lock around the one connection, with the waiters counted for
``pool_stats``) and between processes (SQLite's write lock, taken up front by ``BEGIN IMMEDIATE``
and waited for in short steps). ``SqliteStore`` picks the transaction each call needs.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from notifyctl.errors import StoreError, StoreUnavailable
from notifyctl.store.sqlite.schema import create_tables

#: a writer waiting for another process's write lock tries again after these pauses (doubling)
LOCK_RETRY_FIRST_S = 0.0002
LOCK_RETRY_MAX_S = 0.002


def path_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def begin_immediate(conn: sqlite3.Connection, timeout_s: float) -> None:
    """Take the database's write lock, waiting for other processes up to ``timeout_s``.

    SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms between tries, so a worker waiting
    behind the API or another worker misses most of the moments the lock is free (measured: store
    calls took twice as long with two workers contending). This waits in steps of 0.2-2 ms.
    """
    conn.execute("PRAGMA busy_timeout = 0")
    try:
        deadline = time.monotonic() + timeout_s
        pause = LOCK_RETRY_FIRST_S
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, LOCK_RETRY_MAX_S)
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")


def is_busy(exc: sqlite3.OperationalError) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY or "locked" in str(exc)


@contextmanager
def immediate(conn: sqlite3.Connection, timeout_s: float) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` transaction on ``conn``: committed, or rolled back on any error."""
    begin_immediate(conn, timeout_s)
    try:
        yield conn
    except BaseException:
        roll_back(conn)
        raise
    commit(conn)


def commit(conn: sqlite3.Connection) -> None:
    """COMMIT, or roll back if it fails: the connection is shared by every thread of the process,
    and one left inside a failed transaction would make every later BEGIN fail ("cannot start a
    transaction within a transaction") until the process restarted."""
    try:
        conn.execute("COMMIT")
    except BaseException:
        roll_back(conn)
        raise


def roll_back(conn: sqlite3.Connection) -> None:
    """ROLLBACK when a transaction is open (SQLite ends some failed ones by itself)."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def open_database(url: str, synchronous: str, timeout_s: float) -> sqlite3.Connection:
    """Open (creating it if need be) the database ``url`` names, in WAL mode, its tables ready."""
    file = path_of(url)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            file, timeout=timeout_s, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        with immediate(conn, timeout_s):
            create_tables(conn)
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnavailable(
            f"NOTIFYCTL_STORE_URL: cannot open {url} ({exc}); "
            "check --data-dir / --store and that the directory is writable"
        ) from exc
    return conn


class SharedConnection:
    """One connection, shared by the threads of one process under a lock."""

    def __init__(self, url: str, synchronous: str, busy_timeout_s: float) -> None:
        self.url = url
        self._lock = threading.Lock()
        #: threads waiting for the connection (the "pending requests" of a one-connection pool)
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self._busy_timeout_s = busy_timeout_s
        self._conn = open_database(url, synchronous, busy_timeout_s)
        self._open = True

    @contextmanager
    def _held(self) -> Iterator[sqlite3.Connection]:
        """The connection, for this thread alone; waiters are counted only when there are any."""
        if not self._lock.acquire(blocking=False):
            with self._waiting_lock:
                self._waiting += 1
            try:
                self._lock.acquire()
            finally:
                with self._waiting_lock:
                    self._waiting -= 1
        try:
            yield self._conn
        finally:
            self._lock.release()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: the write lock is held from the first read."""
        with self._held() as held, self._translated(), immediate(held, self._busy_timeout_s):
            yield held

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with self._held() as conn, self._translated():
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every statement inside sees the same state of the database."""
        with self.read() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            except BaseException:
                roll_back(conn)
                raise
            commit(conn)

    def pool_stats(self) -> dict[str, int]:
        """The one connection of this process, in the shape of a pool's statistics."""
        open_ = int(self._open)
        active = int(self._lock.locked()) if open_ else 0
        return {
            "poolSize": 1, "minPoolSize": 1, "openConnections": open_,
            "activeConnections": active, "idleConnections": open_ - active,
            "pendingRequests": self._waiting,
        }  # fmt: skip

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"sqlite store {self.url}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._open = False
            self._conn.close()
