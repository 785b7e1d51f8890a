"""The claims a worker holds: those whose leases its renew loop extends until their outcomes are
written. Keyed by claim (id and fencing token), with at most one claim per notification: a worker
that claims an id it still holds under an older token (its lease lapsed and nobody else took it)
drops the older claim, which is void. Both look-ups are a dict access, since every delivery
started and every outcome written passes through here."""

from __future__ import annotations

from notifyctl.model import Claim, ClaimKey


class HeldClaims:
    def __init__(self) -> None:
        self._by_key: dict[ClaimKey, Claim] = {}
        self._key_of_id: dict[str, ClaimKey] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def values(self) -> list[Claim]:
        return list(self._by_key.values())

    def hold(self, claim: Claim) -> Claim | None:
        """Hold ``claim``; the older claim on the same notification it replaces, if any."""
        older_key = self._key_of_id.get(claim.id)
        older = self._by_key.pop(older_key) if older_key is not None else None
        self._by_key[claim.key] = claim
        self._key_of_id[claim.id] = claim.key
        return older

    def release(self, claim: Claim) -> bool:
        """Stop holding ``claim`` (not a newer claim on its notification); whether it was held."""
        if self._by_key.pop(claim.key, None) is None:
            return False
        if self._key_of_id.get(claim.id) == claim.key:
            del self._key_of_id[claim.id]
        return True
