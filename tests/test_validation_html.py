"""The ``html`` field at intake: an email's HTML part, a string of at most MAX_HTML_LENGTH
characters; optional, and accepted (then ignored) on the other channels."""

from __future__ import annotations

from typing import Any

import pytest

from notifyctl.api.openapi import request_schema
from notifyctl.validation import MAX_HTML_LENGTH, Invalid, parse_notification

NOW = 1_800_000_000_000
EMAIL = {"user_id": "u1", "channel": "email", "to": "ada@example.com", "title": "Hi"}


def parse(**fields: Any) -> Any:
    return parse_notification({**EMAIL, **fields}, NOW, 5)


def test_html_is_taken_as_given() -> None:
    assert parse(html="<p>Hi</p>").html == "<p>Hi</p>"


def test_html_is_optional() -> None:
    assert parse().html is None and parse(html=None).html is None


def test_html_at_the_limit_is_accepted_and_one_more_is_refused() -> None:
    assert parse(html="x" * MAX_HTML_LENGTH).html == "x" * MAX_HTML_LENGTH
    with pytest.raises(Invalid) as refused:
        parse(html="x" * (MAX_HTML_LENGTH + 1))
    assert [e.field for e in refused.value.errors] == ["html"]
    assert str(MAX_HTML_LENGTH) in refused.value.errors[0].message


def test_html_must_be_a_string() -> None:
    with pytest.raises(Invalid) as refused:
        parse(html=["<p>"])
    assert [e.as_json()["field"] for e in refused.value.errors] == ["html"]


def test_html_takes_part_in_the_request_hash() -> None:
    assert parse(html="<p>a</p>").request_hash != parse(html="<p>b</p>").request_hash


def test_the_openapi_request_schema_names_html_with_its_limit() -> None:
    html = request_schema()["properties"]["html"]
    assert html["maxLength"] == MAX_HTML_LENGTH
