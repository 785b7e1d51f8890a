"""``SqliteStore``: the store port on SQLite (see the package's docstring for its features).

Writes run in ``BEGIN IMMEDIATE`` transactions, so the write lock is taken up front and two
processes can never both read-then-claim the same row. The claim walks a partial index on
(priority, available_at) that holds only claimable rows; ``available_at`` is the due time of a
free notification and the lease expiry of a leased one, so "due and free, or lease expired" is a
single range condition and the claim stays an index range scan at a million pending rows.

``SqliteStore`` implements the port (``base.py``) and picks the transaction each call runs in;
the SQL lives beside it (the package's docstring names each module).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from notifyctl.errors import StoreError, StoreUnavailable
from notifyctl.lease import lease_expiry
from notifyctl.model import (
    AttemptRecord,
    BacklogRow,
    Claim,
    DeadLetter,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    Status,
)
from notifyctl.store.sqlite import dead_letters, leases, ops
from notifyctl.store.sqlite.breakers import BreakerRows
from notifyctl.store.sqlite.connection import SharedConnection
from notifyctl.store.sqlite.keys import KeyRows
from notifyctl.store.sqlite.limits import LimitRows
from notifyctl.store.sqlite.ops import OF_TENANT
from notifyctl.store.sqlite.pauses import PauseRows
from notifyctl.store.sqlite.recipients import RecipientRows
from notifyctl.store.sqlite.retention import RetentionRows
from notifyctl.store.sqlite.schema import (
    COLUMNS,
    INSERT,
    new_row,
    row_to_notification,
    stored,
)
from notifyctl.store.sqlite.secrets import SecretRows
from notifyctl.store.sqlite.templates import TemplateRows
from notifyctl.store.sqlite.workers import WorkerRows


class SqliteStore(
    WorkerRows,
    SecretRows,
    KeyRows,
    LimitRows,
    RecipientRows,
    TemplateRows,
    RetentionRows,
    BreakerRows,
    PauseRows,
):
    """One connection per store object, shared by the threads of one process under a lock."""

    def __init__(
        self,
        url: str,
        synchronous: str = "full",
        busy_timeout_s: float = 30.0,
        priority_ageing_ms: int = 0,
        dead_letter_outbox: bool = False,
    ) -> None:
        self.url = url
        self._db = SharedConnection(url, synchronous, busy_timeout_s)
        #: see ``notifyctl.claim_order``
        self._ageing_ms = priority_ageing_ms
        #: mark deaths for the dead-letter publisher (a broker is configured; see base.py)
        self._outbox = dead_letter_outbox

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
        inserted = leases.lease_holders(conn, [item.id for item in items])
        replays: dict[str, InsertResult] = {}
        for item in items:
            if item.id in inserted:
                continue
            row = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE tenant_id = ? AND idempotency_key = ?",
                (item.tenant_id, item.idempotency_key),
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

    def get(self, notification_id: str, tenant_id: str | None = None) -> Notification | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE id = ?{OF_TENANT}",
                (notification_id, tenant_id, tenant_id),
            ).fetchone()
        return row_to_notification(row) if row else None

    def list_notifications(
        self,
        status: str | None,
        user_id: str | None,
        limit: int,
        before_id: str | None,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        # Secondary indexes of a WITHOUT ROWID table end with the primary key, so (status),
        # (user_id) and (tenant_id, id) already sort by id: each filter is an index range scan.
        where, params = ["1 = 1"], []
        for column, value in (("tenant_id", tenant_id), ("status", status), ("user_id", user_id)):
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

    def message_notifications(
        self, message_id: str, tenant_id: str | None = None
    ) -> list[Notification]:
        where = "message_id = ?" if tenant_id is None else "tenant_id = ? AND message_id = ?"
        params = (message_id,) if tenant_id is None else (tenant_id, message_id)
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE {where} ORDER BY id", params
            ).fetchall()
        return [row_to_notification(row) for row in rows]

    def cancel(
        self, notification_id: str, now: int, tenant_id: str | None = None
    ) -> tuple[str, Notification | None]:
        with self._db.write() as conn:
            changed = conn.execute(
                f"UPDATE notifications SET status = 'cancelled', {leases.RELEASE_LEASE},"
                " updated_at = ? WHERE id = ? AND status IN ('pending', 'scheduled', 'paused')"
                f" AND (locked_by IS NULL OR lock_expiry <= ?){OF_TENANT}",
                (now, notification_id, now, tenant_id, tenant_id),
            ).rowcount
            row = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE id = ?{OF_TENANT}",
                (notification_id, tenant_id, tenant_id),
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
        with self._db.read() as conn:  # idle workers polling must not block the API's writes
            if not leases.anything_due(conn, now):
                return []
        with self._db.write() as conn:
            claimable, exhausted = leases.candidates(conn, limit, now, self._ageing_ms)
            if exhausted:
                dead = leases.bury(conn, exhausted, now, self._outbox)
                if buried is not None:
                    buried.extend(dead)
            claims = leases.lease(conn, claimable, worker_id, now, expiry)
        claims.sort(key=lambda c: (-c.notification.priority, c.notification.scheduled_for))
        return claims

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
        if ids and not outcomes:
            with self._db.read() as conn:
                # Most wake-ups name rows a sweep already took: finding that out must not cost
                # the write lock (and stall the API's inserts behind it). Not with outcomes:
                # they take the lock anyway and may make a named id claimable (a retry due now).
                ids = list(leases.claimable_among(conn, ids, now))
        if not ids and not outcomes:
            return FinishReport(), []
        expiry = lease_expiry(now, lease_ms)
        with self._db.write() as conn:
            report = FinishReport()
            if outcomes:
                report = leases.finish(conn, outcomes, now, self._outbox)
            claimable = leases.claimable_among(conn, ids, now) if ids else {}
            claims = leases.lease(conn, claimable, worker_id, now, expiry)
        return report, claims

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        expiry = lease_expiry(now, lease_ms)
        with self._db.write() as conn:
            return leases.renew(conn, claims, now, expiry)

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        with self._db.write() as conn:
            return leases.finish(conn, outcomes, now, self._outbox)

    def counts(self, now: int, tenant_id: str | None = None) -> dict[str, int]:
        mine, params = ops.of_tenant(tenant_id)
        with self._db.snapshot() as conn:
            by_status = dict(
                conn.execute(
                    f"SELECT status, count(*) FROM notifications WHERE 1 = 1{mine} GROUP BY status",
                    params,
                )
            )
            (locked,) = conn.execute(
                "SELECT count(*) FROM notifications WHERE locked_by IS NOT NULL"
                f" AND lock_expiry > ?{mine}",
                (now, *params),
            ).fetchone()
        result = {status.value: int(by_status.get(status.value, 0)) for status in Status}
        result["locked"] = int(locked)
        return result

    # -- operations (queries in ops) -----------------------------------------------------

    def oldest_due(self, now: int, tenant_id: str | None = None) -> int | None:
        with self._db.read() as conn:
            return ops.oldest_due(conn, now, tenant_id)

    def backlog(self, now: int) -> list[BacklogRow]:
        with self._db.snapshot() as conn:
            return ops.backlog(conn, now)

    def finished_since(self, since: int, tenant_id: str | None = None) -> dict[str, int]:
        with self._db.snapshot() as conn:
            return ops.finished_since(conn, since, tenant_id)

    def delivered_series(
        self, since: int, step_ms: int, steps: int, tenant_id: str | None = None
    ) -> list[int]:
        with self._db.read() as conn:
            return ops.delivered_series(conn, since, step_ms, steps, tenant_id)

    def dead_letters(
        self,
        since: int | None,
        until: int | None,
        channel: str | None,
        limit: int,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        with self._db.read() as conn:
            rows = ops.dead_letters(conn, COLUMNS, since, until, channel, limit, tenant_id)
        return [row_to_notification(row) for row in rows]

    def replay(self, ids: Sequence[str], now: int) -> list[str]:
        replayed: list[str] = []
        with self._db.write() as conn:
            for start in range(0, len(ids), leases.MAX_VARIABLES):
                replayed += ops.replay(conn, ids[start : start + leases.MAX_VARIABLES], now)
        return replayed

    def take_dead_letters(self, limit: int, now: int, lease_ms: int) -> list[DeadLetter]:
        with self._db.read() as conn:
            if not dead_letters.anything_due(conn, now):
                return []
        with self._db.write() as conn:
            return dead_letters.take(conn, limit, now, now + lease_ms)

    def clear_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        if not letters:
            return 0
        with self._db.write() as conn:
            return dead_letters.clear(conn, letters)

    def history(self, notification_id: str) -> list[AttemptRecord] | None:
        with self._db.read() as conn:
            return ops.history(conn, notification_id)

    def close(self) -> None:
        self._db.close()
