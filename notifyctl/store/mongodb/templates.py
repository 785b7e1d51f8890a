"""Each tenant's templates (the ``templates`` collection; its index is in ``schema.INDEXES``). A
part of ``MongoStore`` of its own, because nothing in it touches a notification.

The document is kept as its JSON text, as a notification's ``data`` is: a webhook body may hold
keys BSON restricts (``$``-prefixed, dotted). One template is one document whose ``_id`` is
``tenant/name``; ``put_template`` replaces it with one atomic update (``$inc`` of the version),
or creates it with an insert that the unique ``_id`` lets only one racing put win. (Not one
upsert: whether a racing upsert reports an insert or an update is the server's to settle, and
MongoDB-compatible servers settle it differently.) Times are the caller's clock, as the API
keys' are: only shown to people, never raced for.
"""

from __future__ import annotations

import json
from collections.abc import Collection as Names
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from notifyctl.errors import StoreError
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import Translating
from notifyctl.templates import TemplateRecord

#: replace-or-insert rounds before a put gives up: only deletes racing it need a second one
PUT_ROUNDS = 3
#: the listing's order, served by the (tenant_id, name) index
BY_NAME = [("name", ASCENDING)]


def template_id(tenant_id: str, name: str) -> str:
    # "/" can occur in neither a tenant's name nor a template's: one template is one id
    return f"{tenant_id}/{name}"


def to_template(doc: dict[str, Any]) -> TemplateRecord:
    return TemplateRecord(
        tenant=doc["tenant_id"], name=doc["name"], document=json.loads(doc["document"]),
        version=doc["version"], created_at=schema.to_ms(doc["created_at"]),
        updated_at=schema.to_ms(doc["updated_at"]),
    )  # fmt: skip


class TemplateDocuments(Translating):
    _templates: Collection[dict[str, Any]]

    def put_template(self, tenant_id: str, name: str, document: dict[str, Any], now: int) -> bool:
        text, at = json.dumps(document, separators=(",", ":")), schema.to_date(now)
        key = template_id(tenant_id, name)
        with self._translated("put template"):
            # a replace, else an insert, else (a racing put inserted it first) a replace again;
            # not one upsert: how a server settles racing upserts is its own (see the docstring)
            for _ in range(PUT_ROUNDS):
                if self._replaced(key, text, at):
                    return False
                if self._created(key, tenant_id, name, text, at):
                    return True
        raise StoreError(f"template {name!r} of {tenant_id} kept changing: put it again")

    def _replaced(self, key: str, text: str, at: datetime) -> bool:
        change = {"$set": {"document": text, "updated_at": at}, "$inc": {"version": 1}}
        return self._templates.update_one({"_id": key}, change).matched_count > 0

    def _created(self, key: str, tenant_id: str, name: str, text: str, at: datetime) -> bool:
        """Insert the template at version 1; False when it exists (its unique ``_id``)."""
        try:
            self._templates.insert_one({
                "_id": key, "tenant_id": tenant_id, "name": name, "document": text,
                "version": 1, "created_at": at, "updated_at": at,
            })  # fmt: skip
        except DuplicateKeyError:
            return False
        return True

    def get_template(self, tenant_id: str, name: str) -> TemplateRecord | None:
        with self._translated("get template"):
            doc = self._templates.find_one({"_id": template_id(tenant_id, name)})
        return to_template(doc) if doc else None

    def delete_template(self, tenant_id: str, name: str) -> bool:
        with self._translated("delete template"):
            deleted = self._templates.delete_one({"_id": template_id(tenant_id, name)})
        return deleted.deleted_count > 0

    def list_templates(
        self, tenant_id: str, limit: int, after_name: str | None
    ) -> list[TemplateRecord]:
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if after_name is not None:
            query["name"] = {"$gt": after_name}
        with self._translated("list templates"):
            docs = list(self._templates.find(query).sort(BY_NAME).limit(limit))
        return [to_template(doc) for doc in docs]

    def templates_by_names(self, tenant_id: str, names: Names[str]) -> dict[str, TemplateRecord]:
        wanted = [template_id(tenant_id, name) for name in sorted(set(names))]
        if not wanted:
            return {}
        with self._translated("templates by names"):
            docs = list(self._templates.find({"_id": {"$in": wanted}}))
        return {record.name: record for record in map(to_template, docs)}
