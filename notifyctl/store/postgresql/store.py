"""``PostgresStore``: the store port on PostgreSQL (see the package's docstring for its features).

Every call is one statement on a pooled connection in autocommit, or one transaction where the
port asks for more than one write to be atomic together (``insert_many``,
``finish_and_claim_ids``, ``put_recipients``). Claims, renewals and outcomes are one statement
per batch (``leases``); every decision about time is the server's clock (``clock``).

``PostgresStore`` implements the port (``base.py``) and picks the connection or transaction each
call runs in; the SQL lives beside it (the package's docstring names each module).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from notifyctl.config import Config
from notifyctl.model import (
    CANCELLABLE,
    AttemptRecord,
    BacklogRow,
    Claim,
    DeadLetter,
    FinishReport,
    Notification,
    Outcome,
    Status,
)
from notifyctl.store import dead_letter_outbox
from notifyctl.store.postgresql import dead_letters, leases, ops
from notifyctl.store.postgresql.breakers import BreakerRows
from notifyctl.store.postgresql.clock import SERVER_NOW, Clock
from notifyctl.store.postgresql.connection import STARTUP_ATTEMPTS, Database
from notifyctl.store.postgresql.inserts import InsertRows
from notifyctl.store.postgresql.keys import KeyRows
from notifyctl.store.postgresql.limits import LimitRows
from notifyctl.store.postgresql.pauses import PauseRows
from notifyctl.store.postgresql.pool import PoolSize, auto_pool_size, pool_size
from notifyctl.store.postgresql.recipients import RecipientRows
from notifyctl.store.postgresql.retention import RetentionRows
from notifyctl.store.postgresql.secrets import SecretRows
from notifyctl.store.postgresql.templates import TemplateRows
from notifyctl.store.postgresql.wakeups import InsertListener
from notifyctl.store.postgresql.workers import WorkerRows
from notifyctl.store.sqlite.schema import COLUMNS, row_to_notification

#: a health check must answer quickly, well before the pool's own checkout timeout
PING_TIMEOUT_S = 2.0
CANCEL = (
    "UPDATE notifications SET status = 'cancelled', locked_by = NULL, locked_at = NULL,"
    " lock_expiry = NULL, updated_at = {at} WHERE id = %(id)s AND status = ANY(%(cancellable)s)"
    f" AND (locked_by IS NULL OR lock_expiry <= {{at}}){ops.OF_TENANT}"
    f" RETURNING {COLUMNS}"
)
GET = f"SELECT {COLUMNS} FROM notifications WHERE id = %(id)s{ops.OF_TENANT}"


class PostgresStore(
    InsertRows,
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
    """One connection pool per store object, shared by the threads of one process."""

    def __init__(
        self,
        url: str,
        size: PoolSize,
        durable: bool = True,
        priority_ageing_ms: int = 0,
        dead_letter_outbox: bool = False,
        clock: Clock = SERVER_NOW,
        startup_attempts: int = STARTUP_ATTEMPTS,
        notify_inserts: bool = True,
    ) -> None:
        """``clock``: the SQL the statements take as "now"; the server's but in tests of
        time-dependent rules (see ``clock``). ``notify_inserts``: send the workers' wake-up
        after an insert (``wakeups.py``; not when a broker wakes them)."""
        self._db = Database(url, size, durable, startup_attempts)
        self.url = self._db.url
        self._at = clock
        #: mark deaths for the dead-letter publisher (a broker is configured; see base.py)
        self._outbox = dead_letter_outbox
        self._sql = leases.ClaimStatements(clock, priority_ageing_ms)
        self._wakeups = self._db.wakeup_channel if notify_inserts else None

    @classmethod
    def from_config(
        cls, config: Config, durable: bool = True, clock: Clock = SERVER_NOW
    ) -> PostgresStore:
        auto = auto_pool_size(config.num_workers, config.num_api_instances)
        return cls(
            config.store_url, pool_size(config.store_url, auto), durable,
            priority_ageing_ms=config.priority_ageing_ms,
            dead_letter_outbox=dead_letter_outbox(config), clock=clock,
            notify_inserts=config.rabbitmq_url == "none",
        )  # fmt: skip

    def timed(self, sql: str) -> str:
        """``sql`` with this store's clock for ``{at}``."""
        return sql.replace("{at}", self._at)

    def pool_stats(self) -> dict[str, int]:
        return self._db.pool_stats()

    def ping(self) -> None:
        with self._db.connection("ping", timeout=PING_TIMEOUT_S) as conn:
            conn.execute("SELECT 1").fetchone()

    def get(self, notification_id: str, tenant_id: str | None = None) -> Notification | None:
        with self._db.connection("get") as conn:
            row = conn.execute(GET, {"id": notification_id, "tenant": tenant_id}).fetchone()
        return row_to_notification(row) if row else None

    def list_notifications(
        self,
        status: str | None,
        user_id: str | None,
        limit: int,
        before_id: str | None,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        where, params = ["TRUE"], []
        for column, value in (("tenant_id", tenant_id), ("status", status), ("user_id", user_id)):
            if value is not None:
                where.append(f"{column} = %s")
                params.append(value)
        if before_id is not None:
            where.append("id < %s")
            params.append(before_id)
        with self._db.connection("list") as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE {' AND '.join(where)}"
                " ORDER BY id DESC LIMIT %s",
                (*params, limit),
            ).fetchall()
        return [row_to_notification(row) for row in rows]

    def message_notifications(
        self, message_id: str, tenant_id: str | None = None
    ) -> list[Notification]:
        with self._db.connection("message") as conn:
            rows = conn.execute(
                f"SELECT {COLUMNS} FROM notifications WHERE message_id = %(message)s"
                f"{ops.OF_TENANT} ORDER BY id",
                {"message": message_id, "tenant": tenant_id},
            ).fetchall()
        return [row_to_notification(row) for row in rows]

    def cancel(
        self, notification_id: str, now: int, tenant_id: str | None = None
    ) -> tuple[str, Notification | None]:
        params: dict[str, object] = {"id": notification_id, "tenant": tenant_id, "now": now}
        params["cancellable"] = list(CANCELLABLE)
        with self._db.connection("cancel") as conn:
            row = conn.execute(self.timed(CANCEL), params).fetchone()
            if row is not None:
                return "cancelled", row_to_notification(row)
            row = conn.execute(GET, params).fetchone()
        if row is None:
            return "not_found", None
        return "conflict", row_to_notification(row)

    def claim_batch(
        self,
        worker_id: str,
        limit: int,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        if limit <= 0:
            return []
        params = {**self._sql.band_params, **self._lease_params(worker_id, now, lease_ms)}
        with self._db.connection("claim") as conn:
            return leases.run_claim(conn, self._sql.claim, params | {"limit": limit}, worker_id,
                                    buried)  # fmt: skip

    def _lease_params(self, worker_id: str, now: int, lease_ms: int) -> dict[str, object]:
        return {"worker": worker_id, "now": now, "lease": lease_ms, "outbox": self._outbox}

    def claim_ids(
        self,
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        if not ids:
            return []
        params = {**self._lease_params(worker_id, now, lease_ms), "ids": list(dict.fromkeys(ids))}
        with self._db.connection("claim") as conn:
            return leases.run_claim(conn, self._sql.claim_ids, params, worker_id, buried)

    def finish_and_claim_ids(
        self,
        outcomes: Sequence[Outcome],
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> tuple[FinishReport, list[Claim]]:
        """One transaction for both: one commit."""
        if not outcomes:
            return FinishReport(), self.claim_ids(ids, worker_id, now, lease_ms, buried)
        params = {**self._lease_params(worker_id, now, lease_ms), "ids": list(dict.fromkeys(ids))}
        with self._db.transaction("finish and claim") as conn:
            report = leases.finish(conn, self._sql.finish, outcomes, now, self._outbox)
            claims = []
            if ids:
                claims = leases.run_claim(conn, self._sql.claim_ids, params, worker_id, buried)
        return report, claims

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        with self._db.connection("renew") as conn:
            return leases.renew(conn, self._sql.renew, claims, now, lease_ms)

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        with self._db.connection("finish") as conn:
            return leases.finish(conn, self._sql.finish, outcomes, now, self._outbox)

    def counts(self, now: int, tenant_id: str | None = None) -> dict[str, int]:
        with self._db.connection("counts") as conn:
            rows = conn.execute(
                self.timed(ops.COUNTS),
                {"now": now, "tenant": tenant_id},
            ).fetchall()
        by_status = {status: int(count) for status, count, _ in rows}
        result = {status.value: by_status.get(status.value, 0) for status in Status}
        result["locked"] = sum(int(locked) for _, _, locked in rows)
        return result

    # -- operations (queries in ops) -----------------------------------------------------

    def oldest_due(self, now: int, tenant_id: str | None = None) -> int | None:
        with self._db.connection("oldest due") as conn:
            return ops.oldest_due(conn, self.timed(ops.OLDEST_DUE), now, tenant_id)

    def backlog(self, now: int) -> list[BacklogRow]:
        with self._db.connection("backlog") as conn:
            return ops.backlog(conn, self.timed(ops.BACKLOG), now)

    def finished_since(self, since: int, tenant_id: str | None = None) -> dict[str, int]:
        with self._db.connection("finished since") as conn:
            return ops.finished_since(conn, since, tenant_id)

    def delivered_series(
        self, since: int, step_ms: int, steps: int, tenant_id: str | None = None
    ) -> list[int]:
        with self._db.connection("delivered series") as conn:
            return ops.delivered_series(conn, since, step_ms, steps, tenant_id)

    def dead_letters(
        self,
        since: int | None,
        until: int | None,
        channel: str | None,
        limit: int,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        with self._db.connection("dead letters") as conn:
            rows = ops.dead_letters(conn, since, until, channel, limit, tenant_id)
        return [row_to_notification(row) for row in rows]

    def replay(self, ids: Sequence[str], now: int) -> list[str]:
        with self._db.connection("replay") as conn:
            return ops.replay(conn, self.timed(ops.REPLAY), ids, now)

    def take_dead_letters(self, limit: int, now: int, lease_ms: int) -> list[DeadLetter]:
        with self._db.connection("take dead letters") as conn:
            return dead_letters.take(conn, limit, now, now + lease_ms)

    def clear_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        if not letters:
            return 0
        with self._db.connection("clear dead letters") as conn:
            return dead_letters.clear(conn, letters)

    def history(self, notification_id: str) -> list[AttemptRecord] | None:
        with self._db.connection("history") as conn:
            return ops.history(conn, notification_id)

    def listen_for_inserts(self, on_insert: Callable[[], None]) -> InsertListener:
        """Call ``on_insert`` (on a thread of its own) whenever an insert may have stored
        something due now; ``close`` the listener at the end (``wakeups.py``)."""
        channel = self._db.wakeup_channel
        return InsertListener(self._db.conninfo, channel, self.url, on_insert).start()

    def close(self) -> None:
        self._db.close()
