"""Which secrets sign a tenant's webhooks: the tenant's own from the store (a new one and the one
it replaces, during a rotation), else, for tenant ``default`` only, ``NOTIFYCTL_WEBHOOK_SECRET``.

Looked up for every delivery, so kept in process for ``ttl_s``: a rotation reaches the workers
within that long. A tenant's secrets are never shared with another (the global secret signs only
``default``'s webhooks: a tenant who knew it could otherwise forge another tenant's). When the
store cannot say, the last keys known keep signing; with none known the delivery is retried
rather than sent unsigned, which a receiver that checks would refuse for good.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable

import anyio

from notifyctl.model import DEFAULT_TENANT

#: how long a tenant's secrets are trusted before they are read again
SECRETS_TTL_S = 10.0
Fetch = Callable[[str], list[str]]


class SecretsUnavailable(Exception):
    """The store could not say which secrets sign this tenant's webhooks, and none are known."""


def secret_key(secret: str) -> bytes:
    """Standard Webhooks secrets are ``whsec_`` + base64; anything else is used as raw bytes."""
    if secret.startswith("whsec_"):
        return base64.b64decode(secret.removeprefix("whsec_"))
    return secret.encode()


class SigningSecrets:
    def __init__(
        self,
        fetch: Fetch | None = None,
        default_secret: str = "",
        ttl_s: float = SECRETS_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``fetch(tenant)``: the store's secrets of a tenant, newest first (blocking: run on a
        thread); None when there is no store to ask (every tenant then uses the fallback)."""
        self._fetch = fetch
        self._default = [secret_key(default_secret)] if default_secret else []
        self._ttl_s = ttl_s
        self._clock = clock
        #: tenant -> (trusted until, keys)
        self._known: dict[str, tuple[float, list[bytes]]] = {}

    async def keys_for(self, tenant: str) -> list[bytes]:
        """The keys to sign with, newest first; empty: the webhook goes unsigned."""
        known = self._known.get(tenant)
        if known is not None and known[0] > self._clock():
            return known[1]
        try:
            keys = await self._read(tenant)
        except Exception as exc:  # the store failed: keep what we knew, else retry later
            if known is not None:
                return known[1]
            raise SecretsUnavailable(f"cannot read the signing secrets: {exc}") from None
        self._known[tenant] = (self._clock() + self._ttl_s, keys)
        return keys

    async def _read(self, tenant: str) -> list[bytes]:
        secrets = [] if self._fetch is None else await anyio.to_thread.run_sync(self._fetch, tenant)
        if secrets:
            return [secret_key(secret) for secret in secrets]
        return self._default if tenant == DEFAULT_TENANT else []
