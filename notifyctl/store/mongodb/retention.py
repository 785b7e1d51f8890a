"""The MongoDB store's retention: ``purge_terminal``, the same batches the SQLite store deletes.

With ``NOTIFYCTL_RETENTION_DAYS`` set, the ``retention`` TTL index (``schema.retention_index``)
already deletes terminal notifications on the server, on its own schedule (about once a minute).
The workers' purge runs as well, so the port's contract and the retention metric are the same on
every store; whichever deletes a document first, the other finds nothing to do.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection

from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import Translating


def older_terminal(before: int) -> dict[str, Any]:
    """Terminal and last changed before ``before``: served by the ``status_updated`` index (a
    range per terminal status, merged in ``updated_at`` order) or the TTL index."""
    return {**schema.TERMINAL_FILTER, "updated_at": {"$lt": schema.to_date(before)}}


class RetentionDocuments(Translating):
    """A part of ``MongoStore``: ``purge_terminal`` (see ``base.py``)."""

    _notifications: Collection[dict[str, Any]]

    def purge_terminal(self, before: int, limit: int) -> int:
        if limit <= 0:  # limit(0) would mean "no limit" to the server
            return 0
        query = older_terminal(before)
        with self._translated("purge terminal"):
            found = self._notifications.find(query, {"_id": 1}).sort("updated_at", ASCENDING)
            ids = [doc["_id"] for doc in found.limit(limit)]
            if not ids:
                return 0
            # the filter again: a document replayed since the find (no longer terminal) stays
            return self._notifications.delete_many({"_id": {"$in": ids}, **query}).deleted_count
