"""How many deliveries a provider channel has in flight, and how fast they start: one gate per
channel and worker, shared by all of its deliveries.

``max_in_flight`` bounds the concurrent deliveries (the SMTP connections, the HTTP/2 streams, the
provider's concurrent requests); ``rate_per_s`` (0: none) spaces their starts for providers with
quotas. Waiting at the gate is not an attempt: nothing has been sent, and a delivery cancelled
while it waits (its lease lost, the worker stopping) has taken no slot. The lease is renewed by
the worker meanwhile, as for any delivery in flight.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio


class ProviderGate:
    def __init__(
        self,
        max_in_flight: int,
        rate_per_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_in_flight < 1 or rate_per_s < 0:
            raise ValueError("max_in_flight must be at least 1 and rate_per_s not negative")
        self.max_in_flight = max_in_flight
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._slots = anyio.Semaphore(max_in_flight)
        self._pace = anyio.Lock()
        #: when the next delivery may start, with a rate
        self._next_start = 0.0

    @property
    def in_flight(self) -> int:
        return self.max_in_flight - self._slots.value

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the gate's slots for a delivery, waiting for a free one and for the
        rate's next start."""
        async with self._slots:
            await self._wait_for_start()
            yield

    async def _wait_for_start(self) -> None:
        if not self.rate_per_s:
            return
        async with self._pace:  # starts are handed out one at a time, in arrival order
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + 1.0 / self.rate_per_s
            if start > now:
                await anyio.sleep(start - now)
