"""The worker role: claim due notifications, deliver many at once, record outcomes fenced.

Loops, all in one event loop:
- claim: the store sweep and, with a broker, the wake-ups (``claiming.py``);
- deliver: one task per notification, up to ``worker_concurrency`` at a time (``inflight.py``);
- flush: outcomes gathered from finished deliveries are written in one store transaction
  (``outcomes.py``);
- renew: leases held longer than a third of ``LOCK_DURATION_MS`` are extended;
- heartbeat: the worker's row in the store says it is alive;
- dead letters: with a broker, publish the store's marked deaths (``deadletters.py``).
SIGTERM/SIGINT: stop claiming, let deliveries finish within the grace period, interrupt the rest,
write every outcome, exit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import os
import random
import socket
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from notifyctl import logs
from notifyctl.broker import POLL_ONLY, Broker, Receipt
from notifyctl.channels import Channel
from notifyctl.config import Config
from notifyctl.errors import StoreError
from notifyctl.lease import (
    renew_every_ms,
    worker_identity,
)
from notifyctl.logs import about
from notifyctl.metrics import WorkerMetrics
from notifyctl.model import (
    Claim,
    ClaimKey,
    Notification,
    Outcome,
    Verdict,
    WorkerRecord,
    WorkerStats,
    now_ms,
)
from notifyctl.preferences import PUSH_CHANNELS
from notifyctl.retry import DeliveryResult, ResultKind, RetryPolicy, decide
from notifyctl.sdnotify import sd_notify
from notifyctl.store import Store
from notifyctl.store.calls import call as store_call
from notifyctl.tracing import Tracing
from notifyctl.worker.circuits import Circuits, breaker_policy
from notifyctl.worker.claiming import Claiming
from notifyctl.worker.deadletters import DeadLetterPublisher
from notifyctl.worker.destination_slots import DestinationSlots, destination_cap
from notifyctl.worker.heartbeat import Heartbeat
from notifyctl.worker.held import HeldClaims
from notifyctl.worker.inflight import InFlight
from notifyctl.worker.outcomes import Outcomes
from notifyctl.worker.pauses import PauseWatch
from notifyctl.worker.people import People
from notifyctl.worker.retention import Retention
from notifyctl.worker.verdicts import (
    before_expiry,
    expired,
    interrupted,
    missing_channel,
    person_outcome,
)

log = logging.getLogger("notifyctl.worker")
T = TypeVar("T")


class Worker:
    def __init__(
        self,
        config: Config,
        store: Store,
        channels: dict[str, Channel],
        number: int,
        clock: Callable[[], int] = now_ms,
        rand: Callable[[], float] = random.random,
        broker: Broker = POLL_ONLY,
        tracing: Tracing | None = None,
    ) -> None:
        self.config = config
        #: None when tracing is off: a delivery then pays one ``is None`` test
        self.tracing = tracing
        if tracing is not None:  # webhooks carry the delivery's trace context to the receiver
            for channel in channels.values():
                if hasattr(channel, "trace_headers"):
                    channel.trace_headers = tracing.inject
        self.store = store
        self.channels = channels
        self.number = number
        self.id = worker_identity()
        logs.identify(worker_id=self.id)  # on every log line of this process
        self.stats = WorkerStats()
        self.started_at = clock()
        self._clock = clock
        self._rand = rand
        self._policy = RetryPolicy(config.retry_base_ms, config.retry_max_ms)
        #: claims whose leases the renew loop extends, until their outcome is written
        self._held = HeldClaims()
        #: claims whose lease was taken over mid-delivery: their delivery is being cancelled
        self._lost: set[ClaimKey] = set()
        self._in_flight = InFlight(self._deliver, self._never_ran, self._delivery_ended)
        #: deliveries per destination capped; the claims beyond wait without a slot
        self._slots = DestinationSlots(
            destination_cap(config), config.worker_concurrency, self._in_flight.start
        )
        self.stopping = anyio.Event()
        self.broker = broker
        self.metrics = WorkerMetrics(self, store, broker)
        self.outcomes = Outcomes(
            store, self._call, self.stats, self.metrics, self._held, clock, self.id
        )
        self.dead_letters = None
        if broker.configured:
            self.dead_letters = DeadLetterPublisher(store, self._call, broker, self.id, clock)
            self.outcomes.on_dead_letter = self.dead_letters.nudge
        self.heartbeat = Heartbeat(
            store, self._call, self.id, clock, self.stats, lambda: self.in_flight,
            config.heartbeat_interval_ms,
        )  # fmt: skip
        #: each destination's circuit breaker, shared with the other workers through the store
        self.circuits = Circuits(store, self._call, self.id, clock, breaker_policy(config), rand)
        #: the operators' pauses: what they hold back is parked, not delivered
        self.pause_watch = PauseWatch(store, self._call, clock)
        #: the recipients and templates of notifications sent to a person
        self.people = People(store, self._call, clock)
        #: deletes old terminal notifications (``NOTIFYCTL_RETENTION_DAYS``), in every worker
        self.retention = Retention(
            store, self._call, config.retention_days, clock, self.metrics, self.stats
        )
        self.claiming = Claiming(
            config, store, self._call, self.id, clock, self.stats, self.outcomes,
            self._in_flight, self._start, broker, self.people.load,
        )  # fmt: skip

    def __repr__(self) -> str:
        s = self.stats
        return (
            f"<Worker {self.number} id={self.id} active={self.in_flight} claimed={s.claimed}"
            f" (by wake-up {s.claimed_by_wakeup}, wake-ups lost {s.wakeups_lost}) sent={s.sent}"
            f" retried={s.retried} dead={s.dead} stale={s.stale_writes}>"
        )

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    async def _call(self, operation: str, method: Callable[..., T], *args: Any) -> T:
        """A store call on a worker thread, timed for ``database_operation_duration_seconds``."""
        return await store_call(self.metrics, operation, method, *args)

    def stop(self) -> None:
        self.stopping.set()
        sd_notify("STOPPING=1", f"STATUS=worker {self.number} stopping, {self.in_flight} in flight")

    async def run(self) -> None:
        await anyio.to_thread.run_sync(self.store.register_worker, self._record())
        # the pauses in force before the first claim: a worker started during a pause must not
        # deliver what it holds in its first second
        await self.pause_watch.refresh()
        loop = asyncio.get_running_loop()

        def hand_over(receipt: Receipt) -> None:
            loop.call_soon_threadsafe(self.claiming.accept, receipt)

        self.broker.start(hand_over)
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(self.outcomes.flush_loop, self.claiming.ids_waiting)
                background.start_soon(self._renew_loop)
                background.start_soon(self.heartbeat.run)
                background.start_soon(self.circuits.run)
                background.start_soon(self.pause_watch.run)
                background.start_soon(self.retention.run)  # returns at once when retention is off
                if self.dead_letters is not None:
                    background.start_soon(self.dead_letters.run)
                sd_notify("READY=1", f"STATUS=worker {self.number} claiming")
                await self._deliver_until_stopped()
                background.cancel_scope.cancel()
            await self.outcomes.flush_at_stop(self.config.shutdown_grace_ms / 1000)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close()

    def _record(self) -> WorkerRecord:
        now = self._clock()
        return WorkerRecord(
            self.id, self.number, socket.gethostname(), os.getpid(), self.started_at, now, 0, 0
        )

    async def _close(self) -> None:
        # Wake-ups received but not claimed are unacknowledged: RabbitMQ requeues them.
        await anyio.to_thread.run_sync(self.broker.close)
        for channel in self.channels.values():
            await channel.aclose()
        try:
            await anyio.to_thread.run_sync(self.store.deregister_worker, self.id)
        except StoreError as exc:
            log.warning("could not remove worker row at stop: %s", exc)

    async def _deliver_until_stopped(self) -> None:
        try:
            await self.claiming.run(self.stopping)
            for claim in self._slots.take_parked():  # never started: given back, due at once
                self.outcomes.record(Outcome(claim, Verdict.RELEASE))
            log.info("worker %s stopping: %d deliveries in flight", self.number, self.in_flight)
            with anyio.move_on_after(self.config.shutdown_grace_ms / 1000):
                await self._in_flight.all_done()
        finally:  # stopped, or cancelled from outside: no delivery outlives the worker
            with anyio.CancelScope(shield=True):
                await self._in_flight.cancel_all()

    def _start(self, claim: Claim) -> None:
        older = self._held.hold(claim)
        if older is not None:  # we took over our own lapsed lease: the old claim is void
            self._lost_lease(older)
        pause = self.pause_watch.holding(claim.notification)
        if pause is not None:  # an operator paused it: it waits for the resume
            self.outcomes.record(self.pause_watch.park(claim, pause))
            return
        reopens = self.circuits.closed_for(claim.notification)
        if reopens is not None:  # its destination's circuit is open: not an attempt
            self._give_back(claim, reopens)
            return
        if self._slots.admit(claim) is None:  # its destination is full and so is the waiting room
            due = self._clock() + self._slots.give_back_ms(claim)
            self._give_back(claim, due)

    def _give_back(self, claim: Claim, due: int) -> None:
        """Unstarted, due again at ``due`` (not an attempt); the sweep returns for it then."""
        self.outcomes.record(Outcome(claim, Verdict.RELEASE, None, due))
        self.claiming.due_at(due)

    def _delivery_ended(self, claim: Claim, took_ms: float | None) -> None:
        self._slots.ended(claim, took_ms)

    def _lose(self, claim: Claim) -> None:
        if self._held.release(claim):
            self._lost_lease(claim)

    def _lost_lease(self, claim: Claim) -> None:
        """The lease was taken over: stop delivering, since the new owner delivers it too and
        our outcome would be refused anyway. Nothing is recorded for a lost claim."""
        self.stats.leases_lost += 1
        cancelled = self._in_flight.cancel(claim)
        if cancelled:
            self._lost.add(claim.key)
        elif self._slots.forget(claim):  # it was waiting for its destination: it just goes
            cancelled = True
        log.warning(
            "Lock expired on %s (attempt %d, worker %s): another worker took the lease over; %s",
            claim.id, claim.notification.attempts, self.id,
            "delivery cancelled" if cancelled else "our outcome will be refused",
            extra=about(claim.notification, "lease_lost", old_owner=self.id),
        )  # fmt: skip

    async def _deliver(self, claim: Claim) -> None:
        started = False
        try:
            notification = claim.notification
            if notification.expires_at is not None and notification.expires_at <= self._clock():
                self.outcomes.record(expired(claim))
                return
            if notification.template is not None:  # sent to a person: resolved now
                ready = self._personalized(claim)
                if isinstance(ready, Outcome):
                    self.outcomes.record(ready)
                    return
                notification = ready
            channel = self.channels.get(notification.channel)
            if channel is None:
                result = missing_channel(notification.channel, self.id)
            else:
                retry_at = await self.circuits.admit(claim)
                if retry_at is not None:  # open, or half-open with its probe elsewhere
                    self._give_back(claim, retry_at)
                    return
                started = True
                result = await self._channel_call(channel, notification)
                failed = result.kind is ResultKind.RETRYABLE
                retry_at = await self.circuits.record(notification, failed)
                if retry_at is not None:  # a failed probe: the destination's failure, not its
                    self._give_back(claim, retry_at)
                    return
            self.outcomes.record(self._outcome(claim, result))
        except anyio.get_cancelled_exc_class():
            if not self._forget_lost(claim):
                self.outcomes.record(interrupted(claim, started))
            raise
        except Exception as exc:  # a channel bug must not kill the worker or lose the claim
            log.exception("delivery of %s raised", claim.id)
            error = DeliveryResult(ResultKind.RETRYABLE, f"internal error: {exc!r}")
            self.outcomes.record(self._outcome(claim, error))

    async def _channel_call(self, channel: Channel, notification: Notification) -> DeliveryResult:
        if self.tracing is None:
            return await channel.deliver(notification)
        call = functools.partial(channel.deliver, notification)
        return await self.tracing.deliver(notification, notification.channel, call)

    def _personalized(self, claim: Claim) -> Notification | Outcome:
        """The notification to deliver with its recipient's address and texts, or the outcome
        that stands instead (suppressed, deferred to the quiet hours' end, dead, retried, or
        parked: a pause holds its destination)."""
        resolved = person_outcome(claim, self.people.resolve(claim.notification))
        if isinstance(resolved, DeliveryResult):
            return self._outcome(claim, resolved)
        if isinstance(resolved, Outcome):
            return resolved
        pause = self.pause_watch.holding(resolved)  # its address is known only now
        return resolved if pause is None else self.pause_watch.park(claim, pause)

    def _never_ran(self, claim: Claim) -> None:
        """A delivery cancelled before its first step: nothing was attempted."""
        if not self._forget_lost(claim):
            self.outcomes.record(interrupted(claim, started=False))

    def _forget_lost(self, claim: Claim) -> bool:
        """Whether this claim's delivery was cancelled because its lease was lost."""
        if claim.key not in self._lost:
            return False
        self._lost.discard(claim.key)
        return True

    def _outcome(self, claim: Claim, result: DeliveryResult) -> Outcome:
        n = claim.notification
        if result.invalid_address:
            result = self._invalid_address(n.channel, result)
            if n.template is not None and n.channel in PUSH_CHANNELS:
                self.people.remove_token(n)
        decision = decide(
            result, n.attempts, n.max_attempts, self._clock(), self._policy, self._rand()
        )
        return Outcome(claim, decision.verdict, decision.error, before_expiry(n, decision.retry_at))

    def _invalid_address(self, channel: str, result: DeliveryResult) -> DeliveryResult:
        """Count a provider's refusal of the address, and say so on the notification (its
        ``last_error``), where ``inspect`` and the dead letter show it."""
        counts = self.stats.invalid_addresses
        counts[channel] = counts.get(channel, 0) + 1
        return dataclasses.replace(result, error=f"invalid address: {result.error}")

    async def _renew_loop(self) -> None:
        every_s = renew_every_ms(self.config.lock_duration_ms) / 1000
        while True:
            await anyio.sleep(every_s)
            held = self._held.values()
            if not held:
                continue
            try:
                lost = await self._call(
                    "renew", self.store.renew, held, self._clock(), self.config.lock_duration_ms
                )
            except StoreError as exc:
                self.stats.store_errors += 1
                log.warning("lease renewal failed: %s", exc)
                continue
            lost_ids = set(lost)
            for claim in held:  # one held claim per id (see _start), so ids name claims
                if claim.id in lost_ids:
                    self._lose(claim)
