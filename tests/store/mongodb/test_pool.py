"""The MongoDB connection pool: the spec's sizing formula, option precedence, CMAP arithmetic."""

from __future__ import annotations

import pytest
from pymongo import monitoring

from notifyctl.errors import ConfigError
from notifyctl.store.mongodb.pool import (
    DRIVER_DEFAULTS,
    PoolSize,
    PoolStats,
    auto_pool_size,
    client_options,
    pool_size,
)

ADDRESS = ("db1", 27017)


@pytest.mark.parametrize(
    ("workers", "apis", "expected"),
    [(5, 2, 35), (1, 0, 10), (1, 1, 10), (2, 0, 10), (3, 0, 15), (8, 2, 50), (40, 4, 50)],
)
def test_the_pool_is_auto_sized_per_the_spec(workers: int, apis: int, expected: int) -> None:
    assert auto_pool_size(workers, apis) == expected


def test_the_setting_beats_the_url_which_beats_the_formula() -> None:
    assert pool_size("mongodb://h/db", 0, 0, 35) == PoolSize(max=35, min=0)
    assert pool_size("mongodb://h/db?maxPoolSize=20&minPoolSize=2", 0, 0, 35) == PoolSize(20, 2)
    assert pool_size("mongodb://h/db?maxPoolSize=20", 12, 3, 35) == PoolSize(12, 3)


def test_a_minimum_above_the_maximum_is_refused() -> None:
    with pytest.raises(ConfigError, match="MONGODB_MIN_POOL_SIZE"):
        pool_size("mongodb://h/db", 10, 11, 35)
    with pytest.raises(ConfigError, match="MONGODB_MIN_POOL_SIZE"):
        pool_size("mongodb://h/db", 0, 40, 35)


def test_a_pool_size_in_the_url_must_be_a_number() -> None:
    with pytest.raises(ConfigError, match="maxPoolSize"):
        pool_size("mongodb://h/db?maxPoolSize=lots", 0, 0, 35)


def test_client_options_follow_the_spec_unless_the_url_says_otherwise() -> None:
    options = client_options("mongodb://h/db", PoolSize(35, 0))
    assert options["heartbeatFrequencyMS"] == 30_000
    assert options["maxIdleTimeMS"] == 60_000
    assert options["socketTimeoutMS"] == 45_000
    assert options["retryWrites"] is True and options["retryReads"] is True
    assert (options["maxPoolSize"], options["minPoolSize"], options["tz_aware"]) == (35, 0, True)
    tuned = client_options("mongodb://h/db?sockettimeoutms=5000&retryWrites=false", PoolSize(9, 1))
    assert "socketTimeoutMS" not in tuned and "retryWrites" not in tuned
    assert tuned["serverSelectionTimeoutMS"] == DRIVER_DEFAULTS["serverSelectionTimeoutMS"]


def test_pool_stats_follow_the_connection_events() -> None:
    stats = PoolStats(PoolSize(max=35, min=0))
    for connection in (1, 2, 3):
        stats.connection_created(monitoring.ConnectionCreatedEvent(ADDRESS, connection))
    for _ in range(3):
        stats.connection_check_out_started(monitoring.ConnectionCheckOutStartedEvent(ADDRESS))
    stats.connection_checked_out(monitoring.ConnectionCheckedOutEvent(ADDRESS, 1, 0.0))
    stats.connection_checked_out(monitoring.ConnectionCheckedOutEvent(ADDRESS, 2, 0.0))
    assert stats.snapshot() == {
        "poolSize": 35, "minPoolSize": 0, "openConnections": 3, "activeConnections": 2,
        "idleConnections": 1, "pendingRequests": 1,
    }  # fmt: skip
    stats.connection_check_out_failed(
        monitoring.ConnectionCheckOutFailedEvent(ADDRESS, "timeout", 0.0)
    )
    stats.connection_checked_in(monitoring.ConnectionCheckedInEvent(ADDRESS, 1))
    stats.connection_closed(monitoring.ConnectionClosedEvent(ADDRESS, 3, "idle"))
    snapshot = stats.snapshot()
    assert (snapshot["openConnections"], snapshot["activeConnections"]) == (2, 1)
    assert (snapshot["idleConnections"], snapshot["pendingRequests"]) == (1, 0)
