"""What only the PostgreSQL store has: its claim's plan, its schema versions, its start-up
errors and its pool size. The port's behaviour is the contract suite's (tests/store/contract/)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from notifyctl.errors import ConfigError, StoreError, StoreUnavailable
from notifyctl.store import open_store
from notifyctl.store.postgresql.migrations import MIGRATIONS, current_version, migrate
from notifyctl.store.postgresql.pool import PoolSize, pool_size, without_pool_options
from notifyctl.store.postgresql.store import PostgresStore
from tests.conftest import make_config
from tests.store.contract.builders import NOW, make

Plan = dict[str, Any]


@pytest.fixture
def pg_store(postgresql_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore(postgresql_url, PoolSize(max=2, min=1), priority_ageing_ms=60_000)
    yield store
    store.close()


def nodes(plan: Plan) -> Iterator[Plan]:
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def scans_below_a_limit(plan: Plan, limited: bool = False) -> Iterator[tuple[Plan, bool]]:
    """Each scan of the plan, and whether a Limit node stands between it and ``plan``."""
    if "Scan" in plan["Node Type"] and "Relation Name" in plan:
        yield plan, limited
    for child in plan.get("Plans", []):
        yield from scans_below_a_limit(child, limited or plan["Node Type"] == "Limit")


def test_a_claim_walks_the_partial_index_and_never_sorts_the_table(
    pg_store: PostgresStore, postgresql_url: str
) -> None:
    pg_store.insert_many([make(scheduled_for=NOW - i) for i in range(3_000)], NOW)
    params = {"worker": "w", "now": NOW, "lease": 30_000, "outbox": False, "limit": 50}
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        conn.execute("ANALYZE notifications")
        (plan,) = conn.execute(
            "EXPLAIN (FORMAT JSON) " + pg_store._sql.claim, {**pg_store._sql.band_params, **params}
        ).fetchone()  # type: ignore[misc]
    root = plan[0]["Plan"]
    assert not [n for n in nodes(root) if n["Node Type"] == "Seq Scan"]
    for sort in (n for n in nodes(root) if n["Node Type"] == "Sort"):
        # a Sort may only order what Limits already cut to a batch per band, never the table
        assert all(limited for _, limited in scans_below_a_limit(sort))
    picks = [scan for scan, limited in scans_below_a_limit(root) if limited]
    assert picks and {scan.get("Index Name") for scan in picks} == {"notifications_claim"}


def test_a_new_schema_is_at_the_latest_version(
    pg_store: PostgresStore, postgresql_url: str
) -> None:
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        assert current_version(conn) == len(MIGRATIONS)


def test_a_version_1_schema_opens_upgraded_to_this_release(postgresql_url: str) -> None:
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        assert migrate(conn, MIGRATIONS[:1]) == 1
    store = PostgresStore(postgresql_url, PoolSize(max=2, min=1))
    try:
        (result,) = store.insert_many([make()], NOW)
        assert store.get(result.notification.id) == result.notification
    finally:
        store.close()
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        assert current_version(conn) == len(MIGRATIONS)


def test_a_later_migration_upgrades_a_version_1_schema_in_place_keeping_its_rows(
    postgresql_url: str,
) -> None:
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.execute(
            "INSERT INTO notifications (id, user_id, channel, data, priority, status,"
            " scheduled_for, available_at, max_attempts, request_hash, created_at, updated_at)"
            " VALUES ('n1', 'u', 'log', '{}', 1, 'pending', 1, 1, 1, 'h', 1, 1)"
        )
        # a release's next migration, missing from the v1 schema: added, the rows kept
        later = (*MIGRATIONS, ("ALTER TABLE notifications ADD COLUMN added_later text",))
        assert migrate(conn, later) == len(later)
        assert current_version(conn) == len(later)
        rows = conn.execute("SELECT id, added_later FROM notifications").fetchall()
        assert rows == [("n1", None)]
        assert migrate(conn, later) == len(later)  # once at the latest, a start changes nothing


def test_a_schema_newer_than_this_release_is_refused_with_a_clear_line(
    postgresql_url: str,
) -> None:
    with psycopg.connect(postgresql_url, autocommit=True) as conn:
        migrate(conn)
        conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(StoreError, match="newer than this release knows") as raised:
        PostgresStore(postgresql_url, PoolSize(max=2, min=1))
    assert "\n" not in str(raised.value)


def test_an_unreachable_server_says_what_failed_and_what_to_do() -> None:
    url = "postgresql://notifyctl:s3cret@127.0.0.1:1/notifyctl"
    with pytest.raises(StoreUnavailable) as raised:
        PostgresStore(url, PoolSize(max=2, min=1), startup_attempts=1)
    message = str(raised.value)
    assert "s3cret" not in message
    assert "127.0.0.1:1" in message and "PostgreSQL is running" in message


def test_an_unusable_url_is_a_configuration_error(tmp_path: Any) -> None:
    config = make_config(tmp_path, store_url="postgresql://127.0.0.1/db?nonsense=1")
    with pytest.raises(ConfigError, match="not a usable PostgreSQL URL"):
        open_store(config)


def test_the_pool_is_sized_as_the_mongodb_pool_unless_the_url_says() -> None:
    assert pool_size("postgresql://h/db", auto=30) == PoolSize(max=30, min=1)
    assert pool_size("postgresql://h/db?maxPoolSize=7&minPoolSize=2", 30) == PoolSize(7, 2)
    assert without_pool_options("postgresql://h/db?maxPoolSize=7&sslmode=disable") == (
        "postgresql://h/db?sslmode=disable"
    )
    with pytest.raises(ConfigError):
        pool_size("postgresql://h/db?minPoolSize=9&maxPoolSize=3", 30)
