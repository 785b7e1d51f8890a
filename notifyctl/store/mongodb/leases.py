"""The MongoDB store's claims, renewals and fenced outcomes: the lease rules in MongoDB writes.

Every decision about time ("due", "lease expired") and every lease expiry written is the server's
clock (``clock``), so workers on hosts whose clocks disagree still agree on who holds what.

Every write is a single-document atomic operation; MongoDB has no multi-document atomicity without
transactions, so the port's batch methods are built from them as follows.

- Claims: repeated ``find_one_and_update`` on the claim index (priority, then earliest
``available_at``), each deciding in one pipeline update whether the notification is claimed or, out
of attempts, made ``dead``. There is no ``updateMany(..., {limit})`` in MongoDB. A claim of named
ids (a wake-up's) is one ``update_many`` of the same pipeline with a fresh ``claim_token``, then a
read-back of what the token won. - Renewals and outcomes: one bulk write of updates (ordered for
outcomes, so they apply as if written one by one), each conditional on ``(locked_by,
lock_version)``. Outcomes carry a fresh ``finish_token``, so when some are refused the adapter
reads back exactly which were applied.

Plain functions on the notifications collection, like ``ops``; the update documents are built in
``writes``. ``MongoStore`` translates driver errors around renew and finish; a claim translates its
own, because a failure after some claims were won must end the batch with them rather than raise.

The sweep's ``claim_batch`` stays one ``find_one_and_update`` per notification: reading the most
urgent due ids first and claiming them with one ``update_many`` would make every polling worker
race for the same head of the queue (tried: in ``tests/integration/test_mongodb_processes.py`` one
of four claimers won everything and the others came back empty, which a sweep reads as "nothing
due").
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.collection import Collection

from notifyctl.claim_order import claim_levels
from notifyctl.errors import StoreError
from notifyctl.model import Claim, FinishReport, Notification, Outcome, Status
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.clock import later
from notifyctl.store.mongodb.connection import translated
from notifyctl.store.mongodb.writes import (
    Expression,
    claim_order,
    claim_update,
    fence,
    finish_report,
    finish_update,
    holds,
    reclaimed,
)

# the adapter logs under one name, as it did when it was one module
log = logging.getLogger("notifyctl.store.mongodb")
Document = dict[str, Any]


def claim_batch(
    notifications: Collection[Document],
    url: str,
    worker_id: str,
    limit: int,
    at: Expression,
    lease_ms: int,
    buried: list[Notification] | None,
    ageing_ms: int = 0,
    outbox: bool = False,
) -> list[Claim]:
    """``url`` (redacted) names the store in the errors a claim raises; ``at`` is the server's
    now (``clock``). Levels of ``notifyctl.claim_order`` are claimed most urgent first, each
    longest waiting first. ``outbox``: burials mark their dead letters for publishing."""
    update = claim_update(worker_id, at, lease_ms, outbox)
    claims: list[Claim] = []
    # each buried (out of attempts) notification costs an operation but no slot: a batch makes
    # at most ``2 * limit`` changes, and one empty query per level of the claim order
    changes = 2 * limit
    for bands in claim_levels(0, ageing_ms):  # with now = 0, bounds are offsets from ``at``
        query = schema.due_in(bands, at)
        while changes and len(claims) < limit:
            doc = claim_one(notifications, url, query, update, claims, sort=True)
            if doc is None:
                break  # this level is empty: the next one
            changes -= 1
            keep(doc, worker_id, claims, buried)
    return sorted(claims, key=claim_order)


def claim_ids(
    notifications: Collection[Document],
    url: str,
    ids: Sequence[str],
    worker_id: str,
    at: Expression,
    lease_ms: int,
    buried: list[Notification] | None,
    outbox: bool = False,
) -> list[Claim]:
    """Two round trips however many ids (a wake-up names up to 50): one ``update_many`` that
    claims, or buries, each of them that is due, marking it with a fresh ``claim_token``; then a
    read-back of what that token won. Each document's update is atomic and conditional, so two
    workers given the same id never both win it."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return []
    token = uuid.uuid4().hex
    update = [*claim_update(worker_id, at, lease_ms, outbox), {"$set": {"claim_token": token}}]
    failed: StoreError | None = None
    try:
        with translated(url, "claim"):
            notifications.update_many({"_id": {"$in": unique}, **schema.due(at)}, update)
    except StoreError as exc:  # it may have claimed some before failing: read back which
        failed = exc
    try:
        with translated(url, "claim"):
            won = list(notifications.find({"_id": {"$in": unique}, "claim_token": token}))
    except StoreError:
        if failed is not None:
            raise failed from None
        raise
    if failed is not None:
        if not won:
            raise failed
        log.warning("claim by id stopped after %d won: %s", len(won), failed)
    claims: list[Claim] = []
    for doc in won:
        keep(doc, worker_id, claims, buried)
    return sorted(claims, key=claim_order)


