"""The API keys' rows (the ``api_keys`` table of ``schema.TENANT_SCHEMA``). A part of
``SqliteStore`` of its own, because nothing in it touches a notification."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifyctl.store.sqlite.connection import SharedConnection
from notifyctl.tenants import KeyRecord, Scope, scopes_text

KEY_COLUMNS = (
    "id, tenant_id, name, scopes, digest, created_at, last_used_at, expires_at, revoked_at"
)


def scopes_of(text: str) -> frozenset[Scope]:
    """``tenants.scopes_text`` read back; a key may hold no scope (it opens no endpoint)."""
    return frozenset(Scope(name) for name in text.split(",") if name)


def row_to_key(row: Sequence[Any]) -> KeyRecord:
    return KeyRecord(
        id=row[0], tenant=row[1], name=row[2], scopes=scopes_of(row[3]), digest=row[4],
        created_at=row[5], last_used_at=row[6], expires_at=row[7], revoked_at=row[8],
    )  # fmt: skip


class KeyRows:
    _db: SharedConnection

    def create_key(self, record: KeyRecord) -> None:
        # a plain INSERT: a repeated id or digest violates its unique constraint and raises
        with self._db.write() as conn:
            conn.execute(
                f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (record.id, record.tenant, record.name, scopes_text(record.scopes),
                 record.digest, record.created_at, record.last_used_at, record.expires_at,
                 record.revoked_at),
            )  # fmt: skip

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE digest = ?", (digest,)
            ).fetchone()
        return row_to_key(row) if row else None

    def list_keys(self, tenant: str | None) -> list[KeyRecord]:
        where, params = ("WHERE tenant_id = ?", (tenant,)) if tenant is not None else ("", ())
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys {where} ORDER BY created_at, id", params
            ).fetchall()
        return [row_to_key(row) for row in rows]

    def has_keys(self) -> bool:
        with self._db.read() as conn:
            return conn.execute("SELECT 1 FROM api_keys LIMIT 1").fetchone() is not None

    def revoke_key(self, key_id: str, now: int) -> bool:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (now, key_id),
            )
            found = conn.execute("SELECT 1 FROM api_keys WHERE id = ?", (key_id,)).fetchone()
        return found is not None

    def touch_key(self, key_id: str, now: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE api_keys SET last_used_at = ? WHERE id = ?"
                " AND (last_used_at IS NULL OR last_used_at < ?)",
                (now, key_id, now),
            )
