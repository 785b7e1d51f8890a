"""The PostgreSQL store's retention: deleting terminal notifications older than a cutoff, a small
batch per statement, so the workers' and the API's writes interleave with a long purge.

The partial index ``notifications_terminal_v1`` on (updated_at) holds only terminal rows, so a
purge is a range of it in its order; ``FOR UPDATE SKIP LOCKED`` leaves a row another
transaction is changing (a replay) to a later batch, and the DELETE re-checks that it is still
terminal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from notifyctl.store.sqlite.retention import TERMINAL_PREDICATE

if TYPE_CHECKING:
    from notifyctl.store.postgresql.connection import Database

TERMINAL_INDEX = "notifications_terminal_v1"
CREATE_TERMINAL_INDEX = (
    f"CREATE INDEX {TERMINAL_INDEX} ON notifications (updated_at) WHERE {TERMINAL_PREDICATE}"
)
PURGE = (
    f"DELETE FROM notifications WHERE id IN (SELECT id FROM notifications"
    f" WHERE {TERMINAL_PREDICATE} AND updated_at < %s ORDER BY updated_at LIMIT %s"
    f" FOR UPDATE SKIP LOCKED) AND {TERMINAL_PREDICATE}"
)


class RetentionRows:
    """A part of ``PostgresStore``: ``purge_terminal`` (see ``base.py``)."""

    _db: Database

    def purge_terminal(self, before: int, limit: int) -> int:
        if limit <= 0:
            return 0
        with self._db.cursor("purge") as cur:
            cur.execute(PURGE, (before, limit))
            return cur.rowcount
