"""The API keys' rows (the ``api_keys`` table of ``schema.TENANTS``). A part of
``PostgresStore`` of its own, because nothing in it touches a notification."""

from __future__ import annotations

from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.keys import KEY_COLUMNS, row_to_key
from notifyctl.tenants import KeyRecord, scopes_text


class KeyRows:
    _db: Database

    def create_key(self, record: KeyRecord) -> None:
        # a plain INSERT: a repeated id or digest violates its unique constraint and raises
        with self._db.connection("create key") as conn:
            conn.execute(
                f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (record.id, record.tenant, record.name, scopes_text(record.scopes),
                 record.digest, record.created_at, record.last_used_at, record.expires_at,
                 record.revoked_at),
            )  # fmt: skip

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        with self._db.connection("key by digest") as conn:
            row = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE digest = %s", (digest,)
            ).fetchone()
        return row_to_key(row) if row else None

    def list_keys(self, tenant: str | None) -> list[KeyRecord]:
        with self._db.connection("list keys") as conn:
            rows = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE %(tenant)s::text IS NULL"
                " OR tenant_id = %(tenant)s ORDER BY created_at, id",
                {"tenant": tenant},
            ).fetchall()
        return [row_to_key(row) for row in rows]

    def has_keys(self) -> bool:
        with self._db.connection("has keys") as conn:
            return conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def revoke_key(self, key_id: str, now: int) -> bool:
        with self._db.connection("revoke key") as conn:
            row = conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s"
                " RETURNING id",
                (now, key_id),
            ).fetchone()
        return row is not None

    def touch_key(self, key_id: str, now: int) -> None:
        with self._db.connection("touch key") as conn:
            conn.execute(
                "UPDATE api_keys SET last_used_at = %s WHERE id = %s"
                " AND (last_used_at IS NULL OR last_used_at < %s)",
                (now, key_id, now),
            )
