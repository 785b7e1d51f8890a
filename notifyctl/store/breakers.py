"""The store port, each destination's circuit breaker shared by every worker (issue 17 item 2;
``notifyctl/flow.py``; adapters: ``sqlite/breakers.py``, ``mongodb/breakers.py``).

One write per change of state, never per delivery: a worker counts its own results and writes
only when it opens a circuit, takes a half-open circuit's probe, or closes it. Times are epoch
milliseconds of the calling worker's clock (a breaker's times are coarse: seconds of skew between
hosts only move a cooldown by as much).
"""

from __future__ import annotations

from typing import Protocol

from notifyctl.flow import Breaker
from notifyctl.model import Notification


class BreakerStore(Protocol):
    def open_breaker(
        self, destination: str, now: int, failure_ratio: float, cooldown_ms: list[int]
    ) -> Breaker:
        """Open the destination's circuit, atomically, and return it as stored. Closed (no row):
        it opens with ``reopenings`` 1 until ``now + cooldown_ms[0]``. Half-open (``open_until``
        passed: its probe failed): ``reopenings`` one more, until ``now +
        cooldown_ms[min(reopenings, len - 1)]`` (the new count's index minus one), the probe
        cleared. Still open (another worker opened it first): left as it is. ``cooldown_ms``:
        the cooldown after the 1st, 2nd, ... opening (``BreakerPolicy.cooldown``)."""
        ...

    def take_probe(self, destination: str, worker_id: str, now: int, lease_ms: int) -> bool:
        """Take the probe of a half-open circuit (``open_until <= now``) for ``worker_id`` until
        ``now + lease_ms``, atomically: True for exactly one caller while the probe is held
        (a probe whose holder's lease passed may be taken again); False when the circuit is
        closed, still open, or its probe is held."""
        ...

    def close_breaker(self, destination: str) -> bool:
        """Close the destination's circuit (remove its row), atomically; False if it was
        closed."""
        ...

    def count_waiting(self, destination: str) -> int:
        """How many notifications wait to be delivered to ``destination`` (``pending`` or
        ``scheduled``, leased or not): while its circuit is open, the ones it holds back. For
        operators: it reads every waiting notification's destination."""
        ...

    def waiting_for(
        self, destination: str, limit: int, tenant_id: str | None = None
    ) -> list[Notification]:
        """Up to ``limit`` notifications waiting to be delivered to ``destination``
        (``pending``, ``scheduled`` or ``paused``), the longest due first, of one tenant or
        every one: what an incident at that destination holds (the console's search). For
        operators: it reads every waiting notification's destination."""
        ...

    def breakers(self) -> list[Breaker]:
        """Every circuit that is not closed, by destination: the workers read them together
        every poll interval, and ``notifyctl inspect destinations`` shows them."""
        ...
