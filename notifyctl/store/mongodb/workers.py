"""The workers' documents: who is running, since when, how busy, and the last heartbeat of each.
A part of ``MongoStore`` of its own, because nothing in it touches a notification."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection

from notifyctl.model import WorkerRecord
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.connection import Translating


class WorkerRows(Translating):
    _workers: Collection[dict[str, Any]]

    def register_worker(self, record: WorkerRecord) -> None:
        with self._translated("register worker"):
            self._workers.replace_one(
                {"_id": record.id}, schema.worker_document(record), upsert=True
            )

    def heartbeat(
        self, worker_id: str, now: int, in_flight: int, processed: int,
        cpu_percent: float = 0.0, rss_bytes: int = 0,
    ) -> None:  # fmt: skip
        alive = {
            "last_heartbeat": schema.to_date(now), "in_flight": in_flight,
            "processed": processed, "cpu_percent": cpu_percent, "rss_bytes": rss_bytes,
        }  # fmt: skip
        with self._translated("heartbeat"):
            self._workers.update_one({"_id": worker_id}, {"$set": alive})

    def deregister_worker(self, worker_id: str) -> None:
        with self._translated("deregister worker"):
            self._workers.delete_one({"_id": worker_id})

    def prune_workers(self, stale_before: int) -> int:
        with self._translated("prune workers"):
            stale = {"last_heartbeat": {"$lt": schema.to_date(stale_before)}}
            return self._workers.delete_many(stale).deleted_count

    def workers(self) -> list[WorkerRecord]:
        with self._translated("workers"):
            docs = list(self._workers.find().sort([("worker_number", 1), ("started_at", 1)]))
        return [schema.to_worker(doc) for doc in docs]
