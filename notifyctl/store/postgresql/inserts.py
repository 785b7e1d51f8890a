"""The PostgreSQL store's inserts: a batch in one statement, its replays, and its wake-up.

``insert_many`` is one transaction: one INSERT of the whole batch from arrays (``unnest``, in
order, so of two items with one idempotency key the first is stored), a read of the stored
notifications holding the keys that were refused, and one ``NOTIFY`` when something due now was
created. PostgreSQL delivers a NOTIFY only when its transaction commits, so a woken worker
always finds what it was woken for (``wakeups.py`` listens).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg

from notifyctl.errors import StoreError
from notifyctl.flow import destination_of
from notifyctl.model import InsertResult, NewNotification, Notification
from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.schema import COLUMNS, initial_status, row_to_notification, stored

#: the columns an insert writes, in ``insert_row``'s order, with their types
INSERTED = (
    ("id", "text"), ("user_id", "text"), ("channel", "text"), ("dest", "text"),
    ("title", "text"), ("body", "text"), ("data", "text"), ("priority", "smallint"),
    ("status", "text"), ("scheduled_for", "bigint"), ("available_at", "bigint"),
    ("max_attempts", "integer"), ("idempotency_key", "text"), ("request_hash", "text"),
    ("created_at", "bigint"), ("updated_at", "bigint"), ("tenant_id", "text"), ("html", "text"),
    ("message_id", "text"), ("template", "text"), ("category", "text"), ("last_error", "text"),
    ("expires_at", "bigint"), ("destination", "text"), ("traceparent", "text"),
)  # fmt: skip
INSERT_MANY = (
    f"INSERT INTO notifications ({', '.join(name for name, _ in INSERTED)})"
    f" SELECT * FROM unnest({', '.join(f'%s::{kind}[]' for _, kind in INSERTED)})"
    # only a tenant's repeated idempotency key is a replay; a repeated id (a collision) raises
    " ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    " RETURNING id"
)
HOLDERS = (
    f"SELECT {COLUMNS} FROM notifications WHERE (tenant_id, idempotency_key) IN"
    " (SELECT * FROM unnest(%s::text[], %s::text[]))"
)


class InsertRows:
    """A part of ``PostgresStore``: ``insert_many``."""

    _db: Database
    #: the NOTIFY channel of the workers' wake-ups; None: a broker wakes them
    _wakeups: str | None

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        if not items:
            return []
        rows = [insert_row(item, now) for item in items]
        columns = [list(column) for column in zip(*rows, strict=True)]
        with self._db.transaction("insert") as conn:
            created = {row[0] for row in conn.execute(INSERT_MANY, columns).fetchall()}
            replays = replays_of(conn, [item for item in items if item.id not in created])
            due = any(item.id in created and item.scheduled_for <= now for item in items)
            if due and self._wakeups is not None:
                conn.execute("SELECT pg_notify(%s, '')", (self._wakeups,))
        return [replays.get(item.id) or InsertResult(stored(item, now), True) for item in items]


def insert_row(item: NewNotification, now: int) -> tuple[Any, ...]:
    """The values of ``INSERTED`` for a new notification (its data as compact JSON text)."""
    return (
        item.id, item.user_id, item.channel, item.to, item.title, item.body,
        json.dumps(item.data, separators=(",", ":")), int(item.priority),
        initial_status(item, now).value, item.scheduled_for, item.scheduled_for,
        item.max_attempts, item.idempotency_key, item.request_hash, item.created_at, now,
        item.tenant_id, item.html, item.message_id, item.template, item.category,
        item.suppressed, item.expires_at, destination_of(item.channel, item.to),
        item.traceparent,
    )  # fmt: skip


def replays_of(
    conn: psycopg.Connection[Any], refused: Sequence[NewNotification]
) -> dict[str, InsertResult]:
    """The items that were not inserted, each with the notification holding its key."""
    if not refused:
        return {}
    tenants = [item.tenant_id for item in refused]
    keys = [item.idempotency_key for item in refused]
    holders: dict[tuple[str, str | None], Notification] = {}
    for row in conn.execute(HOLDERS, (tenants, keys)).fetchall():
        found = row_to_notification(row)
        holders[found.tenant_id, found.idempotency_key] = found
    results = {}
    for item in refused:
        existing = holders.get((item.tenant_id, item.idempotency_key))
        if existing is None:  # the random id collided: astronomically unlikely, never silent
            raise StoreError(f"notification id {item.id} already exists")
        conflict = existing.request_hash != item.request_hash
        results[item.id] = InsertResult(existing, created=False, conflict=conflict)
    return results
