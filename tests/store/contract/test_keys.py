"""The store contract, API keys: create, look up by digest, list, revoke, touch.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from notifyctl.errors import StoreError
from notifyctl.store import Store
from notifyctl.tenants import ALL_SCOPES, KeyRecord, Scope, key_digest
from tests.store.conftest import open_adapter
from tests.store.contract.builders import NOW


def key_record(
    key_id: str = "key_0000000000000001",
    tenant: str = "acme",
    secret: str = "nk_secret-one",
    created_at: int = NOW,
    **fields: object,
) -> KeyRecord:
    record = KeyRecord(
        id=key_id, tenant=tenant, name="ci", scopes=frozenset({Scope.SEND, Scope.READ}),
        digest=key_digest(secret), created_at=created_at,
    )  # fmt: skip
    return replace(record, **fields)


def test_a_created_key_is_found_by_its_digest_exactly_as_stored(store: Store) -> None:
    record = key_record(expires_at=NOW + 86_400_000, scopes=ALL_SCOPES, name="")
    store.create_key(record)
    assert store.key_by_digest(key_digest("nk_secret-one")) == record


def test_a_key_may_hold_no_scope_at_all(store: Store) -> None:
    record = key_record(scopes=frozenset())
    store.create_key(record)
    assert store.key_by_digest(record.digest) == record


def test_an_unknown_digest_is_none(store: Store) -> None:
    store.create_key(key_record())
    assert store.key_by_digest(key_digest("nk_another")) is None


def test_a_repeated_id_or_digest_is_refused_and_the_first_key_kept(store: Store) -> None:
    first = key_record()
    store.create_key(first)
    with pytest.raises(StoreError):
        store.create_key(key_record(secret="nk_other"))  # the same id
    with pytest.raises(StoreError):
        store.create_key(key_record(key_id="key_0000000000000002"))  # the same digest
    assert store.list_keys(None) == [first]


def test_keys_are_listed_oldest_first_per_tenant_or_all(store: Store) -> None:
    later = key_record("key_b", "acme", "nk_b", created_at=NOW + 2)
    other = key_record("key_c", "globex", "nk_c", created_at=NOW + 1)
    first = key_record("key_a", "acme", "nk_a", created_at=NOW)
    for record in (later, other, first):
        store.create_key(record)
    assert store.list_keys("acme") == [first, later]
    assert store.list_keys("globex") == [other]
    assert store.list_keys("nobody") == []
    assert store.list_keys(None) == [first, other, later]


def test_has_keys_once_any_key_exists_even_a_revoked_one(store: Store) -> None:
    assert store.has_keys() is False
    store.create_key(key_record())
    assert store.has_keys() is True
    store.revoke_key("key_0000000000000001", NOW)
    assert store.has_keys() is True


def test_revoking_marks_the_key_and_keeps_the_first_time(store: Store) -> None:
    record = key_record()
    store.create_key(record)
    assert store.revoke_key(record.id, NOW + 5) is True
    assert store.revoke_key(record.id, NOW + 9) is True
    assert store.key_by_digest(record.digest) == replace(record, revoked_at=NOW + 5)


def test_revoking_an_unknown_key_is_false_and_changes_nothing(store: Store) -> None:
    record = key_record()
    store.create_key(record)
    assert store.revoke_key("key_ffffffffffffffff", NOW) is False
    assert store.list_keys(None) == [record]


def test_a_touch_records_the_last_use_and_never_moves_it_back(store: Store) -> None:
    record = key_record()
    store.create_key(record)
    store.touch_key(record.id, NOW + 60_000)
    store.touch_key(record.id, NOW + 30_000)  # a slower API process's older touch
    assert store.key_by_digest(record.digest) == replace(record, last_used_at=NOW + 60_000)
    store.touch_key(record.id, NOW + 120_000)
    found = store.key_by_digest(record.digest)
    assert found is not None and found.last_used_at == NOW + 120_000


def test_touching_an_unknown_key_changes_nothing(store: Store) -> None:
    record = key_record()
    store.create_key(record)
    store.touch_key("key_ffffffffffffffff", NOW)
    assert store.list_keys(None) == [record]


def test_keys_survive_reopening_the_store(
    store: Store, request: pytest.FixtureRequest, adapter: str, tmp_path: Path
) -> None:
    """Opening the store again (as every API process and command does) keeps the keys."""
    record = key_record()
    store.create_key(record)
    reopened = open_adapter(request, adapter, tmp_path)
    try:
        assert reopened.list_keys(None) == [record]
        assert reopened.key_by_digest(record.digest) == record
    finally:
        reopened.close()
