"""Each tenant's recipients (the ``recipients`` table of ``schema.TENANT_SCHEMA``): one row per
(tenant, user id), the recipient's fields as JSON (``recipient_json.to_fields``). A part of
``SqliteStore`` of its own, because nothing in it touches a notification.

Every write is one ``BEGIN IMMEDIATE`` transaction, so a read-then-write (keeping
``created_at``, removing device tokens) is atomic against every other process.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from notifyctl.recipient_json import from_fields, to_fields
from notifyctl.recipients import Recipient
from notifyctl.store.sqlite.connection import SharedConnection
from notifyctl.store.sqlite.leases import MAX_VARIABLES

RECIPIENT_COLUMNS = "tenant_id, user_id, fields, created_at, updated_at, revision"
#: a replacement keeps the row's created_at
UPSERT = (
    f"INSERT INTO recipients ({RECIPIENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, 1)"
    " ON CONFLICT (tenant_id, user_id) DO UPDATE"
    " SET fields = excluded.fields, updated_at = excluded.updated_at, revision = revision + 1"
)


def row_to_recipient(row: Sequence[Any]) -> Recipient:
    return from_fields(row[0], row[1], json.loads(row[2]), row[3], row[4], row[5])


def fields_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def put(conn: sqlite3.Connection, recipient: Recipient) -> tuple[Recipient, bool]:
    """Inside the caller's write transaction."""
    row = conn.execute(
        "SELECT created_at, revision FROM recipients WHERE tenant_id = ? AND user_id = ?",
        (recipient.tenant, recipient.user_id),
    ).fetchone()
    conn.execute(
        UPSERT,
        (recipient.tenant, recipient.user_id, fields_json(to_fields(recipient)),
         recipient.created_at, recipient.updated_at),
    )  # fmt: skip
    if row is None:
        return dataclasses.replace(recipient, revision=1), True
    return dataclasses.replace(recipient, created_at=row[0], revision=row[1] + 1), False


class RecipientRows:
    _db: SharedConnection

    def put_recipient(self, recipient: Recipient) -> tuple[Recipient, bool]:
        with self._db.write() as conn:
            return put(conn, recipient)

    def replace_recipient(self, recipient: Recipient, revision: int) -> Recipient | None:
        with self._db.write() as conn:
            row = conn.execute(
                "UPDATE recipients SET fields = ?, updated_at = ?, revision = revision + 1"
                " WHERE tenant_id = ? AND user_id = ? AND revision = ? RETURNING created_at",
                (fields_json(to_fields(recipient)), recipient.updated_at, recipient.tenant,
                 recipient.user_id, revision),
            ).fetchone()  # fmt: skip
        if row is None:
            return None
        return dataclasses.replace(recipient, created_at=row[0], revision=revision + 1)

    def put_recipients(self, recipients: Sequence[Recipient]) -> list[tuple[Recipient, bool]]:
        with self._db.write() as conn:
            return [put(conn, recipient) for recipient in recipients]

    def get_recipient(self, tenant_id: str, user_id: str) -> Recipient | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE tenant_id = ? AND user_id = ?",
                (tenant_id, user_id),
            ).fetchone()
        return row_to_recipient(row) if row else None

    def recipients_by_ids(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, Recipient]:
        found: dict[str, Recipient] = {}
        wanted = list(dict.fromkeys(user_ids))
        with self._db.read() as conn:
            for start in range(0, len(wanted), MAX_VARIABLES):
                chunk = wanted[start : start + MAX_VARIABLES]
                rows = conn.execute(
                    f"SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE tenant_id = ?"
                    f" AND user_id IN ({','.join('?' * len(chunk))})",
                    (tenant_id, *chunk),
                ).fetchall()
                found.update((row[1], row_to_recipient(row)) for row in rows)
        return found

    def delete_recipient(self, tenant_id: str, user_id: str) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM recipients WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
            )
            return cursor.rowcount > 0

    def list_recipients(
        self, tenant_id: str, limit: int, after_user_id: str | None
    ) -> list[Recipient]:
        # the primary key (tenant_id, user_id) is the listing's order: a range scan. TEXT
        # compares with BINARY collation: UTF-8 byte order, which is code-point order
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE tenant_id = ? AND user_id > ?"
                " ORDER BY user_id LIMIT ?",
                (tenant_id, after_user_id or "", limit),
            ).fetchall()
        return [row_to_recipient(row) for row in rows]

    def remove_device_tokens(
        self, tenant_id: str, user_id: str, tokens: Sequence[str], now: int
    ) -> int:
        gone = set(tokens)
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT fields FROM recipients WHERE tenant_id = ? AND user_id = ?",
                (tenant_id, user_id),
            ).fetchone()
            if row is None:
                return 0
            fields = json.loads(row[0])
            devices = fields.get("devices", [])
            kept = [device for device in devices if device["token"] not in gone]
            if len(kept) == len(devices):
                return 0
            fields["devices"] = kept
            if not kept:
                del fields["devices"]  # as ``to_fields`` leaves out an empty list
            conn.execute(
                "UPDATE recipients SET fields = ?, updated_at = ?, revision = revision + 1"
                " WHERE tenant_id = ? AND user_id = ?",
                (fields_json(fields), now, tenant_id, user_id),
            )
            return len(devices) - len(kept)
