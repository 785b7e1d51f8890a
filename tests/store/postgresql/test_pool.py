"""The PostgreSQL store's pool after its connections broke (the server restarted, failed over,
or ended them): one failed call, not one per pooled connection."""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import pytest

from notifyctl.errors import StoreUnavailable
from notifyctl.store.postgresql.pool import PoolSize
from notifyctl.store.postgresql.store import PostgresStore

POOLED = 4


def named(url: str, application_name: str) -> str:
    """``url`` whose connections carry ``application_name``, so only they are terminated (other
    tests share this server)."""
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query), ("application_name", application_name)]
    return urlunsplit(parts._replace(query=urlencode(query)))


def terminate(url: str, application_name: str) -> int:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        row = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = %s",
            (application_name,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.timeout(120)
def test_after_one_call_fails_on_a_broken_connection_the_idle_ones_are_replaced(
    postgresql_url: str,
) -> None:
    name = f"notifyctl-pool-{uuid.uuid4().hex[:8]}"
    store = PostgresStore(named(postgresql_url, name), PoolSize(max=POOLED, min=POOLED))
    try:
        store._db._pool.wait(30)  # every connection open and idle
        assert terminate(postgresql_url, name) == POOLED
        with pytest.raises(StoreUnavailable):
            store.get("none")  # the first call meets a terminated connection
        store._db.wait_checked(30)
        for _ in range(2 * POOLED):  # without the check, POOLED - 1 of these would fail
            assert store.get("none") is None
    finally:
        store.close()
