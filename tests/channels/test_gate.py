"""The provider gate: never more than ``max_in_flight`` deliveries at once, starts spaced by the
rate, and a delivery cancelled while waiting takes no slot."""

from __future__ import annotations

import time

import anyio
import pytest

from notifyctl.channels.gate import ProviderGate

pytestmark = pytest.mark.anyio


async def test_never_more_than_max_in_flight() -> None:
    gate = ProviderGate(3)
    peak = 0

    async def deliver() -> None:
        nonlocal peak
        async with gate.slot():
            peak = max(peak, gate.in_flight)
            await anyio.sleep(0.01)

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(deliver)
    assert peak == 3 and gate.in_flight == 0


async def test_starts_are_spaced_by_the_rate() -> None:
    gate = ProviderGate(100, rate_per_s=50)
    starts: list[float] = []

    async def deliver() -> None:
        async with gate.slot():
            starts.append(time.monotonic())

    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        for _ in range(6):
            tg.start_soon(deliver)
    # 50/s: the k-th start comes k * 20 ms after the first could at the earliest; a busy machine
    # only makes starts later, never earlier
    assert all(start - began >= k * 0.02 - 0.001 for k, start in enumerate(sorted(starts)))


async def test_a_delivery_cancelled_while_waiting_takes_no_slot() -> None:
    gate = ProviderGate(1)
    async with gate.slot():
        with anyio.move_on_after(0.05):
            async with gate.slot():
                pytest.fail("the gate let a second delivery in")
    assert gate.in_flight == 0
    async with gate.slot():
        assert gate.in_flight == 1


async def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        ProviderGate(0)
    with pytest.raises(ValueError):
        ProviderGate(1, rate_per_s=-1)
