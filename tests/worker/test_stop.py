"""A stopping worker leaves nothing leased: every claim it holds ends delivered, retried or given
back, whatever point of its life the stop finds it at (in-process worker, real SQLite store; the
channel is a stand-in so the test decides when deliveries finish)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from notifyctl.broker import Receipt, WakeUp
from notifyctl.errors import StoreError
from notifyctl.model import Notification, Outcome, Status, Verdict, WorkerRecord, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import open_store
from notifyctl.store.sqlite import SqliteStore
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks


class StandInChannel:
    """Delivers at once, or (``hang``) never by itself: then only a stop's cancellation ends a
    delivery."""

    name = "webhook"

    def __init__(self, hang: bool = False) -> None:
        self.hang = hang
        self.started = 0

    async def deliver(self, notification: Notification) -> DeliveryResult:
        self.started += 1
        if self.hang:
            await anyio.sleep_forever()
        return DeliveryResult(ResultKind.OK)

    async def aclose(self) -> None:
        pass


def stopped_worker(tmp_path: Path, rows: int, **settings: object) -> tuple[SqliteStore, Worker]:
    # every row goes to one receiver: its destination may use the whole worker here
    settings.setdefault("destination_concurrency", settings.get("worker_concurrency", 100))
    config = make_config(tmp_path, **settings)
    store = open_store(config)
    assert isinstance(store, SqliteStore)
    insert(store, webhooks("http://127.0.0.1:9/hook", rows))
    return store, Worker(config, store, {"webhook": StandInChannel(hang=True)}, 1)


async def stop_once_started(worker: Worker, channel: StandInChannel, deliveries: int) -> None:
    """Run ``worker`` until ``deliveries`` are inside the channel, then stop it (SIGTERM's path)."""
    async with anyio.create_task_group() as running:
        running.start_soon(worker.run)
        with anyio.fail_after(30):
            while channel.started < deliveries:
                await anyio.sleep(0.01)
        worker.stop()


def test_deliveries_interrupted_after_the_grace_period_are_given_back_not_left_leased(
    tmp_path: Path,
) -> None:
    store, worker = stopped_worker(tmp_path, 100, worker_concurrency=50, shutdown_grace_ms=200)
    channel = worker.channels["webhook"]
    assert isinstance(channel, StandInChannel)

    anyio.run(stop_once_started, worker, channel, 50)
    counts = store.counts(now_ms())
    assert counts["locked"] == 0
    assert counts[Status.PENDING.value] == 100
    assert worker.stats.claimed == 50 and worker.stats.interrupted == 50
    assert worker.stats.retried == 0
    interrupted = store.list_notifications(Status.PENDING.value, None, 100, None)
    assert all(n.attempts == 0 for n in interrupted)  # a stop is no attempt used up
    assert sum(1 for n in interrupted if n.last_error is None) == 100


def test_a_delivery_cancelled_before_its_first_step_still_records_its_outcome(
    tmp_path: Path,
) -> None:
    """A bare asyncio task cancelled before its first step never runs a line of its coroutine,
    so ``_deliver`` cannot record anything; the in-flight tracker must, or a stop would strand
    such claims until their leases expire."""
    store, worker = stopped_worker(tmp_path, 20)

    async def scenario() -> None:
        claims = store.claim_batch(worker.id, 20, now_ms(), 60_000)
        assert len(claims) == 20
        for claim in claims:
            worker._start(claim)
        assert worker.in_flight == 20
        await worker._in_flight.cancel_all()  # before any task had its first step
        assert worker.in_flight == 0
        await worker.outcomes.flush()

    anyio.run(scenario)
    counts = store.counts(now_ms())
    assert counts["locked"] == 0 and counts[Status.PENDING.value] == 20
    assert worker.stats.released == 20 and worker.stats.retried == 0


def test_a_delivery_cancelled_mid_way_is_recorded_once_as_an_interrupted_attempt(
    tmp_path: Path,
) -> None:
    store, worker = stopped_worker(tmp_path, 20)
    channel = worker.channels["webhook"]
    assert isinstance(channel, StandInChannel)

    async def scenario() -> None:
        claims = store.claim_batch(worker.id, 20, now_ms(), 60_000)
        for claim in claims:
            worker._start(claim)
        await anyio.sleep(0.05)
        assert channel.started == 20  # every delivery is inside the channel, hanging
        await worker._in_flight.cancel_all()
        await worker.outcomes.flush()

    anyio.run(scenario)
    counts = store.counts(now_ms())
    assert counts["locked"] == 0 and counts[Status.PENDING.value] == 20
    assert worker.stats.interrupted == 20 and worker.stats.released == 0
    assert worker.stats.retried == 0  # each once, as interrupted: by the delivery, not again


def test_a_stop_during_the_final_attempt_never_dead_letters_it(tmp_path: Path) -> None:
    """A deploy must not exhaust anything: the interrupted last attempt is given back, recorded
    with its time and worker, and the next worker delivers it."""
    store, worker = stopped_worker(tmp_path, 3, max_attempts=1, shutdown_grace_ms=100)
    channel = worker.channels["webhook"]
    assert isinstance(channel, StandInChannel)

    anyio.run(stop_once_started, worker, channel, 3)
    stopped_at = now_ms()
    for n in store.list_notifications(None, None, 10, None):
        assert (n.status, n.attempts, n.locked_by) == (Status.PENDING, 0, None)
        history = store.history(n.id)
        assert history is not None and len(history) == 1
        entry = history[0]
        assert (entry.outcome, entry.attempt, entry.worker) == ("interrupted", 1, worker.id)
        assert entry.at is not None and 0 < stopped_at - entry.at < 60_000
        assert entry.error is not None and "interrupted" in entry.error

    successor = Worker(make_config(tmp_path, max_attempts=1), store,
                       {"webhook": StandInChannel()}, 2)  # fmt: skip
    claims = store.claim_batch(successor.id, 10, now_ms(), 60_000)
    assert len(claims) == 3  # claimable again, not buried as out of attempts


class FinishFails:
    """The real store, except that recording outcomes fails (the store went away)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def finish(self, *args: object) -> object:
        raise StoreError("sqlite store: disk I/O error")

    def finish_and_claim_ids(self, *args: object) -> object:
        raise StoreError("sqlite store: disk I/O error")


def test_a_stopping_worker_whose_store_fails_still_exits_and_its_leases_just_expire(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, shutdown_grace_ms=100)
    store = open_store(config)
    assert isinstance(store, SqliteStore)
    insert(store, webhooks("http://127.0.0.1:9/hook", 10))
    channel = StandInChannel()
    worker = Worker(config, FinishFails(store), {"webhook": channel}, 1)  # type: ignore[arg-type]

    anyio.run(stop_once_started, worker, channel, 10)  # returns: the final flush is bounded
    assert "stopped with 10 outcomes unrecorded" in caplog.text
    assert worker.stats.sent == 0 and worker.stats.store_errors >= 2
    assert worker.outcomes._backoff.failures >= 2  # its retries backed off, never reset
    # nothing was recorded, so nothing is lost: the leases expire and the rows are delivered again
    assert store.counts(now_ms())["locked"] == 10


class CountingHang(StandInChannel):
    """Hangs like ``StandInChannel(hang=True)`` and counts the deliveries cancelled."""

    def __init__(self) -> None:
        super().__init__(hang=True)
        self.cancelled = 0

    async def deliver(self, notification: Notification) -> DeliveryResult:
        try:
            return await super().deliver(notification)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise


def test_a_delivery_whose_lease_was_taken_over_is_cancelled_not_run_into_a_duplicate(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another worker took the lease over (here: it claimed at the old lease's expiry); the next
    renewal finds the lease lost, and the delivery is cancelled with nothing recorded, instead
    of running on into a certain second delivery."""
    store, _ = stopped_worker(tmp_path, 1)
    channel = CountingHang()
    worker = Worker(make_config(tmp_path, lock_duration_ms=300), store, {"webhook": channel}, 1)

    async def scenario() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(30):
                while channel.started < 1:
                    await anyio.sleep(0.01)
            (held,) = worker._held.values()
            taken = store.claim_batch("other-worker", 1, held.lock_expiry, 60_000)
            assert [c.id for c in taken] == [held.id]
            with anyio.fail_after(30):
                while channel.cancelled < 1:
                    await anyio.sleep(0.01)
            worker.stop()

    anyio.run(scenario)
    assert worker.stats.leases_lost == 1
    assert worker.stats.stale_writes == 0 and worker.stats.interrupted == 0  # nothing recorded
    (n,) = store.list_notifications(None, None, 10, None)
    assert n.locked_by == "other-worker" and n.attempts == 2
    # the line the spec's troubleshooting guide greps worker logs for
    assert f"Lock expired on {n.id} (attempt 1, worker {worker.id})" in caplog.text


def test_a_stale_outcome_never_drops_the_newer_claim_on_the_same_id_from_renewals(
    tmp_path: Path,
) -> None:
    """The worker's lease lapsed and it claimed the notification again: the old claim's refused
    outcome must not end the new claim's renewals (bookkeeping is keyed by claim, not id)."""
    store, worker = stopped_worker(tmp_path, 1)
    (old,) = store.claim_batch(worker.id, 1, now_ms(), 1)
    (new,) = store.claim_batch(worker.id, 1, old.lock_expiry, 60_000)
    assert new.id == old.id and new.lock_version == old.lock_version + 1
    worker._held.hold(new)
    stale = Outcome(old, Verdict.SENT)

    async def write() -> None:
        worker.outcomes.record(stale)
        await worker.outcomes.flush()

    anyio.run(write)
    assert worker.stats.stale_writes == 1
    assert list(worker._held.values()) == [new]


class WakeUpsByHand:
    """The broker port as the worker's wake-up loop sees it; the test hands receipts over."""

    url = "amqp://stand-in"
    configured = connected = True

    def __init__(self) -> None:
        self.hand_over: Callable[[Receipt], None] | None = None

    def start(self, on_wakeup: Callable[[Receipt], None] | None = None) -> None:
        self.hand_over = on_wakeup

    def ack(self, receipts: object) -> None:
        pass

    def publish_dead_letters(self, records: list[object], timeout_s: object = None) -> list[bool]:
        return [False] * len(records)

    def reconnect(self) -> None:
        pass

    def counters(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


class SlowSweep:
    """The real store, whose sweep claims take a while (a busy store): long enough for a
    wake-up to arrive while the sweep's claim is awaited."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    def claim_batch(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return self._store.claim_batch(*args, **kwargs)


def test_the_sweep_and_the_wakeups_together_never_claim_past_the_concurrency(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path, worker_concurrency=10, worker_batch_size=10, destination_concurrency=10
    )
    real = open_store(config)
    assert isinstance(real, SqliteStore)
    ids = insert(real, webhooks("http://127.0.0.1:9/hook", 30))
    broker = WakeUpsByHand()
    channel = StandInChannel(hang=True)
    worker = Worker(config, SlowSweep(real), {"webhook": channel}, 1, broker=broker)  # type: ignore[arg-type]
    most_in_flight = 0

    async def scenario() -> None:
        nonlocal most_in_flight
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(30):
                while broker.hand_over is None:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.05)  # the sweep's first claim is now being awaited
            broker.hand_over(Receipt(WakeUp(tuple(ids[20:]), 1), 1, 1))
            for _ in range(100):  # 1 s: the sweep's claim and the wake-up loop both decided
                most_in_flight = max(most_in_flight, worker.in_flight)
                await anyio.sleep(0.01)
            worker.stop()

    anyio.run(scenario)
    assert 0 < most_in_flight <= 10
    assert worker.stats.claimed <= 10


def test_a_running_worker_removes_rows_of_workers_silent_for_over_an_hour(tmp_path: Path) -> None:
    store, worker = stopped_worker(tmp_path, 0)
    long_ago = now_ms() - 2 * 3_600_000
    store.register_worker(WorkerRecord("killed-9", 3, "host", 1, long_ago, long_ago, 0, 0))
    recent = now_ms() - 60_000
    store.register_worker(WorkerRecord("just-stale", 4, "host", 2, recent, recent, 0, 0))

    async def scenario() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(30):
                while "killed-9" in {w.id for w in store.workers()}:
                    await anyio.sleep(0.02)
            worker.stop()

    anyio.run(scenario)
    assert {w.id for w in store.workers()} == {"just-stale"}  # recent crashes stay visible


class FailsOnce(StandInChannel):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def deliver(self, notification: Notification) -> DeliveryResult:
        self.calls += 1
        if self.calls == 1:
            return DeliveryResult(ResultKind.RETRYABLE, "HTTP 503")
        return DeliveryResult(ResultKind.OK)


def test_a_retry_and_a_takeover_each_log_the_line_the_troubleshooting_guide_greps_for(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="notifyctl")
    config = make_config(tmp_path, retry_base_ms=1, retry_max_ms=2)
    store = open_store(config)
    (nid,) = insert(store, webhooks("http://127.0.0.1:9/hook", 1))
    store.claim_batch("crashed-worker", 1, now_ms(), 1)  # a 1 ms lease: it has run out
    channel = FailsOnce()
    worker = Worker(config, store, {"webhook": channel}, 1)

    async def scenario() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(30):
                while worker.stats.sent < 1:
                    await anyio.sleep(0.01)
            worker.stop()

    anyio.run(scenario)
    assert f"Lock expired on {nid}: its worker stopped mid-delivery; attempt 2" in caplog.text
    assert f"Retry attempt 3 of 3 for {nid} in " in caplog.text
    assert f"(worker {worker.id}): HTTP 503" in caplog.text
