"""A recipient from a request body: each field's rule, every bad field named at once, PATCH as a
JSON merge patch (RFC 7396) over the stored one, and the round trip through the stored fields."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from notifyctl.preferences import Preferences, QuietHours
from notifyctl.recipient_json import from_fields, recipient_json, to_fields
from notifyctl.recipients import (
    MAX_DEVICES,
    MAX_WEBHOOKS,
    Device,
    Recipient,
    merge_patch,
    parse_recipient,
)
from notifyctl.validation import Invalid

APNS = "ab" * 32
FCM = "fcm-token_" + "x" * 30
FULL: dict[str, Any] = {
    "email": "ada@example.com", "phone": "+15551234567",
    "devices": [{"platform": "apns", "token": APNS, "app": "com.example.app"},
                {"platform": "fcm", "token": FCM}],
    "webhooks": ["https://hooks.example.com/ada"], "locale": "pt-BR",
    "timezone": "Europe/Berlin",
    "preferences": {"opted_out": ["marketing"], "channels": {"billing": ["email", "push"]}},
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}  # fmt: skip


def parse(body: Any, **kwargs: Any) -> Recipient:
    return parse_recipient("u1", body, tenant="acme", now=1_000, **kwargs)


def fields_of(body: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(Invalid) as caught:
        parse(body, **kwargs)
    return [error.field for error in caught.value.errors]


def test_a_full_recipient_is_parsed_field_by_field() -> None:
    recipient = parse(FULL)
    assert recipient.tenant == "acme" and recipient.user_id == "u1"
    assert recipient.devices == (Device("apns", APNS, "com.example.app"), Device("fcm", FCM))
    assert recipient.preferences == Preferences(
        frozenset({"marketing"}), {"billing": frozenset({"email", "push"})}
    )
    assert recipient.quiet_hours == QuietHours(dt.time(22), dt.time(7))
    assert recipient.created_at == recipient.updated_at == 1_000


def test_an_empty_body_is_a_recipient_with_nothing_yet() -> None:
    assert parse({}) == Recipient("acme", "u1", created_at=1_000, updated_at=1_000)


def test_the_stored_fields_round_trip() -> None:
    recipient = parse(FULL)
    assert to_fields(recipient) == {**FULL, "preferences": {
        "opted_out": ["marketing"], "channels": {"billing": ["email", "push"]}}}  # fmt: skip
    assert from_fields("acme", "u1", to_fields(recipient), 1_000, 1_000) == recipient


def test_the_api_shows_every_field_null_or_empty_when_absent() -> None:
    shown = recipient_json(parse({"email": "ada@example.com"}))
    assert shown["user_id"] == "u1" and shown["email"] == "ada@example.com"
    assert shown["phone"] is None and shown["quiet_hours"] is None
    assert shown["devices"] == [] and shown["webhooks"] == []
    assert shown["preferences"] == {"opted_out": [], "channels": {}}
    assert shown["created_at"] == "1970-01-01T00:00:01.000Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not an address"}, "email"),
        ({"phone": "555-1234"}, "phone"),
        ({"phone": "+0123"}, "phone"),
        ({"locale": "english please"}, "locale"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": 5}, "timezone"),
        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "quiet_hours"),
        ({"quiet_hours": {"start": "22:00"}}, "quiet_hours"),
        ({"devices": [{"platform": "wns", "token": APNS}]}, "devices[0].platform"),
        ({"devices": [{"platform": "apns", "token": "not-hex"}]}, "devices[0].token"),
        ({"devices": [{"platform": "fcm"}]}, "devices[0].token"),
        ({"devices": [{"platform": "fcm", "token": FCM, "colour": "red"}]}, "devices[0].colour"),
        ({"devices": [{"platform": "fcm", "token": FCM, "app": ""}]}, "devices[0].app"),
        ({"devices": ["a token"]}, "devices[0]"),
        ({"devices": {"platform": "fcm"}}, "devices"),
        ({"webhooks": ["ftp://example.com/"]}, "webhooks[0]"),
        ({"webhooks": ["https://a.example/", "https://a.example/"]}, "webhooks[1]"),
        ({"preferences": {"opted_out": "marketing"}}, "preferences.opted_out"),
        ({"preferences": {"opted_out": [""]}}, "preferences.opted_out[0]"),
        ({"preferences": {"channels": {"news": ["pigeon"]}}}, "preferences.channels.news"),
        ({"preferences": {"channels": ["email"]}}, "preferences.channels"),
        ({"preferences": {"mute": True}}, "preferences.mute"),
        ({"nickname": "Ada"}, "nickname"),
        ({"user_id": "u2"}, "user_id"),
    ],
)
def test_a_bad_field_is_named(body: dict[str, Any], field: str) -> None:
    assert fields_of(body) == [field]


def test_every_bad_field_is_named_at_once() -> None:
    body = {
        "email": "x",
        "timezone": "Nowhere/Else",
        "locale": "?",
        "devices": [{"platform": "apns", "token": "zz"}, {"platform": "x", "token": FCM}],
    }
    assert sorted(fields_of(body)) == sorted(
        ["email", "timezone", "locale", "devices[0].token", "devices[1].platform"]
    )  # fmt: skip


def test_devices_webhooks_and_categories_are_bounded() -> None:
    devices = [{"platform": "fcm", "token": f"{FCM}{n}"} for n in range(MAX_DEVICES)]
    assert len(parse({"devices": devices}).devices) == MAX_DEVICES
    too_many = devices + [{"platform": "fcm", "token": FCM}]
    with pytest.raises(Invalid) as caught:
        parse({"devices": too_many})
    (error,) = caught.value.errors
    assert error.field == "devices" and f"at most {MAX_DEVICES}" in error.message
    hooks = [f"https://example.com/{n}" for n in range(MAX_WEBHOOKS + 1)]
    assert fields_of({"webhooks": hooks}) == ["webhooks"]
    assert fields_of({"preferences": {"opted_out": [f"c{n}" for n in range(101)]}}) == [
        "preferences.opted_out"
    ]
    channels = {f"c{n}": ["email"] for n in range(101)}
    assert fields_of({"preferences": {"channels": channels}}) == ["preferences.channels"]
    assert fields_of({"preferences": {"opted_out": ["x" * 65]}}) == ["preferences.opted_out[0]"]


def test_a_repeated_device_token_is_refused() -> None:
    device = {"platform": "fcm", "token": FCM}
    assert fields_of({"devices": [device, device]}) == ["devices[1]"]


def test_a_lone_surrogate_is_refused_not_stored() -> None:
    assert fields_of({"preferences": {"opted_out": ["\ud800"]}}) == ["preferences.opted_out[0]"]


def test_the_user_id_is_checked() -> None:
    for bad in ("", "x" * 257, "a\nb"):
        with pytest.raises(Invalid) as caught:
            parse_recipient(bad, {}, tenant="acme", now=1)
        assert caught.value.errors[0].field == "user_id"


def test_a_body_that_is_not_an_object_is_refused() -> None:
    assert fields_of([FULL]) == [""]


# -- PATCH ----------------------------------------------------------------------------------------


def test_a_patch_merges_into_the_stored_recipient() -> None:
    stored = parse(FULL)
    patched = parse_recipient(
        "u1",
        {"email": None, "locale": "de", "preferences": {"channels": {"news": ["sms"]}}},
        tenant="acme", now=2_000, existing=stored, patch=True,
    )  # fmt: skip
    assert patched.email is None and patched.locale == "de"
    assert patched.phone == stored.phone and patched.devices == stored.devices
    assert patched.preferences.opted_out == frozenset({"marketing"})
    assert patched.preferences.channels == {
        "billing": frozenset({"email", "push"}), "news": frozenset({"sms"})
    }  # fmt: skip
    assert (patched.created_at, patched.updated_at) == (1_000, 2_000)


def test_a_patch_replaces_arrays_and_removes_nested_keys_with_null() -> None:
    stored = parse(FULL)
    body = {"devices": [], "preferences": {"channels": {"billing": None}}, "quiet_hours": None}
    patched = parse({**body}, existing=stored, patch=True)
    assert patched.devices == () and patched.quiet_hours is None
    assert patched.preferences.channels == {}


def test_a_patch_is_checked_like_a_put() -> None:
    stored = parse(FULL)
    assert fields_of({"timezone": "Atlantis/Capital"}, existing=stored, patch=True) == ["timezone"]
    # merged into the stored window: its end stays
    moved = parse({"quiet_hours": {"start": "23:00"}}, existing=stored, patch=True)
    assert moved.quiet_hours == QuietHours(dt.time(23), dt.time(7))


def test_merge_patch_follows_rfc_7396() -> None:
    # the examples of RFC 7396, appendix A, that keep to objects at the top
    assert merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert merge_patch({"a": "b"}, {"b": "c"}) == {"a": "b", "b": "c"}
    assert merge_patch({"a": "b"}, {"a": None}) == {}
    assert merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert merge_patch({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}) == {"a": {"b": "d"}}
    assert merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}


def test_a_patch_nesting_deeper_than_a_recipient_is_refused() -> None:
    deep: dict[str, Any] = {"x": 1}
    for _ in range(500):
        deep = {"preferences": deep}
    with pytest.raises(Invalid):
        parse(deep, existing=parse({}), patch=True)
