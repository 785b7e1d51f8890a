"""A tenant's webhook signing secrets, for ``notifyctl tenants secret``: data only, never
printing. A rotation adds a new secret while the previous one keeps signing (both signatures go
out), so receivers can move without a gap; ``retire`` ends the rotation."""

from __future__ import annotations

import base64
import secrets

from notifyctl.errors import NotifyError
from notifyctl.store import Store
from notifyctl.store.base import ACTIVE_SECRETS
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
