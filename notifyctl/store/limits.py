"""The store port, each tenant's limits and daily quota usage (``notifyctl/limits.py``;
adapters: ``sqlite/limits.py``, ``mongodb/limits.py``)."""

from __future__ import annotations

from typing import Protocol

from notifyctl.limits import QuotaTake, TenantLimits


class LimitStore(Protocol):
    """Each tenant's own limits, and its quota usage per UTC day."""

    def tenant_limits(self, tenant_id: str) -> TenantLimits | None:
        """The tenant's own limits, or None when it has none (the deployment's defaults apply).
        A primary-key look-up."""
        ...

    def list_tenant_limits(self) -> list[TenantLimits]:
        """Every tenant's own limits, by tenant name."""
        ...

    def set_tenant_limits(self, limits: TenantLimits) -> None:
        """Store the tenant's limits, replacing what it had (a None field is not limited by the
        tenant's own setting), atomically."""
        ...

    def clear_tenant_limits(self, tenant_id: str) -> bool:
        """Remove the tenant's own limits (its quota usage stays counted); False when it had
        none."""
        ...

    def take_quota(self, tenant_id: str, day: str, count: int, quota: int) -> QuotaTake:
        """Count ``count`` notifications against the tenant's ``quota`` for ``day`` (a
        ``limits.quota_day``), atomically across every process sharing the store: all of them
        when the day's usage stays within ``quota``, else none. Usage of days before the day
        before ``day`` may be forgotten."""
        ...

    def give_back_quota(self, tenant_id: str, day: str, count: int) -> None:
        """Uncount ``count`` taken for ``day`` that created nothing (idempotent replays, a failed
        insert); the usage never goes below zero."""
        ...

    def quota_used(self, tenant_id: str, day: str) -> int:
        """How many notifications the tenant's quota counted on ``day``."""
        ...
