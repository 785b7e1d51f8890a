"""Each tenant's recipients (the ``recipients`` collection; its index is in ``schema.INDEXES``).
A part of ``MongoStore`` of its own, because nothing in it touches a notification.

A recipient is one document, ``_id`` = ``tenant/user_id`` (``/`` cannot occur in a tenant name,
so one tenant's user is one id), every write to it single-document atomic. Its devices are an
array of the document, so removing invalid tokens is one ``$pull``; its other fields are kept as
JSON text, like a notification's ``data``, because category names are free text and BSON
restricts keys (``$``-prefixed, dotted).

Times are the caller's clock (``now``), as for API keys: they are shown to people, never raced
for by two hosts.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.collection import Collection

from notifyctl.recipients import Recipient, from_fields, to_fields
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import Translating

Document = dict[str, Any]
#: the listing's order, on the (tenant_id, user_id) index
BY_USER = [("user_id", ASCENDING)]


def recipient_id(tenant_id: str, user_id: str) -> str:
    return f"{tenant_id}/{user_id}"


def changes(recipient: Recipient) -> Document:
    """The update that creates or replaces the recipient, keeping a replaced one's created_at."""
    fields = to_fields(recipient)
    devices = fields.pop("devices", [])
    return {
        "$set": {"fields": json.dumps(fields, separators=(",", ":"), ensure_ascii=False),
                 "devices": devices, "updated_at": schema.to_date(recipient.updated_at)},
        "$setOnInsert": {"tenant_id": recipient.tenant, "user_id": recipient.user_id,
                         "created_at": schema.to_date(recipient.created_at)},
    }  # fmt: skip


def to_recipient(doc: Document) -> Recipient:
    fields = json.loads(doc["fields"])
    if doc.get("devices"):
        fields["devices"] = doc["devices"]
    return from_fields(
        doc["tenant_id"], doc["user_id"], fields, schema.to_ms(doc["created_at"]),
        schema.to_ms(doc["updated_at"]),
    )  # fmt: skip


def as_stored(recipient: Recipient, before: Document | None) -> tuple[Recipient, bool]:
    """The recipient as written over ``before`` (None: there was none), and whether created."""
    if before is None:
        return recipient, True
    return dataclasses.replace(recipient, created_at=schema.to_ms(before["created_at"])), False


class RecipientDocuments(Translating):
    _recipients: Collection[Document]

    def put_recipient(self, recipient: Recipient) -> tuple[Recipient, bool]:
        with self._translated("put recipient"):
            before = self._recipients.find_one_and_update(
                {"_id": recipient_id(recipient.tenant, recipient.user_id)}, changes(recipient),
                projection={"created_at": 1}, upsert=True,
                return_document=ReturnDocument.BEFORE,
            )  # fmt: skip
        return as_stored(recipient, before)

    def put_recipients(self, recipients: Sequence[Recipient]) -> list[tuple[Recipient, bool]]:
        if not recipients:
            return []
        ids = [recipient_id(r.tenant, r.user_id) for r in recipients]
        with self._translated("put recipients"):
            found = self._recipients.find({"_id": {"$in": ids}}, {"created_at": 1})
            before = {doc["_id"]: doc for doc in found}
            writes = [UpdateOne({"_id": key}, changes(r), upsert=True)
                      for key, r in zip(ids, recipients, strict=True)]  # fmt: skip
            upserted = self._recipients.bulk_write(writes, ordered=False).upserted_ids or {}
        # created is what the write did (one deleted since the read above is created again)
        return [
            as_stored(r, None if index in upserted else before.get(ids[index]))
            for index, r in enumerate(recipients)
        ]

    def get_recipient(self, tenant_id: str, user_id: str) -> Recipient | None:
        with self._translated("get recipient"):
            doc = self._recipients.find_one({"_id": recipient_id(tenant_id, user_id)})
        return to_recipient(doc) if doc else None

    def recipients_by_ids(self, tenant_id: str, user_ids: Sequence[str]) -> dict[str, Recipient]:
        if not user_ids:
            return {}
        ids = [recipient_id(tenant_id, user_id) for user_id in dict.fromkeys(user_ids)]
        with self._translated("recipients by ids"):
            docs = list(self._recipients.find({"_id": {"$in": ids}}))
        return {doc["user_id"]: to_recipient(doc) for doc in docs}

    def delete_recipient(self, tenant_id: str, user_id: str) -> bool:
        with self._translated("delete recipient"):
            deleted = self._recipients.delete_one({"_id": recipient_id(tenant_id, user_id)})
        return deleted.deleted_count > 0

    def list_recipients(
        self, tenant_id: str, limit: int, after_user_id: str | None
    ) -> list[Recipient]:
        query: Document = {"tenant_id": tenant_id}
        if after_user_id is not None:
            query["user_id"] = {"$gt": after_user_id}
        with self._translated("list recipients"):
            docs = list(self._recipients.find(query).sort(BY_USER).limit(limit))
        return [to_recipient(doc) for doc in docs]

    def remove_device_tokens(
        self, tenant_id: str, user_id: str, tokens: Sequence[str], now: int
    ) -> int:
        gone = list(dict.fromkeys(tokens))
        if not gone:
            return 0
        with self._translated("remove device tokens"):
            before = self._recipients.find_one_and_update(
                {"_id": recipient_id(tenant_id, user_id), "devices.token": {"$in": gone}},
                {"$pull": {"devices": {"token": {"$in": gone}}},
                 "$set": {"updated_at": schema.to_date(now)}},
                projection={"devices": 1}, return_document=ReturnDocument.BEFORE,
            )  # fmt: skip
        if before is None:  # unknown, or none of its devices holds one of the tokens
            return 0
        return sum(1 for device in before.get("devices", []) if device["token"] in gone)
