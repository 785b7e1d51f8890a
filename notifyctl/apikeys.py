"""API keys from NOTIFYCTL_API_KEYS / _FILE: a request carries ``Authorization: Bearer <key>``;
keys are compared in constant time. Each grants tenant ``default`` every scope; the store's keys,
with a tenant and scopes of their own, are ``api/keyring.py``'s.

Keys may be configured in clear or as ``sha256:<hex digest>``; either way only digests are kept,
and a presented key is hashed once and compared against every digest with ``hmac.compare_digest``
(no early exit, so timing does not tell which digest came close). Keys are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from notifyctl.errors import ConfigError
from notifyctl.tenants import ALL_SCOPES, DEFAULT_TENANT, Identity

HASHED = "sha256:"


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_entry(entry: str, origin: str) -> bytes:
    if entry.startswith(HASHED):
        hex_digest = entry.removeprefix(HASHED)
        try:
            value = bytes.fromhex(hex_digest)
        except ValueError:
            value = b""
        if len(value) != 32:
            raise ConfigError(f"{origin}: {HASHED} must be followed by 64 hex digits")
        return value
    return digest(entry)


class ApiKeys:
    def __init__(self, digests: list[bytes]) -> None:
        self._digests = digests

    @classmethod
    def from_config(cls, keys: str, keys_file: str) -> ApiKeys:
        entries = [(k.strip(), "NOTIFYCTL_API_KEYS") for k in keys.split(",") if k.strip()]
        if keys_file:
            try:
                lines = Path(keys_file).read_text().splitlines()
            except OSError as exc:
                raise ConfigError(
                    f"NOTIFYCTL_API_KEYS_FILE: cannot read {keys_file} ({exc.strerror})"
                ) from exc
            entries += [(line.strip(), keys_file) for line in lines if line.strip()]
        return cls([parse_entry(entry, origin) for entry, origin in entries])

    @property
    def enabled(self) -> bool:
        return bool(self._digests)

    def identify(self, token: str | None) -> Identity | None:
        """The matching key's identity (tenant ``default``, every scope), or None. Its key id is
        ``env:`` and a digest prefix: safe to log, and a rate-limit bucket of its own."""
        if token is None:
            return None
        return self.identify_digest(digest(token))

    def identify_digest(self, presented: bytes) -> Identity | None:
        """``identify`` by the key's digest (a console session holds the digest, not the key)."""
        match = None
        for known in self._digests:
            if hmac.compare_digest(presented, known):
                match = known
        return (
            None
            if match is None
            else Identity(DEFAULT_TENANT, ALL_SCOPES, "env:" + match.hex()[:12])
        )


def bearer_token(authorization: str | None) -> str | None:
    """The key of ``Authorization: Bearer <key>``, or None when there is none."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    # RFC 9110 section 11.1: the scheme is case-insensitive (bearer, BEARER, Bearer)
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
