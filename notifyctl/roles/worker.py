"""The worker role: claim due notifications, deliver many at once, record outcomes fenced.

Loops, all in one event loop:
- claim (the store sweep): lease up to ``worker_batch_size`` notifications (never more than free
  delivery slots, so nothing claimed waits unstarted), again at once while batches come back full;
  otherwise rest ``POLL_INTERVAL_MS`` while a broker is connected, else back off to
  ``idle_poll_ms``;
- wake-ups (with a broker): claim the ids the broker's messages name, then acknowledge them;
- deliver: one task per notification, up to ``worker_concurrency`` at a time (``inflight.py``);
- flush: outcomes gathered from finished deliveries are written in one store transaction
  (``outcomes.py``);
- renew: leases held longer than a third of ``LOCK_DURATION_MS`` are extended;
- heartbeat: the worker's row in the store says it is alive.
SIGTERM/SIGINT: stop claiming, let deliveries finish within the grace period, interrupt the rest,
write every outcome, exit.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any, TypeVar

import anyio

from notifyctl.broker import Broker, Receipt
from notifyctl.channels import Channel
from notifyctl.config import Config
from notifyctl.errors import StoreError
from notifyctl.lease import renew_every_ms, worker_identity
from notifyctl.metrics import WorkerMetrics
from notifyctl.model import (
    Claim,
    Notification,
    Outcome,
    Verdict,
    WorkerRecord,
    WorkerStats,
    now_ms,
)
from notifyctl.retry import DeliveryResult, ResultKind, RetryPolicy, decide
from notifyctl.roles.inflight import InFlight
from notifyctl.roles.outcomes import STORE_RETRY_S, Outcomes
from notifyctl.roles.wakeups import WakeUpQueue
from notifyctl.sdnotify import feed_watchdog, sd_notify
from notifyctl.store import Store

log = logging.getLogger("notifyctl.worker")
MIN_IDLE_S = 0.01
MAX_WAKEUP_WAIT_S = 0.25
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
        broker: Broker | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.channels = channels
        self.number = number
        self.id = worker_identity()
        self.stats = WorkerStats()
        self.started_at = clock()
        self._clock = clock
        self._rand = rand
        self._policy = RetryPolicy(config.retry_base_ms, config.retry_max_ms)
        self._held: dict[str, Claim] = {}
        self._in_flight = InFlight(self._deliver, self._never_ran)
        self.stopping = anyio.Event()
        self.broker = broker
        self._wakeups = WakeUpQueue()
        self._wakeups_ready = anyio.Event()
        self._last_wakeup = self._last_watchdog = time.monotonic()
        self.metrics = WorkerMetrics(self, store, broker)
        self.outcomes = Outcomes(
            store, self._call, self.stats, self.metrics, self._held, clock, broker, self.id
        )

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
        started = time.perf_counter()
        try:
            return await anyio.to_thread.run_sync(method, *args)
        finally:
            self.metrics.observe_store_call(operation, time.perf_counter() - started)

    def stop(self) -> None:
        self.stopping.set()
        sd_notify("STOPPING=1", f"STATUS=worker {self.number} stopping, {self.in_flight} in flight")

    async def run(self) -> None:
        await anyio.to_thread.run_sync(self.store.register_worker, self._record())
        if self.broker is not None:
            loop = asyncio.get_running_loop()

            def hand_over(receipt: Receipt) -> None:
                loop.call_soon_threadsafe(self._accept, receipt)

            self.broker.start(hand_over)
        try:
            async with anyio.create_task_group() as background:
                background.start_soon(self.outcomes.flush_loop, lambda: len(self._wakeups))
                background.start_soon(self._renew_loop)
                background.start_soon(self._heartbeat_loop)
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
        if self.broker is not None:
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
            async with anyio.create_task_group() as intake:
                intake.start_soon(self._claim_loop)
                if self.broker is not None:
                    intake.start_soon(self._wakeup_loop)
            log.info("worker %s stopping: %d deliveries in flight", self.number, self.in_flight)
            with anyio.move_on_after(self.config.shutdown_grace_ms / 1000):
                await self._in_flight.all_done()
        finally:  # stopped, or cancelled from outside: no delivery outlives the worker
            with anyio.CancelScope(shield=True):
                await self._in_flight.cancel_all()

    async def _claim_loop(self) -> None:
        idle_s = MIN_IDLE_S
        while not self.stopping.is_set():
            free = self.config.worker_concurrency - self.in_flight
            if free <= 0:
                await self._wait_for_slot()
                continue
            wanted = min(self.config.worker_batch_size, free)
            claims = await self._claim(wanted)
            for claim in claims:
                self._start(claim)
            if claims:
                self._watchdog()
            if claims and len(claims) == wanted and not self._wakeups:
                idle_s = MIN_IDLE_S
                await anyio.sleep(0)  # let the deliveries just started run
                continue
            idle_s = self._next_idle_s(idle_s, bool(claims), len(claims) == wanted)
            with anyio.move_on_after(idle_s):
                await self.stopping.wait()

    def _next_idle_s(self, idle_s: float, found: bool, full: bool) -> float:
        """How long the sweep rests after a claim that was not full, or was full while wake-ups
        were waiting.

        While the broker is connected, wake-ups bring new work: the sweep is only for what no
        wake-up names (scheduled, retries, publishes that failed), every POLL_INTERVAL_MS; a
        backlog it finds (say, from a broker outage) it drains every IDLE_POLL_MS beside the
        wake-ups, whose claims would otherwise contend with its own. Without a broker, poll
        adaptively: at once after finding work, backing off to IDLE_POLL_MS.
        """
        if self.broker is not None and self.broker.connected:
            return self.config.idle_poll_ms / 1000 if full else self.config.poll_interval_ms / 1000
        return MIN_IDLE_S if found else min(idle_s * 2, self.config.idle_poll_ms / 1000)

    def _accept(self, receipt: Receipt) -> None:
        """On the event loop, from the broker's thread."""
        self._wakeups.add(receipt)
        self._wakeups_ready.set()
        self._last_wakeup = time.monotonic()

    async def _wakeup_loop(self) -> None:
        """Claim what the broker names, then acknowledge: a lost claim is acked, never delivered."""
        assert self.broker is not None
        while not self.stopping.is_set():
            if not self._wakeups:
                with anyio.move_on_after(MAX_WAKEUP_WAIT_S):
                    await self._wakeups_ready.wait()
                self._wakeups_ready = anyio.Event()
                continue
            free = self.config.worker_concurrency - self.in_flight
            if free <= 0:
                await self._wait_for_slot()
                continue
            taken = self._wakeups.take(min(free, self.config.worker_batch_size))
            claims = await self._claim_ids(WakeUpQueue.ids(taken))
            if claims is None:
                self._wakeups.put_back(taken)  # the store failed: decide them later
                continue
            self.broker.ack(WakeUpQueue.decided(taken))
            self.stats.wakeups_lost += len(taken) - len(claims)
            self.stats.claimed_by_wakeup += len(claims)
            for claim in claims:
                self._start(claim)

    async def _claim_ids(self, ids: list[str]) -> list[Claim] | None:
        """Claim ``ids`` and, in the same store call, record the outcomes gathered so far
        (shielded, like the flush in ``outcomes.py``); None if the store failed."""
        buried: list[Notification] = []
        with anyio.CancelScope(shield=True):
            outcomes = self.outcomes.take()
            try:
                report, claims = await self._call(
                    "claim_ids", self.store.finish_and_claim_ids, outcomes, ids, self.id,
                    self._clock(), self.config.lock_duration_ms, buried,
                )  # fmt: skip
            except StoreError as exc:
                self.stats.store_errors += 1
                self.outcomes.put_back(outcomes)
                log.warning("claim by id failed, retrying: %s", exc)
                failed = True
            else:
                failed = False
                self.outcomes.written(outcomes, report)
        if failed:
            await anyio.sleep(STORE_RETRY_S)
            return None
        self._count_claims(claims, buried)
        return claims

    def _count_claims(self, claims: list[Claim], buried: list[Notification]) -> None:
        self.stats.claimed += len(claims)
        self.stats.reclaimed += sum(1 for claim in claims if claim.reclaimed)
        for notification in buried:  # their last worker died on the final attempt
            self.stats.buried += 1
            log.warning("%s is dead: %s", notification.id, notification.last_error)
            self.outcomes.dead_letter(notification, notification.last_error)

    def _watchdog(self) -> None:
        """The sweep found due work but no wake-up came for a long while: the consumer may have
        silently stopped receiving. Reconnecting costs little; a dead consumer costs latency."""
        if self.broker is None or not self.broker.connected:
            return
        quiet_for = time.monotonic() - max(self._last_wakeup, self._last_watchdog)
        if quiet_for > 3 * self.config.poll_interval_ms / 1000:
            log.warning(
                "no wake-up for %.0f s while the store has due work; reconnecting", quiet_for
            )
            self._last_watchdog = time.monotonic()
            self.stats.watchdog_reconnects += 1
            self.broker.reconnect()

    async def _wait_for_slot(self) -> None:
        with anyio.move_on_after(MAX_WAKEUP_WAIT_S):
            await self._in_flight.slot_freed()

    async def _claim(self, wanted: int) -> list[Claim]:
        buried: list[Notification] = []
        try:
            claims = await self._call(
                "claim_batch", self.store.claim_batch, self.id, wanted, self._clock(),
                self.config.lock_duration_ms, buried,
            )  # fmt: skip
        except StoreError as exc:
            self.stats.store_errors += 1
            log.warning("claim failed, retrying: %s", exc)
            await anyio.sleep(STORE_RETRY_S)
            return []
        self._count_claims(claims, buried)
        return claims

    def _start(self, claim: Claim) -> None:
        self._held[claim.id] = claim
        self._in_flight.start(claim)

    async def _deliver(self, claim: Claim) -> None:
        started = False
        try:
            channel = self.channels.get(claim.notification.channel)
            if channel is None:
                result = DeliveryResult(
                    ResultKind.PERMANENT, f"unknown channel {claim.notification.channel!r}"
                )
            else:
                started = True
                result = await channel.deliver(claim.notification)
            self.outcomes.record(self._outcome(claim, result))
        except anyio.get_cancelled_exc_class():
            self.outcomes.record(self._interrupted(claim, started))
            raise
        except Exception as exc:  # a channel bug must not kill the worker or lose the claim
            log.exception("delivery of %s raised", claim.id)
            error = DeliveryResult(ResultKind.RETRYABLE, f"internal error: {exc!r}")
            self.outcomes.record(self._outcome(claim, error))

    def _never_ran(self, claim: Claim) -> None:
        """A delivery cancelled before its first step: nothing was attempted."""
        self.outcomes.record(self._interrupted(claim, started=False))

    def _outcome(self, claim: Claim, result: DeliveryResult) -> Outcome:
        n = claim.notification
        decision = decide(
            result, n.attempts, n.max_attempts, self._clock(), self._policy, self._rand()
        )
        return Outcome(claim, decision.verdict, decision.error, decision.retry_at)

    def _interrupted(self, claim: Claim, started: bool) -> Outcome:
        if not started:
            return Outcome(claim, Verdict.RELEASE)
        error = "interrupted: the worker stopped before the delivery finished"
        return Outcome(claim, Verdict.RETRY, error, self._clock())

    async def _renew_loop(self) -> None:
        every_s = renew_every_ms(self.config.lock_duration_ms) / 1000
        while True:
            await anyio.sleep(every_s)
            held = list(self._held.values())
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
            for notification_id in lost:
                if self._held.pop(notification_id, None) is not None:
                    self.stats.leases_lost += 1
                    log.warning("lease on %s was lost before delivery finished", notification_id)

    async def _heartbeat_loop(self) -> None:
        while True:
            try:
                await self._call(
                    "heartbeat", self.store.heartbeat, self.id, self._clock(), self.in_flight,
                    self.stats.processed,
                )  # fmt: skip
            except StoreError as exc:
                self.stats.store_errors += 1
                log.warning("heartbeat failed: %s", exc)
            await anyio.sleep(self.config.heartbeat_interval_ms / 1000)


async def serve_worker(config: Config, number: int, store: Store) -> None:
    """Run worker ``number`` with its monitoring server until SIGTERM/SIGINT."""
    from notifyctl.broker import open_broker
    from notifyctl.channels import open_channels
    from notifyctl.roles.lifecycle import handle_stop_signals
    from notifyctl.roles.monitor import QueueSampler, build_monitor_app
    from notifyctl.roles.serving import serve_until

    worker = Worker(config, store, open_channels(config), number, broker=open_broker(config))
    handle_stop_signals(worker.stop)
    finished = anyio.Event()
    queue = QueueSampler(worker, config.queue_metrics_interval_ms, config.heartbeat_interval_ms)
    async with anyio.create_task_group() as monitoring:
        monitoring.start_soon(feed_watchdog, finished)
        if config.monitor_port_base:
            port = config.monitor_port_base + number
            app = build_monitor_app(worker, queue)
            monitoring.start_soon(serve_until, app, config.monitor_host, port, finished)
            monitoring.start_soon(queue.run, finished)
        log.info("worker %d (%s) started on %s", number, worker.id, store.url)
        await worker.run()
        log.info("worker %d stopped: %r", number, worker)
        finished.set()  # the monitoring server, queue sampler and watchdog stop by themselves
