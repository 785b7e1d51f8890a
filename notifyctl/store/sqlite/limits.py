"""Each tenant's limits and its daily quota usage (the ``tenant_limits`` and ``quota_usage``
tables of ``schema.TENANT_SCHEMA``). A part of ``SqliteStore`` of its own, because nothing in it
touches a notification. ``take_quota`` is one ``BEGIN IMMEDIATE`` transaction, so API processes
sharing the database never count past a quota between them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from notifyctl.limits import QuotaTake, TenantLimits, previous_day
from notifyctl.store.sqlite.connection import SharedConnection

LIMIT_COLUMNS = "tenant_id, rate_per_s, burst, daily_quota"


def row_to_limits(row: Sequence[Any]) -> TenantLimits:
    return TenantLimits(tenant=row[0], rate_per_s=row[1], burst=row[2], daily_quota=row[3])


class LimitRows:
    _db: SharedConnection

    def tenant_limits(self, tenant_id: str) -> TenantLimits | None:
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {LIMIT_COLUMNS} FROM tenant_limits WHERE tenant_id = ?", (tenant_id,)
            ).fetchone()
        return row_to_limits(row) if row else None

    def list_tenant_limits(self) -> list[TenantLimits]:
        with self._db.read() as conn:
            rows = conn.execute(
                f"SELECT {LIMIT_COLUMNS} FROM tenant_limits ORDER BY tenant_id"
            ).fetchall()
        return [row_to_limits(row) for row in rows]

    def set_tenant_limits(self, limits: TenantLimits) -> None:
        with self._db.write() as conn:
            conn.execute(
                f"INSERT OR REPLACE INTO tenant_limits ({LIMIT_COLUMNS}) VALUES (?, ?, ?, ?)",
                (limits.tenant, limits.rate_per_s, limits.burst, limits.daily_quota),
            )

    def clear_tenant_limits(self, tenant_id: str) -> bool:
        with self._db.write() as conn:
            cursor = conn.execute("DELETE FROM tenant_limits WHERE tenant_id = ?", (tenant_id,))
            return cursor.rowcount > 0

    def take_quota(self, tenant_id: str, day: str, count: int, quota: int) -> QuotaTake:
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT used FROM quota_usage WHERE tenant_id = ? AND day = ?", (tenant_id, day)
            ).fetchone()
            if row is None:  # the tenant's first of the day: its older days are done with
                conn.execute(
                    "DELETE FROM quota_usage WHERE tenant_id = ? AND day < ?",
                    (tenant_id, previous_day(day)),
                )
            used = 0 if row is None else int(row[0])
            if used + count > quota:
                return QuotaTake(False, used)
            conn.execute(
                "INSERT INTO quota_usage (tenant_id, day, used) VALUES (?, ?, ?)"
                " ON CONFLICT (tenant_id, day) DO UPDATE SET used = used + excluded.used",
                (tenant_id, day, count),
            )
            return QuotaTake(True, used + count)

    def give_back_quota(self, tenant_id: str, day: str, count: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE quota_usage SET used = max(0, used - ?) WHERE tenant_id = ? AND day = ?",
                (count, tenant_id, day),
            )

    def quota_used(self, tenant_id: str, day: str) -> int:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT used FROM quota_usage WHERE tenant_id = ? AND day = ?", (tenant_id, day)
            ).fetchone()
        return 0 if row is None else int(row[0])
