"""Each tenant's limits and its daily quota usage (the ``tenant_limits`` and ``quota_usage``
collections). A part of ``MongoStore`` of its own, because nothing in it touches a notification.

``take_quota`` is a conditional ``$inc`` (only while the day's usage leaves room), so API
processes on many hosts never count past a quota between them. The day's first take inserts the
day's document; when two processes race to insert it, the unique ``_id`` lets one win and the
other adds to it. (One conditional upsert would not do: a racing upsert whose condition fails on
the winner's document raises a duplicate-key error although there is room.)
"""

from __future__ import annotations

from typing import Any

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from notifyctl.limits import QuotaTake, TenantLimits, previous_day
from notifyctl.store.mongodb.connection import Translating


def limits_document(limits: TenantLimits) -> dict[str, Any]:
    return {
        "_id": limits.tenant, "rate_per_s": limits.rate_per_s, "burst": limits.burst,
        "daily_quota": limits.daily_quota,
    }  # fmt: skip


def to_limits(doc: dict[str, Any]) -> TenantLimits:
    return TenantLimits(
        tenant=doc["_id"], rate_per_s=doc.get("rate_per_s"), burst=doc.get("burst"),
        daily_quota=doc.get("daily_quota"),
    )  # fmt: skip


def usage_id(tenant_id: str, day: str) -> str:
    # "/" cannot occur in a tenant name (``tenants.TENANT_RULE``): one tenant's day is one id
    return f"{tenant_id}/{day}"


class LimitDocuments(Translating):
    _limits: Collection[dict[str, Any]]
    _usage: Collection[dict[str, Any]]

    def tenant_limits(self, tenant_id: str) -> TenantLimits | None:
        with self._translated("tenant limits"):
            doc = self._limits.find_one({"_id": tenant_id})
        return to_limits(doc) if doc else None

    def list_tenant_limits(self) -> list[TenantLimits]:
        with self._translated("list tenant limits"):
            docs = list(self._limits.find({}).sort("_id", 1))
        return [to_limits(doc) for doc in docs]

    def set_tenant_limits(self, limits: TenantLimits) -> None:
        with self._translated("set tenant limits"):
            self._limits.replace_one({"_id": limits.tenant}, limits_document(limits), upsert=True)

    def clear_tenant_limits(self, tenant_id: str) -> bool:
        with self._translated("clear tenant limits"):
            return self._limits.delete_one({"_id": tenant_id}).deleted_count > 0

    def take_quota(self, tenant_id: str, day: str, count: int, quota: int) -> QuotaTake:
        key = usage_id(tenant_id, day)
        with self._translated("take quota"):
            used = self._add_if_room(key, count, quota)
            if (
                used is None
                and count <= quota
                and self._first_of_the_day(key, tenant_id, day, count)
            ):
                return QuotaTake(True, count)
            if used is None:  # no room, or the day's document appeared meanwhile: once more
                used = self._add_if_room(key, count, quota)
        if used is None:
            return QuotaTake(False, self.quota_used(tenant_id, day))
        return QuotaTake(True, used)

    def _add_if_room(self, key: str, count: int, quota: int) -> int | None:
        """The day's usage after adding ``count`` while it stays within ``quota``; None when
        there is no room or no document for the day yet."""
        doc = self._usage.find_one_and_update(
            {"_id": key, "used": {"$lte": quota - count}}, {"$inc": {"used": count}},
            return_document=ReturnDocument.AFTER,
        )  # fmt: skip
        return None if doc is None else int(doc["used"])

    def _first_of_the_day(self, key: str, tenant_id: str, day: str, count: int) -> bool:
        """Open the day's document with ``count``, forgetting the tenant's older days; False when
        another process opened it first (its duplicate ``_id``)."""
        try:
            self._usage.insert_one({"_id": key, "tenant_id": tenant_id, "day": day, "used": count})
        except DuplicateKeyError:
            return False
        self._usage.delete_many({"tenant_id": tenant_id, "day": {"$lt": previous_day(day)}})
        return True

    def give_back_quota(self, tenant_id: str, day: str, count: int) -> None:
        with self._translated("give back quota"):
            # a pipeline update, so the usage stops at zero in the same write
            self._usage.update_one(
                {"_id": usage_id(tenant_id, day)},
                [{"$set": {"used": {"$max": [0, {"$subtract": ["$used", count]}]}}}],
            )

    def quota_used(self, tenant_id: str, day: str) -> int:
        with self._translated("quota used"):
            doc = self._usage.find_one({"_id": usage_id(tenant_id, day)})
        return 0 if doc is None else int(doc["used"])
