"""The PostgreSQL store's dead-letter outbox: ``dead_letter_at`` is when a dead notification's
dead letter is due to be published (its death, or the end of a publisher's lease); NULL once
the broker confirmed it, or when there is none to publish. A partial index holds only the
marked rows.

A take is one UPDATE of the longest-waiting due rows (``FOR UPDATE SKIP LOCKED``: two
publishers never take the same one) that leases them and marks them with a fresh
``dead_letter_token``; the clear is fenced on that token and on ``lock_version`` (a later death
comes with a new claim), as on MongoDB. The lease is in the caller's clock, as the port says.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from notifyctl.model import DeadLetter
from notifyctl.store.sqlite.schema import COLUMNS, row_to_notification

TAKE = (
    "UPDATE notifications SET dead_letter_at = %(until)s, dead_letter_token = %(token)s"
    " WHERE id IN (SELECT id FROM notifications WHERE dead_letter_at <= %(now)s"
    " ORDER BY dead_letter_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
    f" RETURNING {COLUMNS}"
)
CLEAR = (
    "UPDATE notifications AS n SET dead_letter_at = NULL, dead_letter_token = NULL"
    " FROM unnest(%(ids)s::text[], %(tokens)s::text[], %(versions)s::bigint[])"
    " AS d(id, token, version)"
    " WHERE n.id = d.id AND n.dead_letter_token = d.token AND n.lock_version = d.version"
)


def take(conn: psycopg.Connection[Any], limit: int, now: int, until: int) -> list[DeadLetter]:
    """Lease the longest-waiting due dead letters until ``until``; returned oldest death first."""
    token = uuid.uuid4().hex
    params = {"until": until, "token": token, "now": now, "limit": limit}
    rows = conn.execute(TAKE, params).fetchall()
    notifications = sorted(map(row_to_notification, rows), key=lambda n: (n.updated_at, n.id))
    return [DeadLetter(n, token) for n in notifications]


def clear(conn: psycopg.Connection[Any], letters: Sequence[DeadLetter]) -> int:
    """Remove the marks still held by these leases; how many were removed."""
    params = {
        "ids": [d.id for d in letters],
        "tokens": [d.token for d in letters],
        "versions": [d.notification.lock_version for d in letters],
    }
    cursor = conn.execute(CLEAR, params)
    return cursor.rowcount
