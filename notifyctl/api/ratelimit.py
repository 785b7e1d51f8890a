"""Token-bucket rate limiting per client, in memory, with time passed in. Pure.

Each client's bucket holds up to ``burst`` tokens and refills at ``per_s`` tokens a second (a
``limits.Rate``, given with every take); a request takes one, or ``cost`` (a batch takes more: see
``api/guard.py``). Buckets of clients idle long enough to be full again are forgotten, so memory
stays bounded by the clients active within the last ``burst / per_s`` seconds (and by
``max_clients``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from notifyctl.limits import Rate

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
    """Token buckets by client; each take names the bucket's shape (``Rate``), so clients may
    have buckets of different sizes (a tenant's own rate: ``notifyctl/limits.py``)."""

    def __init__(self, max_clients: int = 100_000) -> None:
        self.max_clients = max_clients
        #: client -> (tokens, time of last update, seconds it takes to fill up); oldest-touched
        #: first
        self._buckets: OrderedDict[str, tuple[float, float, float]] = OrderedDict()

    def take(self, client: str, now: float, rate: Rate, cost: float = 1.0) -> Decision:
        """Take ``cost`` tokens (at most ``burst``, so any cost can be paid once the bucket is
        full), or none when there are not enough. A bucket whose rate changed keeps its tokens
        (up to the new burst)."""
        per_s, burst = rate.per_s, float(rate.burst)
        cost = min(cost, burst)
        tokens, then, _ = self._buckets.pop(client, (burst, now, 0.0))
        tokens = min(burst, tokens + (now - then) * per_s)
        allowed = tokens >= cost
        if allowed:
            tokens -= cost
        self._buckets[client] = (tokens, now, burst / per_s)
        self._forget_idle(now)
        wait = 0 if allowed else max(1, math.ceil((cost - tokens) / per_s))
        reset = math.ceil((burst - tokens) / per_s)
        return Decision(allowed, rate.burst, int(tokens), wait, reset)

    def _forget_idle(self, now: float) -> None:
        """Drop the least recently used buckets that are full again, and any beyond
        ``max_clients``."""
        while self._buckets:
            oldest, (_, then, full_after) = next(iter(self._buckets.items()))
            if now - then < full_after and len(self._buckets) <= self.max_clients:
                return
            del self._buckets[oldest]

    def __len__(self) -> int:
        return len(self._buckets)
