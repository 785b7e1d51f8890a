"""The pauses operators put on a channel, a destination or a tenant (the ``pauses`` collection,
``_id`` = ``kind:value``), and the moves of what they hold back (the port: ``store/pauses.py``).

Moves walk the ``status_id`` index from a cursor, ``batch`` documents at a time: a find of their
ids, then one ``update_many`` that re-checks the status (and, parking, that no worker leased it
meanwhile), so a move never overwrites what changed in between. ``updated_at`` is the server's
clock, as everywhere in this adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from notifyctl.model import CLAIMABLE, Status
from notifyctl.pauses import Pause, PauseKind
from notifyctl.store.mongodb.clock import NowExpression
from notifyctl.store.mongodb.connection import Translating

Document = dict[str, Any]
#: the field each kind of pause matches
FIELD = {
    PauseKind.CHANNEL: "channel",
    PauseKind.DESTINATION: "destination",
    PauseKind.TENANT: "tenant_id",
}


def to_pause(doc: Document) -> Pause:
    return Pause(PauseKind(doc["kind"]), doc["value"], int(doc["created_at"]), doc["reason"])


def pause_id(pause: Pause) -> str:
    return f"{pause.kind.value}:{pause.value}"


def not_held(still_paused: Sequence[Pause]) -> Document:
    """The filter of documents none of ``still_paused`` matches."""
    held = [
        {FIELD[kind]: {"$in": values}}
        for kind in PauseKind
        if (values := [pause.value for pause in still_paused if pause.kind is kind])
    ]
    return {"$nor": held} if held else {}


class PauseDocuments(Translating):
    """A part of ``MongoStore``: the ``PauseStore`` port (see ``store/pauses.py``)."""

    _db: Database[Document]
    _notifications: Collection[Document]
    _now: NowExpression

    @property
    def _pauses(self) -> Collection[Document]:
        return self._db["pauses"]

    def add_pause(self, pause: Pause) -> bool:
        doc = {
            "_id": pause_id(pause), "kind": pause.kind.value, "value": pause.value,
            "created_at": pause.created_at, "reason": pause.reason,
        }  # fmt: skip
        with self._translated("add pause"):
            try:
                self._pauses.insert_one(doc)
            except DuplicateKeyError:
                return False
        return True

    def remove_pause(self, pause: Pause) -> bool:
        with self._translated("remove pause"):
            return self._pauses.delete_one({"_id": pause_id(pause)}).deleted_count > 0

    def pauses(self) -> list[Pause]:
        with self._translated("pauses"):
            docs = list(self._pauses.find({}).sort([("kind", 1), ("value", 1)]))
        return [to_pause(doc) for doc in docs]

    def park(self, pause: Pause, now: int, batch: int) -> int:
        match = {FIELD[pause.kind]: pause.value, "locked_by": {"$exists": False}}
        to = {"$set": {"status": Status.PAUSED.value, "updated_at": self._now(now)}}
        return sum(self._move(status, match, [to], batch) for status in CLAIMABLE)

    def unpark(self, now: int, still_paused: Sequence[Pause], batch: int) -> int:
        at = self._now(now)
        back = {"$cond": [
            {"$gt": ["$available_at", at]}, Status.SCHEDULED.value, Status.PENDING.value,
        ]}  # fmt: skip
        to = {"$set": {"status": back, "updated_at": at}}
        return self._move(Status.PAUSED.value, not_held(still_paused), [to], batch)

    def count_paused(self, pause: Pause) -> int:
        with self._translated("count paused"):
            return self._notifications.count_documents(
                {"status": Status.PAUSED.value, FIELD[pause.kind]: pause.value}
            )

    def _move(self, status: str, match: Document, to: list[Document], batch: int) -> int:
        """Move the documents of ``status`` that ``match`` as the pipeline ``to`` says, in
        batches."""
        moved, after = 0, None
        while True:
            query = {"status": status, **match}
            if after is not None:
                query["_id"] = {"$gt": after}
            with self._translated("move paused"):
                ids = [doc["_id"] for doc in self._notifications.find(
                    query, {"_id": 1}, sort=[("_id", 1)], limit=batch,
                )]  # fmt: skip
                if not ids:
                    return moved
                result = self._notifications.update_many(
                    {**match, "_id": {"$in": ids}, "status": status}, to
                )
            moved += result.modified_count
            after = ids[-1]
