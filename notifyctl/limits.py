"""Each tenant's limits: a request rate (a token bucket in every API process) and a daily quota
of notifications (counted in the store, so every API process shares it). Plain data and rules
only: the API applies them (``api/limits.py``), ``notifyctl tenants limits`` sets them
(``ops/tenants.py``), the store keeps them and counts the quota (``tenant_limits``,
``take_quota``).

A quota day is a UTC calendar day, read from the API process's clock: a quota resets at UTC
midnight, and a few seconds of clock skew between API hosts only move that edge by as much.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DAY_MS = 86_400_000
#: large enough for any real tenant, small enough that arithmetic on it never overflows a
#: 64-bit column in either store
MAX_QUOTA = 10**12
MAX_RATE_PER_S = 1_000_000.0
MAX_BURST = 10_000_000


@dataclass(frozen=True, slots=True)
class Rate:
    """A token bucket's shape: ``burst`` tokens at most, refilled at ``per_s`` a second."""

    per_s: float
    burst: int


@dataclass(frozen=True, slots=True)
class TenantLimits:
    """A tenant's own limits; None in a field: the deployment's default (the configured rate
    limit), or no daily quota."""

    tenant: str
    rate_per_s: float | None = None
    burst: int | None = None
    daily_quota: int | None = None

    def rate(self, default: Rate | None) -> Rate | None:
        """The bucket this tenant's requests take from: its own numbers where set, else the
        default's; None when neither limits the rate."""
        if self.rate_per_s is None and self.burst is None:
            return default
        per_s = self.rate_per_s if self.rate_per_s is not None else default_per_s(default)
        if per_s is None:  # only a burst was set, and the deployment limits nothing
            return None
        burst = self.burst if self.burst is not None else default_burst(default, per_s)
        return Rate(per_s, burst)

    def problems(self) -> list[str]:
        """What is out of range, as sentences a person can act on; empty when all is well."""
        found = []
        if self.rate_per_s is not None and not 0 < self.rate_per_s <= MAX_RATE_PER_S:
            found.append(f"the rate must be above 0 and at most {MAX_RATE_PER_S:.0f} per second")
        if self.burst is not None and not 1 <= self.burst <= MAX_BURST:
            found.append(f"the burst must be 1 to {MAX_BURST}")
        if self.daily_quota is not None and not 1 <= self.daily_quota <= MAX_QUOTA:
            found.append(f"the daily quota must be 1 to {MAX_QUOTA}")
        return found


def default_per_s(default: Rate | None) -> float | None:
    return None if default is None else default.per_s


def default_burst(default: Rate | None, per_s: float) -> int:
    """The burst of a tenant that set only a rate: the deployment's, else one second's worth."""
    return default.burst if default is not None else max(1, int(per_s))


def quota_day(now_ms: int) -> str:
    """The UTC day ``now_ms`` falls in, as ``YYYY-MM-DD``: the key a day's usage is counted
    under (sorts as the days do)."""
    return dt.datetime.fromtimestamp(now_ms // 1000, dt.UTC).date().isoformat()


def seconds_to_next_day(now_ms: int) -> int:
    """Whole seconds (at least 1) until the next UTC midnight: a quota's ``Retry-After``."""
    return max(1, -(-(DAY_MS - now_ms % DAY_MS) // 1000))


def previous_day(day: str) -> str:
    """The UTC day before ``day``: usage older than that is never read again."""
    return (dt.date.fromisoformat(day) - dt.timedelta(days=1)).isoformat()


@dataclass(frozen=True, slots=True)
class QuotaTake:
    """What ``take_quota`` did: ``taken`` (all of the count, or none of it) and the day's usage
    after it."""

    taken: bool
    used: int
