"""Flow control's rules (issue 17): what a destination is, and when its circuit breaker opens and
for how long. Pure.

A destination is the unit of flow control: where a delivery goes, as far as one slow or dead
receiver is concerned. A webhook's is its scheme, host and port (every path on one server shares
its capacity and its outages); a provider channel's is the provider itself (``smtp``, ``apns``,
``fcm``, ``sms``), since every notification on it goes to the same service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

#: the destination of each provider channel; a webhook's depends on its URL
PROVIDER_DESTINATIONS = {"email": "smtp", "apns": "apns", "fcm": "fcm", "sms": "sms", "log": "log"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def destination_of(channel: str, to: str | None) -> str:
    """The destination a notification on ``channel`` to ``to`` is delivered to."""
    if channel != "webhook":
        return PROVIDER_DESTINATIONS.get(channel, channel)
    if not to:
        return "webhook"
    try:
        parts = urlsplit(to)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:  # a malformed URL: it fails on its own, apart from the others
        return "webhook"
    host = (parts.hostname or "").lower()
    return f"{parts.scheme.lower()}://{host}:{port}"


# -- the circuit breaker -----------------------------------------------------------------------


class BreakerState(StrEnum):
    CLOSED = "closed"
    #: deliveries to it wait until ``open_until``
    OPEN = "open"
    #: ``open_until`` has passed: one probe may go; the rest still wait
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Breaker:
    """A destination's circuit as the store shares it between workers. A destination without a
    row is closed. Times are epoch milliseconds."""

    destination: str
    #: when deliveries may be tried again (one probe first)
    open_until: int
    #: how many times it opened since it was last closed: the cooldown doubles with each
    reopenings: int
    #: the failure ratio the opening worker saw over its window (for operators)
    failure_ratio: float
    #: the worker holding the probe of a half-open circuit, and until when
    probe_by: str | None
    probe_until: int | None
    updated_at: int

    def state(self, now: int) -> BreakerState:
        return BreakerState.OPEN if now < self.open_until else BreakerState.HALF_OPEN


def opening(
    destination: str, reopenings: int, now: int, failure_ratio: float, cooldown_ms: list[int]
) -> Breaker:
    """The circuit opened once more after ``reopenings`` openings (0: it was closed), its probe
    cleared: the rule both stores apply (``store/breakers.py``), so they return equal values."""
    if not cooldown_ms:
        raise ValueError("open_breaker needs at least one cooldown")
    cooldown = cooldown_ms[min(reopenings, len(cooldown_ms) - 1)]  # the last one repeats
    return Breaker(
        destination, now + cooldown, reopenings + 1, float(failure_ratio), None, None, now
    )


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a circuit opens and for how long (``NOTIFYCTL_BREAKER_*``)."""

    #: this many failures in a row open it
    consecutive_failures: int = 5
    #: or this share of failures over the window, once the window holds ``min_requests``
    failure_ratio: float = 0.5
    window_ms: int = 60_000
    min_requests: int = 20
    cooldown_ms: int = 30_000
    max_cooldown_ms: int = 600_000

    def cooldown(self, reopenings: int) -> int:
        """The wait after the ``reopenings``-th opening (1 the first): doubling, capped."""
        return min(self.cooldown_ms << min(max(reopenings - 1, 0), 30), self.max_cooldown_ms)


@dataclass
class FailureWindow:
    """One worker's recent results for one destination: consecutive failures, and counts per
    second over the policy's window (bounded: one bucket per second of the window)."""

    consecutive: int = 0
    buckets: dict[int, list[int]] = field(default_factory=dict)  # second -> [failures, total]

    def record(self, failed: bool, now: int, window_ms: int) -> None:
        self.consecutive = self.consecutive + 1 if failed else 0
        second = now // 1000
        bucket = self.buckets.setdefault(second, [0, 0])
        bucket[0] += failed
        bucket[1] += 1
        oldest = second - window_ms // 1000
        for stale in [s for s in self.buckets if s <= oldest]:
            del self.buckets[stale]

    def ratio(self) -> tuple[float, int]:
        """(failure ratio, requests) over the window."""
        failures = sum(b[0] for b in self.buckets.values())
        total = sum(b[1] for b in self.buckets.values())
        return (failures / total if total else 0.0), total

    def trips(self, policy: BreakerPolicy) -> bool:
        """Whether these results open the circuit."""
        if self.consecutive >= policy.consecutive_failures:
            return True
        ratio, total = self.ratio()
        return total >= policy.min_requests and ratio >= policy.failure_ratio
