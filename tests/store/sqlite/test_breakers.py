"""SQLite only: workers on one host, each with its own connection, opening a closed circuit at
once open it exactly once (``BEGIN IMMEDIATE`` around the read and the write), and a database
made before circuit breakers gains their table when it is opened."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from notifyctl.flow import Breaker
from notifyctl.store.sqlite import SqliteStore
from tests.store.contract.builders import NOW

WORKERS = 8
COOLDOWNS = [30_000, 60_000]


def test_workers_opening_a_closed_circuit_at_once_open_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'notifyctl.db'}"
    stores = [SqliteStore(url) for _ in range(WORKERS)]  # a connection each, as processes have
    start = threading.Barrier(WORKERS, timeout=10)

    def open_one(i: int) -> Breaker:
        start.wait()  # as close to at once as threads get
        # a ratio and a clock of its own per worker: the stored row tells which one wrote
        return stores[i].open_breaker("smtp", NOW + i, i / WORKERS, COOLDOWNS)

    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            returned = list(pool.map(open_one, range(WORKERS)))
        (stored,) = stores[0].breakers()
    finally:
        for store in stores:
            store.close()
    assert stored.reopenings == 1
    assert stored.open_until == stored.updated_at + 30_000  # the opener's own now and cooldown
    assert returned == [stored] * WORKERS  # one opened it; the seven others found it open


def test_a_database_made_before_breakers_gains_their_table(tmp_path: Path) -> None:
    file = tmp_path / "notifyctl.db"
    SqliteStore(f"sqlite:///{file}").close()
    with sqlite3.connect(file) as conn:  # as the release before circuit breakers left it
        conn.execute("DROP TABLE breakers")
    conn.close()
    store = SqliteStore(f"sqlite:///{file}")
    try:
        opened = store.open_breaker("smtp", NOW, 1.0, COOLDOWNS)
        assert store.breakers() == [opened]
    finally:
        store.close()
