"""The shared store for many hosts: MongoDB through the pymongo driver.

Every write is a single-document atomic operation; MongoDB has no multi-document atomicity
without transactions, so the port's batch methods are built from them as follows.

- Claims: repeated ``find_one_and_update`` on the claim index (priority, then earliest
  ``available_at``), each deciding in one pipeline update whether the notification is claimed or,
  out of attempts, made ``dead``. There is no ``updateMany(..., {limit})`` in MongoDB.
- Renewals and outcomes: one bulk write of updates (ordered for outcomes, so they apply as if
  written one by one), each conditional on ``(locked_by, lock_version)``. Outcomes carry a fresh
  ``finish_token``, so when some are refused the adapter reads back exactly which were applied.
- ``insert_many``: one unordered insert; each notification is atomic and durable on its own (per
  the URL's write concern), and retryable writes make a retry after a failover insert nothing
  twice. Replays and conflicts come from the unique idempotency index.

Driver exceptions never leave the adapter: ``mongo_connection`` opens the client, waits for the
server at start-up and turns them into StoreUnavailable or StoreError.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import pymongo
from pymongo import ReturnDocument, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from notifyctl.config import Config, redacted
from notifyctl.errors import StoreError, StoreUnavailable
from notifyctl.lease import lease_expiry
from notifyctl.model import (
    CLAIMABLE,
    AttemptRecord,
    BacklogRow,
    Claim,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    Status,
    WorkerRecord,
)
from notifyctl.store import mongo_ops as ops
from notifyctl.store import mongo_schema as schema
from notifyctl.store.mongo_connection import STARTUP_ATTEMPTS, open_client, start, translated
from notifyctl.store.mongo_pool import PoolSize, PoolStats, auto_pool_size, pool_size
from notifyctl.store.mongo_writes import (
    claim_order,
    claim_update,
    fence,
    finish_report,
    finish_update,
    first_of_each_key,
    holds,
    insert_results,
    reclaimed,
    refused_for_their_key,
)

log = logging.getLogger(__name__)
Document = dict[str, Any]
PING_TIMEOUT_S = 2.0


class MongoStore:
    """One MongoClient (thread-safe, pooled) per store object, shared by a process's threads."""

    def __init__(
        self,
        url: str,
        size: PoolSize,
        retention_days: int = 0,
        startup_attempts: int = STARTUP_ATTEMPTS,
    ) -> None:
        self.url = redacted(url)
        self._stats = PoolStats(size)
        self._client, self._db = open_client(url, size, self._stats)
        self._notifications: Collection[Document] = self._db["notifications"]
        self._workers: Collection[Document] = self._db["workers"]
        start(self._client, self._db, self.url, startup_attempts, retention_days)

    @classmethod
    def from_config(cls, config: Config) -> MongoStore:
        auto = auto_pool_size(config.num_workers, config.num_api_instances)
        size = pool_size(
            config.store_url, config.mongodb_max_pool_size, config.mongodb_min_pool_size, auto
        )
        return cls(config.store_url, size, config.retention_days)

    def _translated(self, doing: str) -> AbstractContextManager[None]:
        return translated(self.url, doing)

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        fresh = first_of_each_key(items)
        refused = self._insert(fresh, now)
        keys = sorted({i.idempotency_key for i in fresh if i.id in refused and i.idempotency_key})
        holders: dict[str, Notification] = {}
        if keys:
            with self._translated("insert"):
                for doc in self._notifications.find({"idempotency_key": {"$in": keys}}):
                    holders[doc["idempotency_key"]] = schema.to_notification(doc)
        return insert_results(items, refused, holders, now)

    def _insert(self, items: Sequence[NewNotification], now: int) -> set[str]:
        """Insert what it can; returns the ids refused because their idempotency key exists."""
        if not items:
            return set()
        documents = [schema.new_document(item, now) for item in items]
        try:
            with self._translated("insert"):
                self._notifications.insert_many(documents, ordered=False)
        except StoreError as exc:
            if not isinstance(exc.__cause__, BulkWriteError):
                raise
            return {items[i].id for i in refused_for_their_key(exc.__cause__.details)}
        return set()

    def ping(self) -> None:
        """Bounded well below the server-selection timeout: a health check must answer quickly."""
        try:
            with self._translated("ping"), pymongo.timeout(PING_TIMEOUT_S):
                self._client.admin.command("ping")
        except StoreError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def get(self, notification_id: str) -> Notification | None:
        with self._translated("get"):
            doc = self._notifications.find_one({"_id": notification_id})
        return schema.to_notification(doc) if doc else None

    def list_notifications(
        self, status: str | None, user_id: str | None, limit: int, before_id: str | None
    ) -> list[Notification]:
        # ids are ULIDs: newest first is _id descending, walked by the status or user index
        query: Document = {"status": status, "user_id": user_id}
        query = {field: value for field, value in query.items() if value is not None}
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        with self._translated("list"):
            docs = list(self._notifications.find(query).sort("_id", -1).limit(limit))
        return [schema.to_notification(doc) for doc in docs]

    def cancel(self, notification_id: str, now: int) -> tuple[str, Notification | None]:
        free = [{"locked_by": {"$exists": False}}, {"lock_expiry": {"$lte": schema.to_date(now)}}]
        with self._translated("cancel"):
            doc = self._notifications.find_one_and_update(
                {"_id": notification_id, **schema.CLAIMABLE_FILTER, "$or": free},
                {
                    "$set": {"status": Status.CANCELLED.value, "updated_at": schema.to_date(now)},
                    "$unset": dict.fromkeys(schema.LEASE_FIELDS, ""),
                },
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return "cancelled", schema.to_notification(doc)
            doc = self._notifications.find_one({"_id": notification_id})
        if doc is None:
            return "not_found", None
        return "conflict", schema.to_notification(doc)

    def claim_batch(
        self,
        worker_id: str,
        limit: int,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        update = claim_update(worker_id, now, lease_expiry(now, lease_ms))
        claims: list[Claim] = []
        # each buried (out of attempts) notification costs one operation but no slot
        for _ in range(2 * limit):
            doc = self._claim_one(schema.due(now), update, claims, sort=True)
            if doc is None:
                break
            self._keep(doc, worker_id, claims, buried)
            if len(claims) == limit:
                break
        return sorted(claims, key=claim_order)

    def claim_ids(
        self,
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        update = claim_update(worker_id, now, lease_expiry(now, lease_ms))
        claims: list[Claim] = []
        for notification_id in dict.fromkeys(ids):
            doc = self._claim_one({"_id": notification_id, **schema.due(now)}, update, claims)
            if doc is not None:
                self._keep(doc, worker_id, claims, buried)
        return sorted(claims, key=claim_order)

    def _keep(
        self,
        doc: Document,
        worker_id: str,
        claims: list[Claim],
        buried: list[Notification] | None,
    ) -> None:
        """A claimed document joins ``claims``; one the claim update buried, ``buried``."""
        if doc["status"] != Status.DEAD:
            claims.append(self._claim_of(doc, worker_id))
        elif buried is not None:
            buried.append(schema.to_notification(doc))

    def _claim_one(
        self, query: Document, update: list[Document], won: list[Claim], sort: bool = False
    ) -> Document | None:
        """One atomic claim. A failure after some claims were won ends the batch with them:
        raising would strand their leases (and their attempts) until they expire."""
        order: dict[str, Any] = (
            {"sort": schema.CLAIM_SORT, "hint": schema.CLAIM_INDEX} if sort else {}
        )
        try:
            with self._translated("claim"):
                return self._notifications.find_one_and_update(
                    query, update, return_document=ReturnDocument.AFTER, **order
                )
        except StoreError as exc:
            if not won:
                raise
            log.warning("claim stopped after %d won: %s", len(won), exc)
            return None

    @staticmethod
    def _claim_of(doc: Document, worker_id: str) -> Claim:
        notification = schema.to_notification(doc)
        assert notification.lock_expiry is not None
        expiry, version = notification.lock_expiry, notification.lock_version
        return Claim(notification, worker_id, version, expiry, reclaimed(doc))

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        if not claims:
            return []
        expiry = schema.to_date(lease_expiry(now, lease_ms))
        extend = {"lock_expiry": expiry, "available_at": expiry, "updated_at": schema.to_date(now)}
        with self._translated("renew"):
            result = self._notifications.bulk_write(
                [UpdateOne(fence(claim), {"$set": extend}) for claim in claims], ordered=False
            )
            if result.matched_count == len(claims):
                return []
            # a renewed lease is live, so nobody can take it between the write and this read
            held = {
                doc["_id"]: doc
                for doc in self._notifications.find(
                    {"_id": {"$in": [claim.id for claim in claims]}},
                    {"locked_by": 1, "lock_version": 1},
                )
            }
        return [claim.id for claim in claims if not holds(held.get(claim.id), claim)]

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        """In order, as if each outcome were written on its own: an ordered bulk write."""
        if not outcomes:
            return FinishReport()
        token = uuid.uuid4().hex
        updates = [UpdateOne(fence(o.claim), finish_update(o, now, token)) for o in outcomes]
        with self._translated("finish"):
            applied = self._notifications.bulk_write(updates, ordered=True).matched_count
            if applied == len(outcomes):
                return FinishReport(applied=applied)
            ids = [outcome.claim.id for outcome in outcomes]
            finished = {
                doc["_id"]: doc["lock_version"]
                for doc in self._notifications.find(
                    {"_id": {"$in": ids}, "finish_token": token}, {"lock_version": 1}
                )
            }
        return finish_report(outcomes, finished)

    def finish_and_claim_ids(
        self,
        outcomes: Sequence[Outcome],
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> tuple[FinishReport, list[Claim]]:
        """Two operations: documents are written atomically one by one, with no shared lock
        to save a wait on. Once the outcomes are recorded, a failed claim returns no claims
        rather than raising: the caller would write the outcomes again (and find them stale);
        the ids stay due for the sweep."""
        report = self.finish(outcomes, now)
        try:
            return report, self.claim_ids(ids, worker_id, now, lease_ms, buried)
        except StoreError as exc:
            if not outcomes:
                raise
            log.warning("claim by id after recording %d outcomes failed: %s", len(outcomes), exc)
            return report, []

    def counts(self, now: int) -> dict[str, int]:
        """One aggregation: the counts by status and of live leases come from the same pass."""
        live = {"$cond": [{"$gt": ["$lock_expiry", schema.to_date(now)]}, 1, 0]}
        group = {"$group": {"_id": "$status", "count": {"$sum": 1}, "locked": {"$sum": live}}}
        with self._translated("counts"):
            rows = list(self._notifications.aggregate([group]))
        by_status = {row["_id"]: int(row["count"]) for row in rows}
        result = {status.value: by_status.get(status.value, 0) for status in Status}
        result["locked"] = sum(int(row["locked"]) for row in rows if row["_id"] in CLAIMABLE)
        return result

    def register_worker(self, record: WorkerRecord) -> None:
        with self._translated("register worker"):
            self._workers.replace_one(
                {"_id": record.id}, schema.worker_document(record), upsert=True
            )

    def heartbeat(self, worker_id: str, now: int, in_flight: int, processed: int) -> None:
        alive = {"last_heartbeat": schema.to_date(now), "in_flight": in_flight}
        with self._translated("heartbeat"):
            self._workers.update_one(
                {"_id": worker_id}, {"$set": {**alive, "processed": processed}}
            )

    def deregister_worker(self, worker_id: str) -> None:
        with self._translated("deregister worker"):
            self._workers.delete_one({"_id": worker_id})

    def workers(self) -> list[WorkerRecord]:
        with self._translated("workers"):
            docs = list(self._workers.find().sort([("worker_number", 1), ("started_at", 1)]))
        return [schema.to_worker(doc) for doc in docs]

    def pool_stats(self) -> dict[str, int]:
        return self._stats.snapshot()

    # -- operations (queries in mongo_ops) ------------------------------------------------------

    def oldest_due(self, now: int) -> int | None:
        with self._translated("oldest due"):
            return ops.oldest_due(self._notifications, now)

    def backlog(self, now: int) -> list[BacklogRow]:
        with self._translated("backlog"):
            return ops.backlog(self._notifications, now)

    def finished_since(self, since: int) -> dict[str, int]:
        with self._translated("finished since"):
            return ops.finished_since(self._notifications, since)

    def dead_letters(
        self, since: int | None, until: int | None, channel: str | None, limit: int
    ) -> list[Notification]:
        with self._translated("dead letters"):
            docs = ops.dead_letters(self._notifications, since, until, channel, limit)
        return [schema.to_notification(doc) for doc in docs]

    def replay(self, ids: Sequence[str], now: int) -> list[str]:
        with self._translated("replay"):
            return ops.replay(self._notifications, ids, now)

    def history(self, notification_id: str) -> list[AttemptRecord] | None:
        with self._translated("history"):
            return ops.history(self._notifications, notification_id)

    def indexes(self) -> dict[str, dict[str, Any]]:
        """Every index of both collections as the server reports it, keyed ``collection.name``."""
        with self._translated("indexes"):
            return {
                f"{collection.name}.{name}": dict(info)
                for collection in (self._notifications, self._workers)
                for name, info in collection.index_information().items()
            }

    def close(self) -> None:
        self._client.close()
