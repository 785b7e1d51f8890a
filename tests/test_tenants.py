"""Tenant names, scopes and key records: the rules every key and tenant is checked by."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifyctl.tenants import (
    ALL_SCOPES,
    DEFAULT_TENANT,
    KeyRecord,
    Scope,
    key_digest,
    parse_scopes,
    scopes_text,
    tenant_name,
)


@pytest.mark.parametrize("name", [DEFAULT_TENANT, "a", "acme-prod", "team_7", "0x", "a" * 63])
def test_valid_tenant_names_are_returned_as_given(name: str) -> None:
    assert tenant_name(name) == name


MALFORMED = ["", "a" * 64, "Acme", "-acme", "_acme", "acme.prod", "ac me", "acme\n", "x/1", "é"]


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_tenant_names_are_refused_saying_what_a_name_may_be(name: str) -> None:
    with pytest.raises(ValueError, match="1-63 characters") as raised:
        tenant_name(name)
    assert repr(name) in str(raised.value)


def test_scopes_are_parsed_from_a_comma_separated_list() -> None:
    assert parse_scopes("send,read") == {Scope.SEND, Scope.READ}
    assert parse_scopes(" cancel , admin ,") == {Scope.CANCEL, Scope.ADMIN}
    assert parse_scopes("send,send") == {Scope.SEND}


@pytest.mark.parametrize("text", ["send,write", "SEND", "all", "*"])
def test_an_unknown_scope_is_refused_naming_the_valid_ones(text: str) -> None:
    with pytest.raises(ValueError, match="the scopes are send, read, cancel, admin"):
        parse_scopes(text)


@pytest.mark.parametrize("text", ["", " , "])
def test_no_scope_at_all_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="no scope given"):
        parse_scopes(text)


@given(st.sets(st.sampled_from(list(Scope)), min_size=1))
def test_scopes_text_round_trips(scopes: set[Scope]) -> None:
    assert parse_scopes(scopes_text(frozenset(scopes))) == scopes


def test_a_key_record_is_active_until_it_expires_or_is_revoked() -> None:
    record = KeyRecord("key_1", "acme", "", ALL_SCOPES, key_digest("k"), 0, expires_at=100)
    assert [record.state(t) for t in (0, 99, 100)] == ["active", "active", "expired"]
    revoked = KeyRecord("key_1", "acme", "", ALL_SCOPES, key_digest("k"), 0, revoked_at=5)
    assert revoked.state(0) == "revoked" and not revoked.usable(0)


def test_the_digest_is_the_hex_sha256_of_the_key() -> None:
    expected = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert key_digest("") == expected
