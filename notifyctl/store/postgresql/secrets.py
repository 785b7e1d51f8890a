"""Each tenant's webhook signing secrets: at most ``ACTIVE_SECRETS``, newest first. A part of
``PostgresStore`` of its own, because nothing in it touches a notification. ``serial`` orders
secrets added in the same millisecond, as SQLite's rowid does."""

from __future__ import annotations

from typing import Any

import psycopg

from notifyctl.store.postgresql.connection import Database
from notifyctl.store.secrets import ACTIVE_SECRETS

NEWEST_FIRST = "ORDER BY created_at DESC, serial DESC"


class SecretRows:
    _db: Database

    def webhook_secrets(self, tenant_id: str) -> list[str]:
        with self._db.connection("webhook secrets") as conn:
            rows = conn.execute(
                f"SELECT secret FROM webhook_secrets WHERE tenant_id = %s {NEWEST_FIRST} LIMIT %s",
                (tenant_id, ACTIVE_SECRETS),
            ).fetchall()
        return [row[0] for row in rows]

    def add_webhook_secret(self, tenant_id: str, secret: str, now: int) -> None:
        with self._db.transaction("add webhook secret") as conn:
            # one writer per tenant at a time, so two adds cannot both keep their own "newest"
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (tenant_id,))
            conn.execute(
                "INSERT INTO webhook_secrets (tenant_id, created_at, secret) VALUES (%s, %s, %s)",
                (tenant_id, now, secret),
            )
            keep_newest(conn, tenant_id, ACTIVE_SECRETS)

    def retire_webhook_secrets(self, tenant_id: str) -> int:
        with self._db.transaction("retire webhook secrets") as conn:
            return keep_newest(conn, tenant_id, 1)


def keep_newest(conn: psycopg.Connection[Any], tenant_id: str, keep: int) -> int:
    """Delete all but the ``keep`` newest secrets of the tenant; how many went."""
    cursor = conn.execute(
        "DELETE FROM webhook_secrets WHERE tenant_id = %s AND serial NOT IN (SELECT serial FROM"
        f" webhook_secrets WHERE tenant_id = %s {NEWEST_FIRST} LIMIT %s)",
        (tenant_id, tenant_id, keep),
    )
    return cursor.rowcount
