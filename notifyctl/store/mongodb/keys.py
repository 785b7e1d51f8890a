"""The API keys' documents (the ``api_keys`` collection; its indexes are in ``schema.INDEXES``).
A part of ``MongoStore`` of its own, because nothing in it touches a notification.

Times are the caller's clock (``now``), unlike the claims': a key's times are only shown to
people and compared with an API process's own clock (expiry), never raced for by two hosts.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection

from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import translated
from notifyctl.tenants import KeyRecord, Scope

#: an index seek on the unique ``digest`` index, and the listing's (tenant_id, created_at)
KEYS_ORDER = [("created_at", ASCENDING), ("_id", ASCENDING)]


def key_document(record: KeyRecord) -> dict[str, Any]:
    return {
        "_id": record.id, "tenant_id": record.tenant, "name": record.name,
        "scopes": sorted(scope.value for scope in record.scopes), "digest": record.digest,
        "created_at": schema.to_date(record.created_at),
        "last_used_at": optional_date(record.last_used_at),
        "expires_at": optional_date(record.expires_at),
        "revoked_at": optional_date(record.revoked_at),
    }  # fmt: skip


def to_key(doc: dict[str, Any]) -> KeyRecord:
    return KeyRecord(
        id=doc["_id"], tenant=doc["tenant_id"], name=doc["name"],
        scopes=frozenset(Scope(name) for name in doc["scopes"]), digest=doc["digest"],
        created_at=schema.to_ms(doc["created_at"]),
        last_used_at=schema.optional_ms(doc.get("last_used_at")),
        expires_at=schema.optional_ms(doc.get("expires_at")),
        revoked_at=schema.optional_ms(doc.get("revoked_at")),
    )  # fmt: skip


def optional_date(ms: int | None) -> Any:
    return None if ms is None else schema.to_date(ms)


class KeyRows:
    url: str
    _keys: Collection[dict[str, Any]]

    def _translated(self, doing: str) -> AbstractContextManager[None]:
        """Driver errors as ``StoreError`` naming the store and what it was doing."""
        return translated(self.url, doing)

    def create_key(self, record: KeyRecord) -> None:
        # insert_one: a repeated _id or digest is a duplicate-key error (StoreError), never an
        # overwrite
        with self._translated("create key"):
            self._keys.insert_one(key_document(record))

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        with self._translated("key by digest"):
            doc = self._keys.find_one({"digest": digest})
        return to_key(doc) if doc else None

    def list_keys(self, tenant: str | None) -> list[KeyRecord]:
        query = {} if tenant is None else {"tenant_id": tenant}
        with self._translated("list keys"):
            docs = list(self._keys.find(query).sort(KEYS_ORDER))
        return [to_key(doc) for doc in docs]

    def has_keys(self) -> bool:
        with self._translated("has keys"):
            return self._keys.find_one({}, {"_id": 1}) is not None

    def revoke_key(self, key_id: str, now: int) -> bool:
        with self._translated("revoke key"):
            # only while not revoked, so a second revoke keeps the first time
            self._keys.update_one(
                {"_id": key_id, "revoked_at": None},
                {"$set": {"revoked_at": schema.to_date(now)}},
            )
            return self._keys.find_one({"_id": key_id}, {"_id": 1}) is not None

    def touch_key(self, key_id: str, now: int) -> None:
        at = schema.to_date(now)
        earlier = [{"last_used_at": None}, {"last_used_at": {"$lt": at}}]
        with self._translated("touch key"):
            self._keys.update_one({"_id": key_id, "$or": earlier}, {"$set": {"last_used_at": at}})
