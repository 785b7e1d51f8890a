"""A worker's outcomes on their way to the store.

Deliveries finish one by one; writing each outcome on its own would cost a store transaction per
notification. So outcomes are gathered and written fenced in batches: by the flush loop, a couple
of milliseconds after the first one finished, or riding on the worker's next wake-up claim (one
transaction for both). Only after the store answered are they counted, the dead-letter publisher
nudged for dead ones, and their claims dropped from the worker's renewals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import anyio

from notifyctl.errors import StoreError
from notifyctl.lifecycle import FINAL_FLUSH_MIN_S
from notifyctl.logs import about
from notifyctl.metrics import WorkerMetrics
from notifyctl.model import (
    FinishReport,
    Notification,
    Outcome,
    Verdict,
    WorkerStats,
)
from notifyctl.retry import StoreBackoff
from notifyctl.store import Store
from notifyctl.worker.held import HeldClaims

log = logging.getLogger("notifyctl.worker")
T = TypeVar("T")
#: the flush loop gathers outcomes finishing together for this long before writing them
GATHER_S = 0.002
#: and while wake-up ids wait to be claimed, up to this many times more
PIGGYBACK_WAITS = 10
#: a recorded verdict -> its outcome label and WorkerStats field
OUTCOME_NAMES = {Verdict.SENT: "sent", Verdict.RETRY: "retried", Verdict.DEAD: "dead"}
#: the outcomes of claims that were no attempt, and the ``WorkerStats`` counter of each (a
#: parked one is counted where it is parked: ``worker_paused_total``)
NOT_ATTEMPTS: dict[Verdict, str | None] = {
    Verdict.RELEASE: "released", Verdict.INTERRUPTED: "interrupted",
    Verdict.SUPPRESSED: "suppressed", Verdict.DEFERRED: "deferred", Verdict.EXPIRED: "expired",
    Verdict.PAUSED: None,
}  # fmt: skip


class StoreCall(Protocol):
    """The worker's timed store call (``Worker._call``)."""

    async def __call__(self, operation: str, method: Callable[..., T], *args: Any) -> T: ...


