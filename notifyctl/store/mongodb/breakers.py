"""Each destination's circuit breaker, shared by the workers on every host (the ``breakers``
collection, ``_id`` = the destination; the port: ``store/breakers.py``). A part of ``MongoStore``
of its own, because nothing in it touches a notification.

Times are the calling worker's epoch milliseconds, stored as integers (not dates) as the port
takes them, so both stores return identical ``Breaker`` values. ``_id`` serves every query.

``open_breaker`` is optimistic: it reads the document and writes its successor only while the
document is still as read (an insert when there was none, whose duplicate ``_id`` means another
worker inserted first; else an update filtered on ``open_until`` and ``reopenings`` as read). When
the write loses such a race it reads again and applies the rules to what it finds, which is then
nearly always a circuit another worker just opened: left as it is. ``take_probe`` is one
conditional update.
"""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from notifyctl.errors import StoreError
from notifyctl.flow import Breaker, opening
from notifyctl.model import CANCELLABLE, Notification
from notifyctl.store.mongodb.connection import Translating
from notifyctl.store.mongodb.ops import of_tenant
from notifyctl.store.mongodb.schema import CLAIMABLE_FILTER, to_notification

Document = dict[str, Any]
#: reads and writes of one ``open_breaker`` before it gives up: each lost race means another
#: worker changed the circuit, after which the next read finds it open, so 2 nearly always do
OPEN_ATTEMPTS = 5


def to_breaker(doc: Document) -> Breaker:
    probe_until = doc.get("probe_until")
    return Breaker(
        destination=doc["_id"], open_until=int(doc["open_until"]),
        reopenings=int(doc["reopenings"]), failure_ratio=float(doc["failure_ratio"]),
        probe_by=doc.get("probe_by"), probe_until=None if probe_until is None else int(probe_until),
        updated_at=int(doc["updated_at"]),
    )  # fmt: skip


def breaker_fields(breaker: Breaker) -> Document:
    """Every field but ``_id``: a reopening ``$set``s them all, clearing the probe."""
    return {
        "open_until": breaker.open_until, "reopenings": breaker.reopenings,
        "failure_ratio": breaker.failure_ratio, "probe_by": breaker.probe_by,
        "probe_until": breaker.probe_until, "updated_at": breaker.updated_at,
    }  # fmt: skip


class BreakerDocuments(Translating):
    """A part of ``MongoStore``: the ``BreakerStore`` port (see ``store/breakers.py``)."""

    _db: Database[Document]

    @property
    def _breakers(self) -> Collection[Document]:
        return self._db["breakers"]

    def open_breaker(
        self, destination: str, now: int, failure_ratio: float, cooldown_ms: list[int]
    ) -> Breaker:
        with self._translated("open breaker"):
            for _ in range(OPEN_ATTEMPTS):
                doc = self._breakers.find_one({"_id": destination})
                current = None if doc is None else to_breaker(doc)
                if current is not None and now < current.open_until:
                    return current  # another worker opened it first: its cooldown stands
                reopenings = 0 if current is None else current.reopenings
                opened = opening(destination, reopenings, now, failure_ratio, cooldown_ms)
                if self._replace(current, opened):
                    return opened
        raise StoreError(
            f"mongodb store {self.url}: open breaker {destination}: it kept changing while"
            f" being opened ({OPEN_ATTEMPTS} attempts)"
        )

    def _replace(self, current: Breaker | None, opened: Breaker) -> bool:
        """Write ``opened`` only while the circuit is still ``current`` (None: absent); False
        when another worker changed it first."""
        if current is None:
            try:
                self._breakers.insert_one({"_id": opened.destination, **breaker_fields(opened)})
            except DuplicateKeyError:
                return False
            return True
        as_read = {
            "_id": current.destination, "open_until": current.open_until,
            "reopenings": current.reopenings,
        }  # fmt: skip
        return (
            self._breakers.update_one(as_read, {"$set": breaker_fields(opened)}).matched_count > 0
        )

    def take_probe(self, destination: str, worker_id: str, now: int, lease_ms: int) -> bool:
        half_open_and_free = {
            "_id": destination, "open_until": {"$lte": now},
            # null matches the cleared probe (and a missing field); a passed lease is free too
            "$or": [{"probe_until": None}, {"probe_until": {"$lte": now}}],
        }  # fmt: skip
        probe = {"probe_by": worker_id, "probe_until": now + lease_ms, "updated_at": now}
        with self._translated("take probe"):
            result = self._breakers.update_one(half_open_and_free, {"$set": probe})
        return result.matched_count == 1

    def close_breaker(self, destination: str) -> bool:
        with self._translated("close breaker"):
            return self._breakers.delete_one({"_id": destination}).deleted_count > 0

    def count_waiting(self, destination: str) -> int:
        with self._translated("count waiting"):
            return self._db["notifications"].count_documents(
                {**CLAIMABLE_FILTER, "destination": destination}
            )

    def waiting_for(
        self, destination: str, limit: int, tenant_id: str | None = None
    ) -> list[Notification]:
        waiting = {"status": {"$in": list(CANCELLABLE)}, "destination": destination}
        with self._translated("waiting for"):
            docs = self._db["notifications"].find(
                {**waiting, **of_tenant(tenant_id)}, sort=[("available_at", 1)], limit=limit
            )
            return [to_notification(doc) for doc in docs]

    def breakers(self) -> list[Breaker]:
        with self._translated("breakers"):
            docs = list(self._breakers.find({}).sort("_id", 1))
        return [to_breaker(doc) for doc in docs]
