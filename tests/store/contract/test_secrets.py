"""The store contract, each tenant's webhook signing secrets: newest first, at most two active
(a rotation), retiring keeps the newest, and tenants never see each other's."""

from __future__ import annotations

from notifyctl.store import Store
from tests.store.contract.builders import NOW


def test_a_tenant_without_secrets_has_none(store: Store) -> None:
    assert store.webhook_secrets("acme") == []


def test_a_rotation_keeps_the_new_and_the_previous_secret_newest_first(store: Store) -> None:
    store.add_webhook_secret("acme", "whsec_first", NOW)
    assert store.webhook_secrets("acme") == ["whsec_first"]
    store.add_webhook_secret("acme", "whsec_second", NOW + 1)
    assert store.webhook_secrets("acme") == ["whsec_second", "whsec_first"]
    store.add_webhook_secret("acme", "whsec_third", NOW + 2)  # the oldest goes
    assert store.webhook_secrets("acme") == ["whsec_third", "whsec_second"]


def test_retiring_keeps_only_the_newest(store: Store) -> None:
    store.add_webhook_secret("acme", "whsec_old", NOW)
    store.add_webhook_secret("acme", "whsec_new", NOW + 1)
    assert store.retire_webhook_secrets("acme") == 1
    assert store.webhook_secrets("acme") == ["whsec_new"]
    assert store.retire_webhook_secrets("acme") == 0


def test_two_secrets_added_in_one_millisecond_keep_their_order(store: Store) -> None:
    store.add_webhook_secret("acme", "whsec_a", NOW)
    store.add_webhook_secret("acme", "whsec_b", NOW)
    assert store.webhook_secrets("acme") == ["whsec_b", "whsec_a"]


def test_tenants_never_see_each_others_secrets(store: Store) -> None:
    store.add_webhook_secret("acme", "whsec_acme", NOW)
    store.add_webhook_secret("globex", "whsec_globex", NOW)
    store.retire_webhook_secrets("globex")
    assert store.webhook_secrets("acme") == ["whsec_acme"]
    assert store.webhook_secrets("globex") == ["whsec_globex"]
