"""Each tenant's recipients (the ``recipients`` table of ``schema.TENANTS``): one row per
(tenant, user id), the recipient's fields as JSON text (``recipient_json.to_fields``). A part of
``PostgresStore`` of its own, because nothing in it touches a notification.

Every write is one statement or one transaction holding the row's lock (``FOR UPDATE``), so a
read-then-write (keeping ``created_at``, removing device tokens) is atomic against every other
process.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import psycopg

from notifyctl.recipient_json import to_fields
from notifyctl.recipients import Recipient
from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.recipients import RECIPIENT_COLUMNS, fields_json, row_to_recipient

#: a replacement keeps the row's created_at; RETURNING the stored created_at and revision
UPSERT = (
    f"INSERT INTO recipients ({RECIPIENT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, 1)"
    " ON CONFLICT (tenant_id, user_id) DO UPDATE SET fields = excluded.fields,"
    " updated_at = excluded.updated_at, revision = recipients.revision + 1"
    " RETURNING created_at, revision"
)
#: where a tenant's recipient is
OF_RECIPIENT = "tenant_id = %s AND user_id = %s"


def put(conn: psycopg.Connection[Any], recipient: Recipient) -> tuple[Recipient, bool]:
    row = conn.execute(
        UPSERT,
        (recipient.tenant, recipient.user_id, fields_json(to_fields(recipient)),
         recipient.created_at, recipient.updated_at),
    ).fetchone()  # fmt: skip
    assert row is not None  # an upsert always returns its row
    created_at, revision = row
    stored = dataclasses.replace(recipient, created_at=created_at, revision=revision)
    return stored, revision == 1


class RecipientRows:
    _db: Database

    def put_recipient(self, recipient: Recipient) -> tuple[Recipient, bool]:
        with self._db.connection("put recipient") as conn:
            return put(conn, recipient)

    def replace_recipient(self, recipient: Recipient, revision: int) -> Recipient | None:
        with self._db.connection("replace recipient") as conn:
            row = conn.execute(
                "UPDATE recipients SET fields = %s, updated_at = %s, revision = revision + 1"
                f" WHERE {OF_RECIPIENT} AND revision = %s RETURNING created_at",
                (fields_json(to_fields(recipient)), recipient.updated_at, recipient.tenant,
                 recipient.user_id, revision),
            ).fetchone()  # fmt: skip
        if row is None:
            return None
        return dataclasses.replace(recipient, created_at=row[0], revision=revision + 1)

    def put_recipients(self, recipients: Sequence[Recipient]) -> list[tuple[Recipient, bool]]:
        with self._db.transaction("put recipients") as conn:
            return [put(conn, recipient) for recipient in recipients]

    def get_recipient(self, tenant_id: str, user_id: str) -> Recipient | None:
        with self._db.connection("get recipient") as conn:
            row = conn.execute(
                f"SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE {OF_RECIPIENT}",
                (tenant_id, user_id),
            ).fetchone()
        return row_to_recipient(row) if row else None

    def recipients_by_ids(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, Recipient]:
        with self._db.connection("recipients by ids") as conn:
            rows = conn.execute(
                f"SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE tenant_id = %s"
                " AND user_id = ANY(%s::text[])",
                (tenant_id, list(dict.fromkeys(user_ids))),
            ).fetchall()
        return {row[1]: row_to_recipient(row) for row in rows}

    def delete_recipient(self, tenant_id: str, user_id: str) -> bool:
        with self._db.cursor("delete recipient") as cur:
            cur.execute(f"DELETE FROM recipients WHERE {OF_RECIPIENT}", (tenant_id, user_id))
            return cur.rowcount > 0

    def list_recipients(
        self, tenant_id: str, limit: int, after_user_id: str | None
    ) -> list[Recipient]:
        with self._db.connection("list recipients") as conn:
            rows = conn.execute(
                f"SELECT {RECIPIENT_COLUMNS} FROM recipients WHERE tenant_id = %s"
                " AND user_id > %s ORDER BY user_id LIMIT %s",
                (tenant_id, after_user_id or "", limit),
            ).fetchall()
        return [row_to_recipient(row) for row in rows]

    def remove_device_tokens(
        self, tenant_id: str, user_id: str, tokens: Sequence[str], now: int
    ) -> int:
        with self._db.transaction("remove device tokens") as conn:
            row = conn.execute(
                f"SELECT fields FROM recipients WHERE {OF_RECIPIENT} FOR UPDATE",
                (tenant_id, user_id),
            ).fetchone()
            if row is None:
                return 0
            fields, removed = without_tokens(json.loads(row[0]), set(tokens))
            if removed:
                conn.execute(
                    "UPDATE recipients SET fields = %s, updated_at = %s, revision = revision + 1"
                    f" WHERE {OF_RECIPIENT}",
                    (fields_json(fields), now, tenant_id, user_id),
                )
            return removed


def without_tokens(fields: dict[str, Any], gone: set[str]) -> tuple[dict[str, Any], int]:
    """The recipient's fields without the devices holding any of ``gone``, and how many went."""
    devices = fields.get("devices", [])
    kept = [device for device in devices if device["token"] not in gone]
    fields["devices"] = kept
    if not kept:
        del fields["devices"]  # as ``to_fields`` leaves out an empty list
    return fields, len(devices) - len(kept)
