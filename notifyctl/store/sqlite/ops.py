"""The SQLite store's operator queries: backlog, throughput, dead letters, replay, history.

Plain functions on a connection; ``SqliteStore`` supplies the connection, its lock and the
transaction each one needs (see the port's docstrings in ``base.py`` for what each promises).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from notifyctl.model import AttemptRecord, BacklogRow, Priority

UNDELIVERED = "status IN ('pending', 'scheduled')"
#: the claim index (priority, available_at) answers this with one seek per priority
#: a condition on a row's tenant: two parameters, the tenant twice (None: any tenant)
OF_TENANT = " AND (? IS NULL OR tenant_id = ?)"
#: the dead rows by death (``schema.ADDED_INDEXES``), named: without statistics SQLite would
#: rather walk every dead row of the status index and sort them
BY_DEATH = "INDEXED BY notifications_dead"


def of_tenant(tenant_id: str | None) -> tuple[str, tuple[str, ...]]:
    """``OF_TENANT`` where the query must stay index-only for every tenant: no clause at all
    without a tenant (a reference to ``tenant_id`` would make SQLite read each row, not just
    the index: ``counts`` took 0.5 s instead of a few ms at a million rows)."""
    return ("", ()) if tenant_id is None else (" AND tenant_id = ?", (tenant_id,))


OLDEST_DUE = (
    f"SELECT available_at FROM notifications WHERE {UNDELIVERED} AND priority = ?"
    f" AND available_at <= ?{OF_TENANT} ORDER BY available_at LIMIT 1"
)
# A leased row's ``available_at`` is its lease expiry, so "later than now" means live-locked when
# ``locked_by`` is set and scheduled otherwise; "now or earlier" is due (an expired lease too).
BACKLOG = (
    "SELECT priority, channel, sum(available_at <= :now),"
    " sum(available_at > :now AND locked_by IS NULL),"
    " sum(available_at > :now AND locked_by IS NOT NULL)"
    f" FROM notifications WHERE {UNDELIVERED} GROUP BY priority, channel"
    " ORDER BY priority DESC, channel"
)
REPLAY_ENTRY = (
    "json_insert(history, '$[#]', json_object('outcome', 'replayed', 'at', ?, 'attempt', attempts,"
    " 'worker', NULL, 'started_at', NULL, 'error', last_error))"
)
REPLAY = (
    "UPDATE notifications SET status = 'pending', attempts = 0, available_at = ?,"
    " locked_by = NULL, locked_at = NULL, lock_expiry = NULL, replays = replays + 1,"
    " last_error = 'replayed by an operator; before: ' || coalesce(last_error, 'no error'),"
    f" history = {REPLAY_ENTRY}, updated_at = ?, dead_letter_at = NULL"
    " WHERE status = 'dead' AND id IN ({marks}) RETURNING id"
)


def oldest_due(conn: sqlite3.Connection, now: int, tenant_id: str | None = None) -> int | None:
    found = [
        row[0]
        for priority in Priority
        for row in conn.execute(OLDEST_DUE, (int(priority), now, tenant_id, tenant_id)).fetchall()
    ]
    return min(found) if found else None


def backlog(conn: sqlite3.Connection, now: int) -> list[BacklogRow]:
    return [
        BacklogRow(Priority(priority), channel, int(due), int(scheduled), int(locked))
        for priority, channel, due, scheduled, locked in conn.execute(BACKLOG, {"now": now})
    ]


def finished_since(
    conn: sqlite3.Connection, since: int, tenant_id: str | None = None
) -> dict[str, int]:
    # ``sent_at >= ?`` lets SQLite use the partial index on sent_at (it implies NOT NULL).
    mine, params = of_tenant(tenant_id)
    (sent,) = conn.execute(
        f"SELECT count(*) FROM notifications WHERE sent_at >= ?{mine}", (since, *params)
    ).fetchone()
    (dead,) = conn.execute(
        f"SELECT count(*) FROM notifications {BY_DEATH}"
        f" WHERE status = 'dead' AND updated_at >= ?{mine}",
        (since, *params),
    ).fetchone()
    return {"sent": int(sent), "dead": int(dead)}


def delivered_series(
    conn: sqlite3.Connection, since: int, step_ms: int, steps: int, tenant_id: str | None
) -> list[int]:
    mine, params = of_tenant(tenant_id)
    rows = conn.execute(
        "SELECT (sent_at - ?) / ?, count(*) FROM notifications"
        f" WHERE sent_at >= ? AND sent_at < ?{mine} GROUP BY 1",
        (since, step_ms, since, since + step_ms * steps, *params),
    ).fetchall()
    series = [0] * steps
    for step, count in rows:
        series[int(step)] = int(count)
    return series


def dead_letters(
    conn: sqlite3.Connection,
    columns: str,
    since: int | None,
    until: int | None,
    channel: str | None,
    limit: int,
    tenant_id: str | None = None,
) -> list[Any]:
    query = f"SELECT {columns} FROM notifications {BY_DEATH} WHERE status = 'dead'"
    params: list[Any] = []
    for clause, value in (("updated_at >= ?", since), ("updated_at <= ?", until),
                          ("channel = ?", channel), ("tenant_id = ?", tenant_id)):  # fmt: skip
        if value is not None:
            query += f" AND {clause}"
            params.append(value)
    query += " ORDER BY updated_at DESC, id DESC LIMIT ?"
    return conn.execute(query, (*params, limit)).fetchall()


def replay(conn: sqlite3.Connection, ids: Sequence[str], now: int) -> list[str]:
    if not ids:
        return []
    sql = REPLAY.format(marks=",".join("?" * len(ids)))
    return [row[0] for row in conn.execute(sql, (now, now, now, *ids)).fetchall()]


def history(conn: sqlite3.Connection, notification_id: str) -> list[AttemptRecord] | None:
    row = conn.execute(
        "SELECT history FROM notifications WHERE id = ?", (notification_id,)
    ).fetchone()
    if row is None:
        return None
    return [
        AttemptRecord(
            outcome=entry["outcome"],
            at=entry["at"],
            attempt=entry["attempt"],
            worker=entry["worker"],
            started_at=entry["started_at"],
            error=entry["error"],
        )  # fmt: skip
        for entry in json.loads(row[0])
    ]
