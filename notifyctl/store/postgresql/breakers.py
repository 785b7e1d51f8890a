"""Each destination's circuit breaker, shared by every worker (the ``breakers`` table of
``schema.TENANTS``; the port: ``store/breakers.py``). A part of ``PostgresStore`` of its own,
because nothing in it touches a notification.

``open_breaker`` reads the row ``FOR UPDATE`` and writes its successor in one transaction; a
closed circuit has no row to lock, so the transaction first takes an advisory lock on the
destination: of several workers opening a circuit at once exactly one opens it and the others
find it open. ``take_probe`` is one conditional UPDATE, so exactly one worker gets the probe.
"""

from __future__ import annotations

from notifyctl.flow import Breaker, opening
from notifyctl.model import Notification
from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.breakers import BREAKER_COLUMNS, WAITING, row_to_breaker
from notifyctl.store.sqlite.schema import COLUMNS, row_to_notification

PUT_BREAKER = (
    f"INSERT INTO breakers ({BREAKER_COLUMNS}) VALUES (%s, %s, %s, %s, NULL, NULL, %s)"
    " ON CONFLICT (destination) DO UPDATE SET open_until = excluded.open_until,"
    " reopenings = excluded.reopenings, failure_ratio = excluded.failure_ratio,"
    " probe_by = NULL, probe_until = NULL, updated_at = excluded.updated_at"
)
#: half-open (its cooldown is over) and its probe free or its holder's lease passed
TAKE_PROBE = (
    "UPDATE breakers SET probe_by = %(worker)s, probe_until = %(until)s, updated_at = %(now)s"
    " WHERE destination = %(destination)s AND open_until <= %(now)s"
    " AND (probe_until IS NULL OR probe_until <= %(now)s)"
)


class BreakerRows:
    """A part of ``PostgresStore``: the ``BreakerStore`` port (see ``store/breakers.py``)."""

    _db: Database

    def open_breaker(
        self, destination: str, now: int, failure_ratio: float, cooldown_ms: list[int]
    ) -> Breaker:
        with self._db.transaction("open breaker") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (destination,))
            row = conn.execute(
                f"SELECT {BREAKER_COLUMNS} FROM breakers WHERE destination = %s FOR UPDATE",
                (destination,),
            ).fetchone()
            current = None if row is None else row_to_breaker(row)
            if current is not None and now < current.open_until:
                return current  # another worker opened it first: its cooldown stands
            reopenings = 0 if current is None else current.reopenings
            opened = opening(destination, reopenings, now, failure_ratio, cooldown_ms)
            conn.execute(PUT_BREAKER, (
                opened.destination, opened.open_until, opened.reopenings, opened.failure_ratio,
                now,
            ))  # fmt: skip
        return opened

    def take_probe(self, destination: str, worker_id: str, now: int, lease_ms: int) -> bool:
        params = {"worker": worker_id, "until": now + lease_ms, "now": now}
        with self._db.cursor("take probe") as cur:
            cur.execute(TAKE_PROBE, {**params, "destination": destination})
            return cur.rowcount == 1

    def close_breaker(self, destination: str) -> bool:
        with self._db.cursor("close breaker") as cur:
            cur.execute("DELETE FROM breakers WHERE destination = %s", (destination,))
            return cur.rowcount > 0

    def count_waiting(self, destination: str) -> int:
        with self._db.connection("count waiting") as conn:
            row = conn.execute(
                "SELECT count(*) FROM notifications"
                " WHERE status IN ('pending', 'scheduled') AND destination = %s",
                (destination,),
            ).fetchone()
        return int(row[0]) if row else 0

    def waiting_for(
        self, destination: str, limit: int, tenant_id: str | None = None
    ) -> list[Notification]:
        mine = "" if tenant_id is None else " AND tenant_id = %(tenant)s"
        with self._db.connection("waiting for") as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE status IN {WAITING}"
                f" AND destination = %(destination)s{mine} ORDER BY available_at LIMIT %(limit)s",
                {"destination": destination, "tenant": tenant_id, "limit": limit},
            ).fetchall()
        return [row_to_notification(row) for row in rows]

    def breakers(self) -> list[Breaker]:
        with self._db.connection("breakers") as conn:
            rows = conn.execute(
                f"SELECT {BREAKER_COLUMNS} FROM breakers ORDER BY destination"
            ).fetchall()
        return [row_to_breaker(row) for row in rows]
