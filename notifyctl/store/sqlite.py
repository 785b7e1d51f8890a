"""The embedded store: SQLite in WAL mode, safe for many processes on one host.

Writes run in ``BEGIN IMMEDIATE`` transactions, so the write lock is taken up front and two
processes can never both read-then-claim the same row. The claim walks a partial index on
(priority, available_at) that holds only claimable rows; ``available_at`` is the due time of a
free notification and the lease expiry of a leased one, so "due and free, or lease expired" is a
single range condition and the claim stays an index range scan at a million pending rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from notifyctl.errors import StoreError, StoreUnavailable
from notifyctl.lease import lease_expiry
from notifyctl.model import (
    AttemptRecord,
    BacklogRow,
    Claim,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    Priority,
    Status,
    Verdict,
    WorkerRecord,
)
from notifyctl.store import sqlite_ops as ops
from notifyctl.store.sqlite_connection import SharedConnection, begin_immediate, path_of
from notifyctl.store.sqlite_schema import (
    COLUMNS,
    INSERT,
    new_row,
    row_to_notification,
    stored,
)

# Other code and the tests import these from here, where they were defined before the split.
__all__ = ["CLAIM_CANDIDATES", "SqliteStore", "begin_immediate", "path_of", "stored"]

CLAIM_CANDIDATES = (
    "SELECT id, attempts, max_attempts, locked_by IS NOT NULL FROM notifications"
    " WHERE status IN ('pending', 'scheduled') AND priority = ? AND available_at <= ?"
    " ORDER BY available_at LIMIT ?"
)
FENCE = " WHERE id = ? AND locked_by = ? AND lock_version = ?"
NAMED_FENCE = " WHERE id = :id AND locked_by = :worker AND lock_version = :version"
RELEASE_LEASE = "locked_by = NULL, locked_at = NULL, lock_expiry = NULL"


def history_entry(outcome: str, at: str, error: str) -> str:
    """SQL appending one entry about the attempt the row's current lease stands for."""
    return (
        f"history = json_insert(history, '$[#]', json_object('outcome', {outcome}, 'at', {at},"
        f" 'attempt', attempts, 'worker', locked_by, 'started_at', locked_at, 'error', {error}))"
    )


EXPIRED_ENTRY = history_entry("'lease_expired'", "lock_expiry", "NULL")
SENT_ENTRY = history_entry("'sent'", ":now", "NULL")
RETRY_ENTRY = history_entry("'retry'", ":now", ":error")
DEAD_ENTRY = history_entry("'dead'", ":now", ":error")
FINISH_SQL = {
    Verdict.SENT: f"UPDATE notifications SET status = 'sent', sent_at = :now, {SENT_ENTRY},"
    f" {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    Verdict.RETRY: "UPDATE notifications SET status = CASE WHEN :retry_at > :now THEN 'scheduled'"
    f" ELSE 'pending' END, available_at = :retry_at, last_error = :error, {RETRY_ENTRY},"
    f" {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    Verdict.DEAD: f"UPDATE notifications SET status = 'dead', last_error = :error, {DEAD_ENTRY},"
    f" {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    Verdict.RELEASE: "UPDATE notifications SET status = 'pending', available_at = :now,"
    f" attempts = attempts - 1, {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
}


#: stays well under SQLite's limit on bound parameters per statement
MAX_VARIABLES = 5_000


def fence_of(claim: Claim) -> tuple[str | None, int]:
    return claim.worker_id, claim.lock_version


def finish_params(outcome: Outcome, now: int) -> dict[str, Any]:
    claim = outcome.claim
    return {
        "now": now, "id": claim.id, "worker": claim.worker_id, "version": claim.lock_version,
        "error": outcome.error,
        "retry_at": outcome.retry_at if outcome.retry_at is not None else now,
    }  # fmt: skip


