"""Each tenant's webhook signing secrets: at most ``ACTIVE_SECRETS``, newest first. A part of
``SqliteStore`` of its own, because nothing in it touches a notification. The secrets are kept as
given (the workers sign with them), so only the store's own access control protects them."""

from __future__ import annotations

import sqlite3

from notifyctl.store.secrets import ACTIVE_SECRETS
from notifyctl.store.sqlite.connection import SharedConnection


class SecretRows:
    _db: SharedConnection

    def webhook_secrets(self, tenant_id: str) -> list[str]:
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT secret FROM webhook_secrets WHERE tenant_id = ?"
                " ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (tenant_id, ACTIVE_SECRETS),
            ).fetchall()
        return [row[0] for row in rows]

    def add_webhook_secret(self, tenant_id: str, secret: str, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO webhook_secrets (tenant_id, created_at, secret) VALUES (?, ?, ?)",
                (tenant_id, now, secret),
            )
            keep_newest(conn, tenant_id, ACTIVE_SECRETS)

    def retire_webhook_secrets(self, tenant_id: str) -> int:
        with self._db.write() as conn:
            return keep_newest(conn, tenant_id, 1)


def keep_newest(conn: sqlite3.Connection, tenant_id: str, keep: int) -> int:
    """Delete all but the ``keep`` newest secrets of the tenant; how many went."""
    return int(
        conn.execute(
            "DELETE FROM webhook_secrets WHERE tenant_id = ? AND rowid NOT IN (SELECT rowid FROM"
            " webhook_secrets WHERE tenant_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?)",
            (tenant_id, tenant_id, keep),
        ).rowcount
    )
