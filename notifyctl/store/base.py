"""The store port: the source of truth for every notification, its status, attempts and lease.
Each tenant's settings and resources are parts of the port of their own, composed into ``Store``:
``secrets.py``, ``keys.py``, ``limits.py``, ``recipients.py``, ``templates.py``, ``breakers.py``,
``pauses.py`` (named as their adapters' files in ``sqlite/`` and ``mongodb/``).

Each method states its atomicity. Adapters implement the lease rules of ``notifyctl.lease``; the
contract suite in tests/store/contract/ runs against every adapter.

The dead-letter outbox: a store opened for a deployment with a broker (``dead_letter_outbox``)
marks every notification that becomes ``dead`` as having a dead letter to publish, in the same
atomic write that makes it dead (``finish``, and the burials of ``claim_batch``/``claim_ids``).
The workers' publisher takes those marks in leased batches (``take_dead_letters``), publishes
them with confirms and only then clears them (``clear_dead_letters``), so each dead notification
reaches the dead-letter exchange at least once, across broker outages and worker crashes. A
store opened without a broker marks nothing: with no exchange to deliver to, a mark would only
wait forever, and adding a broker later would flood its dead-letter queue with old deaths. Marks
made while a broker was configured stay until a broker publishes them; ``replay`` removes them.

Whose clock: ``now`` is the caller's clock. An adapter whose server has a clock decides "due" and
"live lease", and stamps the times it later compares, by the server's clock (MongoDB: ``$$NOW``,
see ``store/mongodb/clock.py``), so hosts whose clocks disagree still agree on who holds a
lease; it uses a caller's ``now`` only as a difference (a retry's backoff, ``retry_at - now``).
SQLite, on one host, takes ``now`` as given.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from notifyctl.model import (
    AttemptRecord,
    BacklogRow,
    Claim,
    DeadLetter,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    WorkerRecord,
)
from notifyctl.store.breakers import BreakerStore
from notifyctl.store.keys import KeyStore
from notifyctl.store.limits import LimitStore
from notifyctl.store.pauses import PauseStore
from notifyctl.store.recipients import RecipientStore
from notifyctl.store.secrets import SecretStore
from notifyctl.store.templates import TemplateStore


class Store(
    SecretStore,
    KeyStore,
    LimitStore,
    RecipientStore,
    TemplateStore,
    BreakerStore,
    PauseStore,
    Protocol,
):
    """The whole port: the notifications, their leases and outcomes (here), and each tenant's
    settings and resources (one Protocol each, in the modules named like their adapter files)."""

    url: str

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        """Insert notifications, in order, in one call. Each notification is inserted atomically;
        whether the whole call is (SQLite: one transaction) or not (MongoDB: an unordered insert,
        so a failure may leave some inserted) is the adapter's "Features". A client that retries
        a failed batch with idempotency keys duplicates nothing: the stored ones replay.

        Idempotency keys are unique per tenant (``NewNotification.tenant_id``): an item whose
        key its tenant already used is not inserted: its result is the existing
        notification with ``created=False``, and ``conflict=True`` when the stored request differs.
        Once this returns, every created notification is durable.
        """
        ...

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers."""
        ...

    def get(self, notification_id: str, tenant_id: str | None = None) -> Notification | None:
        """One notification, or None. With ``tenant_id``, only that tenant's: another tenant's
        notification is None, exactly as an unknown id (``None``: any tenant, for operators)."""
        ...

    def list_notifications(
        self,
        status: str | None,
        user_id: str | None,
        limit: int,
        before_id: str | None,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        """Up to ``limit`` notifications, newest first (ids sort by creation time), optionally
        of one tenant, one status and/or one user, with ids below ``before_id`` (the cursor)."""
        ...

    def message_notifications(
        self, message_id: str, tenant_id: str | None = None
    ) -> list[Notification]:
        """The notifications of one message (a send to a person fanned out per channel and
        device), oldest first; none for another tenant's message (``None``: any tenant, for
        operators). A message has at most a few dozen, so no paging."""
        ...

    def cancel(
        self, notification_id: str, now: int, tenant_id: str | None = None
    ) -> tuple[str, Notification | None]:
        """Cancel atomically unless it is terminal or leased by a live worker.

        Returns ("cancelled" | "not_found" | "conflict", the notification as it now stands).
        A cancel and a claim never both succeed. With ``tenant_id``, another tenant's
        notification is "not_found" and is left as it was.
        """
        ...

    def claim_batch(
        self,
        worker_id: str,
        limit: int,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        """Atomically lease up to ``limit`` claimable notifications, highest priority and
        earliest due first.

        Each claim increments ``attempts`` and ``lock_version`` (the fencing token). Due, unleased
        notifications out of attempts (their last worker died) are made ``dead`` in the same write
        and, as they now stand, appended to ``buried`` (so the caller can dead-letter them).
        Returns exactly what was won: no other worker can hold a live lease on any of them.
        A claim that takes over an expired lease has ``reclaimed=True`` and appends a
        ``lease_expired`` entry (the old worker, ``at`` = the old expiry) to the history.
        """
        ...

    def claim_ids(
        self,
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> list[Claim]:
        """Atomically lease those of ``ids`` that are claimable now (the broker path).

        The same rules as ``claim_batch``; an id that is unknown, terminal, not yet due, out of
        attempts or leased by a live worker is simply not in the result. An adapter may bury
        exhausted ones here as ``claim_batch`` does, or leave them to it.
        """
        ...

    def finish_and_claim_ids(
        self,
        outcomes: Sequence[Outcome],
        ids: Sequence[str],
        worker_id: str,
        now: int,
        lease_ms: int,
        buried: list[Notification] | None = None,
    ) -> tuple[FinishReport, list[Claim]]:
        """``finish(outcomes, now)`` and then ``claim_ids(ids, ...)``, with their results: the
        worker's hot path, which records what it delivered as it claims what comes next. An
        adapter with one writer at a time (SQLite) does both in one write transaction.
        """
        ...

    def renew(self, claims: Sequence[Claim], now: int, lease_ms: int) -> list[str]:
        """Extend the leases still held by these claims; returns the ids whose lease was lost.

        Each renewal is conditional on ``(locked_by, lock_version)``.
        """
        ...

    def finish(self, outcomes: Sequence[Outcome], now: int) -> FinishReport:
        """Record outcomes in one atomic write, each fenced by ``(locked_by, lock_version)``.

        An outcome whose claim was taken over is refused and reported in ``stale``. Each applied
        ``sent``, ``retry`` or ``dead`` outcome appends one entry to the notification's history in
        the same write (``release`` appends none: the attempt is given back).
        """
        ...

    def counts(self, now: int, tenant_id: str | None = None) -> dict[str, int]:
        """Notifications by status, plus ``locked`` (live leases), of one tenant or every one.
        A consistent snapshot."""
        ...

    def register_worker(self, record: WorkerRecord) -> None:
        """Insert or replace the worker's row."""
        ...

    def heartbeat(
        self, worker_id: str, now: int, in_flight: int, processed: int,
        cpu_percent: float = 0.0, rss_bytes: int = 0,
    ) -> None:  # fmt: skip
        """Record that the worker is alive, how busy it is, and its CPU and memory."""
        ...

    def deregister_worker(self, worker_id: str) -> None:
        """Remove the worker's row at a clean stop."""
        ...

    def workers(self) -> list[WorkerRecord]:
        """Every registered worker."""
        ...

    def prune_workers(self, stale_before: int) -> int:
        """Remove the rows of workers whose last heartbeat is older than ``stale_before`` (they
        died without deregistering: kill -9, a lost host); returns how many were removed."""
        ...

    def purge_terminal(self, before: int, limit: int) -> int:
        """Retention: delete up to ``limit`` terminal notifications (``model.TERMINAL``) last
        changed (``updated_at``) before ``before``, oldest first; returns how many went. Never
        one that is not terminal when it is deleted (a dead one replayed meanwhile stays). One short
        write per call (SQLite: one transaction, an index seek), so callers loop in batches and
        others' writes interleave. A purged notification's idempotency key is free again.
        ``before`` is the caller's clock: a cutoff days back, where clock skew does not matter."""
        ...

    def pool_stats(self) -> dict[str, int]:
        """This process's connections to the store, for /stats and /resources: ``poolSize`` (the
        maximum), ``openConnections``, ``activeConnections`` (in use), ``idleConnections``,
        ``pendingRequests`` (waiting for a connection) and ``minPoolSize``."""
        ...

    # -- operations: read by ``notifyctl inspect`` and the metrics, written by ``dlq replay`` --

    def oldest_due(self, now: int, tenant_id: str | None = None) -> int | None:
        """The due time of the notification that has waited longest: due, not terminal and not
        leased by a live worker (an expired lease counts as due since it expired). None when
        nothing is due. Cheap at any backlog size (an index seek per priority; with a tenant,
        the seek walks past other tenants' due notifications)."""
        ...

    def backlog(self, now: int) -> list[BacklogRow]:
        """Undelivered (``pending``/``scheduled``) notifications counted by priority and channel,
        split into due, scheduled later and live-locked. One consistent snapshot; it reads every
        undelivered notification, so it is for operators, not for a hot loop."""
        ...

    def finished_since(self, since: int, tenant_id: str | None = None) -> dict[str, int]:
        """``{"sent": n, "dead": m}``: notifications delivered (``sent_at``) or given up
        (``dead``, by ``updated_at``) at or after ``since``, of one tenant or every one. One
        consistent snapshot."""
        ...

    def delivered_series(
        self, since: int, step_ms: int, steps: int, tenant_id: str | None = None
    ) -> list[int]:
        """How many notifications were delivered (``sent_at``) in each of ``steps`` windows of
        ``step_ms`` from ``since`` on, oldest first (the console's chart): one range of the
        delivered-time index, of one tenant or every one."""
        ...

    def dead_letters(
        self,
        since: int | None,
        until: int | None,
        channel: str | None,
        limit: int,
        tenant_id: str | None = None,
    ) -> list[Notification]:
        """Dead notifications, newest death (``updated_at``) first, at most ``limit``: only those
        that died within [since, until] (each bound optional) and, given ``channel`` or
        ``tenant_id``, of it."""
        ...

    def replay(self, ids: Sequence[str], now: int) -> list[str]:
        """Put those of ``ids`` that are ``dead`` back as ``pending``, due ``now``, with
        ``attempts`` 0, the same id, ``replays`` + 1, ``last_error`` noting the replay, and a
        ``replayed`` history entry; each in one atomic change made only while it is dead (SQLite:
        all of them in one transaction). Returns the ids replayed; the others are untouched. A
        replayed notification is no longer dead: its dead-letter mark, if any, is removed."""
        ...

    # -- the dead-letter outbox (see the module docstring) --------------------------------------

    def take_dead_letters(self, limit: int, now: int, lease_ms: int) -> list[DeadLetter]:
        """Lease up to ``limit`` marked dead letters that are due (longest waiting first) until
        ``now + lease_ms``, in one atomic write: until the lease runs out no other call takes
        them, after it (the publisher crashed, or its broker never confirmed) any call may.
        Returns them with the notifications as they now stand; cheap when none is marked (an
        index seek, no write)."""
        ...

    def clear_dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Remove the marks of dead letters the broker confirmed: each only while it still
        carries the lease it was taken with (``token``) for the same death, so a replay, a later
        death or a publisher that took it over after the lease ran out keeps its mark. Returns
        how many were cleared."""
        ...

    def history(self, notification_id: str) -> list[AttemptRecord] | None:
        """The notification's history, oldest first (see ``finish``, ``claim_batch``, ``replay``);
        None for an unknown id."""
        ...

    def close(self) -> None: ...
