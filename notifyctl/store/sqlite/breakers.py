"""Each destination's circuit breaker, shared by the workers on this host (the ``breakers``
table of ``schema.TENANT_SCHEMA``; the port: ``store/breakers.py``). A part of ``SqliteStore`` of
its own, because nothing in it touches a notification.

``open_breaker`` reads the row and writes its successor in one ``BEGIN IMMEDIATE`` transaction,
so of several workers opening a circuit at once exactly one opens it and the others find it open.
``take_probe`` is one conditional UPDATE, so exactly one worker gets a half-open circuit's probe.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifyctl.flow import Breaker, opening
from notifyctl.model import Notification
from notifyctl.store.sqlite.connection import SharedConnection
from notifyctl.store.sqlite.ops import of_tenant
from notifyctl.store.sqlite.schema import COLUMNS, row_to_notification

#: what still waits to be delivered
WAITING = "('pending', 'scheduled', 'paused')"
BREAKER_COLUMNS = (
    "destination, open_until, reopenings, failure_ratio, probe_by, probe_until, updated_at"
)
#: a closed circuit has no row, so opening one and reopening a half-open one write the same row
PUT_BREAKER = f"INSERT OR REPLACE INTO breakers ({BREAKER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
#: half-open (its cooldown is over) and its probe free or its holder's lease passed
TAKE_PROBE = (
    "UPDATE breakers SET probe_by = ?, probe_until = ?, updated_at = ?"
    " WHERE destination = ? AND open_until <= ? AND (probe_until IS NULL OR probe_until <= ?)"
)


def row_to_breaker(row: Sequence[Any]) -> Breaker:
    return Breaker(
        destination=row[0], open_until=row[1], reopenings=row[2], failure_ratio=row[3],
        probe_by=row[4], probe_until=row[5], updated_at=row[6],
    )  # fmt: skip


class BreakerRows:
    """A part of ``SqliteStore``: the ``BreakerStore`` port (see ``store/breakers.py``)."""

    _db: SharedConnection

    def open_breaker(
        self, destination: str, now: int, failure_ratio: float, cooldown_ms: list[int]
    ) -> Breaker:
        with self._db.write() as conn:
            row = conn.execute(
                f"SELECT {BREAKER_COLUMNS} FROM breakers WHERE destination = ?", (destination,)
            ).fetchone()
            current = None if row is None else row_to_breaker(row)
            if current is not None and now < current.open_until:
                return current  # another worker opened it first: its cooldown stands
            reopenings = 0 if current is None else current.reopenings
            opened = opening(destination, reopenings, now, failure_ratio, cooldown_ms)
            conn.execute(PUT_BREAKER, (
                opened.destination, opened.open_until, opened.reopenings, opened.failure_ratio,
                None, None, now,
            ))  # fmt: skip
        return opened

    def take_probe(self, destination: str, worker_id: str, now: int, lease_ms: int) -> bool:
        with self._db.write() as conn:
            taken = conn.execute(
                TAKE_PROBE, (worker_id, now + lease_ms, now, destination, now, now)
            ).rowcount
        return taken == 1

    def close_breaker(self, destination: str) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM breakers WHERE destination = ?", (destination,))
            return cursor.rowcount > 0

    def count_waiting(self, destination: str) -> int:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM notifications"
                " WHERE status IN ('pending', 'scheduled') AND destination = ?",
                (destination,),
            ).fetchone()
        return int(row[0])

    def waiting_for(
        self, destination: str, limit: int, tenant_id: str | None = None
    ) -> list[Notification]:
        mine, params = of_tenant(tenant_id)
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE status IN {WAITING}"
                f" AND destination = ?{mine} ORDER BY available_at LIMIT ?",
                (destination, *params, limit),
            ).fetchall()
        return [row_to_notification(row) for row in rows]

    def breakers(self) -> list[Breaker]:
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {BREAKER_COLUMNS} FROM breakers ORDER BY destination"
            ).fetchall()
        return [row_to_breaker(row) for row in rows]
