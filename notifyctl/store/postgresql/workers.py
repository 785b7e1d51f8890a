"""The workers' rows: who is running, since when, how busy, and the last heartbeat of each.
A part of ``PostgresStore`` of its own, because nothing in it touches a notification."""

from __future__ import annotations

from notifyctl.model import WorkerRecord
from notifyctl.store.postgresql.connection import Database

WORKER_COLUMNS = (
    "id, worker_number, host, pid, started_at, last_heartbeat, in_flight, processed,"
    " cpu_percent, rss_bytes"
)


class WorkerRows:
    _db: Database

    def register_worker(self, record: WorkerRecord) -> None:
        with self._db.connection("register worker") as conn:
            conn.execute(
                f"INSERT INTO workers ({WORKER_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
                " ON CONFLICT (id) DO UPDATE SET worker_number = excluded.worker_number,"
                " host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,"
                " last_heartbeat = excluded.last_heartbeat, in_flight = excluded.in_flight,"
                " processed = excluded.processed, cpu_percent = excluded.cpu_percent,"
                " rss_bytes = excluded.rss_bytes",
                (record.id, record.worker_number, record.host, record.pid, record.started_at,
                 record.last_heartbeat, record.in_flight, record.processed, record.cpu_percent,
                 record.rss_bytes),
            )  # fmt: skip

    def heartbeat(
        self, worker_id: str, now: int, in_flight: int, processed: int,
        cpu_percent: float = 0.0, rss_bytes: int = 0,
    ) -> None:  # fmt: skip
        with self._db.connection("heartbeat") as conn:
            conn.execute(
                "UPDATE workers SET last_heartbeat = %s, in_flight = %s, processed = %s,"
                " cpu_percent = %s, rss_bytes = %s WHERE id = %s",
                (now, in_flight, processed, cpu_percent, rss_bytes, worker_id),
            )

    def deregister_worker(self, worker_id: str) -> None:
        with self._db.connection("deregister worker") as conn:
            conn.execute("DELETE FROM workers WHERE id = %s", (worker_id,))

    def prune_workers(self, stale_before: int) -> int:
        with self._db.cursor("prune workers") as cur:
            cur.execute("DELETE FROM workers WHERE last_heartbeat < %s", (stale_before,))
            return cur.rowcount

    def workers(self) -> list[WorkerRecord]:
        with self._db.connection("workers") as conn:
            rows = conn.execute(
                f"SELECT {WORKER_COLUMNS} FROM workers ORDER BY worker_number, started_at"
            ).fetchall()
        return [WorkerRecord(*row) for row in rows]
