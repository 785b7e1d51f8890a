"""The workers' rows: who is running, since when, how busy, and the last heartbeat of each.
A part of ``SqliteStore`` of its own, because nothing in it touches a notification."""

from __future__ import annotations

from notifyctl.model import WorkerRecord
from notifyctl.store.sqlite.connection import SharedConnection


class WorkerRows:
    _db: SharedConnection

    def register_worker(self, record: WorkerRecord) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, worker_number, host, pid, started_at,"
                " last_heartbeat, in_flight, processed, cpu_percent, rss_bytes)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (record.id, record.worker_number, record.host, record.pid, record.started_at,
                 record.last_heartbeat, record.in_flight, record.processed, record.cpu_percent,
                 record.rss_bytes),
            )  # fmt: skip

    def heartbeat(
        self, worker_id: str, now: int, in_flight: int, processed: int,
        cpu_percent: float = 0.0, rss_bytes: int = 0,
    ) -> None:  # fmt: skip
        with self._db.write() as conn:
            conn.execute(
                "UPDATE workers SET last_heartbeat = ?, in_flight = ?, processed = ?,"
                " cpu_percent = ?, rss_bytes = ? WHERE id = ?",
                (now, in_flight, processed, cpu_percent, rss_bytes, worker_id),
            )

    def deregister_worker(self, worker_id: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    def prune_workers(self, stale_before: int) -> int:
        with self._db.write() as conn:
            return conn.execute(
                "DELETE FROM workers WHERE last_heartbeat < ?", (stale_before,)
            ).rowcount

    def workers(self) -> list[WorkerRecord]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, worker_number, host, pid, started_at, last_heartbeat, in_flight,"
                " processed, cpu_percent, rss_bytes FROM workers ORDER BY worker_number,"
                " started_at"
            ).fetchall()
        return [WorkerRecord(*row) for row in rows]
