"""Whose clock decides leases on MongoDB: the server's, never the worker's (DESIGN "Whose clock").

Each test calls the store as a worker on another host would, with its clock skewed by minutes
(the caller's ``now``), against a store in production mode (``MongoStore`` as ``from_config``
builds it), and checks that the skew changes nothing that decides who holds a lease or what is
due. Times the store wrote are compared with readings of the server's own clock (``hello``'s
``localTime``) taken before and after the call: an order of clock readings, never a duration.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import anyio
import pytest
from pymongo import MongoClient

from notifyctl.model import Notification, Outcome, Priority, Status, Verdict, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.clock import SERVER_NOW
from notifyctl.store.mongodb.pool import PoolSize
from notifyctl.store.mongodb.store import MongoStore
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks

SKEW = 10 * 60_000  # ten minutes: far beyond any lease here
LEASE = 5 * 60_000  # shorter than the skew, so a skewed clock sees it expired; longer than a test
HOOK = "http://127.0.0.1:9/hook"
A, B = "host-a-1-aaaaaaaa", "host-b-2-bbbbbbbb"


@pytest.fixture
def mongo(mongodb_url: str) -> Iterator[MongoStore]:
    opened = MongoStore(mongodb_url, PoolSize(max=2, min=0))
    yield opened
    opened.close()


@pytest.fixture
def server_clock(mongodb_url: str) -> Iterator[Any]:
    """Reads the server's clock, in epoch ms."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url, tz_aware=True)

    def read() -> int:
        # a command's reply is decoded without the client's tz_aware: a naive UTC datetime
        local_time = client.admin.command("hello")["localTime"]
        return schema.to_ms(local_time.replace(tzinfo=UTC))

    yield read
    client.close()


def test_the_servers_now_compares_with_stored_dates_both_ways(
    mongodb_url: str, server_clock: Any
) -> None:
    """On the stand-in a bare ``$$NOW`` compares equal to every stored date; ``SERVER_NOW``
    must not (on a real server the two are the same instant)."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url, tz_aware=True)
    try:
        dates = client.get_default_database()["dates"]
        now = server_clock()
        offsets = {"past": -60_000, "future": 60_000}
        dates.insert_many([{"_id": k, "t": schema.to_date(now + v)} for k, v in offsets.items()])
        for operator, expected in (("$lte", ["past"]), ("$gt", ["future"])):
            query = {"$expr": {operator: ["$t", SERVER_NOW]}}
            assert [doc["_id"] for doc in dates.find(query)] == expected, operator
    finally:
        client.close()


def leased_by_a(store: MongoStore, priority: Priority = Priority.NORMAL) -> Notification:
    """A due notification that worker A (a correct clock) holds a live lease on."""
    (nid,) = insert(store, webhooks(HOOK, 1, priority=priority, scheduled_for=now_ms() - 60_000))
    (claim,) = store.claim_ids([nid], A, now_ms(), LEASE)
    return claim.notification


def still_held_by_a(store: MongoStore, held: Notification) -> None:
    found = store.get(held.id)
    assert found is not None
    assert (found.locked_by, found.lock_version, found.attempts) == (A, 1, 1), found


def test_a_clock_minutes_ahead_cannot_take_a_live_lease(mongo: MongoStore) -> None:
    held = leased_by_a(mongo)
    ahead = now_ms() + SKEW
    assert mongo.claim_batch(B, 10, ahead, LEASE) == []
    assert mongo.claim_ids([held.id], B, ahead, LEASE) == []
    assert mongo.finish_and_claim_ids([], [held.id], B, ahead, LEASE)[1] == []
    still_held_by_a(mongo, held)


def test_a_cancel_from_a_clock_ahead_is_refused_while_the_lease_lives(mongo: MongoStore) -> None:
    held = leased_by_a(mongo)
    outcome, found = mongo.cancel(held.id, now_ms() + SKEW)
    assert outcome == "conflict"
    assert found is not None and found.status == Status.PENDING
    still_held_by_a(mongo, held)


def test_readers_with_a_clock_ahead_still_see_the_live_lease(mongo: MongoStore) -> None:
    leased_by_a(mongo)
    ahead = now_ms() + SKEW
    assert mongo.counts(ahead)["locked"] == 1
    assert [row.locked for row in mongo.backlog(ahead)] == [1]
    assert mongo.oldest_due(ahead) is None


def test_a_clock_minutes_behind_still_claims_what_is_due(mongo: MongoStore) -> None:
    (nid,) = insert(mongo, webhooks(HOOK, 1, scheduled_for=now_ms() - 60_000))
    behind = now_ms() - SKEW
    assert mongo.oldest_due(behind) is not None
    assert [claim.id for claim in mongo.claim_batch(B, 10, behind, LEASE)] == [nid]


def test_a_lease_is_stamped_and_renewed_on_the_server_clock(
    mongo: MongoStore, server_clock: Any
) -> None:
    insert(mongo, webhooks(HOOK, 1, scheduled_for=now_ms() - 60_000))
    before = server_clock()
    (claim,) = mongo.claim_batch(B, 1, now_ms() + SKEW, LEASE)
    after = server_clock()
    locked_at = claim.notification.locked_at
    assert locked_at is not None and before <= locked_at <= after
    assert claim.lock_expiry == locked_at + LEASE
    before = server_clock()
    assert mongo.renew([claim], now_ms() - SKEW, LEASE) == []
    after = server_clock()
    found = mongo.get(claim.id)
    assert found is not None and found.lock_expiry is not None
    assert before + LEASE <= found.lock_expiry <= after + LEASE


def test_a_retry_waits_its_backoff_on_the_server_clock(
    mongo: MongoStore, server_clock: Any
) -> None:
    """The worker chooses the delay; the server's clock says when it starts."""
    (claim,) = mongo.claim_ids(insert(mongo, webhooks(HOOK, 1)), B, now_ms(), LEASE)
    behind, backoff = now_ms() - SKEW, 60_000
    before = server_clock()
    mongo.finish([Outcome(claim, Verdict.RETRY, "HTTP 503", behind + backoff)], behind)
    after = server_clock()
    found = mongo.get(claim.id)
    assert found is not None and found.status == Status.SCHEDULED
    assert before + backoff <= found.available_at <= after + backoff
    assert found.updated_at is not None and before <= found.updated_at <= after
    assert mongo.claim_batch(A, 10, now_ms() + SKEW, LEASE) == []


