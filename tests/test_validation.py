"""Validating one notification request: accepted bodies, and errors naming each bad field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from notifyctl.model import Priority
from notifyctl.validation import (
    FIELDS,
    MAX_BODY_LENGTH,
    MAX_DATA_BYTES,
    MAX_DATA_DEPTH,
    MAX_TITLE_LENGTH,
    FieldError,
    Invalid,
    parse_notification,
    request_hash,
)

NOW_DT = datetime(2024, 3, 1, 12, 0, 0, tzinfo=UTC)
NOW = int(NOW_DT.timestamp() * 1000)
DEFAULT_ATTEMPTS = 3
WEBHOOK = {"user_id": "user-1", "channel": "webhook", "to": "https://example.com/hooks/1"}
LOG = {"user_id": "user-1", "channel": "log"}


def parse(body: Any, header_key: str | None = None) -> Any:
    return parse_notification(body, NOW, DEFAULT_ATTEMPTS, header_key)


def errors_of(body: Any, header_key: str | None = None) -> list[FieldError]:
    with pytest.raises(Invalid) as caught:
        parse(body, header_key)
    assert caught.value.errors, "Invalid must carry at least one FieldError"
    return caught.value.errors


def fields_of(body: Any, header_key: str | None = None) -> set[str]:
    return {error.field for error in errors_of(body, header_key)}


def nested(levels: int) -> dict[str, Any]:
    """An object ``levels`` deep: nested(1) == {}."""
    value: dict[str, Any] = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


# --- accepted bodies -------------------------------------------------------------------------


def test_a_minimal_webhook_body_is_accepted_with_defaults() -> None:
    parsed = parse(dict(WEBHOOK))
    assert parsed.user_id == "user-1"
    assert parsed.channel == "webhook"
    assert parsed.to == "https://example.com/hooks/1"
    assert parsed.title is None
    assert parsed.body is None
    assert parsed.data == {}
    assert parsed.priority is Priority.NORMAL
    assert parsed.scheduled_for == NOW
    assert parsed.max_attempts == DEFAULT_ATTEMPTS
    assert parsed.idempotency_key is None
    assert parsed.created_at == NOW
    assert len(parsed.id) == 26


def test_a_minimal_log_body_is_accepted_without_a_destination() -> None:
    parsed = parse(dict(LOG))
    assert parsed.channel == "log"
    assert parsed.to is None
    assert parsed.priority is Priority.NORMAL
    assert parsed.scheduled_for == NOW


def test_the_default_max_attempts_comes_from_the_caller() -> None:
    assert parse_notification(dict(LOG), NOW, 7).max_attempts == 7


def test_every_field_is_taken_when_valid() -> None:
    parsed = parse(
        {
            **WEBHOOK,
            "title": "Hi",
            "body": "There",
            "data": {"order": 42, "tags": ["a", "b"]},
            "priority": "high",
            "scheduled_for": "2024-03-02T12:00:00Z",
            "idempotency_key": "order-42",
            "max_attempts": 5,
        }
    )
    assert parsed.title == "Hi"
    assert parsed.body == "There"
    assert parsed.data == {"order": 42, "tags": ["a", "b"]}
    assert parsed.priority is Priority.HIGH
    assert parsed.scheduled_for == NOW + 24 * 3600 * 1000
    assert parsed.idempotency_key == "order-42"
    assert parsed.max_attempts == 5


def test_each_accepted_notification_gets_its_own_id() -> None:
    assert parse(dict(LOG)).id != parse(dict(LOG)).id


@pytest.mark.parametrize(
    ("given_priority", "expected"),
    [
        ("high", Priority.HIGH),
        ("normal", Priority.NORMAL),
        ("low", Priority.LOW),
        ("LOW", Priority.LOW),
    ],
)
def test_priority_is_one_of_high_normal_low(given_priority: str, expected: Priority) -> None:
    assert parse({**LOG, "priority": given_priority}).priority is expected


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-03-01T13:00:00Z", datetime(2024, 3, 1, 13, tzinfo=UTC)),
        ("2024-03-01T13:00:00+00:00", datetime(2024, 3, 1, 13, tzinfo=UTC)),
        ("2024-03-01T15:00:00+02:00", datetime(2024, 3, 1, 13, tzinfo=UTC)),
        ("2024-03-01T13:00:00.250Z", datetime(2024, 3, 1, 13, 0, 0, 250_000, tzinfo=UTC)),
        ("2024-03-01 13:00:00Z", datetime(2024, 3, 1, 13, tzinfo=UTC)),
    ],
)
def test_scheduled_for_is_rfc_3339_with_an_offset(stamp: str, expected: datetime) -> None:
    assert parse({**LOG, "scheduled_for": stamp}).scheduled_for == ms(expected)


def test_scheduled_for_in_the_past_is_accepted_as_due() -> None:
    last_month = datetime.fromtimestamp(NOW / 1000, UTC) - timedelta(days=30)
    assert parse({**LOG, "scheduled_for": last_month.isoformat()}).scheduled_for < NOW


def test_scheduled_for_more_than_a_year_ago_is_refused() -> None:
    assert fields_of({**LOG, "scheduled_for": "0421-08-28T19:33:31Z"}) == {"scheduled_for"}


def test_scheduled_for_within_a_year_is_accepted() -> None:
    ahead = NOW_DT + timedelta(days=365)
    assert parse({**LOG, "scheduled_for": ahead.isoformat()}).scheduled_for == ms(ahead)


@pytest.mark.parametrize("attempts", [1, 100])
def test_max_attempts_bounds_are_inclusive(attempts: int) -> None:
    assert parse({**LOG, "max_attempts": attempts}).max_attempts == attempts


def test_null_optional_fields_mean_absent() -> None:
    nulls = {"title": None, "body": None, "data": None, "scheduled_for": None}
    parsed = parse({**LOG, **nulls, "priority": None, "max_attempts": None})
    assert parsed.title is None
    assert parsed.data == {}
    assert parsed.scheduled_for == NOW
    assert parsed.priority is Priority.NORMAL
    assert parsed.max_attempts == parse(LOG).max_attempts


def test_data_as_deep_as_allowed_is_accepted() -> None:
    assert parse({**LOG, "data": nested(MAX_DATA_DEPTH)}).data == nested(MAX_DATA_DEPTH)


def test_title_and_body_at_their_limits_are_accepted() -> None:
    parsed = parse({**LOG, "title": "t" * MAX_TITLE_LENGTH, "body": "b" * MAX_BODY_LENGTH})
    assert len(parsed.title) == MAX_TITLE_LENGTH
    assert len(parsed.body) == MAX_BODY_LENGTH


# --- idempotency keys ------------------------------------------------------------------------


def test_the_idempotency_key_header_is_used_when_the_body_has_none() -> None:
    assert parse(dict(LOG), header_key="k-1").idempotency_key == "k-1"


def test_the_same_idempotency_key_in_header_and_body_is_accepted() -> None:
    assert parse({**LOG, "idempotency_key": "k-1"}, header_key="k-1").idempotency_key == "k-1"


def test_different_idempotency_keys_in_header_and_body_are_rejected() -> None:
    errors = errors_of({**LOG, "idempotency_key": "k-1"}, header_key="k-2")
    assert [e.field for e in errors] == ["idempotency_key"]
    assert "Idempotency-Key header" in errors[0].message


BAD_KEYS = ["", "k" * 257, "k" * 100_000, "tab\there", "new\nline", "nul\x00", "bell\x07"]
KEY_IDS = ["empty", "257", "100000", "tab", "newline", "nul", "bell"]


@pytest.mark.parametrize("key", BAD_KEYS, ids=KEY_IDS)
def test_a_bad_idempotency_key_header_is_refused_naming_the_header(key: str) -> None:
    errors = errors_of(dict(LOG), header_key=key)
    assert [e.field for e in errors] == ["Idempotency-Key"]
    assert "1 to 256 printable" in errors[0].message


@pytest.mark.parametrize("key", BAD_KEYS, ids=KEY_IDS)
def test_the_body_field_follows_the_same_key_rule(key: str) -> None:
    assert fields_of({**LOG, "idempotency_key": key}) == {"idempotency_key"}


def test_a_header_key_must_be_ascii_as_http_headers_are_bytes() -> None:
    assert fields_of(dict(LOG), header_key="clé") == {"Idempotency-Key"}
    assert parse({**LOG, "idempotency_key": "clé"}).idempotency_key == "clé"


def test_keys_of_1_and_256_printable_characters_with_spaces_are_accepted() -> None:
    for key in ("k", "k" * 256, "order 42 / retry #1 ~!"):
        assert parse(dict(LOG), header_key=key).idempotency_key == key


def test_a_bad_header_is_reported_with_the_bad_fields_of_the_body() -> None:
    assert fields_of({"channel": "log"}, header_key="") == {"user_id", "Idempotency-Key"}
    assert fields_of([], header_key="") == {"", "Idempotency-Key"}


# --- each bad field names itself -------------------------------------------------------------


BAD_FIELDS: list[tuple[str, dict[str, Any], str]] = [
    ("missing user_id", {"channel": "log"}, "user_id"),
    ("null user_id", {"user_id": None, "channel": "log"}, "user_id"),
    ("empty user_id", {"user_id": "   ", "channel": "log"}, "user_id"),
    ("numeric user_id", {"user_id": 42, "channel": "log"}, "user_id"),
    ("too long user_id", {"user_id": "u" * 257, "channel": "log"}, "user_id"),
    ("missing channel", {"user_id": "u"}, "channel"),
    ("unknown channel", {"user_id": "u", "channel": "pigeon"}, "channel"),
    ("numeric channel", {"user_id": "u", "channel": 1}, "channel"),
    ("unknown field", {**LOG, "userId": "u"}, "userId"),
    ("webhook without to", {"user_id": "u", "channel": "webhook"}, "to"),
    ("webhook to not a string", {**WEBHOOK, "to": 80}, "to"),
    ("webhook to ftp", {**WEBHOOK, "to": "ftp://example.com/x"}, "to"),
    ("webhook to mailto", {**WEBHOOK, "to": "mailto:a@example.com"}, "to"),
    ("webhook to no scheme", {**WEBHOOK, "to": "example.com/hook"}, "to"),
    ("webhook to no host", {**WEBHOOK, "to": "http://"}, "to"),
    ("webhook to too long", {**WEBHOOK, "to": "https://e.com/" + "a" * 2048}, "to"),
    ("title not a string", {**LOG, "title": ["a"]}, "title"),
    ("title too long", {**LOG, "title": "t" * (MAX_TITLE_LENGTH + 1)}, "title"),
    ("body not a string", {**LOG, "body": {"a": 1}}, "body"),
    ("body too long", {**LOG, "body": "b" * (MAX_BODY_LENGTH + 1)}, "body"),
    ("data a list", {**LOG, "data": [1, 2]}, "data"),
    ("data a string", {**LOG, "data": "{}"}, "data"),
    ("data too deep", {**LOG, "data": nested(MAX_DATA_DEPTH + 1)}, "data"),
    ("data too deep in a list", {**LOG, "data": {"a": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}, "data"),
    ("data too big", {**LOG, "data": {"blob": "x" * MAX_DATA_BYTES}}, "data"),
    ("priority unknown", {**LOG, "priority": "urgent"}, "priority"),
    ("priority numeric", {**LOG, "priority": 2}, "priority"),
    (
        "scheduled_for without offset",
        {**LOG, "scheduled_for": "2024-03-02T12:00:00"},
        "scheduled_for",
    ),
    ("scheduled_for date only", {**LOG, "scheduled_for": "2024-03-02"}, "scheduled_for"),
    ("scheduled_for garbage", {**LOG, "scheduled_for": "tomorrow at noon"}, "scheduled_for"),
    ("scheduled_for empty", {**LOG, "scheduled_for": ""}, "scheduled_for"),
    ("scheduled_for a number", {**LOG, "scheduled_for": NOW}, "scheduled_for"),
    (
        "scheduled_for over a year ahead",
        {**LOG, "scheduled_for": "2025-04-01T12:00:00Z"},
        "scheduled_for",
    ),
    ("scheduled_for far future", {**LOG, "scheduled_for": "9999-12-31T23:59:59Z"}, "scheduled_for"),
    ("max_attempts bool", {**LOG, "max_attempts": True}, "max_attempts"),
    ("max_attempts zero", {**LOG, "max_attempts": 0}, "max_attempts"),
    ("max_attempts 101", {**LOG, "max_attempts": 101}, "max_attempts"),
    ("max_attempts negative", {**LOG, "max_attempts": -1}, "max_attempts"),
    ("max_attempts float", {**LOG, "max_attempts": 3.0}, "max_attempts"),
    ("max_attempts string", {**LOG, "max_attempts": "3"}, "max_attempts"),
    ("idempotency_key numeric", {**LOG, "idempotency_key": 7}, "idempotency_key"),
    ("idempotency_key too long", {**LOG, "idempotency_key": "k" * 257}, "idempotency_key"),
]


@pytest.mark.parametrize(
    ("body", "field"),
    [(body, field) for _, body, field in BAD_FIELDS],
    ids=[c[0] for c in BAD_FIELDS],
)
def test_a_bad_field_is_reported_by_its_name(body: dict[str, Any], field: str) -> None:
    errors = errors_of(body)
    assert [error.field for error in errors] == [field]
    assert errors[0].message
    assert field in str(Invalid(errors))


@pytest.mark.parametrize(
    "to",
    [
        "http://[::1",  # an unclosed IPv6 literal
        "http://[not-an-address]/",
        "http://exa\uff03mple.com/",  # a netloc that NFKC-normalises into a different host
    ],
)
def test_a_webhook_url_that_cannot_be_parsed_is_a_field_error_not_a_crash(to: str) -> None:
    assert fields_of({**WEBHOOK, "to": to}) == {"to"}


def test_a_log_notification_may_carry_any_destination_string() -> None:
    assert parse({**LOG, "to": "stdout"}).to == "stdout"


def test_error_messages_say_what_is_wrong() -> None:
    messages = {e.field: e.message for e in errors_of({"channel": "pigeon", "max_attempts": 0})}
    assert messages["user_id"] == "is required"
    assert "webhook" in messages["channel"] and "log" in messages["channel"]
    assert "between 1 and 100" in messages["max_attempts"]


def test_several_bad_fields_are_all_reported_together() -> None:
    body = {
        "user_id": 1,
        "channel": "webhook",
        "to": "ftp://x",
        "title": 5,
        "data": [],
        "priority": "urgent",
        "scheduled_for": "never",
        "max_attempts": 0,
        "extra": True,
    }
    assert fields_of(body) == {
        "user_id",
        "to",
        "title",
        "data",
        "priority",
        "scheduled_for",
        "max_attempts",
        "extra",
    }


def test_each_unknown_field_is_reported() -> None:
    assert fields_of({**LOG, "a": 1, "b": 2}) == {"a", "b"}


@pytest.mark.parametrize("body", [[], "text", 42, None, True, [LOG]])
def test_a_body_that_is_not_an_object_is_rejected(body: Any) -> None:
    errors = errors_of(body)
    assert len(errors) == 1
    assert "JSON object" in errors[0].message


def test_field_errors_render_as_json() -> None:
    assert FieldError("user_id", "is required").as_json() == {
        "field": "user_id",
        "message": "is required",
    }


# --- request fingerprint ---------------------------------------------------------------------


def test_request_hash_does_not_depend_on_key_order() -> None:
    first = {"user_id": "u", "channel": "log", "data": {"a": 1, "b": [1, {"x": 1, "y": 2}]}}
    second = {"data": {"b": [1, {"y": 2, "x": 1}], "a": 1}, "channel": "log", "user_id": "u"}
    assert request_hash(first) == request_hash(second)


def test_request_hash_differs_when_content_differs() -> None:
    assert request_hash({**LOG, "title": "a"}) != request_hash({**LOG, "title": "b"})
    assert request_hash({**LOG, "data": {"l": [1, 2]}}) != request_hash(
        {**LOG, "data": {"l": [2, 1]}}
    )


def test_the_parsed_notification_carries_the_request_hash() -> None:
    body = {**LOG, "title": "x"}
    assert parse(body).request_hash == request_hash(dict(reversed(list(body.items()))))


def test_request_hash_accepts_a_lone_surrogate_from_a_json_escape() -> None:
    assert len(request_hash({**LOG, "title": "\ud800"})) == 64


@pytest.mark.parametrize("field", ["user_id", "title", "body", "idempotency_key"])
def test_a_lone_surrogate_in_a_text_field_is_refused_by_name(field: str) -> None:
    # JSON's "\ud800" escape parses to a string no store can encode (it was a 500 at insert).
    (error,) = errors_of({**LOG, field: "ok \ud800"})
    assert error.field == field and "lone surrogate" in error.message


def test_proper_non_ascii_text_is_accepted() -> None:
    assert parse({**LOG, "title": "héllo 🚀 \u4e16\u754c"}).title == "héllo 🚀 世界"


# --- no input crashes the validator ----------------------------------------------------------

ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=()), max_size=30)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | ANY_TEXT,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(ANY_TEXT, children, max_size=4)
    ),
    max_leaves=20,
)
#: values tuned to reach deeper into each field's checks than arbitrary JSON does
NEAR_MISSES = st.one_of(
    st.builds(lambda rest: "http://" + rest, ANY_TEXT),
    st.builds(lambda rest: "https://[" + rest, ANY_TEXT),
    st.builds(lambda rest: "2024-03-01T" + rest, ANY_TEXT),
    st.sampled_from(
        ["high", "normal", "low", "webhook", "log", "", " ", "T", "0001-01-01T00:00:00Z"]
    ),
    st.integers(min_value=-5, max_value=200),
)
BODY_KEYS = st.sampled_from(sorted(FIELDS)) | ANY_TEXT


@settings(max_examples=400, derandomize=True, deadline=None)
@given(body=JSON_VALUES | st.dictionaries(BODY_KEYS, JSON_VALUES | NEAR_MISSES, max_size=12))
def test_any_json_body_is_either_accepted_or_invalid(body: Any) -> None:
    try:
        parse(body)
    except Invalid as exc:
        assert exc.errors
        assert all(isinstance(error.field, str) and error.message for error in exc.errors)


@settings(max_examples=600, derandomize=True, deadline=None)
@given(
    field=st.sampled_from(sorted(FIELDS)),
    value=JSON_VALUES | NEAR_MISSES,
    base=st.sampled_from([WEBHOOK, LOG]),
)
@example(field="to", value="http://[::1", base=WEBHOOK)
def test_any_json_value_in_any_single_field_is_accepted_or_names_that_field(
    field: str, value: Any, base: dict[str, Any]
) -> None:
    body = {**base, field: value}
    try:
        parse(body)
    except Invalid as exc:
        # Switching a log notification to the webhook channel also makes its missing ``to`` wrong.
        allowed = {field, "to"} if field == "channel" else {field}
        reported = {error.field for error in exc.errors}
        assert field in reported or reported == {"to"}
        assert reported <= allowed


def test_expiry_is_expires_at_or_ttl_seconds_in_the_future_after_scheduled_for() -> None:
    now = 1_800_000_000_000
    base = {"user_id": "u", "channel": "log", "body": "b"}
    assert parse_notification({**base, "ttl_seconds": 30}, now, 3).expires_at == now + 30_000
    at = parse_notification({**base, "expires_at": "2027-01-15T09:00:00Z"}, now, 3).expires_at
    assert at == now + 3_600_000  # now is 2027-01-15T08:00:00Z
    assert parse_notification(base, now, 3).expires_at is None
    bad = [
        ({"ttl_seconds": 0}, "ttl_seconds"), ({"ttl_seconds": True}, "ttl_seconds"),
        ({"ttl_seconds": 10**9}, "ttl_seconds"), ({"ttl_seconds": "5"}, "ttl_seconds"),
        ({"expires_at": "2020-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "soon"}, "expires_at"), ({"expires_at": 5}, "expires_at"),
        ({"expires_at": "2027-01-15T08:00:00Z"}, "expires_at"),  # now is not the future
        ({"ttl_seconds": 5, "expires_at": "2027-01-15T09:00:00Z"}, "ttl_seconds"),
        ({"ttl_seconds": 5, "scheduled_for": "2027-01-15T10:00:00Z"}, "ttl_seconds"),
        ({"expires_at": "2027-01-15T09:00:00Z", "scheduled_for": "2027-01-15T10:00:00Z"},
         "expires_at"),
    ]  # fmt: skip
    for fields, field in bad:
        with pytest.raises(Invalid) as refused:
            parse_notification({**base, **fields}, now, 3)
        assert [e.field for e in refused.value.errors] == [field], fields
