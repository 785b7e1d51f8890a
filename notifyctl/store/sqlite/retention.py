"""The SQLite store's retention: deleting terminal notifications older than a cutoff, a small
batch per transaction, so the one write lock is held for milliseconds and the workers' outcome
writes and the API's inserts interleave with a long purge (``notifyctl/worker/retention.py``).

A purge must be a seek, not a scan of every notification: the partial index
``notifications_terminal_v1`` on (updated_at) holds only terminal rows, oldest first. SQLite uses
a partial index only when the query's WHERE implies the index's, which it proves term by term, so
the index and the purge are built from the one ``TERMINAL_PREDICATE`` text below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifyctl.model import TERMINAL

if TYPE_CHECKING:  # connection imports schema, which imports this module's index
    from notifyctl.store.sqlite.connection import SharedConnection

#: "terminal" in SQL, from ``model.TERMINAL``. Sorted: a frozenset's order changes with the
#: process's hash seed, and another process's text must match the index it created.
TERMINAL_STATUSES = ", ".join(f"'{status.value}'" for status in sorted(TERMINAL))
TERMINAL_PREDICATE = f"status IN ({TERMINAL_STATUSES})"
#: versioned: a release that changes ``TERMINAL`` creates ``_v2`` (the purge's WHERE no longer
#: implies ``_v1``'s on an existing database) and drops ``_v1`` in ``schema.ADDED_INDEXES``
TERMINAL_INDEX = "notifications_terminal_v1"
CREATE_TERMINAL_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {TERMINAL_INDEX}"
    f" ON notifications (updated_at) WHERE {TERMINAL_PREDICATE}"
)
#: the oldest terminal rows before the cutoff: a range of the partial index, in its order.
#: INDEXED BY, because without ANALYZE's statistics (notifyctl never gathers them) the planner
#: prefers a seek of the (status) index per terminal status and then sorts every terminal row;
#: and should the WHERE ever stop implying the index's, this fails to prepare, never scans.
OLDEST_TERMINAL = (
    f"SELECT id FROM notifications INDEXED BY {TERMINAL_INDEX}"
    f" WHERE {TERMINAL_PREDICATE} AND updated_at < ? ORDER BY updated_at LIMIT ?"
)
PURGE = f"DELETE FROM notifications WHERE id IN ({OLDEST_TERMINAL})"


class RetentionRows:
    """A part of ``SqliteStore``: ``purge_terminal`` (see ``base.py``)."""

    _db: SharedConnection

    def purge_terminal(self, before: int, limit: int) -> int:
        if limit <= 0:  # LIMIT -1 would mean "no limit" to SQLite
            return 0
        # one statement: the rows its select finds are deleted in the same write transaction,
        # so none can stop being terminal (a replay) in between
        with self._db.write() as conn:
            return conn.execute(PURGE, (before, limit)).rowcount
