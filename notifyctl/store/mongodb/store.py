"""``MongoStore``: the store port on MongoDB (see the package's docstring for its features).

Every write is a single-document atomic operation; MongoDB has no multi-document atomicity
without transactions, so the port's batch methods are built from them: claims, renewals and
outcomes as ``leases`` describes, and ``insert_many`` as one unordered insert. Every
decision about time is the server's clock, not the caller's ``now`` (``clock``). Each
notification is atomic and durable on its own (per the URL's write concern), and retryable writes
make a retry after a failover insert nothing twice. Replays and conflicts come from the unique
idempotency index.

``MongoStore`` implements the port (``base.py``) and wraps each call to the server in the error
translation (a claim wraps each notification's); the rest lives beside it (the package's
docstring names each module).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pymongo
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError

from notifyctl.config import Config, redacted
from notifyctl.errors import StoreError, StoreUnavailable
from notifyctl.model import (
    CLAIMABLE,
    AttemptRecord,
    BacklogRow,
    Claim,
    DeadLetter,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    Status,
)
from notifyctl.store import dead_letter_outbox
from notifyctl.store.mongodb import dead_letters, leases, ops, schema
from notifyctl.store.mongodb.breakers import BreakerDocuments
from notifyctl.store.mongodb.clock import NowExpression, server_now
from notifyctl.store.mongodb.connection import STARTUP_ATTEMPTS, open_client, start
from notifyctl.store.mongodb.keys import KeyRows
from notifyctl.store.mongodb.limits import LimitDocuments
from notifyctl.store.mongodb.ops import of_tenant
from notifyctl.store.mongodb.pauses import PauseDocuments
from notifyctl.store.mongodb.pool import PoolSize, PoolStats, auto_pool_size, pool_size
from notifyctl.store.mongodb.recipients import RecipientDocuments
from notifyctl.store.mongodb.retention import RetentionDocuments
from notifyctl.store.mongodb.secrets import SecretDocuments
from notifyctl.store.mongodb.templates import TemplateDocuments
from notifyctl.store.mongodb.workers import WorkerRows
from notifyctl.store.mongodb.writes import first_of_each_key, insert_results, refused_for_their_key

# the adapter logs under one name, whichever of its modules speaks
log = logging.getLogger("notifyctl.store.mongodb")
Document = dict[str, Any]
PING_TIMEOUT_S = 2.0


class MongoStore(
    SecretDocuments,
    WorkerRows,
    KeyRows,
    LimitDocuments,
    RecipientDocuments,
    TemplateDocuments,
    RetentionDocuments,
    BreakerDocuments,
    PauseDocuments,
):
    """One MongoClient (thread-safe, pooled) per store object, shared by a process's threads."""

    def __init__(
        self,
        url: str,
        size: PoolSize,
        retention_days: int = 0,
        startup_attempts: int = STARTUP_ATTEMPTS,
        priority_ageing_ms: int = 0,
        dead_letter_outbox: bool = False,
        now_expression: NowExpression = server_now,
    ) -> None:
        """``now_expression``: what the server takes as "now" given a caller's ``now``; the
        server's clock but in tests of time-dependent rules (see ``clock``)."""
        self.url = redacted(url)
        #: see ``notifyctl.claim_order``
        self._ageing_ms = priority_ageing_ms
        #: mark deaths for the dead-letter publisher (a broker is configured; see base.py)
        self._outbox = dead_letter_outbox
        self._now = now_expression
        self._stats = PoolStats(size)
        self._client, self._db = open_client(url, size, self._stats)
        self._notifications: Collection[Document] = self._db["notifications"]
        self._workers: Collection[Document] = self._db["workers"]
        self._secrets: Collection[Document] = self._db["webhook_secrets"]
        self._keys: Collection[Document] = self._db["api_keys"]
        self._limits: Collection[Document] = self._db["tenant_limits"]
        self._usage: Collection[Document] = self._db["quota_usage"]
        self._recipients: Collection[Document] = self._db["recipients"]
        self._templates: Collection[Document] = self._db["templates"]
        start(self._client, self._db, self.url, startup_attempts, retention_days)

    @classmethod
    def from_config(cls, config: Config, now_expression: NowExpression = server_now) -> MongoStore:
        auto = auto_pool_size(config.num_workers, config.num_api_instances)
        size = pool_size(
            config.store_url, config.mongodb_max_pool_size, config.mongodb_min_pool_size, auto
        )
        return cls(
            config.store_url, size, config.retention_days,
            priority_ageing_ms=config.priority_ageing_ms,
            dead_letter_outbox=dead_letter_outbox(config), now_expression=now_expression,
        )  # fmt: skip

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        fresh = first_of_each_key(items)
        refused = self._insert(fresh, now)
        keys = {(i.tenant_id, i.idempotency_key) for i in fresh if i.id in refused}
        holders: dict[tuple[str, str | None], Notification] = {}
        if keys:
            with self._translated("insert"):
                for doc in self._notifications.find(schema.holding_keys(keys)):
                    found = schema.to_notification(doc)
                    holders[found.tenant_id, found.idempotency_key] = found
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

    def get(self, notification_id: str, tenant_id: str | None = None) -> Notification | None:
        with self._translated("get"):
            doc = self._notifications.find_one({"_id": notification_id, **of_tenant(tenant_id)})
        return schema.to_notification(doc) if doc else None

    def list_notifications(
        self,
        status: str | None,
        user_id: str | None,
        limit: int,
        before_id: str | None,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        # ids are ULIDs: newest first is _id descending, walked by the tenant, status or user index
        query: Document = {"tenant_id": tenant_id, "status": status, "user_id": user_id}
        query = {field: value for field, value in query.items() if value is not None}
        if before_id is not None:
            query["_id"] = {"$lt": before_id}
        with self._translated("list"):
            docs = list(self._notifications.find(query).sort("_id", -1).limit(limit))
        return [schema.to_notification(doc) for doc in docs]

    def message_notifications(
        self, message_id: str, tenant_id: str | None = None
    ) -> list[Notification]:
        query = {"message_id": message_id, **of_tenant(tenant_id)}
        with self._translated("message"):
            docs = list(self._notifications.find(query).sort("_id", 1))
        return [schema.to_notification(doc) for doc in docs]

    def cancel(
        self, notification_id: str, now: int, tenant_id: str | None = None
    ) -> tuple[str, Notification | None]:
        at = self._now(now)
        mine = {"_id": notification_id, **of_tenant(tenant_id)}
        expired = {"$expr": {"$lte": ["$lock_expiry", at]}}
        free = [{"locked_by": {"$exists": False}}, expired]
        with self._translated("cancel"):
            doc = self._notifications.find_one_and_update(
                {**mine, **schema.CANCELLABLE_FILTER, "$or": free},
                [
                    {"$set": {"status": Status.CANCELLED.value, "updated_at": at}},
                    {"$unset": list(schema.LEASE_FIELDS)},
                ],
                return_document=ReturnDocument.AFTER,
            )
            if doc is not None:
                return "cancelled", schema.to_notification(doc)
            doc = self._notifications.find_one(mine)
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
        return leases.claim_batch(
            self._notifications, self.url, worker_id, limit, self._now(now), lease_ms, buried,
            self._ageing_ms, self._outbox,
        )  # fmt: skip

    def claim_ids(
        self,
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        return leases.claim_ids(
            self._notifications,
            self.url,
            ids,
            worker_id,
            self._now(now),
            lease_ms,
            buried,
            self._outbox,
        )

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        with self._translated("renew"):
            return leases.renew(self._notifications, claims, self._now(now), lease_ms)

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        with self._translated("finish"):
            return leases.finish(self._notifications, outcomes, now, self._now(now), self._outbox)

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

    def counts(self, now: int, tenant_id: str | None = None) -> dict[str, int]:
        """One aggregation: the counts by status and of live leases come from the same pass."""
        live = {"$cond": [{"$gt": ["$lock_expiry", self._now(now)]}, 1, 0]}
        group = {"$group": {"_id": "$status", "count": {"$sum": 1}, "locked": {"$sum": live}}}
        stages = [{"$match": of_tenant(tenant_id)}, group] if tenant_id is not None else [group]
        with self._translated("counts"):
            rows = list(self._notifications.aggregate(stages))
        by_status = {row["_id"]: int(row["count"]) for row in rows}
        result = {status.value: by_status.get(status.value, 0) for status in Status}
        result["locked"] = sum(int(row["locked"]) for row in rows if row["_id"] in CLAIMABLE)
        return result

    def pool_stats(self) -> dict[str, int]:
        return self._stats.snapshot()

    # -- operations (queries in ops) ------------------------------------------------------

    def oldest_due(self, now: int, tenant_id: str | None = None) -> int | None:
        with self._translated("oldest due"):
            return ops.oldest_due(self._notifications, self._now(now), tenant_id)

    def backlog(self, now: int) -> list[BacklogRow]:
        with self._translated("backlog"):
            return ops.backlog(self._notifications, self._now(now))

    def finished_since(self, since: int, tenant_id: str | None = None) -> dict[str, int]:
        with self._translated("finished since"):
            return ops.finished_since(self._notifications, since, tenant_id)

    def delivered_series(
        self, since: int, step_ms: int, steps: int, tenant_id: str | None = None
    ) -> list[int]:
        with self._translated("delivered series"):
            return ops.delivered_series(self._notifications, since, step_ms, steps, tenant_id)

    def dead_letters(
        self,
        since: int | None,
        until: int | None,
        channel: str | None,
        limit: int,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        with self._translated("dead letters"):
            docs = ops.dead_letters(self._notifications, since, until, channel, limit, tenant_id)
        return [schema.to_notification(doc) for doc in docs]

    def replay(self, ids: Sequence[str], now: int) -> list[str]:
        with self._translated("replay"):
            return ops.replay(self._notifications, ids, self._now(now))

    def take_dead_letters(self, limit: int, now: int, lease_ms: int) -> list[DeadLetter]:
        with self._translated("take dead letters"):
            return dead_letters.take(self._notifications, limit, now, lease_ms)

    def clear_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        with self._translated("clear dead letters"):
            return dead_letters.clear(self._notifications, letters)

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
