"""A worker's side of the circuit breakers every worker shares through the store (issue 17 item
2; the rules are ``notifyctl/flow.py``'s, the shared state ``store/breakers.py``'s).

Each worker counts its own results per destination and writes only when that changes a circuit:
it opens one (its failures tripped the policy), takes a half-open circuit's single probe, or
closes it after a probe succeeded. It reads every circuit that is not closed once per poll
interval. While a circuit is open, claims for its destination are given back unstarted, due
when it may be tried again (no attempt spent), so a receiver that was down for an hour gets
everything afterwards instead of a dead-letter queue full of it.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from notifyctl.config import Config
from notifyctl.errors import StoreError
from notifyctl.flow import Breaker, BreakerPolicy, BreakerState, FailureWindow, destination_of
from notifyctl.model import Claim, Notification
from notifyctl.store import Store

log = logging.getLogger("notifyctl.worker")
StoreCall = Callable[..., Awaitable[Any]]
#: a half-open circuit's probe is held this long at most (a probe outlives no delivery timeout)
PROBE_LEASE_MS = 60_000
#: claims of a half-open circuit that are not its probe wait this long (plus up to a second, so
#: they do not all come back together) for the probe's verdict: long enough that a probe taking
#: a whole delivery timeout does not have its destination's backlog claimed and given back
#: every second meanwhile, short enough that they follow soon after a probe that succeeded
WAIT_FOR_PROBE_MS = 5_000
#: a circuit's waiting claims are spread over this share of its cooldown, not all due at once
SPREAD = 0.1
#: destinations whose results a worker keeps at most (beyond, the quietest are forgotten)
MAX_WINDOWS = 10_000
#: how often a worker reads the circuits the other workers opened or closed
REFRESH_EVERY_S = 1.0


def breaker_policy(config: Config) -> BreakerPolicy:
    return BreakerPolicy(
        consecutive_failures=config.breaker_failures,
        failure_ratio=config.breaker_failure_percent / 100,
        window_ms=config.breaker_window_s * 1000,
        min_requests=config.breaker_min_requests,
        cooldown_ms=config.breaker_cooldown_s * 1000,
        max_cooldown_ms=max(config.breaker_max_cooldown_s, config.breaker_cooldown_s) * 1000,
    )


class Circuits:
    def __init__(
        self,
        store: Store,
        call: StoreCall,
        worker_id: str,
        clock: Callable[[], int],
        policy: BreakerPolicy,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._call = call
        self._worker_id = worker_id
        self._clock = clock
        self.policy = policy
        self._rand = rand
        #: every circuit that is not closed, as last read or written, by destination
        self._open: dict[str, Breaker] = {}
        self._windows: dict[str, FailureWindow] = {}
        #: the destinations whose probe this worker holds, with the claim probing
        self._probes: dict[str, str] = {}
        self._cooldowns = [policy.cooldown(n) for n in range(1, 32)]
        #: claims given back because their destination's circuit was open
        self.deferred = 0

    @property
    def enabled(self) -> bool:
        return self.policy.consecutive_failures > 0

    @property
    def open_count(self) -> int:
        return len(self._open)

    def closed_for(self, n: Notification) -> int | None:
        """When to try ``n`` again if its destination's circuit is open (epoch ms), else None.
        Read from memory: no store call."""
        if not self._open:  # the common case: every circuit closed
            return None
        breaker = self._open.get(destination_of(n.channel, n.to))
        now = self._clock()
        if breaker is None or breaker.state(now) is not BreakerState.OPEN:
            return None
        spread = int(self.policy.cooldown(breaker.reopenings) * SPREAD * self._rand())
        self.deferred += 1
        return breaker.open_until + spread

    async def admit(self, claim: Claim) -> int | None:
        """Just before a delivery: None to go ahead, else when to try it again. A half-open
        circuit lets one delivery through, the probe, whichever worker takes it first."""
        if not self._open:
            return None
        n = claim.notification
        destination = destination_of(n.channel, n.to)
        breaker = self._open.get(destination)
        now = self._clock()
        if breaker is None:
            return None
        if breaker.state(now) is BreakerState.OPEN:
            self.deferred += 1
            return breaker.open_until
        if self._probes.get(destination) == claim.id:
            return None
        if destination not in self._probes and await self._take_probe(destination, now):
            self._probes[destination] = claim.id
            log.info("circuit of %s half-open: %s is its probe", destination, claim.id)
            return None
        self.deferred += 1
        return now + WAIT_FOR_PROBE_MS + int(1_000 * self._rand())

    async def _take_probe(self, destination: str, now: int) -> bool:
        try:
            taken: bool = await self._call(
                "take_probe", self._store.take_probe, destination, self._worker_id, now,
                PROBE_LEASE_MS,
            )  # fmt: skip
        except StoreError as exc:
            log.warning("could not take the probe of %s: %s", destination, exc)
            return False
        return taken

    async def record(self, n: Notification, failed: bool) -> int | None:
        """A delivery to ``n``'s destination ended (``failed``: the receiver could not take it:
        a timeout, a refused connection, a 5xx): count it, and write what it changes. Returns
        when to try ``n`` again if it was a failed probe: the failure was the destination's,
        so the notification is given back without spending an attempt (else the same
        notification, due first, would be the probe each time and die of the outage)."""
        if not self.enabled:
            return None
        destination = destination_of(n.channel, n.to)
        now = self._clock()
        if self._probes.get(destination) == n.id:
            del self._probes[destination]
            if not failed:
                await self._close(destination)
                return None
            breaker = await self._open_circuit(destination, now, 1.0)
            return breaker.open_until if breaker is not None else now + WAIT_FOR_PROBE_MS
        window = self._window(destination)
        window.record(failed, now, self.policy.window_ms)
        if failed and destination not in self._open and window.trips(self.policy):
            await self._open_circuit(destination, now, window.ratio()[0])
        return None

    def _window(self, destination: str) -> FailureWindow:
        window = self._windows.get(destination)
        if window is None:
            if len(self._windows) >= MAX_WINDOWS:
                self._windows.clear()  # rare: a worker that met ten thousand destinations
            window = self._windows[destination] = FailureWindow()
        return window

    async def _open_circuit(self, destination: str, now: int, ratio: float) -> Breaker | None:
        try:
            breaker: Breaker = await self._call(
                "open_breaker", self._store.open_breaker, destination, now, ratio, self._cooldowns
            )
        except StoreError as exc:
            log.warning("could not open the circuit of %s: %s", destination, exc)
            return None
        self._open[destination] = breaker
        self._windows.pop(destination, None)
        log.warning(
            "circuit of %s open until %d (opening %d, failure ratio %.2f)",
            destination, breaker.open_until, breaker.reopenings, breaker.failure_ratio,
        )  # fmt: skip
        return breaker

    async def _close(self, destination: str) -> None:
        try:
            await self._call("close_breaker", self._store.close_breaker, destination)
        except StoreError as exc:
            log.warning("could not close the circuit of %s: %s", destination, exc)
            return
        self._open.pop(destination, None)
        self._windows.pop(destination, None)
        log.info("circuit of %s closed: its probe was delivered", destination)

    async def refresh(self) -> None:
        """Read every circuit that is not closed (the other workers' openings and closings)."""
        try:
            found: list[Breaker] = await self._call("breakers", self._store.breakers)
        except StoreError as exc:
            log.warning("could not read the circuit breakers: %s", exc)
            return
        self._open = {breaker.destination: breaker for breaker in found}
        now = self._clock()
        # a probe this worker no longer holds (cancelled, or its lease passed): forget it
        self._probes = {
            destination: claim_id for destination, claim_id in self._probes.items()
            if (b := self._open.get(destination)) is not None and b.probe_by == self._worker_id
            and (b.probe_until or 0) > now
        }  # fmt: skip

    async def run(self) -> None:
        """Refresh every ``REFRESH_EVERY_S`` while the worker runs (nothing without a breaker)."""
        if not self.enabled:
            return
        while True:
            await self.refresh()
            await anyio.sleep(REFRESH_EVERY_S)
