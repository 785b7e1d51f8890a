"""Each tenant's limits as the API applies them: its rate through the guard's token buckets, its
daily quota through the store.

``TenantLimitsCache``: a tenant's own limits (``notifyctl tenants limits set``) are read from the
store at most once per ``ttl_s`` (10 s) per API process, so a request costs a dictionary look-up
and a change reaches every API process within ``ttl_s``, without a restart.

``DailyQuota``: a tenant with a daily quota has every notification counted in the store before it
is inserted (``Store.take_quota``: shared by every API process, all of a batch or none of it), and
what then created nothing (an idempotent replay, an idempotency conflict, a failed insert) given
back. That is one store round trip more per create for such a tenant only; tenants without a
quota pay nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from notifyctl.api.keyring import MAX_ENTRIES, TtlCache
from notifyctl.api.problems import HTTPProblem
from notifyctl.errors import StoreError
from notifyctl.limits import TenantLimits, quota_day, seconds_to_next_day
from notifyctl.model import now_ms
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver, call

log = logging.getLogger("notifyctl.api")
#: how long a tenant's limits are trusted before they are read again
LIMITS_TTL_S = 10.0


class TenantLimitsCache:
    """Each tenant's own limits (``TenantLimits(tenant)``, all None, when it has none), cached."""

    def __init__(
        self,
        store: Store,
        observer: CallObserver,
        ttl_s: float = LIMITS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.observer = store, observer
        self._known: TtlCache[TenantLimits] = TtlCache(ttl_s, MAX_ENTRIES, clock)

    def cached(self, tenant: str) -> TenantLimits | None:
        """The tenant's limits if they are cached (no await on the request's hot path)."""
        return self._known.get(tenant)[1]

    async def of(self, tenant: str) -> TenantLimits:
        """The tenant's limits; StoreError when they are not cached and the store cannot say."""
        limits = self.cached(tenant)
        if limits is not None:
            return limits
        stored = await call(self.observer, "tenant_limits", self.store.tenant_limits, tenant)
        limits = stored or TenantLimits(tenant)
        self._known.put(tenant, limits)
        return limits


@dataclass(frozen=True, slots=True)
class QuotaGrant:
    """Notifications counted against a tenant's quota for one day, and the day's usage after."""

    tenant: str
    day: str
    quota: int
    used: int
    count: int

    def headers(self, given_back: int = 0) -> dict[str, str]:
        """The quota's headers for the answer: its size and what is left of today's."""
        left = self.quota - self.used + given_back
        return {"X-Daily-Quota-Limit": str(self.quota), "X-Daily-Quota-Remaining": str(left)}


class DailyQuota:
    def __init__(
        self, store: Store, observer: CallObserver, wall_ms: Callable[[], int] = now_ms
    ) -> None:
        self.store, self.observer, self.wall_ms = store, observer, wall_ms

    async def take(self, limits: TenantLimits, count: int) -> QuotaGrant | None:
        """Count ``count`` notifications against the tenant's quota, before they are inserted;
        None for a tenant without a quota. 429 ``quota_exceeded`` when they do not all fit,
        with ``Retry-After`` at the next UTC midnight; StoreError when the store cannot say."""
        quota = limits.daily_quota
        if quota is None or count == 0:
            return None
        now = self.wall_ms()
        day = quota_day(now)
        take = await call(
            self.observer, "take_quota", self.store.take_quota, limits.tenant, day, count, quota
        )
        grant = QuotaGrant(limits.tenant, day, quota, take.used, count)
        if not take.taken:
            raise quota_exceeded(grant, seconds_to_next_day(now))
        return grant

    async def give_back(self, grant: QuotaGrant | None, count: int) -> None:
        """Uncount ``count`` of ``grant`` that created nothing. A store that fails here leaves
        them counted (the tenant loses that many for the day): logged, never raised, since the
        answer the client gets is already decided."""
        if grant is None or count == 0:
            return
        try:
            await call(
                self.observer, "give_back_quota", self.store.give_back_quota,
                grant.tenant, grant.day, count,
            )  # fmt: skip
        except StoreError as exc:
            log.warning(
                "giving back %d of tenant %s's daily quota failed (they stay counted today): %s",
                count, grant.tenant, exc,
            )  # fmt: skip


def quota_exceeded(grant: QuotaGrant, retry_after_s: int) -> HTTPProblem:
    left = max(0, grant.quota - grant.used)
    asked = "this notification" if grant.count == 1 else f"these {grant.count} notifications"
    message = (
        f"daily quota exceeded: {grant.used} of {grant.quota} notifications used today (UTC),"
        f" {left} left, not enough for {asked}; the quota resets at 00:00 UTC, in"
        f" {retry_after_s} s"
    )
    headers = {"Retry-After": str(retry_after_s), **grant.headers()}
    details = [{"quota": grant.quota, "used": grant.used, "requested": grant.count}]
    return HTTPProblem(429, "quota_exceeded", message, details, headers)
