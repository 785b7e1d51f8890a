"""The pauses operators put on a channel, a destination or a tenant, and the moves of what they
hold back (the ``pauses`` table of ``schema.TENANT_SCHEMA``; the port: ``store/pauses.py``).

Moves walk the ``notifications_status`` index (``status``, then the primary key ``id``) from a
cursor, ``batch`` rows per write transaction, so a pause over a million waiting notifications
holds the write lock for a moment at a time and reads each row once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifyctl.model import CLAIMABLE
from notifyctl.pauses import Pause, PauseKind
from notifyctl.store.sqlite.connection import SharedConnection

#: the column each kind of pause matches
COLUMN = {
    PauseKind.CHANNEL: "channel",
    PauseKind.DESTINATION: "destination",
    PauseKind.TENANT: "tenant_id",
}
PAUSE_COLUMNS = "kind, value, created_at, reason"
BACK = "CASE WHEN available_at > ? THEN 'scheduled' ELSE 'pending' END"


def row_to_pause(row: Sequence[Any]) -> Pause:
    return Pause(PauseKind(row[0]), row[1], row[2], row[3])


def not_held(still_paused: Sequence[Pause]) -> tuple[str, list[str]]:
    """SQL true for a row none of ``still_paused`` matches, and its parameters."""
    clauses: list[str] = []
    params: list[str] = []
    for kind, column in COLUMN.items():
        values = [pause.value for pause in still_paused if pause.kind is kind]
        if values:
            clauses.append(f"COALESCE({column}, '') IN ({','.join('?' * len(values))})")
            params += values
    return (f" AND NOT ({' OR '.join(clauses)})" if clauses else ""), params


class PauseRows:
    """A part of ``SqliteStore``: the ``PauseStore`` port (see ``store/pauses.py``)."""

    _db: SharedConnection

    def add_pause(self, pause: Pause) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute(
                f"INSERT OR IGNORE INTO pauses ({PAUSE_COLUMNS}) VALUES (?, ?, ?, ?)",
                (pause.kind.value, pause.value, pause.created_at, pause.reason),
            )
            return cursor.rowcount == 1

    def remove_pause(self, pause: Pause) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM pauses WHERE kind = ? AND value = ?", (pause.kind.value, pause.value)
            )
            return cursor.rowcount == 1

    def pauses(self) -> list[Pause]:
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {PAUSE_COLUMNS} FROM pauses ORDER BY kind, value")
            return [row_to_pause(row) for row in rows.fetchall()]

    def park(self, pause: Pause, now: int, batch: int) -> int:
        match = f" AND {COLUMN[pause.kind]} = ? AND locked_by IS NULL"
        return sum(
            self._move(status, match, [pause.value], "'paused'", [], now, batch)
            for status in CLAIMABLE
        )

    def unpark(self, now: int, still_paused: Sequence[Pause], batch: int) -> int:
        match, params = not_held(still_paused)
        return self._move("paused", match, params, BACK, [now], now, batch)

    def count_paused(self, pause: Pause) -> int:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT COUNT(*) FROM notifications WHERE status = 'paused'"
                f" AND {COLUMN[pause.kind]} = ?",
                (pause.value,),
            ).fetchone()
        return int(row[0])

    def _move(
        self, status: str, match: str, params: list[Any], to: str, to_params: list[Any],
        now: int, batch: int,
    ) -> int:  # fmt: skip
        """Move the rows of ``status`` that ``match`` to the status ``to`` (SQL), in batches."""
        moved, after = 0, ""
        while True:
            with self._db.write() as conn:
                ids = [row[0] for row in conn.execute(
                    f"SELECT id FROM notifications WHERE status = ? AND id > ?{match}"
                    " ORDER BY id LIMIT ?", [status, after, *params, batch],
                )]  # fmt: skip
                if not ids:
                    return moved
                marks = ",".join("?" * len(ids))
                moved += conn.execute(
                    f"UPDATE notifications SET status = {to}, updated_at = ?"
                    f" WHERE id IN ({marks}) AND status = ?{match}",
                    [*to_params, now, *ids, status, *params],
                ).rowcount
            after = ids[-1]
