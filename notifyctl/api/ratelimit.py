"""Token-bucket rate limiting per client, in memory, with time passed in. Pure.

Each client's bucket holds up to ``burst`` tokens and refills at ``rate`` per second; a request
takes one, or ``cost`` (a batch takes more: see ``api/guard.py``). Buckets of clients idle
long enough to be full again are forgotten, so memory stays bounded by the clients active within
the last ``burst / rate`` seconds (and by ``max_clients``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

#: a batch costs one token and one more per this many items (1,000 items: 11), so a client cannot
#: ask for 1,000 times the work at the price of one request, while the default burst of 200 still
#: takes a full batch at once (charged in api/app.py, after the guard took the first token)
BATCH_ITEMS_PER_TOKEN = 100


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

    def take(self, client: str, now: float, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens (at most ``burst``, so any cost can be paid once the bucket is
        full), or none when there are not enough."""
        cost = min(cost, float(self.burst))
        tokens, then = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[client] = (tokens, now)
        self._forget_idle(now)
        wait = 0 if allowed else max(1, math.ceil((cost - tokens) / self.rate))
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
