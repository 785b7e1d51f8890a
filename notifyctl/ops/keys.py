"""``notifyctl keys``: create, list and revoke the API keys kept in the store. Data only: the CLI
prints (``cli/keys.py``).

Every input is checked before anything is written, so a bad one changes nothing. A new key is
returned once, to be shown once; the store keeps its digest. Nothing here returns a digest.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from notifyctl.errors import NotifyError
from notifyctl.shapes import iso_ms
from notifyctl.store import Store
from notifyctl.tenants import KeyRecord, Scope, key_digest, parse_scopes, tenant_name
from notifyctl.validation import parse_timestamp

#: recognisable in a leaked log or a secret scanner, and never mistaken for a key id
KEY_PREFIX = "nk_"
ID_PREFIX = "key_"
UNITS_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
#: a hundred years: the most an expiry may be ahead (bigger numbers would overflow the stores)
LONGEST_MS = 36_500 * 86_400_000
MAX_NAME = 100


class KeyRequestError(NotifyError):
    """The command line asked for a key that cannot be made, listed or revoked as stated."""


@dataclass(frozen=True)
class NewKey:
    #: the key itself: shown once, never stored
    key: str
    record: KeyRecord


def new_key() -> str:
    """256 random bits, URL-safe, with the ``nk_`` prefix."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_key_id() -> str:
    return ID_PREFIX + secrets.token_hex(8)


def checked(rule: Any, text: str, option: str) -> Any:
    """``rule(text)``, its ValueError turned into one line naming the option."""
    try:
        return rule(text)
    except ValueError as exc:
        raise KeyRequestError(f"{option}: {exc}") from None


def parse_expires(text: str, now: int) -> int:
    """When a key made at ``now`` expires: an age such as ``90d``, ``12h``, ``2w``, ``30m``, or
    an RFC 3339 time; it must be in the future, and at most a hundred years ahead."""
    match = re.fullmatch(r"\s*(\d{1,9})\s*([mhdw])\s*", text)
    try:
        at = now + int(match.group(1)) * UNITS_MS[match.group(2)] if match else None
        at = parse_timestamp(text) if at is None else at
    except (ValueError, OverflowError, OSError):
        at = None
    if at is None:
        raise KeyRequestError(
            f"--expires {text!r}: not an age like 90d, 12h, 2w, or an RFC 3339 time"
        )
    if not now < at <= now + LONGEST_MS:
        raise KeyRequestError(f"--expires {text!r}: must be in the future, within 100 years")
    return at


def check_name(name: str) -> str:
    if len(name) > MAX_NAME or not name.isprintable():
        raise KeyRequestError(f"--name: at most {MAX_NAME} printable characters")
    return name


def prepare(tenant: str, scopes: str, name: str, expires: str | None, now: int) -> NewKey:
    """A new key of ``tenant`` with ``scopes`` (``send,read``), every input checked; nothing
    is stored yet (``save``), so a bad input changes nothing, not even an empty store file."""
    key = new_key()
    record = KeyRecord(
        id=new_key_id(), tenant=checked(tenant_name, tenant, "--tenant"),
        scopes=checked(parse_scopes, scopes, "--scope"), name=check_name(name),
        digest=key_digest(key), created_at=now,
        expires_at=None if expires is None else parse_expires(expires, now),
    )  # fmt: skip
    return NewKey(key, record)


def save(store: Store, new: NewKey) -> None:
    """Store the key's record (its digest, never the key)."""
    store.create_key(new.record)


def key_json(record: KeyRecord, now: int) -> dict[str, Any]:
    """What ``keys list`` shows of a key: everything but its digest."""
    return {
        "id": record.id, "tenant": record.tenant, "name": record.name,
        "scopes": [scope.value for scope in Scope if scope in record.scopes],
        "state": record.state(now),
        "created_at": iso_ms(record.created_at), "last_used_at": iso_ms(record.last_used_at),
        "expires_at": iso_ms(record.expires_at), "revoked_at": iso_ms(record.revoked_at),
    }  # fmt: skip


def check_tenant(tenant: str | None) -> None:
    if tenant is not None:
        checked(tenant_name, tenant, "--tenant")


def listing(store: Store, tenant: str | None, now: int) -> list[dict[str, Any]]:
    return [key_json(record, now) for record in store.list_keys(tenant)]


def revoke(store: Store, key_id: str, now: int) -> dict[str, Any]:
    """Revoke the key (again: a no-op); the key as it now stands. API processes refuse it
    within their cache's TTL (``api/keyring.py``)."""
    if not store.revoke_key(key_id, now):
        raise KeyRequestError(f"no API key has the id {key_id!r}; `notifyctl keys list` shows them")
    (record,) = [r for r in store.list_keys(None) if r.id == key_id]
    return key_json(record, now)
