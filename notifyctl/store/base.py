"""The store port: the source of truth for every notification, its status, attempts and lease.

Each method states its atomicity. Adapters implement the lease rules of ``notifyctl.lease``; the
contract suite in tests/test_store_contract.py runs against every adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from notifyctl.model import (
    Claim,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    WorkerRecord,
)


class Store(Protocol):
    url: str

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        """Insert notifications, in order, in one atomic write.

        An item whose idempotency key exists is not inserted: its result is the existing
        notification with ``created=False``, and ``conflict=True`` when the stored request differs.
        Once this returns, every created notification is durable.
        """
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    def get(self, notification_id: str) -> Notification | None:
        """One notification, or None."""
        ...

    def list_notifications(
        self, status: str | None, user_id: str | None, limit: int, before_id: str | None
    ) -> list[Notification]:
        """Up to ``limit`` notifications, newest first (ids sort by creation time), optionally
        of one status and/or one user, with ids below ``before_id`` (the cursor)."""
        ...

    def cancel(self, notification_id: str, now: int) -> tuple[str, Notification | None]:
        """Cancel atomically unless it is terminal or leased by a live worker.

        Returns ("cancelled" | "not_found" | "conflict", the notification as it now stands).
        A cancel and a claim never both succeed.
        """
        ...

    def claim_batch(self, worker_id: str, limit: int, now: int, lease_ms: int) -> list[Claim]:
        """Atomically lease up to ``limit`` claimable notifications, highest priority and
        earliest due first.

        Each claim increments ``attempts`` and ``lock_version`` (the fencing token). Due, unleased
        notifications out of attempts (their last worker died) are made ``dead`` in the same write.
        Returns exactly what was won: no other worker can hold a live lease on any of them.
        """
        ...

    def claim_ids(self, ids: Sequence[str], worker_id: str, now: int, lease_ms: int) -> list[Claim]:
        """Atomically lease those of ``ids`` that are claimable now (the broker path).

        The same rules as ``claim_batch``; an id that is unknown, terminal, not yet due, out of
        attempts or leased by a live worker is simply not in the result.
        """
        ...

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        """Extend the leases still held by these claims; returns the ids whose lease was lost.

        Each renewal is conditional on ``(locked_by, lock_version)``.
        """
        ...

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        """Record outcomes in one atomic write, each fenced by ``(locked_by, lock_version)``.

        An outcome whose claim was taken over is refused and reported in ``stale``.
        """
        ...

    def counts(self, now: int) -> dict[str, int]:
        """Notifications by status, plus ``locked`` (live leases). A consistent snapshot."""
        ...

    def register_worker(self, record: WorkerRecord) -> None:
        """Insert or replace the worker's row."""
        ...

    def heartbeat(self, worker_id: str, now: int, in_flight: int, processed: int) -> None:
        """Record that the worker is alive."""
        ...

    def deregister_worker(self, worker_id: str) -> None:
        """Remove the worker's row at a clean stop."""
        ...

    def workers(self) -> list[WorkerRecord]:
        """Every registered worker."""
        ...

    def pool_stats(self) -> dict[str, int]:
        """This process's connections to the store, for /stats and /resources: ``poolSize`` (the
        maximum), ``openConnections``, ``activeConnections`` (in use), ``idleConnections``,
        ``pendingRequests`` (waiting for a connection) and ``minPoolSize``."""
        ...

    def close(self) -> None: ...
