"""Each tenant's templates (the ``templates`` table of ``schema.TENANTS``). A part of
``PostgresStore`` of its own, because nothing in it touches a notification. ``put_template`` is
one upsert, so of two puts at once one creates and the other replaces."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.templates import TEMPLATE_COLUMNS, document_text, row_to_template
from notifyctl.templates import TemplateRecord

#: RETURNING whether the row is new (``xmax = 0``: inserted, not updated)
PUT = (
    f"INSERT INTO templates ({TEMPLATE_COLUMNS}) VALUES (%s, %s, %s, 1, %s, %s)"
    " ON CONFLICT (tenant_id, name) DO UPDATE SET document = excluded.document,"
    " version = templates.version + 1, updated_at = excluded.updated_at RETURNING xmax = 0"
)


class TemplateRows:
    _db: Database

    def put_template(self, tenant_id: str, name: str, document: dict[str, Any], now: int) -> bool:
        with self._db.connection("put template") as conn:
            row = conn.execute(PUT, (tenant_id, name, document_text(document), now, now)).fetchone()
        return bool(row and row[0])

    def get_template(self, tenant_id: str, name: str) -> TemplateRecord | None:
        with self._db.connection("get template") as conn:
            row = conn.execute(
                f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = %s AND name = %s",
                (tenant_id, name),
            ).fetchone()
        return row_to_template(row) if row else None

    def delete_template(self, tenant_id: str, name: str) -> bool:
        with self._db.cursor("delete template") as cur:
            cur.execute(
                "DELETE FROM templates WHERE tenant_id = %s AND name = %s", (tenant_id, name)
            )
            return cur.rowcount > 0

    def list_templates(
        self, tenant_id: str, limit: int, after_name: str | None
    ) -> list[TemplateRecord]:
        with self._db.connection("list templates") as conn:
            rows = conn.execute(
                f"SELECT {TEMPLATE_COLUMNS} FROM templates WHERE tenant_id = %s AND name > %s"
                " ORDER BY name LIMIT %s",
                (tenant_id, after_name or "", limit),
            ).fetchall()
        return [row_to_template(row) for row in rows]

    def templates_by_names(
        self, tenant_id: str, names: Collection[str]
    ) -> dict[str, TemplateRecord]:
        if not names:
            return {}
        with self._db.connection("templates by names") as conn:
            rows = conn.execute(
                f"SELECT {TEMPLATE_COLUMNS} FROM templates"
                " WHERE tenant_id = %s AND name = ANY(%s::text[])",
                (tenant_id, sorted(set(names))),
            ).fetchall()
        return {record.name: record for record in map(row_to_template, rows)}
