"""How the MongoDB adapter meets the store contract: indexes, query plans, stored types, errors.

The contract itself (tests/store/contract/) runs on this adapter through the ``store``
fixture. These tests look underneath, with the real pymongo driver, at a server started by the
tests (see tests/mongodb_server.py) or the real one named by NOTIFYCTL_TEST_MONGODB_URI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from bson import SON
from pymongo import MongoClient, monitoring
from pymongo.database import Database

from notifyctl.config import redacted
from notifyctl.errors import StoreError, StoreUnavailable
from notifyctl.model import Outcome, Priority, Verdict
from notifyctl.store.mongodb import leases as mongo_leases
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.clock import SERVER_NOW
from notifyctl.store.mongodb.pool import PoolSize
from notifyctl.store.mongodb.store import MongoStore
from notifyctl.store.mongodb.writes import claim_update
from tests.helpers import free_port
from tests.mongodb_server import (
    REAL_SERVER_VARIABLE,
    callers_now,
    stand_in_server,
    with_database,
)
from tests.store.contract.builders import LEASE, NOW, WORKER_A, make

SIZE = PoolSize(max=5, min=0)


@pytest.fixture
def mongo(mongodb_url: str) -> Iterator[MongoStore]:
    opened = MongoStore(mongodb_url, SIZE, now_expression=callers_now)
    yield opened
    opened.close()


@pytest.fixture
def raw(mongodb_url: str) -> Iterator[Database[dict[str, Any]]]:
    """The test's database through a plain pymongo client, to see what the adapter stored."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_url, tz_aware=True)
    yield client.get_default_database()
    client.close()


def stages(plan: Any) -> Iterator[dict[str, Any]]:
    """Every stage of an explain plan, whatever the server's nesting."""
    if isinstance(plan, dict):
        if "stage" in plan:
            yield plan
        for value in plan.values():
            yield from stages(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from stages(value)


def test_the_claim_is_an_index_scan_in_claim_order(
    mongo: MongoStore, raw: Database[dict[str, Any]]
) -> None:
    items = [make(priority=Priority(i % 3), scheduled_for=NOW - i) for i in range(60)]
    mongo.insert_many(items, NOW)
    command = SON(
        [
            ("findAndModify", "notifications"),
            ("query", schema.due(SERVER_NOW)),  # the server's clock, as in production
            ("sort", SON(schema.CLAIM_SORT)),
            ("hint", schema.CLAIM_INDEX),
            ("update", claim_update(WORKER_A, SERVER_NOW, LEASE)),
            ("new", True),
        ]
    )
    plan = raw.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]
    found = list(stages(plan))
    scans = [
        s for s in found if s["stage"] == "IXSCAN" and s.get("indexName") == schema.CLAIM_INDEX
    ]
    assert scans, plan
    assert not [s for s in found if s["stage"] in ("COLLSCAN", "SORT")], plan
    if os.environ.get(REAL_SERVER_VARIABLE):  # the stand-in reports no bounds
        # the server's now bounds the scan: not-yet-due notifications are never read
        assert scans[0]["indexBounds"]["available_at"] != ["[MinKey, MaxKey]"], scans


def test_start_up_creates_every_index(mongo: MongoStore) -> None:
    found = mongo.indexes()
    claim = found["notifications.claim"]
    assert claim["key"] == [("priority", -1), ("available_at", 1)]
    assert claim["partialFilterExpression"] == {"status": {"$in": ["pending", "scheduled"]}}
    idempotency = found["notifications.tenant_idempotency_key"]
    assert idempotency["key"] == [("tenant_id", 1), ("idempotency_key", 1)]
    assert idempotency["unique"] is True
    assert idempotency["partialFilterExpression"] == {"idempotency_key": {"$exists": True}}
    assert found["notifications.status_id"]["key"] == [("status", 1), ("_id", -1)]
    assert found["notifications.user_id"]["key"] == [("user_id", 1), ("_id", -1)]
    assert found["notifications.tenant_id"]["key"] == [("tenant_id", 1), ("_id", -1)]
    assert "notifications.idempotency_key" not in found  # the global one of earlier releases
    assert found["workers.last_heartbeat"]["key"] == [("last_heartbeat", 1)]
    assert found["notifications.status_updated"]["key"] == [("status", 1), ("updated_at", 1)]
    assert found["notifications.status_sent_at"]["key"] == [("status", 1), ("sent_at", 1)]
    dead_letters = found["notifications.dead_letters"]
    assert dead_letters["key"] == [("dead_letter_at", 1)]
    assert dead_letters["partialFilterExpression"] == {"dead_letter_at": {"$exists": True}}
    assert "notifications.retention" not in found


