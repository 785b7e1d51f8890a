"""The store contract, the workers' rows: register, heartbeat, deregister, prune.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import WorkerRecord
from notifyctl.store import Store
from tests.store.contract.builders import NOW, WORKER_A, WORKER_B


def worker_record(worker_id: str, number: int, started_at: int = NOW) -> WorkerRecord:
    return WorkerRecord(
        id=worker_id, worker_number=number, host="host", pid=1000 + number,
        started_at=started_at, last_heartbeat=started_at, in_flight=0, processed=0,
    )  # fmt: skip


def test_registered_workers_are_listed(store: Store) -> None:
    records = [worker_record(WORKER_A, 1), worker_record(WORKER_B, 2)]
    for record in records:
        store.register_worker(record)
    assert sorted(store.workers(), key=lambda w: w.id) == sorted(records, key=lambda w: w.id)


def test_no_workers_are_listed_before_any_registers(store: Store) -> None:
    assert store.workers() == []


def test_heartbeat_records_liveness_progress_cpu_and_memory(store: Store) -> None:
    store.register_worker(worker_record(WORKER_A, 1))
    store.heartbeat(WORKER_A, NOW + 5_000, in_flight=7, processed=42, cpu_percent=12.5,
                    rss_bytes=48_000_000)  # fmt: skip
    (record,) = store.workers()
    assert record == replace(
        worker_record(WORKER_A, 1), last_heartbeat=NOW + 5_000, in_flight=7, processed=42,
        cpu_percent=12.5, rss_bytes=48_000_000,
    )  # fmt: skip


def test_registering_again_replaces_the_worker_row(store: Store) -> None:
    store.register_worker(worker_record(WORKER_A, 1))
    store.heartbeat(WORKER_A, NOW + 5_000, in_flight=7, processed=42, cpu_percent=3.0,
                    rss_bytes=1_000)  # fmt: skip
    restarted = worker_record(WORKER_A, 1, started_at=NOW + 9_000)
    store.register_worker(restarted)
    assert store.workers() == [restarted]


def test_deregister_removes_only_that_worker(store: Store) -> None:
    store.register_worker(worker_record(WORKER_A, 1))
    store.register_worker(worker_record(WORKER_B, 2))
    store.deregister_worker(WORKER_A)
    assert [w.id for w in store.workers()] == [WORKER_B]
    store.deregister_worker(WORKER_B)
    assert store.workers() == []


def test_prune_removes_only_the_rows_of_workers_silent_since_before_the_cutoff(
    store: Store,
) -> None:
    store.register_worker(replace(worker_record(WORKER_A, 1), last_heartbeat=NOW - 7_200_000))
    store.register_worker(replace(worker_record(WORKER_B, 2), last_heartbeat=NOW - 60_000))
    assert store.prune_workers(NOW - 3_600_000) == 1
    assert [w.id for w in store.workers()] == [WORKER_B]
    assert store.prune_workers(NOW - 3_600_000) == 0
