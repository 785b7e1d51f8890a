"""The store port, the pauses operators put on a channel, a destination or a tenant (issue 17
item 4; the rules are ``notifyctl/pauses.py``'s; adapters: ``sqlite/pauses.py``,
``mongodb/pauses.py``).

A pause is a row of its own, read by every worker each second; what it holds back waits as
``paused``, moved there in short batches (each its own write, so intake and claims interleave)
and back the same way. Times are epoch milliseconds of the caller's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from notifyctl.pauses import Pause


class PauseStore(Protocol):
    def add_pause(self, pause: Pause) -> bool:
        """Store the pause; False (and the stored one kept) if it was already in force."""
        ...

    def remove_pause(self, pause: Pause) -> bool:
        """Remove the pause of the same kind and value; False if there was none."""
        ...

    def pauses(self) -> list[Pause]:
        """Every pause in force, by kind and value."""
        ...

    def park(self, pause: Pause, now: int, batch: int) -> int:
        """Move every ``pending``/``scheduled`` notification the pause matches and no live worker
        leases to ``paused`` (due time, attempts and lease fencing kept), ``batch`` at most per
        write; returns how many moved. One the pause matches only once a worker resolves its
        address is parked by that worker (``Verdict.PAUSED``). Each row is matched on its stored
        ``destination``; rows stored before it existed are parked by the workers too."""
        ...

    def unpark(self, now: int, still_paused: Sequence[Pause], batch: int) -> int:
        """Move every ``paused`` notification that none of ``still_paused`` matches back to
        ``scheduled`` (due later than ``now``) or ``pending``, ``batch`` at most per write;
        returns how many moved."""
        ...

    def count_paused(self, pause: Pause) -> int:
        """How many ``paused`` notifications the pause matches (another pause may match them
        too)."""
        ...
