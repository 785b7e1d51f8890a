"""Token-bucket rate limiting per client, in memory, with time passed in. Pure.

Each client's bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request
takes one. Buckets of clients idle long enough to be full again are forgotten, so memory stays
bounded by the clients active within the last ``burst / rate`` seconds (and by ``max_clients``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    #: seconds until a request would be allowed (0 when allowed)
    retry_after_s: int
    #: seconds until the bucket is full again
    reset_s: int


class RateLimiter:
    def __init__(self, rate: float, burst: int, max_clients: int = 100_000) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        #: client -> (tokens, time of last update); oldest-touched first
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> Decision:
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= 1.0
        if allowed:
            tokens -= 1.0
        self._buckets[client] = (tokens, now)
        self._forget_idle(now)
        wait = 0 if allowed else max(1, math.ceil((1.0 - tokens) / self.rate))
        reset = math.ceil((self.burst - tokens) / self.rate)
        return Decision(allowed, self.burst, int(tokens), wait, reset)

    def _forget_idle(self, now: float) -> None:
        full_after = self.burst / self.rate
        while self._buckets:
            oldest, (_, then) = next(iter(self._buckets.items()))
            if now - then < full_after and len(self._buckets) <= self.max_clients:
                return
            del self._buckets[oldest]

    def __len__(self) -> int:
        return len(self._buckets)
