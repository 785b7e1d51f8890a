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

from notifyctl.recipient_json import from_fields, to_fields
from notifyctl.recipients import Recipient
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import Translating

Document = dict[str, Any]
#: the listing's order, on the (tenant_id, user_id) index
BY_USER = [("user_id", ASCENDING)]
#: what a write reads back of what it wrote
STAMPS = {"created_at": 1, "revision": 1}


def recipient_id(tenant_id: str, user_id: str) -> str:
    return f"{tenant_id}/{user_id}"


def replacement(recipient: Recipient) -> Document:
    """The update that replaces the recipient's fields, one more revision."""
    fields = to_fields(recipient)
    devices = fields.pop("devices", [])
    return {
        "$set": {"fields": json.dumps(fields, separators=(",", ":"), ensure_ascii=False),
                 "devices": devices, "updated_at": schema.to_date(recipient.updated_at)},
        "$inc": {"revision": 1},
    }  # fmt: skip


def changes(recipient: Recipient) -> Document:
    """The upsert that creates or replaces the recipient, keeping a replaced one's created_at
    (``$inc`` on an insert makes the revision 1)."""
    return {
        **replacement(recipient),
        "$setOnInsert": {"tenant_id": recipient.tenant, "user_id": recipient.user_id,
                         "created_at": schema.to_date(recipient.created_at)},
    }  # fmt: skip


def to_recipient(doc: Document) -> Recipient:
    fields = json.loads(doc["fields"])
    if doc.get("devices"):
        fields["devices"] = doc["devices"]
    return from_fields(
        doc["tenant_id"], doc["user_id"], fields, schema.to_ms(doc["created_at"]),
        schema.to_ms(doc["updated_at"]), doc["revision"],
    )  # fmt: skip


def as_stored(recipient: Recipient, stored: Document | None) -> Recipient:
    """The recipient with the ``created_at`` and ``revision`` of ``stored`` (None: as it came,
    just created)."""
    if stored is None:
        return dataclasses.replace(recipient, revision=1)
    created_at = schema.to_ms(stored["created_at"])
    return dataclasses.replace(recipient, created_at=created_at, revision=stored["revision"])


class RecipientDocuments(Translating):
    _recipients: Collection[Document]

    def put_recipient(self, recipient: Recipient) -> tuple[Recipient, bool]:
        with self._translated("put recipient"):
            after = self._recipients.find_one_and_update(
                {"_id": recipient_id(recipient.tenant, recipient.user_id)}, changes(recipient),
                projection=STAMPS, upsert=True, return_document=ReturnDocument.AFTER,
            )  # fmt: skip
        # an upsert always leaves a document; its first write made it revision 1
        created = after is None or after["revision"] == 1
        return as_stored(recipient, after), created

    def replace_recipient(self, recipient: Recipient, revision: int) -> Recipient | None:
        key = recipient_id(recipient.tenant, recipient.user_id)
        with self._translated("replace recipient"):
            after = self._recipients.find_one_and_update(
                {"_id": key, "revision": revision}, replacement(recipient), projection=STAMPS,
                return_document=ReturnDocument.AFTER,
            )  # fmt: skip
        return None if after is None else as_stored(recipient, after)

    def put_recipients(self, recipients: Sequence[Recipient]) -> list[tuple[Recipient, bool]]:
        if not recipients:
            return []
        ids = [recipient_id(r.tenant, r.user_id) for r in recipients]
        with self._translated("put recipients"):
            writes = [UpdateOne({"_id": key}, changes(r), upsert=True)
                      for key, r in zip(ids, recipients, strict=True)]  # fmt: skip
            upserted = self._recipients.bulk_write(writes, ordered=False).upserted_ids or {}
            # read back after: a later write may be seen, never an earlier state
            stamps = {doc["_id"]: doc for doc in self._recipients.find({"_id": {"$in": ids}},
                                                                         STAMPS)}  # fmt: skip
        return [(as_stored(r, stamps.get(key)), index in upserted)
                for index, (key, r) in enumerate(zip(ids, recipients, strict=True))]  # fmt: skip

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
                 "$set": {"updated_at": schema.to_date(now)}, "$inc": {"revision": 1}},
                projection={"devices": 1}, return_document=ReturnDocument.BEFORE,
            )  # fmt: skip
        if before is None:  # unknown, or none of its devices holds one of the tokens
            return 0
        return sum(1 for device in before.get("devices", []) if device["token"] in gone)