class SqliteStore:
    """One connection per store object, shared by the threads of one process under a lock."""

    def __init__(self, url: str, synchronous: str = "full", busy_timeout_s: float = 30.0) -> None:
        self.url = url
        self._db = SharedConnection(url, synchronous, busy_timeout_s)

    def pool_stats(self) -> dict[str, int]:
        return self._db.pool_stats()

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        rows = [new_row(item, now) for item in items]  # built before the write lock is taken
        with self._db.write() as conn:
            before = conn.total_changes
            conn.executemany(INSERT, rows)
            replays = {}
            if conn.total_changes - before != len(rows):  # some idempotency keys existed
                replays = self._replays(conn, items)
        return [replays.get(item.id) or InsertResult(stored(item, now), True) for item in items]

    def _replays(
        self, conn: sqlite3.Connection, items: Sequence[NewNotification]
    ) -> dict[str, InsertResult]:
        """The items that were not inserted, each with the notification holding its key."""
        inserted = self._lease_holders(conn, [item.id for item in items])
        replays: dict[str, InsertResult] = {}
        for item in items:
            if item.id in inserted:
                continue
            row = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE idempotency_key = ?",
                (item.idempotency_key,),
            ).fetchone()
            if row is None:  # the random id collided: astronomically unlikely, never silent
                raise StoreError(f"notification id {item.id} already exists")
            existing = row_to_notification(row)
            conflict = existing.request_hash != item.request_hash
            replays[item.id] = InsertResult(existing, created=False, conflict=conflict)
        return replays

    def ping(self) -> None:
        try:
            with self._db.read() as conn:
                conn.execute("SELECT 1").fetchone()
        except StoreError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, notification_id: str) -> Notification | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE id = ?", (notification_id,)
            ).fetchone()
        return row_to_notification(row) if row else None

    def list_notifications(
        self, status: str | None, user_id: str | None, limit: int, before_id: str | None
    ) -> list[Notification]:
        # Secondary indexes of a WITHOUT ROWID table end with the primary key, so both
        # (status) and (user_id) already sort by id: each filter is an index range scan.
        where, params = ["1 = 1"], []
        for column, value in (("status", status), ("user_id", user_id)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if before_id is not None:
            where.append("id < ?")
            params.append(before_id)
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
                " ORDER BY id DESC LIMIT ?",
                (*params, limit),
            ).fetchall()
        return [row_to_notification(row) for row in rows]

    def cancel(self, notification_id: str, now: int) -> tuple[str, Notification | None]:
        with self._db.write() as conn:
            changed = conn.execute(
                f"UPDATE notifications SET status = 'cancelled', {RELEASE_LEASE}, updated_at = ?"
                " WHERE id = ? AND status IN ('pending', 'scheduled')"
                " AND (locked_by IS NULL OR lock_expiry <= ?)",
                (now, notification_id, now),
            ).rowcount
            row = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE id = ?", (notification_id,)
            ).fetchone()
        if row is None:
            return "not_found", None
        return ("cancelled" if changed else "conflict"), row_to_notification(row)

    def claim_batch(
        self,
        worker_id: str,
        limit: int,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        expiry = lease_expiry(now, lease_ms)
        if not self._anything_due(now):
            return []
        with self._db.write() as conn:
            claimable, exhausted = self._candidates(conn, limit, now)
            if exhausted:
                dead = self._bury(conn, exhausted, now)
                if buried is not None:
                    buried.extend(dead)
            claims = self._lease(conn, claimable, worker_id, now, expiry)
        claims.sort(key=lambda c: (-c.notification.priority, c.notification.scheduled_for))
        return claims

    @staticmethod
    def _bury(conn: sqlite3.Connection, ids: Sequence[str], now: int) -> list[Notification]:
        """Make due notifications out of attempts ``dead`` (their last worker died)."""
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "UPDATE notifications SET status = 'dead', updated_at = ?, last_error ="
            " 'lease expired on the final attempt: its worker stopped mid-delivery',"
            f" {EXPIRED_ENTRY}, {RELEASE_LEASE} WHERE id IN ({marks}) RETURNING {COLUMNS}",
            (now, *ids),
        ).fetchall()
        return [row_to_notification(row) for row in rows]

    def claim_ids(
        self,
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        """Exhausted ids are left to ``claim_batch``'s burial (the sweep finds them)."""
        if not ids:
            return []
        return self.finish_and_claim_ids((), ids, worker_id, now, lease_ms)[1]

    def finish_and_claim_ids(
        self,
        outcomes: Sequence[Outcome],
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> tuple[FinishReport, list[Claim]]:
        """One write transaction for both: one wait for the write lock, one commit."""
        if ids:
            with self._db.read() as conn:
                # Most wake-ups name rows a sweep already took: finding that out must not cost
                # the write lock (and stall the API's inserts behind it).
                ids = list(self._claimable(conn, ids, now))
        if not ids and not outcomes:
            return FinishReport(), []
        expiry = lease_expiry(now, lease_ms)
        with self._db.write() as conn:
            report = self._finish_in(conn, outcomes, now) if outcomes else FinishReport()
            claimable = self._claimable(conn, ids, now) if ids else {}
            claims = self._lease(conn, claimable, worker_id, now, expiry)
        return report, claims

    @staticmethod
    def _claimable(conn: sqlite3.Connection, ids: Sequence[str], now: int) -> dict[str, int]:
        """Which of ``ids`` are due and unleased (or leased expired: mapped to 1)."""
        marks = ",".join("?" * len(ids))
        return dict(
            conn.execute(
                f"SELECT id, locked_by IS NOT NULL FROM notifications WHERE id IN ({marks})"
                " AND status IN ('pending', 'scheduled') AND available_at <= ?"
                " AND attempts < max_attempts",
                (*ids, now),
            ).fetchall()
        )

    @staticmethod
    def _lease(
        conn: sqlite3.Connection, ids: dict[str, int], worker_id: str, now: int, expiry: int
    ) -> list[Claim]:
        """Lease rows already known to be claimable, inside the caller's write transaction.

        ``ids`` maps each id to whether it still carries an expired lease (a takeover).
        """
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        rows = conn.execute(
            "UPDATE notifications SET status = 'pending', locked_by = ?, locked_at = ?,"
            " lock_expiry = ?, available_at = ?, lock_version = lock_version + 1,"
            f" attempts = attempts + 1, updated_at = ?, history = CASE WHEN locked_by IS NULL"
            f" THEN history ELSE {EXPIRED_ENTRY.removeprefix('history = ')} END"
            f" WHERE id IN ({marks}) RETURNING {COLUMNS}",
            (worker_id, now, expiry, expiry, now, *ids),
        ).fetchall()
        claims = []
        for row in rows:
            n = row_to_notification(row)
            claims.append(Claim(n, worker_id, n.lock_version, expiry, bool(ids[n.id])))
        return claims

    def _anything_due(self, now: int) -> bool:
        """A read that needs no write lock: idle workers polling must not block the API."""
        with self._db.read() as conn:
            return any(
                conn.execute(CLAIM_CANDIDATES, (int(priority), now, 1)).fetchone()
                for priority in (Priority.HIGH, Priority.NORMAL, Priority.LOW)
            )

    @staticmethod
    def _candidates(
        conn: sqlite3.Connection, limit: int, now: int
    ) -> tuple[dict[str, int], list[str]]:
        """Claimable ids (each with whether it carries an expired lease) and exhausted ids."""
        claimable: dict[str, int] = {}
        exhausted: list[str] = []
        for priority in (Priority.HIGH, Priority.NORMAL, Priority.LOW):
            wanted = limit - len(claimable)
            if wanted <= 0:
                break
            for nid, attempts, max_attempts, expired_lease in conn.execute(
                CLAIM_CANDIDATES, (int(priority), now, wanted)
            ):
                if attempts < max_attempts:
                    claimable[nid] = expired_lease
                else:
                    exhausted.append(nid)
        return claimable, exhausted

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        expiry = lease_expiry(now, lease_ms)
        lost: list[str] = []
        with self._db.write() as conn:
            for claim in claims:
                changed = conn.execute(
                    "UPDATE notifications SET lock_expiry = ?, available_at = ?, updated_at = ?"
                    + FENCE,
                    (expiry, expiry, now, claim.id, claim.worker_id, claim.lock_version),
                ).rowcount
                if not changed:
                    lost.append(claim.id)
        return lost

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        with self._db.write() as conn:
            return self._finish_in(conn, outcomes, now)

    def _finish_in(
        self, conn: sqlite3.Connection, outcomes: Sequence[Outcome], now: int
    ) -> FinishReport:
        by_verdict: dict[Verdict, list[dict[str, Any]]] = {}
        stale: list[str] = []
        holders = self._lease_holders(conn, [o.claim.id for o in outcomes])
        for outcome in outcomes:  # in order, as if each were written on its own
            if holders.get(outcome.claim.id) != fence_of(outcome.claim):
                stale.append(outcome.claim.id)
                continue
            holders[outcome.claim.id] = (None, outcome.claim.lock_version)  # lease cleared
            by_verdict.setdefault(outcome.verdict, []).append(finish_params(outcome, now))
        for verdict, params in by_verdict.items():
            # The SQL is fenced too: the check above only spares us a statement per row.
            conn.executemany(FINISH_SQL[verdict], params)
        return FinishReport(applied=len(outcomes) - len(stale), stale=tuple(stale))

    @staticmethod
    def _lease_holders(
        conn: sqlite3.Connection, ids: Sequence[str]
    ) -> dict[str, tuple[str | None, int]]:
        holders: dict[str, tuple[str | None, int]] = {}
        for start in range(0, len(ids), MAX_VARIABLES):
            chunk = ids[start : start + MAX_VARIABLES]
            marks = ",".join("?" * len(chunk))
            for nid, locked_by, version in conn.execute(
                f"SELECT id, locked_by, lock_version FROM notifications WHERE id IN ({marks})",
                chunk,
            ):
                holders[nid] = (locked_by, version)
        return holders

    def counts(self, now: int) -> dict[str, int]:
        with self._db.snapshot() as conn:
            by_status = dict(
                conn.execute("SELECT status, count(*) FROM notifications GROUP BY status")
            )
            (locked,) = conn.execute(
                "SELECT count(*) FROM notifications WHERE locked_by IS NOT NULL"
                " AND lock_expiry > ?",
                (now,),
            ).fetchone()
        result = {status.value: int(by_status.get(status.value, 0)) for status in Status}
        result["locked"] = int(locked)
        return result

    def register_worker(self, record: WorkerRecord) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO workers (id, worker_number, host, pid, started_at,"
                " last_heartbeat, in_flight, processed) VALUES (?,?,?,?,?,?,?,?)",
                (record.id, record.worker_number, record.host, record.pid, record.started_at,
                 record.last_heartbeat, record.in_flight, record.processed),
            )  # fmt: skip

    def heartbeat(self, worker_id: str, now: int, in_flight: int, processed: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE workers SET last_heartbeat = ?, in_flight = ?, processed = ? WHERE id = ?",
                (now, in_flight, processed, worker_id),
            )

    def deregister_worker(self, worker_id: str) -> None:
        with self._db.write() as conn:
            conn.execute("DELETE FROM workers WHERE id = ?", (worker_id,))

    def workers(self) -> list[WorkerRecord]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT id, worker_number, host, pid, started_at, last_heartbeat, in_flight,"
                " processed FROM workers ORDER BY worker_number, started_at"
            ).fetchall()
        return [WorkerRecord(*row) for row in rows]

    # -- operations (queries in sqlite_ops) -----------------------------------------------------

    def oldest_due(self, now: int) -> int | None:
        with self._db.read() as conn:
            return ops.oldest_due(conn, now)

    def backlog(self, now: int) -> list[BacklogRow]:
        with self._db.snapshot() as conn:
            return ops.backlog(conn, now)

    def finished_since(self, since: int) -> dict[str, int]:
        with self._db.snapshot() as conn:
            return ops.finished_since(conn, since)

    def dead_letters(
        self, since: int | None, until: int | None, channel: str | None, limit: int
    ) -> list[Notification]:
        with self._db.read() as conn:
            rows = ops.dead_letters(conn, COLUMNS, since, until, channel, limit)
        return [row_to_notification(row) for row in rows]

    def replay(self, ids: Sequence[str], now: int) -> list[str]:
        replayed: list[str] = []
        with self._db.write() as conn:
            for start in range(0, len(ids), MAX_VARIABLES):
                replayed += ops.replay(conn, ids[start : start + MAX_VARIABLES], now)
        return replayed

    def history(self, notification_id: str) -> list[AttemptRecord] | None:
        with self._db.read() as conn:
            return ops.history(conn, notification_id)

    def close(self) -> None:
        self._db.close()
