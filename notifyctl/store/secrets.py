"""The store port, each tenant's webhook signing secrets (adapters: ``sqlite/secrets.py``,
``mongodb/secrets.py``)."""

from __future__ import annotations

from typing import Protocol

#: webhook signing secrets a tenant may hold at once: the new one and the one it replaces, so
#: receivers can move to the new one without a gap (Standard Webhooks' rotation)
ACTIVE_SECRETS = 2


class SecretStore(Protocol):
    """Each tenant's webhook signing secrets: at most ``ACTIVE_SECRETS``, newest first."""

    def webhook_secrets(self, tenant_id: str) -> list[str]:
        """The tenant's active signing secrets, newest first (at most ``ACTIVE_SECRETS``); empty
        when it has none in the store."""
        ...

    def add_webhook_secret(self, tenant_id: str, secret: str, now: int) -> None:
        """Add a secret as the tenant's newest; the oldest beyond ``ACTIVE_SECRETS`` goes."""
        ...

    def retire_webhook_secrets(self, tenant_id: str) -> int:
        """Keep only the tenant's newest secret (the rotation is over); how many went."""
        ...
