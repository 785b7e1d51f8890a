"""Each tenant's templates (the ``templates`` table of ``schema.TENANT_SCHEMA``). A part of
``SqliteStore`` of its own, because nothing in it touches a notification.

The document is kept as its JSON text; ``put_template`` reads and writes in one ``BEGIN
IMMEDIATE`` transaction, so of two puts at once one creates and the other replaces."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from notifyctl.store.sqlite.connection import SharedConnection
from notifyctl.templates import TemplateRecord

TEMPLATE_COLUMNS = "tenant_id, name, document, version, created_at, updated_at"


def row_to_template(row: Sequence[Any]) -> TemplateRecord:
    return TemplateRecord(
        tenant=row[0], name=row[1], document=json.loads(row[2]), version=row[3],
        created_at=row[4], updated_at=row[5],
    )  # fmt: skip


def document_text(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


class TemplateRows:
    _db: SharedConnection

    def put_template(self, tenant_id: str, name: str, document: dict[str, Any], now: int) -> bool:
        text = document_text(document)  # encoded before the write lock is taken
        with self._db.write() as conn:
            replaced = conn.execute(
                "UPDATE templates SET document = ?, version = version + 1, updated_at = ?"
                " WHERE tenant_id = ? AND name = ?",
                (text, now, tenant_id, name),
            ).rowcount
            if replaced:
                return False
            conn.execute(
                f"INSERT INTO templates ({TEMPLATE_COLUMNS}) VALUES (?, ?, ?, 1, ?, ?)",
                (tenant_id, name, text, now, now),
            )
            return True

    def get_template(self, tenant_id: str, name: str) -> TemplateRecord | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = ? AND name = ?",
                (tenant_id, name),
            ).fetchone()
        return row_to_template(row) if row else None

    def delete_template(self, tenant_id: str, name: str) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute(
                "DELETE FROM templates WHERE tenant_id = ? AND name = ?", (tenant_id, name)
            )
            return cursor.rowcount > 0

    def list_templates(
        self, tenant_id: str, limit: int, after_name: str | None
    ) -> list[TemplateRecord]:
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = ? AND name > ?"
                " ORDER BY name LIMIT ?",
                (tenant_id, after_name or "", limit),
            ).fetchall()
        return [row_to_template(row) for row in rows]

    def templates_by_names(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, TemplateRecord]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {TEMPLATE_COLUMNS} FROM templates"
                f" WHERE tenant_id = ? AND name IN ({marks})",
                (tenant_id, *wanted),
            ).fetchall()
        return {record.name: record for record in map(row_to_template, rows)}
