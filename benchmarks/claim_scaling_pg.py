"""Claim cost against the size of the backlog on PostgreSQL: claim_scaling.py's rounds (claim 50,
finish them sent, insert 50 more untimed, so the backlog keeps its size; the sizes alternating
round by round) on a PostgresStore, each size in a fresh schema of its own on the server
``--store`` names, dropped afterwards. Rows are filled through the store's own ``insert_many``
(the API's rows), then ANALYZEd. Workers' settings: ``synchronous_commit = off``.

    .venv/bin/python benchmarks/claim_scaling_pg.py --store postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python benchmarks/claim_scaling_pg.py --store URL --sizes 10000,1000000 --claims 500
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pg_store
import psycopg
from claim_scaling import Backlog, fill, measure, report

from notifyctl.model import now_ms
from notifyctl.store.postgresql.pool import PoolSize
from notifyctl.store.postgresql.store import PostgresStore


def open_backlog(base_url: str, rows: int, chunk: int) -> tuple[Backlog, str]:
    url = pg_store.fresh_schema(base_url, "notifyctl_claims")
    store = PostgresStore(url, PoolSize(max=2, min=1), durable=False)
    base_ms = now_ms() - rows // 10 - 60_000  # every row due, the oldest first
    backlog = Backlog(rows, Path(tempfile.gettempdir()), store, base_ms, rows)  # type: ignore[arg-type]
    backlog.fill_s = fill(store, rows, base_ms, chunk)  # type: ignore[arg-type]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE notifications")
    print(f"  filled {rows:,} rows in {backlog.fill_s:.1f} s", file=sys.stderr, flush=True)
    return backlog, url


def plan_of(store: PostgresStore, url: str) -> str:
    """The claim's plan, its nodes and index names in one line."""
    params = {"worker": "w", "now": now_ms(), "lease": 30_000, "outbox": False, "limit": 50}
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "EXPLAIN (FORMAT JSON) " + store._sql.claim, {**store._sql.band_params, **params}
        ).fetchone()
    assert row is not None
    names: list[str] = []

    def walk(node: dict[str, object]) -> None:
        index = node.get("Index Name")
        names.append(f"{node['Node Type']}{f' ({index})' if index else ''}")
        for child in node.get("Plans", []):  # type: ignore[attr-defined]
            walk(child)

    walk(row[0][0]["Plan"])
    return "; ".join(dict.fromkeys(names))


def pending(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM notifications WHERE status IN ('pending', 'scheduled')"
        ).fetchone()
    return int(found[0]) if found else 0


def main() -> None:
    parser = argparse.ArgumentParser(description="claim cost vs backlog size (PostgresStore)")
    parser.add_argument("--store", required=True, help="a PostgreSQL server URL")
    parser.add_argument("--sizes", default="10000,1000000", help="comma-separated row counts")
    parser.add_argument("--claims", type=int, default=200, help="timed claims per size")
    parser.add_argument("--warmup", type=int, default=20, help="untimed claims first")
    parser.add_argument("--chunk", type=int, default=10_000, help="rows per insert_many")
    args = parser.parse_args()
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))
    opened: list[tuple[Backlog, str]] = []
    try:
        for rows in sizes:
            print(f"{rows:,} pending rows ...", file=sys.stderr, flush=True)
            opened.append(open_backlog(args.store, rows, args.chunk))
        backlogs = [backlog for backlog, _ in opened]
        measure(backlogs, args.claims, args.warmup, profile=False)
        for backlog, url in opened:
            backlog.plan = plan_of(backlog.store, url)  # type: ignore[arg-type]
            backlog.pending_after = pending(url)
        print("\n".join(report(backlogs)))
    finally:
        for backlog, url in opened:
            backlog.store.close()
            pg_store.drop_schema(args.store, url)


if __name__ == "__main__":
    main()
