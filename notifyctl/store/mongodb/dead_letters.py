"""The MongoDB store's dead-letter outbox: ``dead_letter_at`` is when a dead notification's dead
letter is due to be published (its death, or the end of a publisher's lease), absent once the
broker confirmed it or when there is none to publish; the partial index ``dead_letters`` holds
only the documents that have it.

A take is one ``update_many`` over the candidates it found, conditional on each still being due
and marking what it won with a fresh ``dead_letter_token``, then a read-back of that token (as
``claim_ids`` does): two publishers never both win a dead letter while its lease runs. The clear
is fenced on the token and on ``lock_version`` (a later death comes with a new claim).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection

from notifyctl.model import DeadLetter
from notifyctl.store.mongodb import schema

Document = dict[str, Any]
#: the field a death sets when the store keeps the outbox (see ``writes``), and its index
MARK = "dead_letter_at"
INDEX = schema.DEAD_LETTER_INDEX
CLEARED = {MARK: "", "dead_letter_token": ""}


def take(
    notifications: Collection[Document], limit: int, now: int, lease_ms: int
) -> list[DeadLetter]:
    # the partial index's own filter, spelled out, so its hint is valid on any server
    due = {MARK: {"$exists": True, "$lte": schema.to_date(now)}}
    candidates = notifications.find(due, {"_id": 1}).sort(MARK, ASCENDING).hint(INDEX).limit(limit)
    ids = [doc["_id"] for doc in candidates]
    if not ids:
        return []
    token = uuid.uuid4().hex
    lease = {MARK: schema.to_date(now + lease_ms), "dead_letter_token": token}
    notifications.update_many({"_id": {"$in": ids}, **due}, {"$set": lease})
    won = [schema.to_notification(doc) for doc in notifications.find({"dead_letter_token": token})]
    won.sort(key=lambda n: (n.updated_at, n.id))
    return [DeadLetter(n, token) for n in won]


def clear(notifications: Collection[Document], letters: Sequence[DeadLetter]) -> int:
    if not letters:
        return 0
    fences = [
        {"_id": d.id, "dead_letter_token": d.token, "lock_version": d.notification.lock_version}
        for d in letters
    ]
    updates = [UpdateOne(fence, {"$unset": CLEARED}) for fence in fences]
    return notifications.bulk_write(updates, ordered=False).modified_count
