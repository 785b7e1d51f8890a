"""How notifications and workers are laid out in MongoDB, and the indexes that serve them.

Times are UTC datetimes (BSON dates: millisecond precision) in the database and integer epoch
milliseconds in the model; the conversion happens here, at the adapter's edge. ``data`` is kept as
its JSON text: every JSON value round-trips exactly, including integers beyond 64 bits and keys
BSON restricts (``$``-prefixed, dotted, containing NUL).

Like the SQLite store, ``available_at`` is the due time of a free notification and the lease
expiry of a leased one, so "due and free, or lease expired" is the single range condition
``available_at <= now`` on the claim index, where ``now`` is the server's clock (``clock``).

``destination`` (``flow.destination_of``) is stored for pauses by destination; it is derived,
so documents of releases before it get it at start-up (``fill_destinations``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure

from notifyctl.claim_order import Band
from notifyctl.errors import StoreError
from notifyctl.flow import destination_of
from notifyctl.model import (
    CANCELLABLE,
    CLAIMABLE,
    DEFAULT_TENANT,
    TERMINAL,
    NewNotification,
    Notification,
    Priority,
    Status,
    WorkerRecord,
)
from notifyctl.store.mongodb.clock import later

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)
LEASE_FIELDS = ("locked_by", "locked_at", "lock_expiry")

CLAIM_INDEX = "claim"
#: the claim: claimable statuses, due (or lease expired), highest priority then earliest first.
#: The statuses are the index's partial filter, so the scan walks (priority, available_at) alone
#: and the index order is the claim order: no in-memory sort.
CLAIM_SORT = [("priority", DESCENDING), ("available_at", ASCENDING)]
#: within one level of ``notifyctl.claim_order``: the longest waiting first (the index serves
#: each band's range in this order, and the server merges them)
LEVEL_SORT = [("available_at", ASCENDING)]
CLAIMABLE_FILTER = {"status": {"$in": list(CLAIMABLE)}}
CANCELLABLE_FILTER = {"status": {"$in": list(CANCELLABLE)}}
TERMINAL_FILTER = {"status": {"$in": sorted(status.value for status in TERMINAL)}}
RETENTION_INDEX = "retention"
DEAD_LETTER_INDEX = "dead_letters"


def to_date(ms: int) -> datetime:
    return EPOCH + ms * MS


def to_ms(value: datetime) -> int:
    return (value - EPOCH) // MS


def optional_ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


def holding_keys(keys: Iterable[tuple[str, str | None]]) -> dict[str, Any]:
    """The filter of the notifications holding these (tenant, idempotency key) pairs."""
    return {"$or": [{"tenant_id": tenant, "idempotency_key": key} for tenant, key in keys]}


def due_in(bands: Sequence[Band], at: dict[str, Any]) -> dict[str, Any]:
    """Claimable and due within one level of the claim order at ``at`` (the server's "now"): each
    band's bounds (from ``claim_levels(0, ...)``) are offsets from ``at``. One range of the claim
    index per band; ``$expr`` because ``$$NOW`` is an aggregation variable."""
    ranges = []
    for band in bands:
        window: list[dict[str, Any]] = [{"$lte": ["$available_at", later(at, band.due_by)]}]
        if band.due_after is not None:
            window.append({"$gt": ["$available_at", later(at, band.due_after)]})
        condition = window[0] if len(window) == 1 else {"$and": window}
        ranges.append({"priority": int(band.priority), "$expr": condition})
    return {**CLAIMABLE_FILTER, **(ranges[0] if len(ranges) == 1 else {"$or": ranges})}


def due(at: dict[str, Any]) -> dict[str, Any]:
    """Claimable at ``at`` (the server's "now", see ``clock``): a claimable status, and due
    (when free) or lease expired (when leased). ``$expr`` because ``$$NOW`` is an aggregation
    variable. The hinted claim index is walked in claim order either way; MongoDB 5.0+ can also
    bound the scan by a comparison in ``$expr`` (not verifiable on the stand-in: check the
    ``indexBounds`` of ``explain()`` on a real server)."""
    return {**CLAIMABLE_FILTER, "$expr": {"$lte": ["$available_at", at]}}


def initial_status(item: NewNotification, now: int) -> Status:
    """Suppressed at intake (the recipient's say), paused (an operator's), else due now or
    later."""
    if item.suppressed is not None:
        return Status.SUPPRESSED
    if item.paused:
        return Status.PAUSED
    return Status.SCHEDULED if item.scheduled_for > now else Status.PENDING


def new_document(item: NewNotification, now: int) -> dict[str, Any]:
    status = initial_status(item, now)
    document = {
        "_id": item.id, "user_id": item.user_id, "channel": item.channel, "to": item.to,
        "title": item.title, "body": item.body, "idempotency_key": item.idempotency_key,
        "data": json.dumps(item.data, separators=(",", ":")), "priority": int(item.priority),
        "status": status.value, "scheduled_for": to_date(item.scheduled_for),
        "available_at": to_date(item.scheduled_for), "attempts": 0,
        "max_attempts": item.max_attempts, "request_hash": item.request_hash, "lock_version": 0,
        "created_at": to_date(item.created_at), "updated_at": to_date(now),
        "tenant_id": item.tenant_id, "html": item.html, "message_id": item.message_id,
        "template": item.template, "category": item.category, "last_error": item.suppressed,
        "expires_at": None if item.expires_at is None else to_date(item.expires_at),
        "destination": destination_of(item.channel, item.to), "traceparent": item.traceparent,
    }  # fmt: skip
    # absent rather than null: the idempotency index holds only the keys that exist
    return {k: v for k, v in document.items() if v is not None}


def to_notification(doc: dict[str, Any]) -> Notification:
    return Notification(
        id=doc["_id"], user_id=doc["user_id"], channel=doc["channel"], to=doc.get("to"),
        title=doc.get("title"), body=doc.get("body"), data=json.loads(doc["data"]),
        priority=Priority(doc["priority"]), status=Status(doc["status"]),
        scheduled_for=to_ms(doc["scheduled_for"]), available_at=to_ms(doc["available_at"]),
        attempts=doc["attempts"], max_attempts=doc["max_attempts"],
        last_error=doc.get("last_error"), idempotency_key=doc.get("idempotency_key"),
        request_hash=doc["request_hash"], locked_by=doc.get("locked_by"),
        locked_at=optional_ms(doc.get("locked_at")),
        lock_expiry=optional_ms(doc.get("lock_expiry")), lock_version=doc["lock_version"],
        created_at=to_ms(doc["created_at"]), updated_at=to_ms(doc["updated_at"]),
        sent_at=optional_ms(doc.get("sent_at")), replays=doc.get("replays", 0),
        tenant_id=doc.get("tenant_id", DEFAULT_TENANT), html=doc.get("html"),
        message_id=doc.get("message_id"), template=doc.get("template"),
        category=doc.get("category"), expires_at=optional_ms(doc.get("expires_at")),
        traceparent=doc.get("traceparent"),
    )  # fmt: skip


def worker_document(record: WorkerRecord) -> dict[str, Any]:
    return {
        "_id": record.id, "worker_number": record.worker_number, "host": record.host,
        "pid": record.pid, "started_at": to_date(record.started_at),
        "last_heartbeat": to_date(record.last_heartbeat), "in_flight": record.in_flight,
        "processed": record.processed, "cpu_percent": record.cpu_percent,
        "rss_bytes": record.rss_bytes,
    }  # fmt: skip


def to_worker(doc: dict[str, Any]) -> WorkerRecord:
    return WorkerRecord(
        id=doc["_id"], worker_number=doc["worker_number"], host=doc["host"], pid=doc["pid"],
        started_at=to_ms(doc["started_at"]), last_heartbeat=to_ms(doc["last_heartbeat"]),
        in_flight=doc["in_flight"], processed=doc["processed"],
        cpu_percent=float(doc.get("cpu_percent", 0.0)), rss_bytes=int(doc.get("rss_bytes", 0)),
    )  # fmt: skip


Index = tuple[str, str, list[tuple[str, int]], dict[str, Any]]
#: (collection, name, keys, options): created at start-up and verified; see docs/stores.md
INDEXES: tuple[Index, ...] = (
    ("notifications", CLAIM_INDEX, CLAIM_SORT, {"partialFilterExpression": CLAIMABLE_FILTER}),
    (
        "notifications",
        "tenant_idempotency_key",
        [("tenant_id", ASCENDING), ("idempotency_key", ASCENDING)],
        {"unique": True, "partialFilterExpression": {"idempotency_key": {"$exists": True}}},
    ),
    # a tenant's listing, newest first
    ("notifications", "tenant_id", [("tenant_id", ASCENDING), ("_id", DESCENDING)], {}),
    ("notifications", "status_id", [("status", ASCENDING), ("_id", DESCENDING)], {}),
    ("notifications", "user_id", [("user_id", ASCENDING), ("_id", DESCENDING)], {}),
    # a message's notifications (GET /v1/messages/{id}): only those sent to a person have one
    (
        "notifications",
        "tenant_message",
        [("tenant_id", ASCENDING), ("message_id", ASCENDING)],
        {"partialFilterExpression": {"message_id": {"$exists": True}}},
    ),
    # an operator's look-up of a message across every tenant (inspect message, the console)
    (
        "notifications",
        "message_id",
        [("message_id", ASCENDING)],
        {"partialFilterExpression": {"message_id": {"$exists": True}}},
    ),
    # throughput over a window (inspect stats, the dashboards): delivered by sent_at, dead (and
    # the dead-letter listing) by their last change
    ("notifications", "status_updated", [("status", ASCENDING), ("updated_at", ASCENDING)], {}),
    ("notifications", "status_sent_at", [("status", ASCENDING), ("sent_at", ASCENDING)], {}),
    # the dead-letter outbox: only the dead notifications whose dead letter is still to publish
    (
        "notifications",
        DEAD_LETTER_INDEX,
        [("dead_letter_at", ASCENDING)],
        {"partialFilterExpression": {"dead_letter_at": {"$exists": True}}},
    ),
    ("workers", "last_heartbeat", [("last_heartbeat", ASCENDING)], {}),
    (
        "webhook_secrets",
        "tenant_newest",
        [("tenant_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)],
        {},
    ),  # fmt: skip
    # API keys (``keys.py``): the API's look-up by digest, unique so no two keys share one;
    # ``notifyctl keys list --tenant``
    ("api_keys", "digest", [("digest", ASCENDING)], {"unique": True}),
    ("api_keys", "tenant_created", [("tenant_id", ASCENDING), ("created_at", ASCENDING)], {}),
    # a tenant's quota usage by day: forgetting its older days (``limits.py``)
    ("quota_usage", "tenant_day", [("tenant_id", ASCENDING), ("day", ASCENDING)], {}),
    # a tenant's recipients by user id: the listing (``recipients.py``; look-ups use ``_id``)
    (
        "recipients",
        "tenant_user",
        [("tenant_id", ASCENDING), ("user_id", ASCENDING)],
        {"unique": True},
    ),
    # a tenant's templates by name: the listing and its cursor (``templates.py``)
    ("templates", "tenant_name", [("tenant_id", ASCENDING), ("name", ASCENDING)], {}),
)


def retention_index(days: int) -> Index:
    """The TTL index that deletes terminal notifications ``days`` after their last change."""
    options = {"expireAfterSeconds": days * 86_400, "partialFilterExpression": TERMINAL_FILTER}
    return ("notifications", RETENTION_INDEX, [("updated_at", ASCENDING)], options)


#: indexes of earlier releases that are in the way: idempotency keys were global before tenants
OBSOLETE_INDEXES = (("notifications", "idempotency_key"),)


def migrate(db: Database[Any]) -> None:
    """Bring documents and indexes of an earlier release up to date (each step idempotent, so
    several processes starting together do no harm): notifications made before tenants belong
    to tenant ``default``, and the global idempotency index makes way for the per-tenant one."""
    db["notifications"].update_many(
        {"tenant_id": {"$exists": False}}, {"$set": {"tenant_id": DEFAULT_TENANT}}
    )
    fill_destinations(db["notifications"])
    for collection, name in OBSOLETE_INDEXES:
        if name in db[collection].index_information():
            try:
                db[collection].drop_index(name)
            except OperationFailure as exc:
                if exc.code != 27:  # IndexNotFound: another process dropped it first
                    raise


def fill_destinations(notifications: Collection[Any], batch: int = 1_000) -> None:
    """The destination (``flow.destination_of``) of every notification still waiting that was
    stored before the field existed, so a pause by destination finds it (terminal ones never
    move again). Each document once: a later pass finds none."""
    waiting = {**CLAIMABLE_FILTER, "destination": {"$exists": False}}
    while True:
        docs = list(notifications.find(waiting, {"channel": 1, "to": 1}, limit=batch))
        if not docs:
            return
        notifications.bulk_write([
            UpdateOne({"_id": doc["_id"], "destination": {"$exists": False}},
                      {"$set": {"destination": destination_of(doc["channel"], doc.get("to"))}})
            for doc in docs
        ])  # fmt: skip


def ensure_indexes(db: Database[Any], retention_days: int) -> None:
    """Migrate, create the indexes (a no-op when they exist), set or remove the retention TTL,
    verify."""
    migrate(db)
    wanted = INDEXES + ((retention_index(retention_days),) if retention_days else ())
    notifications = db["notifications"]
    retention = notifications.index_information().get(RETENTION_INDEX)
    # a release that added a terminal status (suppressed) widens the filter: rebuild the index
    outdated = retention is not None and retention.get("partialFilterExpression") != TERMINAL_FILTER
    if retention is not None and (not retention_days or outdated):
        try:
            notifications.drop_index(RETENTION_INDEX)
        except OperationFailure as exc:
            if exc.code != 27:  # IndexNotFound: another process dropped it first
                raise
    elif retention is not None and retention.get("expireAfterSeconds") != retention_days * 86_400:
        db.command(
            "collMod",
            notifications.name,
            index={"name": RETENTION_INDEX, "expireAfterSeconds": retention_days * 86_400},
        )
    for collection, name, keys, options in wanted:
        create_index(db[collection], name, keys, options)
    for index in wanted:
        verify(db, index)


def create_index(
    collection: Collection[Any], name: str, keys: list[tuple[str, int]], options: dict[str, Any]
) -> None:
    try:
        collection.create_index(keys, name=name, **options)
    except OperationFailure as exc:
        if exc.code not in (85, 86):  # IndexOptionsConflict, IndexKeySpecsConflict
            raise
        raise StoreError(
            f"mongodb index {collection.name}.{name} conflicts with an existing index ({exc}); "
            f"drop the old one (db.{collection.name}.dropIndex(...)) and start again"
        ) from None


def verify(db: Database[Any], index: Index) -> None:
    collection, name, keys, options = index
    info = db[collection].index_information().get(name)
    found_keys = [(field, int(direction)) for field, direction in (info or {}).get("key", [])]
    if info is None or found_keys != keys or any(info.get(k) != v for k, v in options.items()):
        raise StoreError(
            f"mongodb index {collection}.{name} is not as notifyctl needs it: found {info}, "
            f"want keys {keys} with {options}; drop it and start again to rebuild it"
        )