def keep(
    doc: Document,
    worker_id: str,
    claims: list[Claim],
    buried: list[Notification] | None,
) -> None:
    """A claimed document joins ``claims``; one the claim update buried, ``buried``."""
    if doc["status"] != Status.DEAD:
        claims.append(claim_of(doc, worker_id))
    elif buried is not None:
        buried.append(schema.to_notification(doc))


def claim_one(
    notifications: Collection[Document],
    url: str,
    query: Document,
    update: list[Document],
    won: list[Claim],
    sort: bool = False,
) -> Document | None:
    """One atomic claim. A failure after some claims were won ends the batch with them:
    raising would strand their leases (and their attempts) until they expire."""
    order: dict[str, Any] = {"sort": schema.LEVEL_SORT, "hint": schema.CLAIM_INDEX} if sort else {}
    try:
        with translated(url, "claim"):
            return notifications.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER, **order
            )
    except StoreError as exc:
        if not won:
            raise
        log.warning("claim stopped after %d won: %s", len(won), exc)
        return None


def claim_of(doc: Document, worker_id: str) -> Claim:
    notification = schema.to_notification(doc)
    assert notification.lock_expiry is not None
    expiry, version = notification.lock_expiry, notification.lock_version
    return Claim(notification, worker_id, version, expiry, reclaimed(doc))


def renew(
    notifications: Collection[Document], claims: Sequence[Claim], at: Expression, lease_ms: int
) -> list[str]:
    """Extend the leases still held to ``lease_ms`` after ``at`` (the server's now); the ids of
    those lost (fenced out) are returned."""
    if not claims:
        return []
    expiry = later(at, lease_ms)
    extend = [{"$set": {"lock_expiry": expiry, "available_at": expiry, "updated_at": at}}]
    result = notifications.bulk_write(
        [UpdateOne(fence(claim), extend) for claim in claims], ordered=False
    )
    if result.matched_count == len(claims):
        return []
    # a renewed lease is live, so nobody can take it between the write and this read
    held = {
        doc["_id"]: doc
        for doc in notifications.find(
            {"_id": {"$in": [claim.id for claim in claims]}},
            {"locked_by": 1, "lock_version": 1},
        )
    }
    return [claim.id for claim in claims if not holds(held.get(claim.id), claim)]


def finish(
    notifications: Collection[Document],
    outcomes: Sequence[Outcome],
    now: int,
    at: Expression,
    outbox: bool = False,
) -> FinishReport:
    """In order, as if each outcome were written on its own: an ordered bulk write. ``now`` is
    the caller's clock, for the retry delays it chose; ``at`` the server's, for the record. With
    ``outbox``, each death marks its dead letter in its own update."""
    if not outcomes:
        return FinishReport()
    token = uuid.uuid4().hex
    updates = [
        UpdateOne(fence(o.claim), finish_update(o, now, at, token, outbox)) for o in outcomes
    ]
    applied = notifications.bulk_write(updates, ordered=True).matched_count
    if applied == len(outcomes):
        return FinishReport(applied=applied)
    ids = [outcome.claim.id for outcome in outcomes]
    finished = {
        doc["_id"]: doc["lock_version"]
        for doc in notifications.find(
            {"_id": {"$in": ids}, "finish_token": token}, {"lock_version": 1}
        )
    }
    return finish_report(outcomes, finished)
