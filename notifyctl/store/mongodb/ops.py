"""The MongoDB store's operator queries: backlog, throughput, dead letters, replay, history.

Plain functions on the notifications collection; ``MongoStore`` supplies the collection and
turns driver errors into the port's. See the port's docstrings in ``base.py`` for what each
promises; each notification a replay changes, it changes in one atomic update.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection

from notifyctl.model import AttemptRecord, BacklogRow, Priority, Status
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.writes import HISTORY, Expression

Document = dict[str, Any]
LEASED = {"$ne": [{"$type": "$locked_by"}, "missing"]}


def oldest_due(
    notifications: Collection[Document], at: Expression, tenant_id: str | None = None
) -> int | None:
    """One seek of the claim index per priority; due by ``at``, the server's now."""
    found = []
    for priority in Priority:
        query = {**schema.due(at), "priority": int(priority), **of_tenant(tenant_id)}
        for doc in (
            notifications.find(query, {"available_at": 1})
            .sort("available_at", ASCENDING)
            .hint(schema.CLAIM_INDEX)
            .limit(1)
        ):
            found.append(schema.to_ms(doc["available_at"]))
    return min(found) if found else None


def backlog(notifications: Collection[Document], at: Expression) -> list[BacklogRow]:
    # A leased notification's available_at is its lease expiry (see schema): later than
    # now (``at``, the server's) means live-locked when leased, scheduled otherwise; now or
    # earlier is due.
    later = {"$gt": ["$available_at", at]}
    group = {
        "_id": {"priority": "$priority", "channel": "$channel"},
        "due": {"$sum": {"$cond": [{"$lte": ["$available_at", at]}, 1, 0]}},
        "scheduled": {"$sum": {"$cond": [{"$and": [later, {"$not": [LEASED]}]}, 1, 0]}},
        "locked": {"$sum": {"$cond": [{"$and": [later, LEASED]}, 1, 0]}},
    }
    rows = notifications.aggregate([{"$match": schema.CLAIMABLE_FILTER}, {"$group": group}])
    found = [
        BacklogRow(Priority(row["_id"]["priority"]), row["_id"]["channel"], int(row["due"]),
                   int(row["scheduled"]), int(row["locked"]))
        for row in rows
    ]  # fmt: skip
    return sorted(found, key=lambda r: (-r.priority, r.channel))


def finished_since(
    notifications: Collection[Document], since: int, tenant_id: str | None = None
) -> dict[str, int]:
    at, mine = schema.to_date(since), of_tenant(tenant_id)
    sent = notifications.count_documents(
        {"status": Status.SENT.value, "sent_at": {"$gte": at}, **mine}
    )
    dead = notifications.count_documents(
        {"status": Status.DEAD.value, "updated_at": {"$gte": at}, **mine}
    )
    return {"sent": sent, "dead": dead}


def delivered_series(
    notifications: Collection[Document], since: int, step_ms: int, steps: int,
    tenant_id: str | None,
) -> list[int]:  # fmt: skip
    start, end = schema.to_date(since), schema.to_date(since + step_ms * steps)
    window = {"status": Status.SENT.value, "sent_at": {"$gte": start, "$lt": end}}
    step = {"$floor": {"$divide": [{"$subtract": ["$sent_at", start]}, step_ms]}}
    series = [0] * steps
    for row in notifications.aggregate([
        {"$match": {**window, **of_tenant(tenant_id)}},
        {"$group": {"_id": step, "n": {"$sum": 1}}},
    ]):  # fmt: skip
        series[int(row["_id"])] = int(row["n"])
    return series


def of_tenant(tenant_id: str | None) -> Document:
    """The filter of one tenant's documents; none for ``None`` (any tenant, for operators)."""
    return {} if tenant_id is None else {"tenant_id": tenant_id}


def dead_letters(
    notifications: Collection[Document],
    since: int | None,
    until: int | None,
    channel: str | None,
    limit: int,
    tenant_id: str | None = None,
) -> list[Document]:
    query: Document = {"status": Status.DEAD.value}
    if tenant_id is not None:
        query["tenant_id"] = tenant_id
    died: Document = {}
    if since is not None:
        died["$gte"] = schema.to_date(since)
    if until is not None:
        died["$lte"] = schema.to_date(until)
    if died:
        query["updated_at"] = died
    if channel is not None:
        query["channel"] = channel
    order = [("updated_at", DESCENDING), ("_id", DESCENDING)]
    return list(notifications.find(query).sort(order).limit(limit))


def replay_update(at: Expression, token: str) -> list[Document]:
    """Due at ``at``, the server's now."""
    entry = {"outcome": "replayed", "at": at, "attempt": "$attempts", "worker": None,
             "started_at": None, "error": "$last_error"}  # fmt: skip
    note = {
        "$concat": ["replayed by an operator; before: ", {"$ifNull": ["$last_error", "no error"]}]
    }
    return [
        {"$set": {
            "status": Status.PENDING.value, "attempts": 0, "available_at": at,
            "replays": {"$add": [{"$ifNull": ["$replays", 0]}, 1]}, "last_error": note,
            "history": {"$concatArrays": [HISTORY, [entry]]}, "updated_at": at,
            "replay_token": token,
        }},
        # a replayed notification is no longer dead: no dead letter is due for it
        {"$unset": [*schema.LEASE_FIELDS, "dead_letter_at", "dead_letter_token"]},
    ]  # fmt: skip


def replay(notifications: Collection[Document], ids: Sequence[str], at: Expression) -> list[str]:
    """Each dead notification among ``ids`` in one atomic update; a fresh token tells which."""
    if not ids:
        return []
    token = uuid.uuid4().hex
    query = {"_id": {"$in": list(ids)}, "status": Status.DEAD.value}
    result = notifications.update_many(query, replay_update(at, token))
    if not result.modified_count:
        return []
    found = {doc["_id"] for doc in notifications.find({"replay_token": token}, {"_id": 1})}
    return [notification_id for notification_id in dict.fromkeys(ids) if notification_id in found]


def history(
    notifications: Collection[Document], notification_id: str
) -> list[AttemptRecord] | None:
    doc = notifications.find_one({"_id": notification_id}, {"history": 1})
    if doc is None:
        return None
    return [
        AttemptRecord(
            outcome=entry["outcome"],
            at=schema.to_ms(entry["at"]),
            attempt=entry["attempt"],
            worker=entry.get("worker"),
            started_at=schema.optional_ms(entry.get("started_at")),
            error=entry.get("error"),
        )  # fmt: skip
        for entry in doc.get("history", [])
    ]
