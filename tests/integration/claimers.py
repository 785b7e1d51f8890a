"""Claiming processes for the shared stores' tests: several processes (spawned, so each has
its own client and pool) take batches from one store until it is empty, and report every id
they won. The tests then check that each notification was won exactly once."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from multiprocessing.synchronize import Barrier
from typing import Any

from notifyctl.model import now_ms
from notifyctl.store import Store


def open_small(adapter: str, url: str) -> Store:
    """A store of ``adapter`` with a pool of two connections: one per claiming process."""
    if adapter == "mongodb":
        from notifyctl.store.mongodb.pool import PoolSize as MongoPool
        from notifyctl.store.mongodb.store import MongoStore

        return MongoStore(url, MongoPool(max=2, min=0))
    from notifyctl.store.postgresql.pool import PoolSize as PostgresPool
    from notifyctl.store.postgresql.store import PostgresStore

    return PostgresStore(url, PostgresPool(max=2, min=1))


def claim_until_empty(
    adapter: str, url: str, number: int, batch: int, start: Barrier, results: Any
) -> None:
    """One claiming process: take batches until nothing is left; report every id won."""
    store = open_small(adapter, url)
    won: list[str] = []
    try:
        start.wait(60)
        while claims := store.claim_batch(f"claimer-{number}", batch, now_ms(), 600_000):
            won.extend(claim.id for claim in claims)
    finally:
        store.close()
        results.put((number, won))


def claim_in_processes(adapter: str, url: str, processes: int, batch: int) -> Counter[str]:
    """How many times each id was won by ``processes`` claimers started together; asserts
    that at least two of them won some (else the run proved nothing about concurrency)."""
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Barrier(processes), spawn.Queue()
    claimers = [
        spawn.Process(target=claim_until_empty, args=(adapter, url, n, batch, start, results))
        for n in range(processes)
    ]
    for process in claimers:
        process.start()
    try:
        won = dict(results.get(timeout=180) for _ in claimers)
    finally:
        for process in claimers:
            process.join(30)
    assert sum(1 for ids_won in won.values() if ids_won) >= 2, "no concurrency: proves nothing"
    return Counter(i for ids_won in won.values() for i in ids_won)
