"""The claim/lease rules, and the lease arithmetic workers use, pure, with time passed in.

A claim is a lease: ``locked_by`` (the worker id), ``lock_expiry`` and ``lock_version``, a fencing
token incremented by every claim. A notification is claimable when it is not terminal, its due time
has come, no live lease holds it (a lease holds until its expiry, exclusive) and it has attempts
left; a due, unleased one out of attempts is made ``dead`` by the claim that finds it. Every later
write by the worker is conditional on ``(locked_by, lock_version)``, so a worker whose lease lapsed
and was taken over can never overwrite the new owner's result.

Store adapters implement these rules atomically, each in its own language (SQL, MongoDB
pipelines), on the store's clock (``notifyctl.store.mongodb.clock``). The executable reference they
are checked against lives with the tests (``tests/lease_model.py``, the claim state machine's
oracle), since no production code needs it.
"""

from __future__ import annotations

import os
import socket
import uuid


def worker_identity(host: str | None = None, pid: int | None = None) -> str:
    """A worker id unique across hosts and restarts: ``hostname-pid-uuid``."""
    host = host or socket.gethostname()
    pid = os.getpid() if pid is None else pid
    return f"{host}-{pid}-{uuid.uuid4().hex[:8]}"


def lease_expiry(now: int, lease_ms: int) -> int:
    return now + lease_ms


def renew_every_ms(lease_ms: int) -> int:
    """Renew at a third of the lease: two renewals can fail before another worker may take over."""
    return max(lease_ms // 3, 10)


#: a worker is stale once this many heartbeats in a row have not arrived
STALE_AFTER_HEARTBEATS = 3
#: the row of a worker that died without deregistering stays this long (``inspect workers``
#: shows it as stale, so an operator sees what crashed), then a live worker removes it
DEAD_WORKER_ROWS_KEPT_MS = 3_600_000
#: how often a worker looks for such rows (also once at start)
PRUNE_WORKERS_EVERY_MS = 600_000


def worker_is_alive(last_heartbeat: int, now: int, heartbeat_interval_ms: int) -> bool:
    """Alive while its last heartbeat is recent; a worker killed outright goes stale this way."""
    return now - last_heartbeat <= STALE_AFTER_HEARTBEATS * heartbeat_interval_ms
