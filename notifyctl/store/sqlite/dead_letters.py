"""The SQLite store's dead-letter outbox: ``dead_letter_at`` is when a dead notification's dead
letter is due to be published (its death, or the end of a publisher's lease); NULL once the
broker confirmed it, or when there is none to publish. A partial index holds only the marked rows.

A lease is written as its end, which doubles as the token that fences the clear: on one host
(the only place SQLite is shared) a row's leases end strictly later one after another, and a
later death of the same row (after a replay, which removes the mark) comes with a new claim and
so another ``lock_version``, which the clear checks too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from notifyctl.model import DeadLetter
from notifyctl.store.sqlite.schema import COLUMNS, row_to_notification

#: served by the partial index notifications_dead_letters (``<=`` implies NOT NULL)
DUE = "SELECT id FROM notifications WHERE dead_letter_at <= ? ORDER BY dead_letter_at LIMIT ?"


def anything_due(conn: sqlite3.Connection, now: int) -> bool:
    """A read, so a publisher with nothing to do never takes the write lock."""
    return conn.execute(DUE, (now, 1)).fetchone() is not None


def take(conn: sqlite3.Connection, limit: int, now: int, until: int) -> list[DeadLetter]:
    """Lease the longest-waiting due dead letters until ``until``, in the caller's write
    transaction; returned oldest death first."""
    rows = conn.execute(
        f"UPDATE notifications SET dead_letter_at = ? WHERE id IN ({DUE}) RETURNING {COLUMNS}",
        (until, now, limit),
    ).fetchall()
    notifications = sorted(map(row_to_notification, rows), key=lambda n: (n.updated_at, n.id))
    return [DeadLetter(n, str(until)) for n in notifications]


def clear(conn: sqlite3.Connection, letters: Sequence[DeadLetter]) -> int:
    """Remove the marks still held by these leases, in the caller's write transaction."""
    before = conn.total_changes
    conn.executemany(
        "UPDATE notifications SET dead_letter_at = NULL"
        " WHERE id = ? AND dead_letter_at = ? AND lock_version = ?",
        [(d.id, int(d.token), d.notification.lock_version) for d in letters],
    )
    return conn.total_changes - before
