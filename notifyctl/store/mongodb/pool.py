"""The MongoDB client's connection pool: its size per the spec, its options, and live statistics.

Statistics come from pymongo's connection-pool (CMAP) events, so ``/stats`` and ``/resources``
report what the driver did rather than estimates. Options given in the URL win over ours, so an
operator can tune any of them without a new setting.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from pymongo import monitoring

from notifyctl.errors import ConfigError

CheckOutStarted = monitoring.ConnectionCheckOutStartedEvent
CheckOutFailed = monitoring.ConnectionCheckOutFailedEvent

#: the spec's health-check figures, in the driver's option names
DRIVER_DEFAULTS: dict[str, Any] = {
    "heartbeatFrequencyMS": 30_000,
    "maxIdleTimeMS": 60_000,
    "socketTimeoutMS": 45_000,
    "connectTimeoutMS": 10_000,
    "serverSelectionTimeoutMS": 10_000,
    "retryWrites": True,
    "retryReads": True,
    "appname": "notifyctl",
}
POOL_FLOOR, POOL_CEILING, CONNECTIONS_PER_PROCESS = 10, 50, 5


@dataclass(frozen=True, slots=True)
class PoolSize:
    max: int
    min: int


def auto_pool_size(num_workers: int, num_api_instances: int) -> int:
    """The spec's formula: ``(NUM_WORKERS + NUM_API_INSTANCES) * 5``, clamped to 10..50."""
    wanted = (num_workers + num_api_instances) * CONNECTIONS_PER_PROCESS
    return min(max(wanted, POOL_FLOOR), POOL_CEILING)


def url_options(url: str) -> dict[str, str]:
    """The options in a MongoDB URL's query string, keyed in lower case (the driver ignores case).

    Parsed by hand: the driver's own parser resolves mongodb+srv:// names over DNS.
    """
    return {key.lower(): value for key, value in parse_qsl(urlsplit(url).query)}


def pool_size(url: str, max_setting: int, min_setting: int, auto: int) -> PoolSize:
    """MONGODB_MAX_POOL_SIZE > maxPoolSize in the URL > the spec's formula; likewise for the min."""
    options = url_options(url)
    try:
        largest = max_setting or int(options.get("maxpoolsize", auto))
        smallest = min_setting or int(options.get("minpoolsize", 0))
    except ValueError as exc:
        raise ConfigError(f"store URL: maxPoolSize/minPoolSize must be integers ({exc})") from None
    if largest and smallest > largest:
        raise ConfigError(
            f"MONGODB_MIN_POOL_SIZE: {smallest} is more than the pool's maximum {largest}; "
            "lower it or raise MONGODB_MAX_POOL_SIZE"
        )
    return PoolSize(max=largest, min=smallest)


def client_options(url: str, size: PoolSize) -> dict[str, Any]:
    """Keyword options for MongoClient: ours, minus any the URL sets itself."""
    given = url_options(url)
    options = {k: v for k, v in DRIVER_DEFAULTS.items() if k.lower() not in given}
    return {**options, "maxPoolSize": size.max, "minPoolSize": size.min, "tz_aware": True}


class PoolStats(monitoring.ConnectionPoolListener):
    """Counts the pool's connections from CMAP events (called on the driver's threads)."""

    def __init__(self, size: PoolSize) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._open = self._checked_out = self._waiting = 0

    def _add(self, opened: int = 0, checked_out: int = 0, waiting: int = 0) -> None:
        with self._lock:
            self._open += opened
            self._checked_out += checked_out
            self._waiting += waiting

    def snapshot(self) -> dict[str, int]:
        """The spec's /stats figures: poolSize is the configured maximum per process."""
        with self._lock:
            open_now, active, waiting = self._open, self._checked_out, self._waiting
        return {
            "poolSize": self.size.max,
            "minPoolSize": self.size.min,
            "openConnections": open_now,
            "activeConnections": active,
            "idleConnections": max(open_now - active, 0),
            "pendingRequests": waiting,
        }

    def connection_created(self, event: monitoring.ConnectionCreatedEvent) -> None:
        self._add(opened=1)

    def connection_closed(self, event: monitoring.ConnectionClosedEvent) -> None:
        self._add(opened=-1)

    def connection_check_out_started(self, event: CheckOutStarted) -> None:
        self._add(waiting=1)

    def connection_check_out_failed(self, event: CheckOutFailed) -> None:
        self._add(waiting=-1)

    def connection_checked_out(self, event: monitoring.ConnectionCheckedOutEvent) -> None:
        self._add(checked_out=1, waiting=-1)

    def connection_checked_in(self, event: monitoring.ConnectionCheckedInEvent) -> None:
        self._add(checked_out=-1)

    # events that change no figure above
    def pool_created(self, event: monitoring.PoolCreatedEvent) -> None: ...
    def pool_ready(self, event: monitoring.PoolReadyEvent) -> None: ...
    def pool_cleared(self, event: monitoring.PoolClearedEvent) -> None: ...
    def pool_closed(self, event: monitoring.PoolClosedEvent) -> None: ...
    def connection_ready(self, event: monitoring.ConnectionReadyEvent) -> None: ...
