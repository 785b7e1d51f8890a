"""A tenant's settings, for ``notifyctl tenants``: data only, never printing.

Webhook signing secrets (``tenants secret``): a rotation adds a new secret while the previous one
keeps signing (both signatures go out), so receivers can move without a gap; ``retire`` ends the
rotation. Limits (``tenants limits``): a tenant's own rate, burst and daily quota
(``notifyctl/limits.py``), changed field by field, with today's quota usage."""

from __future__ import annotations

import base64
import math
import secrets
from typing import Any

from notifyctl.errors import NotifyError
from notifyctl.limits import TenantLimits, quota_day
from notifyctl.store import Store
from notifyctl.store.secrets import ACTIVE_SECRETS
from notifyctl.tenants import tenant_name

#: the signing key's size: 32 random bytes, as Standard Webhooks' ``whsec_`` secrets carry
SECRET_BYTES = 32


class TenantRequestError(NotifyError):
    """The command line named something that cannot be a tenant."""


def valid_tenant(text: str) -> str:
    try:
        return tenant_name(text)
    except ValueError as exc:
        raise TenantRequestError(str(exc)) from None


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def rotate(store: Store, tenant: str, now: int) -> tuple[str, int]:
    """A new secret for ``tenant``, now its newest; with how many secrets sign from now on."""
    secret = new_secret()
    store.add_webhook_secret(valid_tenant(tenant), secret, now)
    return secret, min(len(store.webhook_secrets(tenant)), ACTIVE_SECRETS)


def retire(store: Store, tenant: str) -> int:
    """End a rotation: only the newest secret signs; how many were retired."""
    return store.retire_webhook_secrets(valid_tenant(tenant))


def active(store: Store, tenant: str) -> int:
    """How many secrets sign the tenant's webhooks (never the secrets themselves)."""
    return len(store.webhook_secrets(valid_tenant(tenant)))


#: what ``limits set`` takes to remove a field (the deployment's default applies again)
UNSET = "none"


def parse_limit(name: str, text: str | None, kind: type[int] | type[float]) -> Any:
    """A ``limits set`` option: None (not given), UNSET (remove it), or a number of ``kind``."""
    if text is None or text.strip().lower() == UNSET:
        return None if text is None else UNSET
    try:
        value = kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise TenantRequestError(f"{name} must be {what} or {UNSET!r}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise TenantRequestError(f"{name} must be a finite number, got {text!r}")
    return value


def set_limits(store: Store, tenant: str, changes: dict[str, Any]) -> TenantLimits:
    """Change the tenant's own limits field by field (``changes``: field -> number or UNSET;
    fields not named keep their value), checked before anything is written."""
    stored = store.tenant_limits(valid_tenant(tenant)) or TenantLimits(tenant)
    fields: dict[str, Any] = {
        "rate_per_s": stored.rate_per_s, "burst": stored.burst,
        "daily_quota": stored.daily_quota,
    }  # fmt: skip
    for name, value in changes.items():
        if value is not None:
            fields[name] = None if value == UNSET else value
    limits = TenantLimits(tenant, **fields)
    problems = limits.problems()
    if problems:
        raise TenantRequestError("; ".join(problems) + "; nothing was changed")
    if limits == TenantLimits(tenant):
        store.clear_tenant_limits(tenant)
    else:
        store.set_tenant_limits(limits)
    return limits


def clear_limits(store: Store, tenant: str) -> bool:
    """Remove the tenant's own limits: the deployment's apply again. False when it had none."""
    return store.clear_tenant_limits(valid_tenant(tenant))


def limits_listing(store: Store, tenant: str | None, now: int) -> list[dict[str, Any]]:
    """Each tenant's own limits (or one tenant's, with or without any) and its quota usage
    today (UTC), as plain data for text or JSON."""
    if tenant is None:
        found = store.list_tenant_limits()
    else:
        found = [store.tenant_limits(valid_tenant(tenant)) or TenantLimits(tenant)]
    day = quota_day(now)
    return [
        {
            "tenant": limits.tenant,
            "rate_per_s": limits.rate_per_s,
            "burst": limits.burst,
            "daily_quota": limits.daily_quota,
            "day": day,
            "used_today": store.quota_used(limits.tenant, day),
        }  # fmt: skip
        for limits in found
    ]