def test_the_dead_letter_publishers_query_is_a_scan_of_its_partial_index_in_order(
    mongo: MongoStore, raw: Database[dict[str, Any]]
) -> None:
    mongo.insert_many([make() for _ in range(20)], NOW)
    command = SON(
        [
            ("find", "notifications"),
            ("filter", {"dead_letter_at": {"$exists": True, "$lte": schema.to_date(NOW)}}),
            ("sort", SON([("dead_letter_at", 1)])),
            ("hint", "dead_letters"),
            ("limit", 100),
        ]
    )
    plan = raw.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]
    found = list(stages(plan))
    assert any(s["stage"] == "IXSCAN" and s.get("indexName") == "dead_letters" for s in found), plan
    assert not [s for s in found if s["stage"] in ("COLLSCAN", "SORT")], plan


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ({"status": "sent", "sent_at": {"$gte": "AT"}}, "status_sent_at"),
        ({"status": "dead", "updated_at": {"$gte": "AT"}}, "status_updated"),
    ],
)
def test_throughput_over_a_window_reads_an_index_not_the_collection(
    mongo: MongoStore, raw: Database[dict[str, Any]], query: dict[str, Any], index: str
) -> None:
    mongo.insert_many([make() for _ in range(20)], NOW)
    at = schema.to_date(NOW - 60_000)
    filter_ = {k: ({"$gte": at} if v == {"$gte": "AT"} else v) for k, v in query.items()}
    command = SON([("count", "notifications"), ("query", filter_)])
    plan = raw.command("explain", command, verbosity="queryPlanner")["queryPlanner"]["winningPlan"]
    found = list(stages(plan))
    scans = [s.get("indexName") for s in found if s["stage"] in ("IXSCAN", "COUNT_SCAN")]
    assert index in scans, plan
    assert not [s for s in found if s["stage"] == "COLLSCAN"], plan


def test_retention_adds_changes_and_removes_the_ttl_index(mongodb_url: str) -> None:
    for days, expected in ((7, 7 * 86_400), (3, 3 * 86_400), (0, None)):
        store = MongoStore(mongodb_url, SIZE, retention_days=days)
        retention = store.indexes().get("notifications.retention")
        store.close()
        if expected is None:
            assert retention is None
            continue
        assert retention is not None
        assert retention["expireAfterSeconds"] == expected
        assert retention["key"] == [("updated_at", 1)]
        terminal = {"status": {"$in": ["cancelled", "dead", "expired", "sent", "suppressed"]}}
        assert retention["partialFilterExpression"] == terminal


def test_a_retention_index_of_an_earlier_release_is_rebuilt_with_every_terminal_status(
    mongodb_url: str, raw: Database[dict[str, Any]]
) -> None:
    # before ``suppressed`` existed the TTL index filtered on three statuses
    old_filter = {"status": {"$in": ["cancelled", "dead", "sent"]}}
    raw["notifications"].create_index(
        [("updated_at", 1)], name="retention", expireAfterSeconds=86_400,
        partialFilterExpression=old_filter,
    )  # fmt: skip
    store = MongoStore(mongodb_url, SIZE, retention_days=2)
    retention = store.indexes()["notifications.retention"]
    store.close()
    assert retention["partialFilterExpression"]["status"]["$in"] == [
        "cancelled", "dead", "expired", "sent", "suppressed",
    ]  # fmt: skip
    assert retention["expireAfterSeconds"] == 2 * 86_400


def test_a_conflicting_index_stops_start_up_with_advice(
    mongodb_url: str, raw: Database[dict[str, Any]]
) -> None:
    raw["notifications"].create_index([("priority", 1)], name=schema.CLAIM_INDEX)
    with pytest.raises(StoreError, match="claim.*drop"):
        MongoStore(mongodb_url, SIZE)


def test_times_are_stored_as_utc_dates_at_millisecond_precision(
    mongo: MongoStore, raw: Database[dict[str, Any]]
) -> None:
    at = NOW + 123
    (result,) = mongo.insert_many([make(scheduled_for=at + 1, created_at=at)], at)
    doc = raw["notifications"].find_one({"_id": result.notification.id})
    assert doc is not None
    assert doc["scheduled_for"] == datetime.fromtimestamp((at + 1) / 1000, UTC)
    assert doc["created_at"].utcoffset().total_seconds() == 0
    assert schema.to_ms(doc["created_at"]) == at
    assert mongo.get(result.notification.id) == result.notification


def test_a_finished_lease_is_unset_not_nulled(
    mongo: MongoStore, raw: Database[dict[str, Any]]
) -> None:
    mongo.insert_many([make()], NOW)
    (claim,) = mongo.claim_batch(WORKER_A, 5, NOW, LEASE)
    leased = raw["notifications"].find_one({"_id": claim.id})
    assert leased is not None and leased["locked_by"] == WORKER_A
    mongo.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    done = raw["notifications"].find_one({"_id": claim.id})
    assert done is not None
    assert not {"locked_by", "locked_at", "lock_expiry"} & set(done)


def test_pool_statistics_come_from_the_driver(mongo: MongoStore) -> None:
    for _ in range(3):
        mongo.counts(NOW)
    stats = mongo.pool_stats()
    assert stats["poolSize"] == SIZE.max
    assert stats["openConnections"] >= 1
    assert stats["activeConnections"] == 0
    assert stats["pendingRequests"] == 0
    assert stats["idleConnections"] == stats["openConnections"]


