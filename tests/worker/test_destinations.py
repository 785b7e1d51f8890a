"""Per-destination concurrency (issue 17 item 1): a worker delivers at most ``cap`` at once to one
destination, so a slow receiver cannot take every slot. The unit rules of ``DestinationSlots``,
then an in-process worker on a real SQLite store with a fast and a slow receiver sharing it: the
fast one's notifications all arrive before the slow one has answered once (without the cap the
slow one fills every slot and the fast one waits for it)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import anyio

from notifyctl.model import Claim, Notification, Status, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import open_store
from notifyctl.worker.destination_slots import (
    MAX_GIVE_BACK_MS,
    MAX_MEANS,
    MIN_GIVE_BACK_MS,
    DestinationSlots,
)
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks

FAST, SLOW = "http://127.0.0.1:9/fast", "http://127.0.0.1:8/slow"
SLOW_S = 2.0
COUNT = 60


def claim_to(url: str, number: int) -> Claim:
    (item,) = webhooks(url, 1)
    n = Notification(
        id=f"{item.id}{number}", user_id="u", channel="webhook", to=url, title=None, body="b",
        data={}, priority=item.priority, status=Status.PENDING,
        scheduled_for=0, available_at=0, attempts=1, max_attempts=3, last_error=None,
        idempotency_key=None, request_hash="h", locked_by="w", locked_at=0, lock_expiry=1,
        lock_version=1, created_at=0, updated_at=0,
    )  # fmt: skip
    return Claim(n, "w", 1, 1)


def test_slots_start_up_to_the_cap_park_the_rest_and_pass_a_slot_on_when_one_ends() -> None:
    started: list[Claim] = []
    slots = DestinationSlots(2, 3, started.append)
    slow = [claim_to(SLOW, i) for i in range(6)]
    fast = claim_to(FAST, 0)
    # two start, two wait (one cap's worth), the rest are given back
    assert [slots.admit(c) for c in slow] == [True, True, False, False, None, None]
    assert slots.admit(fast) is True  # another destination has slots of its own
    assert started == [slow[0], slow[1], fast] and slots.parked == 2
    slots.ended(slow[0], 5_000.0)
    assert started[-1] == slow[2] and slots.parked == 1  # the longest parked, in its slot
    assert slots.admit(slow[4]) is False and slots.parked == 2
    assert slots.forget(slow[3]) and not slots.forget(slow[3]) and slots.parked == 1
    assert slots.take_parked() == [slow[4]] and slots.parked == 0
    # the waiting room is shared: full, it refuses every destination
    others = [claim_to(f"http://127.0.0.1:{7000 + i}/x", i) for i in range(6)]
    full = DestinationSlots(1, 2, started.append)
    assert [full.admit(c) for c in others[:2]] == [True, True]
    assert full.admit(claim_to(others[0].notification.to or "", 9)) is False
    assert full.admit(claim_to(others[1].notification.to or "", 9)) is False
    assert full.admit(claim_to(others[0].notification.to or "", 8)) is None  # its cap's worth
    assert full.admit(claim_to(others[2].notification.to or "", 9)) is True  # a slot: starts
    assert full.admit(claim_to(others[2].notification.to or "", 8)) is None  # room is full
    # a give-back waits about as long as the destination needs for what waits for it
    assert MIN_GIVE_BACK_MS <= slots.give_back_ms(slow[5]) <= MAX_GIVE_BACK_MS
    assert slots.give_back_ms(slow[5]) == 5_000  # 2 busy at 5 s each, 2 at a time
    assert slots.give_back_ms(fast) == MIN_GIVE_BACK_MS


def test_what_a_worker_keeps_per_destination_stays_bounded_however_many_hosts_clients_name() -> (
    None
):
    slots = DestinationSlots(1, 10, lambda claim: None)
    for i in range(MAX_MEANS + 50):
        claim = claim_to(f"https://h{i}.example.com/x", i)
        assert slots.admit(claim) is True
        slots.ended(claim, 3.0)
    assert len(slots._mean_ms) <= MAX_MEANS
    assert not slots._busy and not slots._key_of and not slots._parked


class TwoReceivers:
    """The fast receiver answers at once, the slow one after ``SLOW_S``; counts per receiver
    what arrived, what was answered, and the most in flight at once."""

    name = "webhook"

    def __init__(self) -> None:
        self.arrived: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.slow_answered_before_fast_done: int | None = None

    async def deliver(self, notification: Notification) -> DeliveryResult:
        to = notification.to or ""
        self.arrived[to] += 1
        self.in_flight[to] += 1
        self.most[to] = max(self.most[to], self.in_flight[to])
        try:
            await anyio.sleep(SLOW_S if to == SLOW else 0.005)
        finally:
            self.in_flight[to] -= 1
        self.answered[to] += 1
        return DeliveryResult(ResultKind.OK)

    async def aclose(self) -> None:
        pass


def run_mixed(tmp_path: Path, cap: int) -> TwoReceivers:
    """``COUNT`` slow and ``COUNT`` fast notifications, interleaved, through one worker of 20
    slots, until the fast receiver has all of its; what the receivers saw then."""
    config = make_config(
        tmp_path, worker_concurrency=20, destination_concurrency=cap, shutdown_grace_ms=100
    )
    store = open_store(config)
    slow, fast = webhooks(SLOW, COUNT), webhooks(FAST, COUNT)
    insert(store, [n for pair in zip(slow, fast, strict=True) for n in pair])
    receivers = TwoReceivers()
    worker = Worker(config, store, {"webhook": receivers}, 1)  # type: ignore[dict-item]

    async def main() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(30):
                while receivers.answered[FAST] < COUNT:
                    await anyio.sleep(0.005)
            receivers.slow_answered_before_fast_done = receivers.answered[SLOW]
            worker.stop()

    try:
        anyio.run(main)
        assert store.counts(now_ms())["locked"] == 0  # the parked ones were given back
    finally:
        store.close()
    return receivers


def test_a_slow_receiver_cannot_take_the_slots_a_fast_one_needs(tmp_path: Path) -> None:
    capped = run_mixed(tmp_path / "capped", cap=10)
    assert capped.most[SLOW] == 10  # never more than its cap at once
    assert capped.slow_answered_before_fast_done == 0  # the fast one never waited for it
    assert capped.answered[FAST] == COUNT


def test_without_a_cap_the_slow_receiver_takes_every_slot(tmp_path: Path) -> None:
    # the same run with the cap at the worker's concurrency: the proof the test above can fail
    uncapped = run_mixed(tmp_path / "uncapped", cap=20)
    assert uncapped.most[SLOW] == 20
    assert uncapped.slow_answered_before_fast_done and uncapped.slow_answered_before_fast_done > 0
