"""A worker's deliveries per destination (issue 17 item 1): at most ``cap`` at once to each, so a
slow receiver can never take every slot the rest of the traffic needs.

A claim whose destination is at its cap waits here ("parked"), holding its lease (the renew loop
keeps it) but no delivery slot; when a delivery to that destination ends, the longest-parked
claim starts in its place. Waiting is not an attempt: the claim's attempt is the delivery that
follows. Parked claims are bounded (``cap`` per destination, ``max_parked`` in all): beyond that
a claim is given back,
due again after about the time its destination needs to work through what is parked, so the
store's queue moves on to other destinations meanwhile.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from notifyctl.config import Config
from notifyctl.flow import destination_of
from notifyctl.model import Claim, ClaimKey

#: the shortest and longest a claim given back waits before it is due again
MIN_GIVE_BACK_MS = 1_000
MAX_GIVE_BACK_MS = 60_000
#: weight of the newest delivery in a destination's mean delivery time
EWMA_WEIGHT = 0.2
#: destinations whose mean delivery time a worker keeps at most: webhook hosts are the
#: clients' to choose, so the table must not grow with every host ever seen (beyond it, the
#: means start again; they only size a give-back's wait)
MAX_MEANS = 10_000
#: the cap's default: this share of the worker's concurrency. Half, not the issue's example of
#: a fifth: with a fifth a single fast receiver lost 8-12 % of its delivered/s (claims beyond the
#: cap given back and claimed again); with half, nothing measurable (benchmarks/RESULTS.md,
#: "Destinations"), and a slow receiver still leaves the other half to everyone else.
DEFAULT_SHARE = 2


def destination_cap(config: Config) -> int:
    """``NOTIFYCTL_DESTINATION_CONCURRENCY``, or by default half the worker's concurrency (at
    least 1): 50 of 100."""
    if config.destination_concurrency:
        return config.destination_concurrency
    return max(1, config.worker_concurrency // DEFAULT_SHARE)


class DestinationSlots:
    def __init__(self, cap: int, max_parked: int, start: Callable[[Claim], None]) -> None:
        self.cap = cap
        self.max_parked = max_parked
        self._start = start
        self._busy: dict[str, int] = {}
        self._parked: dict[str, deque[Claim]] = {}
        self._parked_count = 0
        #: the destination of each claim started or parked here, by claim
        self._key_of: dict[ClaimKey, str] = {}
        #: a mean delivery time per destination (ms), to size a give-back's wait
        self._mean_ms: dict[str, float] = {}

    @property
    def parked(self) -> int:
        return self._parked_count

    def admit(self, claim: Claim) -> bool | None:
        """Start the claim's delivery now (True), park it (False), or None: no room, give it back
        (``give_back_ms`` says for how long)."""
        n = claim.notification
        key = destination_of(n.channel, n.to)
        if self._busy.get(key, 0) < self.cap:
            self._busy[key] = self._busy.get(key, 0) + 1
            self._key_of[claim.key] = key
            self._start(claim)
            return True
        queue = self._parked.get(key)
        # a destination parks at most one cap's worth: a slow one must not fill the waiting
        # room the others need (measured: at cap 20 it cost a fast destination 30-40 %)
        if self._parked_count >= self.max_parked or (queue is not None and len(queue) >= self.cap):
            return None
        self._parked.setdefault(key, deque()).append(claim)
        self._parked_count += 1
        self._key_of[claim.key] = key
        return False

    def give_back_ms(self, claim: Claim) -> int:
        """How long a claim refused for want of room should wait: about as long as its
        destination takes to deliver what is parked for it at the cap's pace."""
        n = claim.notification
        key = destination_of(n.channel, n.to)
        waiting = len(self._parked.get(key, ())) + self._busy.get(key, 0)
        estimate = self._mean_ms.get(key, 0.0) * waiting / max(self.cap, 1)
        return int(min(max(estimate, MIN_GIVE_BACK_MS), MAX_GIVE_BACK_MS))

    def ended(self, claim: Claim, took_ms: float | None) -> None:
        """A delivery started here ended (``took_ms``: how long, when it ran): its slot goes to
        the longest-parked claim of its destination, if any."""
        key = self._key_of.pop(claim.key, None)
        if key is None:
            return
        if took_ms is not None:
            if len(self._mean_ms) >= MAX_MEANS and key not in self._mean_ms:
                self._mean_ms.clear()
            mean = self._mean_ms.get(key)
            self._mean_ms[key] = took_ms if mean is None else mean + EWMA_WEIGHT * (took_ms - mean)
        queue = self._parked.get(key)
        if queue:
            self._parked_count -= 1
            following = queue.popleft()
            if not queue:
                del self._parked[key]
            self._start(following)  # the slot passes on: busy stays as it is
            return
        busy = self._busy.get(key, 1) - 1
        if busy:
            self._busy[key] = busy
        else:
            self._busy.pop(key, None)

    def forget(self, claim: Claim) -> bool:
        """Drop a parked claim (its lease was lost); False if it is not parked here."""
        key = self._key_of.get(claim.key)
        queue = self._parked.get(key) if key is not None else None
        if not queue or claim not in queue:
            return False
        queue.remove(claim)
        if not queue:
            del self._parked[key]  # type: ignore[arg-type]
        self._parked_count -= 1
        del self._key_of[claim.key]
        return True

    def take_parked(self) -> list[Claim]:
        """Every parked claim, removed (the worker is stopping: they are given back)."""
        claims = [claim for queue in self._parked.values() for claim in queue]
        for claim in claims:
            self._key_of.pop(claim.key, None)
        self._parked.clear()
        self._parked_count = 0
        return claims
