"""Each tenant's limits and its daily quota usage (the ``tenant_limits`` and ``quota_usage``
tables of ``schema.TENANTS``). A part of ``PostgresStore`` of its own, because nothing in it
touches a notification. ``take_quota`` is one conditional upsert: the row lock PostgreSQL takes
on the day's row serialises API processes, so between them they never count past a quota."""

from __future__ import annotations

from notifyctl.limits import QuotaTake, TenantLimits, previous_day
from notifyctl.store.postgresql.connection import Database
from notifyctl.store.sqlite.limits import LIMIT_COLUMNS, row_to_limits

#: counts ``count`` only while the day's usage stays within the quota; RETURNING says if it did,
#: and whether the row is new (``xmax = 0``: inserted, not updated)
TAKE = (
    "INSERT INTO quota_usage (tenant_id, day, used) SELECT %(tenant)s, %(day)s, %(count)s"
    " WHERE %(count)s <= %(quota)s ON CONFLICT (tenant_id, day) DO UPDATE"
    " SET used = quota_usage.used + excluded.used"
    " WHERE quota_usage.used + excluded.used <= %(quota)s RETURNING used, xmax = 0"
)


class LimitRows:
    _db: Database

    def tenant_limits(self, tenant_id: str) -> TenantLimits | None:
        with self._db.connection("tenant limits") as conn:
            row = conn.execute(
                f"SELECT {LIMIT_COLUMNS} FROM tenant_limits WHERE tenant_id = %s", (tenant_id,)
            ).fetchone()
        return row_to_limits(row) if row else None

    def list_tenant_limits(self) -> list[TenantLimits]:
        with self._db.connection("list tenant limits") as conn:
            rows = conn.execute(
                f"SELECT {LIMIT_COLUMNS} FROM tenant_limits ORDER BY tenant_id"
            ).fetchall()
        return [row_to_limits(row) for row in rows]

    def set_tenant_limits(self, limits: TenantLimits) -> None:
        with self._db.connection("set tenant limits") as conn:
            conn.execute(
                f"INSERT INTO tenant_limits ({LIMIT_COLUMNS}) VALUES (%s, %s, %s, %s)"
                " ON CONFLICT (tenant_id) DO UPDATE SET rate_per_s = excluded.rate_per_s,"
                " burst = excluded.burst, daily_quota = excluded.daily_quota",
                (limits.tenant, limits.rate_per_s, limits.burst, limits.daily_quota),
            )

    def clear_tenant_limits(self, tenant_id: str) -> bool:
        with self._db.cursor("clear tenant limits") as cur:
            cur.execute("DELETE FROM tenant_limits WHERE tenant_id = %s", (tenant_id,))
            return cur.rowcount > 0

    def take_quota(self, tenant_id: str, day: str, count: int, quota: int) -> QuotaTake:
        params = {"tenant": tenant_id, "day": day, "count": count, "quota": quota}
        with self._db.transaction("take quota") as conn:
            row = conn.execute(TAKE, params).fetchone()
            if row is not None:
                if row[1]:  # the tenant's first of the day: its older days are done with
                    conn.execute(
                        "DELETE FROM quota_usage WHERE tenant_id = %s AND day < %s",
                        (tenant_id, previous_day(day)),
                    )
                return QuotaTake(True, int(row[0]))
            used = conn.execute(
                "SELECT used FROM quota_usage WHERE tenant_id = %s AND day = %s", (tenant_id, day)
            ).fetchone()
        return QuotaTake(False, 0 if used is None else int(used[0]))

    def give_back_quota(self, tenant_id: str, day: str, count: int) -> None:
        with self._db.connection("give back quota") as conn:
            conn.execute(
                "UPDATE quota_usage SET used = greatest(0, used - %s)"
                " WHERE tenant_id = %s AND day = %s",
                (count, tenant_id, day),
            )

    def quota_used(self, tenant_id: str, day: str) -> int:
        with self._db.connection("quota used") as conn:
            row = conn.execute(
                "SELECT used FROM quota_usage WHERE tenant_id = %s AND day = %s", (tenant_id, day)
            ).fetchone()
        return 0 if row is None else int(row[0])
