"""How a worker gets notifications to deliver: the store sweep, and the broker's wake-ups.

Two loops, one event loop, never more claimed than free delivery slots (nothing claimed waits
unstarted):
- the sweep leases up to ``worker_batch_size`` due notifications, again at once while batches come
  back full; otherwise it rests ``POLL_INTERVAL_MS`` while a broker is connected, else backs off
  to ``idle_poll_ms``;
- with a broker, the wake-up loop claims the ids the broker's messages name (recording the
  outcomes gathered so far in the same store call), then acknowledges the messages: a lost claim
  is acked, never delivered.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

import anyio

from notifyctl.broker import POLL_ONLY, Broker, Receipt
from notifyctl.config import Config
from notifyctl.errors import StoreError
from notifyctl.logs import about
from notifyctl.model import Claim, Notification, WorkerStats
from notifyctl.retry import StoreBackoff
from notifyctl.store import Store
from notifyctl.worker.inflight import InFlight
from notifyctl.worker.outcomes import Outcomes, StoreCall, log_dead
from notifyctl.worker.wakeups import WakeUpQueue

log = logging.getLogger("notifyctl.worker")
#: the ``extra=`` of a store failure's line
STORE_UNAVAILABLE = {"event": "store_unavailable"}
MIN_IDLE_S = 0.01
#: the resolution of the due times of work given back (``due_at``)
DUE_GRAIN_MS = 100
MAX_WAKEUP_WAIT_S = 0.25


class Claiming:
    def __init__(
        self,
        config: Config,
        store: Store,
        call: StoreCall,
        worker_id: str,
        clock: Callable[[], int],
        stats: WorkerStats,
        outcomes: Outcomes,
        in_flight: InFlight,
        start: Callable[[Claim], None],
        broker: Broker = POLL_ONLY,
        prepare: Callable[[list[Claim]], Awaitable[None]] | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self._call = call
        self._worker_id = worker_id
        self._clock = clock
        self._stats = stats
        self._outcomes = outcomes
        self._in_flight = in_flight
        self._start = start
        self._broker = broker
        #: loads what a batch's deliveries need before they start (``people.py``)
        self._prepare = prepare
        self._wakeups = WakeUpQueue()
        self._wakeups_ready = anyio.Event()
        self._last_wakeup = self._last_watchdog = time.monotonic()
        #: slots promised to claims in progress (see _reserving)
        self._reserved = 0
        self._backoff = StoreBackoff()
        #: when work this worker gave back falls due (see ``due_at``): a heap and its members
        self._given_back_heap: list[int] = []
        self._given_back_due: set[int] = set()
        #: set to cut the sweep's rest short (work given back falls due before it ends)
        self._sweep_nudged = anyio.Event()
        #: the store said something was stored since the sweep's last claim began (``nudge``)
        self._stored_since_claim = False

    def ids_waiting(self) -> int:
        """Ids named by wake-ups and not yet claimed."""
        return len(self._wakeups)

    def accept(self, receipt: Receipt) -> None:
        """On the event loop, from the broker's thread."""
        self._wakeups.add(receipt)
        self._wakeups_ready.set()
        self._last_wakeup = time.monotonic()

    async def run(self, stopping: anyio.Event) -> None:
        """Claim and start deliveries until ``stopping`` is set."""
        async with anyio.create_task_group() as loops:
            loops.start_soon(self._sweep, stopping)
            if self._broker.configured:  # nothing would ever wake the poll-only loop
                loops.start_soon(self._wakeup_loop, self._broker, stopping)

    def _free_slots(self) -> int:
        """Delivery slots neither running nor promised to a claim still awaiting the store."""
        return self.config.worker_concurrency - len(self._in_flight) - self._reserved

    @contextlib.contextmanager
    def _reserving(self, slots: int) -> Iterator[None]:
        """Hold ``slots`` across a claim's await: the sweep and the wake-up loop both claim, and
        each must see the slots the other is about to fill, or together they claim past
        ``worker_concurrency`` (claims that would then wait unstarted while their leases run)."""
        self._reserved += slots
        try:
            yield
        finally:
            self._reserved -= slots

    async def _sweep(self, stopping: anyio.Event) -> None:
        idle_s = MIN_IDLE_S
        while not stopping.is_set():
            free = self._free_slots()
            if free <= 0:
                await self._wait_for_slot()
                continue
            wanted = min(self.config.worker_batch_size, free)
            self._stored_since_claim = False
            with self._reserving(wanted):
                claims = await self._claim(wanted)
                await self._prepared(claims)
            for claim in claims:
                self._start(claim)
            if claims:
                self._watchdog()
            if claims and len(claims) == wanted and not self._wakeups:
                idle_s = MIN_IDLE_S
                await anyio.sleep(0)  # let the deliveries just started run
                continue
            idle_s = self._next_idle_s(idle_s, bool(claims), len(claims) == wanted)
            if self._stored_since_claim:  # a wake-up came during the claim: it may be newer
                continue
            self._stats.sweep_rest_ms = round(idle_s * 1000)
            self._sweep_nudged = anyio.Event()
            with anyio.move_on_after(self._until_given_back_due(idle_s)):
                await first_of(stopping, self._sweep_nudged)

    def nudge(self) -> None:
        """The store says something due now was stored (its own wake-up, without a broker:
        PostgreSQL's NOTIFY): claim at once rather than rest. On the event loop."""
        self._stored_since_claim = True
        self._sweep_nudged.set()

    def due_at(self, at_ms: int) -> None:
        """Work this worker gave back unstarted is due again at ``at_ms`` (its destination had
        no room, or its circuit was open): no wake-up will name it, so the sweep comes back for
        it then, however long its rest (a broker's POLL_INTERVAL_MS may be minutes). Times are
        kept to a tenth of a second, so their number stays small."""
        slot = -(-at_ms // DUE_GRAIN_MS) * DUE_GRAIN_MS  # rounded up: never early
        if slot not in self._given_back_due:
            heapq.heappush(self._given_back_heap, slot)
            self._given_back_due.add(slot)
        self._sweep_nudged.set()  # a rest begun before this may be longer: start it anew

    def _until_given_back_due(self, idle_s: float) -> float:
        """``idle_s``, or less when work given back falls due sooner."""
        now = self._clock()
        heap = self._given_back_heap
        while heap and heap[0] <= now:  # due already: the claim just made has taken it
            self._given_back_due.discard(heapq.heappop(heap))
        if not heap:
            return idle_s
        return min(idle_s, max((heap[0] - now) / 1000, MIN_IDLE_S))

    def _next_idle_s(self, idle_s: float, found: bool, full: bool) -> float:
        """How long the sweep rests after a claim that was not full, or was full while wake-ups
        were waiting.

        While the broker is connected, wake-ups bring new work: the sweep is only for what no
        wake-up names (scheduled, retries, publishes that failed), every POLL_INTERVAL_MS; a
        backlog it finds (say, from a broker outage) it drains every IDLE_POLL_MS beside the
        wake-ups, whose claims would otherwise contend with its own. Without a broker, poll
        adaptively: at once after finding work, backing off to IDLE_POLL_MS.
        """
        if self._broker.connected:
            return self.config.idle_poll_ms / 1000 if full else self.config.poll_interval_ms / 1000
        return MIN_IDLE_S if found else min(idle_s * 2, self.config.idle_poll_ms / 1000)

    async def _wakeup_loop(self, broker: Broker, stopping: anyio.Event) -> None:
        """Claim what the broker names, then acknowledge: a lost claim is acked, never delivered."""
        while not stopping.is_set():
            if not self._wakeups:
                with anyio.move_on_after(MAX_WAKEUP_WAIT_S):
                    await self._wakeups_ready.wait()
                self._wakeups_ready = anyio.Event()
                continue
            free = self._free_slots()
            if free <= 0:
                await self._wait_for_slot()
                continue
            taken = self._wakeups.take(min(free, self.config.worker_batch_size))
            ids = WakeUpQueue.ids(taken)
            with self._reserving(min(len(ids), free)):
                claims = await self._claim_ids(ids)
            if claims is None:
                self._wakeups.put_back(taken)  # the store failed: decide them later
                continue
            broker.ack(WakeUpQueue.decided(taken))
            self._stats.wakeups_lost += len(taken) - len(claims)
            self._stats.claimed_by_wakeup += len(claims)
            with self._reserving(min(len(claims), free)):
                await self._prepared(claims)
            for claim in claims:
                self._start(claim)

    async def _claim_ids(self, ids: list[str]) -> list[Claim] | None:
        """Claim ``ids`` and, in the same store call, record the outcomes gathered so far
        (shielded, like the flush in ``outcomes.py``); None if the store failed."""
        buried: list[Notification] = []
        with anyio.CancelScope(shield=True):
            outcomes = self._outcomes.take()
            try:
                report, claims = await self._call(
                    "claim_ids", self._store.finish_and_claim_ids, outcomes, ids,
                    self._worker_id, self._clock(), self.config.lock_duration_ms, buried,
                )  # fmt: skip
            except StoreError as exc:
                self._stats.store_errors += 1
                self._outcomes.put_back(outcomes)
                log.warning("claim by id failed, retrying: %s", exc, extra=STORE_UNAVAILABLE)
                failed = True
            else:
                failed = False
                self._outcomes.written(outcomes, report)
        if failed:
            await anyio.sleep(self._backoff.next_delay_s())
            return None
        self._backoff.succeeded()
        self._count(claims, buried)
        return claims

    async def _claim(self, wanted: int) -> list[Claim]:
        buried: list[Notification] = []
        try:
            claims = await self._call(
                "claim_batch", self._store.claim_batch, self._worker_id, wanted, self._clock(),
                self.config.lock_duration_ms, buried,
            )  # fmt: skip
        except StoreError as exc:
            self._stats.store_errors += 1
            log.warning("claim failed, retrying: %s", exc, extra=STORE_UNAVAILABLE)
            await anyio.sleep(self._backoff.next_delay_s())
            return []
        self._backoff.succeeded()
        self._count(claims, buried)
        return claims

    async def _prepared(self, claims: list[Claim]) -> None:
        if claims and self._prepare is not None:
            await self._prepare(claims)

    def _count(self, claims: list[Claim], buried: list[Notification]) -> None:
        self._stats.claimed += len(claims)
        debug = log.isEnabledFor(logging.DEBUG)  # a line per claim only when asked for
        for claim in claims:
            if debug:
                log.debug("claimed %s (attempt %d)", claim.id, claim.notification.attempts,
                          extra=about(claim.notification, "claimed"))  # fmt: skip
            if claim.reclaimed:  # its worker stopped mid-delivery: a repeat delivery may follow
                self._stats.reclaimed += 1
                log.warning(
                    "Lock expired on %s: its worker stopped mid-delivery; attempt %d taken over"
                    " by worker %s", claim.id, claim.notification.attempts, self._worker_id,
                    extra=about(claim.notification, "lease_taken_over", new_owner=self._worker_id),
                )  # fmt: skip
        for notification in buried:  # their last worker died on the final attempt
            self._stats.buried += 1
            log_dead(notification, notification.last_error)
            self._outcomes.dead_letter(notification, notification.last_error)

    def _watchdog(self) -> None:
        """The sweep found due work but no wake-up came for a long while: the consumer may have
        silently stopped receiving. Reconnecting costs little; a dead consumer costs latency."""
        if not self._broker.connected:
            return
        quiet_for = time.monotonic() - max(self._last_wakeup, self._last_watchdog)
        if quiet_for > 3 * self.config.poll_interval_ms / 1000:
            log.warning(
                "no wake-up for %.0f s while the store has due work; reconnecting", quiet_for
            )
            self._last_watchdog = time.monotonic()
            self._stats.watchdog_reconnects += 1
            self._broker.reconnect()

    async def _wait_for_slot(self) -> None:
        with anyio.move_on_after(MAX_WAKEUP_WAIT_S):
            await self._in_flight.slot_freed()


async def first_of(*events: anyio.Event) -> None:
    """Until any of ``events`` is set."""
    async with anyio.create_task_group() as waiting:

        async def wait_for(event: anyio.Event) -> None:
            await event.wait()
            waiting.cancel_scope.cancel()

        for event in events:
            waiting.start_soon(wait_for, event)
