"""Each tenant's webhook signing secrets: at most ``ACTIVE_SECRETS``, newest first. A part of
``MongoStore`` of its own, because nothing in it touches a notification. The secrets are kept as
given (the workers sign with them), so only the database's own access control protects them."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import Translating
from notifyctl.store.secrets import ACTIVE_SECRETS


class SecretDocuments(Translating):
    _secrets: Collection[dict[str, Any]]

    def webhook_secrets(self, tenant_id: str) -> list[str]:
        with self._translated("webhook secrets"):
            docs = self._secrets.find({"tenant_id": tenant_id}).sort(NEWEST_FIRST)
            return [doc["secret"] for doc in docs.limit(ACTIVE_SECRETS)]

    def add_webhook_secret(self, tenant_id: str, secret: str, now: int) -> None:
        with self._translated("add webhook secret"):
            self._secrets.insert_one(
                {"tenant_id": tenant_id, "created_at": schema.to_date(now), "secret": secret}
            )
        self._keep_newest(tenant_id, ACTIVE_SECRETS)

    def retire_webhook_secrets(self, tenant_id: str) -> int:
        return self._keep_newest(tenant_id, 1)

    def _keep_newest(self, tenant_id: str, keep: int) -> int:
        with self._translated("retire webhook secrets"):
            docs = self._secrets.find({"tenant_id": tenant_id}, {"_id": 1}).sort(NEWEST_FIRST)
            older = [doc["_id"] for doc in docs.skip(keep)]
            if not older:
                return 0
            return self._secrets.delete_many({"_id": {"$in": older}}).deleted_count


#: newest first; ``_id`` (an ObjectId, increasing) breaks ties within a millisecond
NEWEST_FIRST = [("tenant_id", 1), ("created_at", -1), ("_id", -1)]
