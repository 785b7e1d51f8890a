"""Tenants and what their API keys may do: tenant names, scopes, key records, identities.

A tenant owns notifications; an API key belongs to one tenant and grants it some scopes. The
store keeps a key as a ``KeyRecord`` holding the key's SHA-256 digest, never the key itself.
Plain data and rules only: the API resolves a presented key to an ``Identity``
(``notifyctl/api/keyring.py``), ``notifyctl keys`` creates and revokes records
(``notifyctl/ops/keys.py``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum

# the tenant of a deployment without keys, of NOTIFYCTL_API_KEYS keys and of older data; one
# definition (the notifications'), named here too for the keys' users
from notifyctl.model import DEFAULT_TENANT as DEFAULT_TENANT

TENANT_RULE = (
    "1-63 characters of lowercase letters, digits, '_' and '-', starting with a letter or digit"
)
#: short enough for a DNS label or a metrics label value; no case or dots, so one tenant has
#: exactly one spelling
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def tenant_name(text: str) -> str:
    """``text`` if it is a valid tenant name, else ValueError saying what a name may be."""
    if not _TENANT.fullmatch(text):
        raise ValueError(f"invalid tenant name {text!r}: {TENANT_RULE}")
    return text


class Scope(StrEnum):
    """What a key may do; each scope grants only what it names (``admin`` is not a superset)."""

    SEND = "send"  # POST /v1/notifications, POST /v1/notifications/batch
    READ = "read"  # GET /v1/notifications, GET /v1/notifications/{id}
    CANCEL = "cancel"  # DELETE /v1/notifications/{id}
    ADMIN = "admin"  # dead letters, replay, tenant settings (operators' endpoints to come)


ALL_SCOPES = frozenset(Scope)
SCOPE_NAMES = ", ".join(scope.value for scope in Scope)


def parse_scopes(text: str) -> frozenset[Scope]:
    """``"send,read"`` -> {SEND, READ}; an unknown or missing scope is a ValueError naming the
    valid ones."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError(f"no scope given: name one or more of {SCOPE_NAMES}, comma-separated")
    unknown = [name for name in names if name not in {scope.value for scope in Scope}]
    if unknown:
        raise ValueError(f"unknown scope {unknown[0]!r}: the scopes are {SCOPE_NAMES}")
    return frozenset(Scope(name) for name in names)


def scopes_text(scopes: frozenset[Scope]) -> str:
    """The scopes in a fixed order (``Scope``'s), comma-separated: ``parse_scopes`` reads it."""
    return ",".join(scope.value for scope in Scope if scope in scopes)


def key_digest(key: str) -> str:
    """The hex SHA-256 of a key: what the store keeps and looks keys up by. Keys are random
    (256 bits), so an unsalted fast hash is enough: there is nothing to guess from it."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """A stored API key. Times are epoch milliseconds."""

    #: public and short ("key_" + 16 hex): safe to log, print and pass to ``keys revoke``
    id: str
    tenant: str
    name: str
    scopes: frozenset[Scope]
    #: ``key_digest`` of the key; the key itself is shown once, at creation, and never stored
    digest: str
    created_at: int
    last_used_at: int | None = None
    expires_at: int | None = None
    revoked_at: int | None = None

    def state(self, now: int) -> str:
        """``active``, ``revoked`` or ``expired`` at ``now``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def usable(self, now: int) -> bool:
        return self.state(now) == "active"


@dataclass(frozen=True, slots=True)
class Identity:
    """Who a request is: the tenant it acts for, what it may do, and which key (None: the API
    has no keys). The API's guard leaves these in the request's state."""

    tenant: str
    scopes: frozenset[Scope]
    key_id: str | None


#: every request of an API without keys (as before tenants): one open ``default`` tenant
OPEN = Identity(DEFAULT_TENANT, ALL_SCOPES, None)
