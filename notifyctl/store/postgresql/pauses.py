"""The pauses operators put on a channel, a destination or a tenant, and the moves of what they
hold back (the ``pauses`` table of ``schema.VERSION_2``; the port: ``store/pauses.py``).

Moves walk the notifications of one status by id from a cursor, ``batch`` rows per transaction
(a read of the next ids, then one UPDATE of those still matching), so a pause over a million
waiting notifications holds each row's lock for a moment and reads each row once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifyctl.model import CLAIMABLE
from notifyctl.pauses import Pause
from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.pauses import COLUMN, PAUSE_COLUMNS, row_to_pause

BACK = "CASE WHEN available_at > {at} THEN 'scheduled' ELSE 'pending' END"


def not_held(still_paused: Sequence[Pause]) -> tuple[str, dict[str, Any]]:
    """SQL true for a row none of ``still_paused`` matches, and its parameters."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for kind, column in COLUMN.items():
        values = [pause.value for pause in still_paused if pause.kind is kind]
        if values:
            clauses.append(f"coalesce({column}, '') = ANY(%(held_{kind.value})s::text[])")
            params[f"held_{kind.value}"] = values
    return (f" AND NOT ({' OR '.join(clauses)})" if clauses else ""), params


class PauseRows:
    """A part of ``PostgresStore``: the ``PauseStore`` port (see ``store/pauses.py``)."""

    _db: Database
    _at: str

    def add_pause(self, pause: Pause) -> bool:
        with self._db.cursor("add pause") as cur:
            cur.execute(
                f"INSERT INTO pauses ({PAUSE_COLUMNS}) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (kind, value) DO NOTHING",
                (pause.kind.value, pause.value, pause.created_at, pause.reason),
            )
            return cur.rowcount == 1

    def remove_pause(self, pause: Pause) -> bool:
        with self._db.cursor("remove pause") as cur:
            cur.execute(
                "DELETE FROM pauses WHERE kind = %s AND value = %s", (pause.kind.value, pause.value)
            )
            return cur.rowcount == 1

    def pauses(self) -> list[Pause]:
        with self._db.connection("pauses") as conn:
            rows = conn.execute(f"SELECT {PAUSE_COLUMNS} FROM pauses ORDER BY kind, value")
            return [row_to_pause(row) for row in rows.fetchall()]

    def park(self, pause: Pause, now: int, batch: int) -> int:
        match = f" AND {COLUMN[pause.kind]} = %(value)s AND locked_by IS NULL"
        params = {"value": pause.value}
        return sum(
            self._move(status, match, params, "'paused'", now, batch) for status in CLAIMABLE
        )

    def unpark(self, now: int, still_paused: Sequence[Pause], batch: int) -> int:
        match, params = not_held(still_paused)
        return self._move("paused", match, params, BACK, now, batch)

    def count_paused(self, pause: Pause) -> int:
        with self._db.connection("count paused") as conn:
            row = conn.execute(
                "SELECT count(*) FROM notifications WHERE status = 'paused'"
                f" AND {COLUMN[pause.kind]} = %s",
                (pause.value,),
            ).fetchone()
        return int(row[0]) if row else 0

    def _move(
        self, status: str, match: str, params: dict[str, Any], to: str, now: int, batch: int
    ) -> int:
        """Move the rows of ``status`` that ``match`` to the status ``to`` (SQL), in batches."""
        moved, after = 0, ""
        select = (
            f"SELECT id FROM notifications WHERE status = %(status)s AND id > %(after)s{match}"
            " ORDER BY id LIMIT %(batch)s"
        )
        update = (
            f"UPDATE notifications SET status = {to}, updated_at = {{at}}"
            f" WHERE id = ANY(%(ids)s::text[]) AND status = %(status)s{match}"
        ).replace("{at}", self._at)  # ``to`` may read the clock too (``BACK``)
        while True:
            with self._db.transaction("move paused") as conn:
                bound = {**params, "status": status, "now": now, "batch": batch, "after": after}
                ids = [row[0] for row in conn.execute(select, bound).fetchall()]
                if not ids:
                    return moved
                moved += conn.execute(update, {**bound, "ids": ids}).rowcount
            after = ids[-1]
