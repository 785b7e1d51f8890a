"""A PostgreSQL store for a benchmark run: a fresh schema of the run's own on a server, named in
the store URL's ``search_path``, dropped afterwards; and the run's status counts read from it.
Used by e2e.py and claim_scaling_pg.py (``--store``); drain.py has its own copies."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg
from psycopg import sql


def fresh_schema(base_url: str, prefix: str = "notifyctl_bench") -> str:
    """A new, empty schema on the server of ``base_url``; its store URL."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as pg:
        pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options=-csearch_path%3D{schema}"


def drop_schema(base_url: str, store_url: str) -> None:
    schema = store_url.rsplit("%3D", 1)[1]
    with psycopg.connect(base_url, autocommit=True) as pg:
        pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@contextlib.contextmanager
def schema_of_its_own(base_url: str) -> Iterator[str]:
    store_url = fresh_schema(base_url)
    try:
        yield store_url
    finally:
        drop_schema(base_url, store_url)


def status_counts(store_url: str) -> dict[str, int]:
    """Notifications by status and the attempts made, as e2e.py reads them from SQLite."""
    with psycopg.connect(store_url) as pg:
        rows = pg.execute(
            "SELECT status, count(*), sum(attempts) FROM notifications GROUP BY status"
        ).fetchall()
    counts = {str(status): int(n) for status, n, _ in rows}
    counts["attempts"] = sum(int(a or 0) for *_, a in rows)
    return counts
