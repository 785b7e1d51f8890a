"""The PostgreSQL store's operator queries: backlog, throughput, dead letters, replay, history.

Plain functions on a connection; ``PostgresStore`` supplies the connection and the clock (``at``,
see ``clock``). Each is one statement, so each reads one consistent snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from notifyctl.model import AttemptRecord, BacklogRow, Priority
from notifyctl.store.sqlite.schema import COLUMNS

UNDELIVERED = "status IN ('pending', 'scheduled')"
#: a condition on a row's tenant (None: any tenant)
OF_TENANT = " AND (%(tenant)s::text IS NULL OR tenant_id = %(tenant)s)"
#: the claim index answers this with one seek per priority
OLDEST_DUE = (
    f"SELECT min(first) FROM (SELECT (SELECT available_at FROM notifications WHERE {UNDELIVERED}"
    f" AND priority = p AND available_at <= {{at}}{OF_TENANT} ORDER BY available_at LIMIT 1)"
    " AS first FROM unnest(%(priorities)s::smallint[]) AS p) AS heads"
)
# A leased row's ``available_at`` is its lease expiry, so "later than now" means live-locked when
# ``locked_by`` is set and scheduled otherwise; "now or earlier" is due (an expired lease too).
BACKLOG = (
    "SELECT priority, channel, count(*) FILTER (WHERE available_at <= {at}),"
    " count(*) FILTER (WHERE available_at > {at} AND locked_by IS NULL),"
    " count(*) FILTER (WHERE available_at > {at} AND locked_by IS NOT NULL)"
    f" FROM notifications WHERE {UNDELIVERED} GROUP BY priority, channel"
    " ORDER BY priority DESC, channel"
)
COUNTS = (
    "SELECT status, count(*), count(*) FILTER (WHERE locked_by IS NOT NULL AND lock_expiry > {at})"
    f" FROM notifications WHERE TRUE{OF_TENANT} GROUP BY status"
)
FINISHED_SINCE = (
    f"SELECT (SELECT count(*) FROM notifications WHERE sent_at >= %(since)s{OF_TENANT}),"
    " (SELECT count(*) FROM notifications WHERE status = 'dead' AND updated_at >= %(since)s"
    f"{OF_TENANT})"
)
DELIVERED_SERIES = (
    "SELECT (sent_at - %(since)s) / %(step)s, count(*) FROM notifications"
    f" WHERE sent_at >= %(since)s AND sent_at < %(until)s{OF_TENANT} GROUP BY 1"
)
DEAD_LETTERS = (
    f"SELECT {COLUMNS} FROM notifications WHERE status = 'dead'"
    " AND (%(since)s::bigint IS NULL OR updated_at >= %(since)s)"
    " AND (%(until)s::bigint IS NULL OR updated_at <= %(until)s)"
    f" AND (%(channel)s::text IS NULL OR channel = %(channel)s){OF_TENANT}"
    " ORDER BY updated_at DESC, id DESC LIMIT %(limit)s"
)
REPLAY_ENTRY = (
    "jsonb_build_array(jsonb_build_object('outcome', 'replayed', 'at', {at}, 'attempt', attempts,"
    " 'worker', NULL, 'started_at', NULL, 'error', last_error))"
)
REPLAY = (
    "UPDATE notifications SET status = 'pending', attempts = 0, available_at = {at},"
    " locked_by = NULL, locked_at = NULL, lock_expiry = NULL, replays = replays + 1,"
    " last_error = 'replayed by an operator; before: ' || coalesce(last_error, 'no error'),"
    f" history = history || {REPLAY_ENTRY}, updated_at = {{at}}, dead_letter_at = NULL,"
    " dead_letter_token = NULL WHERE status = 'dead' AND id = ANY(%(ids)s::text[]) RETURNING id"
)


def oldest_due(
    conn: psycopg.Connection[Any], sql: str, now: int, tenant_id: str | None
) -> int | None:
    params = {"now": now, "tenant": tenant_id, "priorities": [int(p) for p in Priority]}
    row = conn.execute(sql, params).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def backlog(conn: psycopg.Connection[Any], sql: str, now: int) -> list[BacklogRow]:
    return [
        BacklogRow(Priority(priority), channel, int(due), int(scheduled), int(locked))
        for priority, channel, due, scheduled, locked in conn.execute(sql, {"now": now})
    ]


def finished_since(
    conn: psycopg.Connection[Any], since: int, tenant_id: str | None
) -> dict[str, int]:
    row = conn.execute(FINISHED_SINCE, {"since": since, "tenant": tenant_id}).fetchone()
    sent, dead = row if row else (0, 0)
    return {"sent": int(sent), "dead": int(dead)}


def delivered_series(
    conn: psycopg.Connection[Any], since: int, step_ms: int, steps: int, tenant_id: str | None
) -> list[int]:
    """Deliveries per window of ``step_ms`` from ``since``: one range of the sent_at index."""
    params = {"since": since, "step": step_ms, "until": since + step_ms * steps}
    rows = conn.execute(DELIVERED_SERIES, {**params, "tenant": tenant_id}).fetchall()
    series = [0] * steps
    for step, count in rows:
        series[int(step)] = int(count)
    return series


def dead_letters(
    conn: psycopg.Connection[Any],
    since: int | None,
    until: int | None,
    channel: str | None,
    limit: int,
    tenant_id: str | None = None,
) -> list[Any]:
    """An operator's query: one statement whatever the filters (an absent one is NULL)."""
    params = {"since": since, "until": until, "channel": channel, "tenant": tenant_id}
    return conn.execute(DEAD_LETTERS, {**params, "limit": limit}).fetchall()


def replay(conn: psycopg.Connection[Any], sql: str, ids: Sequence[str], now: int) -> list[str]:
    if not ids:
        return []
    rows = conn.execute(sql, {"now": now, "ids": list(ids)}).fetchall()
    replayed = {row[0] for row in rows}
    return [nid for nid in dict.fromkeys(ids) if nid in replayed]


def history(conn: psycopg.Connection[Any], notification_id: str) -> list[AttemptRecord] | None:
    row = conn.execute(
        "SELECT history FROM notifications WHERE id = %s", (notification_id,)
    ).fetchone()
    if row is None:
        return None
    fields = ("outcome", "at", "attempt", "worker", "started_at", "error")
    return [AttemptRecord(**{name: entry[name] for name in fields}) for entry in row[0]]