class Outcomes:
    def __init__(
        self,
        store: Store,
        call: StoreCall,
        stats: WorkerStats,
        metrics: WorkerMetrics,
        held: HeldClaims,
        clock: Callable[[], int],
        worker_id: str = "",
    ) -> None:
        self._store = store
        self._call = call
        self._stats = stats
        self._metrics = metrics
        #: the worker's claims still to be renewed; an outcome written ends its claim
        self._held = held
        self._clock = clock
        self._worker_id = worker_id
        self._pending: list[Outcome] = []
        self._backoff = StoreBackoff()
        self._ready = anyio.Event()
        #: called for each death written (the worker's dead-letter publisher's nudge)
        self.on_dead_letter: Callable[[], None] = lambda: None

    def __len__(self) -> int:
        """Outcomes gathered and not yet written."""
        return len(self._pending)

    def record(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        self._ready.set()

    def take(self) -> list[Outcome]:
        """Every outcome gathered so far, for a claim to write in its own transaction; hand them
        to ``written`` or ``put_back``."""
        batch, self._pending = self._pending, []
        return batch

    def put_back(self, batch: list[Outcome]) -> None:
        """Writing ``batch`` failed: it goes first in line again."""
        self._pending = batch + self._pending

    async def flush_loop(self, ids_waiting: Callable[[], int]) -> None:
        """Write outcomes as they come; while wake-up ids wait, leave them to the next claim."""
        while True:
            await self._ready.wait()
            self._ready = anyio.Event()
            await anyio.sleep(GATHER_S)  # gather the outcomes finishing together into one write
            for _ in range(PIGGYBACK_WAITS):
                if not (self._pending and ids_waiting()):
                    break
                await anyio.sleep(GATHER_S)
            await self.flush()

    async def flush(self) -> None:
        """Write every outcome gathered, retrying while the store fails."""
        while self._pending:
            if await self._write():
                self._backoff.succeeded()
            else:
                await anyio.sleep(self._backoff.next_delay_s())

    async def _write(self) -> bool:
        """Write every outcome gathered so far; False (outcomes kept) if the store failed.

        Shielded: a batch taken is written and counted, or put back, even when the flush loop is
        cancelled at stop, so no outcome is ever held only by a cancelled task.
        """
        with anyio.CancelScope(shield=True):
            batch = self.take()
            try:
                report = await self._call("finish", self._store.finish, batch, self._clock())
            except StoreError as exc:
                self._stats.store_errors += 1
                log.warning(
                    "recording %d outcomes failed, retrying: %s", len(batch), exc,
                    extra={"event": "store_unavailable", "operation": "finish"},
                )  # fmt: skip
                self.put_back(batch)
                return False
            self.written(batch, report)
        return True

    async def flush_at_stop(self, grace_s: float) -> None:
        """The last outcomes, after the flush loop stopped; bounded, so a store that stays down
        cannot keep a stopping worker alive (its leases then expire and others retry)."""
        with anyio.move_on_after(max(grace_s, FINAL_FLUSH_MIN_S)):
            await self.flush()
        if self._pending:
            log.error(
                "stopped with %d outcomes unrecorded: the store did not answer; their leases"
                " expire after LOCK_DURATION_MS and they are delivered again",
                len(self._pending),
            )

    def written(self, batch: list[Outcome], report: FinishReport) -> None:
        """The store has ``batch`` (but the outcomes it reports stale): count them."""
        stats, stale, now = self._stats, set(report.stale), self._clock()
        for outcome in batch:
            self._held.release(outcome.claim)  # this claim, not a newer one on its id
            if outcome.claim.id in stale:
                stats.stale_writes += 1
                log.warning(
                    "outcome for %s refused: its lease was taken over", outcome.claim.id,
                    extra=about(outcome.claim.notification, "stale_write_refused"),
                )  # fmt: skip
                continue
            self._count(outcome, now)

    def _count(self, outcome: Outcome, now: int) -> None:
        stats, verdict, notification = self._stats, outcome.verdict, outcome.claim.notification
        if verdict in NOT_ATTEMPTS:
            counter = NOT_ATTEMPTS[verdict]
            if counter is not None:
                setattr(stats, counter, getattr(stats, counter) + 1)
            if verdict in (Verdict.SUPPRESSED, Verdict.EXPIRED):
                log.info("%s %s: %s", notification.id, verdict.value, outcome.error)
            return
        kind = OUTCOME_NAMES[verdict]
        key = (notification.channel, kind)
        stats.by_channel[key] = stats.by_channel.get(key, 0) + 1
        setattr(stats, kind, getattr(stats, kind) + 1)
        if verdict is Verdict.SENT:
            latency_ms = now - notification.created_at
            self._metrics.delivered(notification.channel, latency_ms)
            log.info(
                "%s delivered (attempt %d of %d, worker %s)", notification.id,
                notification.attempts, notification.max_attempts, self._worker_id,
                extra=about(notification, "delivered", latency_s=latency_ms / 1000),
            )  # fmt: skip
        elif verdict is Verdict.RETRY:
            self._log_retry(outcome, now)
        elif verdict is Verdict.DEAD:
            log_dead(notification, outcome.error)
            self.dead_letter(notification, outcome.error)

    def _log_retry(self, outcome: Outcome, now: int) -> None:
        """One line per retry, worded as the spec's troubleshooting guide greps for it."""
        n, retry_at = outcome.claim.notification, outcome.retry_at or now
        delay_s = max(retry_at - now, 0) / 1000
        log.info(
            "Retry attempt %d of %d for %s in %.1f s (worker %s): %s", n.attempts + 1,
            n.max_attempts, n.id, delay_s, self._worker_id, outcome.error,
            extra=about(n, "retry_scheduled", delay_s=delay_s, error=outcome.error),
        )  # fmt: skip

    def dead_letter(self, notification: Notification, error: str | None) -> None:
        """``notification`` was written dead. With a broker, the store marked its dead letter in
        that same write, and the publisher (``deadletters.py``) sends it to the dead-letter
        exchange from there, confirmed, at least once: tell it there is one now."""
        self.on_dead_letter()


def log_dead(notification: Notification, error: str | None) -> None:
    """One line per notification given up on (out of attempts, or a permanent error)."""
    log.warning(
        "%s is dead: %s", notification.id, error, extra=about(notification, "dead", error=error)
    )