def test_an_unreachable_server_fails_start_up_after_bounded_retries() -> None:
    url = f"mongodb://127.0.0.1:{free_port()}/x?serverSelectionTimeoutMS=100"
    with pytest.raises(StoreUnavailable, match="gave up after 2 attempts"):
        MongoStore(url, SIZE, startup_attempts=2)


def test_a_password_never_reaches_messages() -> None:
    url = "mongodb://app:s3cret@db1:27017,db2:27017/notifyctl?replicaSet=rs0"
    assert redacted(url) == "mongodb://app:***@db1:27017,db2:27017/notifyctl?replicaSet=rs0"
    assert redacted("mongodb://db1/notifyctl") == "mongodb://db1/notifyctl"


@pytest.mark.skipif(bool(os.environ.get(REAL_SERVER_VARIABLE)), reason="stops its own server")
def test_driver_errors_become_store_errors_when_the_server_goes_away(tmp_path: Path) -> None:
    with stand_in_server(tmp_path) as base:
        store = MongoStore(with_database(base, "gone") + "&serverSelectionTimeoutMS=300", SIZE)
    try:
        with pytest.raises(StoreUnavailable):
            store.ping()
        with pytest.raises(StoreUnavailable):
            store.claim_batch(WORKER_A, 5, NOW, LEASE)
    finally:
        store.close()


def test_a_claim_failing_after_the_outcomes_were_recorded_returns_them_not_an_error(
    mongo: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raising would make the worker write those outcomes again (and count them stale)."""
    (result,) = mongo.insert_many([make()], NOW)
    (claim,) = mongo.claim_ids([result.notification.id], WORKER_A, NOW, LEASE)

    def unreachable(*args: object) -> object:
        raise StoreError("mongodb claim: connection reset")

    monkeypatch.setattr(mongo, "claim_ids", unreachable)
    report, claims = mongo.finish_and_claim_ids(
        [Outcome(claim, Verdict.SENT)], ["other"], WORKER_A, NOW + 1, LEASE
    )
    assert (report.applied, claims) == (1, [])
    with pytest.raises(StoreError):  # nothing recorded: the caller retries the claim
        mongo.finish_and_claim_ids([], ["other"], WORKER_A, NOW + 2, LEASE)


class CommandCounter(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_a_claim_of_50_named_ids_costs_two_round_trips_not_50(
    mongo: MongoStore, mongodb_url: str
) -> None:
    """The wake-up's claim is the broker path's hot path: one update_many, one read-back."""
    items = [make() for _ in range(50)]
    mongo.insert_many(items, NOW)
    gone = items[0].id
    mongo.cancel(gone, NOW)  # not due any more: named, but not won
    counter = CommandCounter()
    client: MongoClient[dict[str, Any]] = MongoClient(
        mongodb_url, tz_aware=True, event_listeners=[counter]
    )
    try:
        notifications = client.get_default_database()["notifications"]
        claims = mongo_leases.claim_ids(
            notifications, "mongodb://test", [i.id for i in items] + [gone], WORKER_A,
            callers_now(NOW), LEASE, None,
        )  # fmt: skip
    finally:
        client.close()
    assert sorted(c.id for c in claims) == sorted(i.id for i in items[1:])
    assert all(c.worker_id == WORKER_A and c.notification.attempts == 1 for c in claims)
    assert [n for n in counter.names if n in ("update", "find", "findAndModify")] == [
        "update", "find"
    ]  # fmt: skip
    # claimed once: the same ids again win nothing (their leases are live)
    assert mongo.claim_ids([i.id for i in items], "worker-b", NOW + 1, LEASE) == []


def test_a_database_from_before_tenants_moves_to_tenant_default(
    mongodb_url: str, raw: Database[dict[str, Any]]
) -> None:
    """Documents of the release before tenants belong to tenant ``default``; the global
    idempotency index makes way for the per-tenant one; the old key still replays for
    ``default`` while another tenant may reuse it."""
    from dataclasses import replace

    old = schema.new_document(make(key="k1"), NOW)
    del old["tenant_id"]
    raw["notifications"].insert_one(old)
    raw["notifications"].create_index(
        [("idempotency_key", 1)], name="idempotency_key", unique=True,
        partialFilterExpression={"idempotency_key": {"$exists": True}},
    )  # fmt: skip
    store = MongoStore(mongodb_url, SIZE, now_expression=callers_now)
    try:
        found = store.get(old["_id"], "default")
        assert found is not None and found.tenant_id == "default"
        replayed, created = store.insert_many(
            [make(key="k1"), replace(make(key="k1"), tenant_id="acme")], NOW
        )
        assert (replayed.created, replayed.notification.id) == (False, old["_id"])
        assert created.created and created.notification.tenant_id == "acme"
        indexes = raw["notifications"].index_information()
        assert "idempotency_key" not in indexes and "tenant_idempotency_key" in indexes
    finally:
        store.close()
