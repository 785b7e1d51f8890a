"""The store port, API keys: written by ``notifyctl keys``, read by the API through its cache
(adapters: ``sqlite/keys.py``, ``mongodb/keys.py``)."""

from __future__ import annotations

from typing import Protocol

from notifyctl.tenants import KeyRecord


class KeyStore(Protocol):
    """API keys, kept as digests; never deleted, only revoked."""

    def create_key(self, record: KeyRecord) -> None:
        """Store a new key, atomically. StoreError when its id or its digest exists already
        (both are unique): an existing key is never replaced."""
        ...

    def key_by_digest(self, digest: str) -> KeyRecord | None:
        """The key whose ``digest`` this is, revoked and expired ones included (the caller
        decides what they may do), or None. An index seek."""
        ...

    def list_keys(self, tenant: str | None) -> list[KeyRecord]:
        """Every key of ``tenant`` (None: of every tenant), revoked and expired ones included,
        oldest first (``created_at``, then ``id``)."""
        ...

    def has_keys(self) -> bool:
        """Whether any key was ever created (revoked and expired ones count: revoking the last
        key must not open the API to everyone). Keys are never deleted. An index seek."""
        ...

    def revoke_key(self, key_id: str, now: int) -> bool:
        """Mark the key revoked at ``now``, atomically; False when there is no such key. A key
        revoked already keeps its first ``revoked_at`` (revoking again changes nothing)."""
        ...

    def touch_key(self, key_id: str, now: int) -> None:
        """Record a use of the key at ``now``: ``last_used_at`` only moves forward (touches from
        several API processes may arrive out of order). An unknown id is ignored. The API calls
        it at most once a minute per key and process, off the request path."""
        ...