def test_a_replay_is_due_on_the_server_clock(mongo: MongoStore, server_clock: Any) -> None:
    (claim,) = mongo.claim_ids(insert(mongo, webhooks(HOOK, 1)), B, now_ms(), LEASE)
    mongo.finish([Outcome(claim, Verdict.DEAD, "HTTP 410")], now_ms())
    before = server_clock()
    assert mongo.replay([claim.id], now_ms() + SKEW) == [claim.id]
    after = server_clock()
    found = mongo.get(claim.id)
    assert found is not None and before <= found.available_at <= after
    assert [c.id for c in mongo.claim_batch(A, 10, now_ms() - SKEW, LEASE)] == [claim.id]


class RecordingChannel:
    """Delivers at once and remembers what it delivered."""

    name = "webhook"

    def __init__(self) -> None:
        self.delivered: list[str] = []

    async def deliver(self, notification: Notification) -> DeliveryResult:
        self.delivered.append(notification.id)
        return DeliveryResult(ResultKind.OK)

    async def aclose(self) -> None:
        pass


async def run_until_delivered(worker: Worker, channel: RecordingChannel, count: int) -> None:
    async with anyio.create_task_group() as running:
        running.start_soon(worker.run)
        with anyio.fail_after(60):
            while len(channel.delivered) < count:
                await anyio.sleep(0.01)
        worker.stop()


def test_a_worker_whose_clock_runs_minutes_ahead_delivers_only_what_is_free(
    mongo: MongoStore, mongodb_url: str, tmp_path: Path
) -> None:
    """The leased notification is the most urgent: a worker that thought A's lease expired would
    claim it first, in the same claim as the free one."""
    held = leased_by_a(mongo, Priority.HIGH)
    (free,) = insert(mongo, webhooks(HOOK, 1, priority=Priority.LOW))
    config = make_config(tmp_path, store_url=mongodb_url, lock_duration_ms=LEASE)
    channel = RecordingChannel()
    skewed = Worker(config, mongo, {"webhook": channel}, 1, clock=lambda: now_ms() + SKEW)
    anyio.run(run_until_delivered, skewed, channel, 1)
    assert channel.delivered == [free]
    assert skewed.stats.claimed == 1
    still_held_by_a(mongo, held)
