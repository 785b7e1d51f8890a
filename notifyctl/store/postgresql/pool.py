"""The PostgreSQL store's connection pool: its size as the MongoDB pool's, and its statistics.

The size follows the spec's formula, ``(NUM_WORKERS + NUM_API_INSTANCES) * 5`` clamped 10..50
(``mongodb/pool.py``), unless the URL sets ``maxPoolSize``/``minPoolSize``; those two options are
ours, so they are taken out of the URL before libpq (which refuses unknown options) sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from psycopg_pool import ConnectionPool

from notifyctl.errors import ConfigError
from notifyctl.store.mongodb.pool import auto_pool_size

__all__ = ["PoolSize", "auto_pool_size", "pool_size", "pool_stats", "without_pool_options"]

POOL_OPTIONS = ("maxpoolsize", "minpoolsize")


@dataclass(frozen=True, slots=True)
class PoolSize:
    max: int
    min: int


def pool_options(url: str) -> dict[str, str]:
    """Our pool options in the URL's query string, keyed in lower case."""
    query = parse_qsl(urlsplit(url).query)
    return {key.lower(): value for key, value in query if key.lower() in POOL_OPTIONS}


def without_pool_options(url: str) -> str:
    """The URL as libpq may read it: our pool options removed, everything else kept."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in POOL_OPTIONS]
    return urlunsplit(parts._replace(query=urlencode(kept)))


def pool_size(url: str, auto: int) -> PoolSize:
    """``maxPoolSize``/``minPoolSize`` in the URL, else the spec's formula and a minimum of 1 (a
    store keeps one connection open, so a server that went away is noticed by the pool)."""
    options = pool_options(url)
    try:
        largest = int(options.get("maxpoolsize", auto))
        smallest = int(options.get("minpoolsize", 1))
    except ValueError as exc:
        raise ConfigError(f"store URL: maxPoolSize/minPoolSize must be integers ({exc})") from None
    if largest < 1 or not 0 <= smallest <= largest:
        raise ConfigError(
            f"store URL: minPoolSize {smallest} and maxPoolSize {largest} must satisfy "
            "0 <= minPoolSize <= maxPoolSize and maxPoolSize >= 1; change them in the URL"
        )
    return PoolSize(max=largest, min=smallest)


def pool_stats(pool: ConnectionPool, size: PoolSize) -> dict[str, int]:
    """The spec's /stats figures from psycopg_pool's own counters."""
    stats = pool.get_stats()
    open_now, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    return {
        "poolSize": size.max, "minPoolSize": size.min, "openConnections": open_now,
        "activeConnections": max(open_now - idle, 0), "idleConnections": idle,
        "pendingRequests": stats.get("requests_waiting", 0),
    }  # fmt: skip
