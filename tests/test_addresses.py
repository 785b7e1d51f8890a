"""Each channel's address rules and content rules, as intake applies them."""

from __future__ import annotations

import pytest

from notifyctl.addresses import MAX_SMS_BODY, address_problem, content_problem

GOOD = [
    ("webhook", "https://hooks.example.com/n?x=1"),
    ("email", "ada@example.com"),
    ("email", "first.last+tag@mail.example.co.uk"),
    ("apns", "a1" * 32),
    ("apns", "AB" * 100),
    ("fcm", "dQw4w9WgXcQ:APA91bH" + "x" * 140),
    ("sms", "+15551234567"),
    ("sms", "+447911123456"),
    ("log", None),
    ("log", "anything"),
]
BAD = [
    ("webhook", None, "required"),
    ("webhook", "ftp://example.com", "http"),
    ("email", None, "required"),
    ("email", "ada", "email address"),
    ("email", "ada@localhost", "email address"),
    ("email", "Ada <ada@example.com>", "email address"),
    ("email", "ada@@example.com", "email address"),
    ("email", "a" * 250 + "@example.com", "email address"),
    ("email", "ada@example.com\r\nBcc: all@example.com", "email address"),
    ("apns", "a1" * 31, "device token"),
    ("apns", "zz" * 32, "device token"),
    ("apns", "a" * 65, "device token"),
    ("fcm", "short", "registration token"),
    ("fcm", "has spaces in it and is long enough", "registration token"),
    ("sms", "5551234567", "E.164"),
    ("sms", "+05551234567", "E.164"),
    ("sms", "+1555123456789012", "E.164"),
    ("sms", "+1 555 123 4567", "E.164"),
]


@pytest.mark.parametrize(("channel", "to"), GOOD)
def test_good_addresses_pass(channel: str, to: str | None) -> None:
    assert address_problem(channel, to) is None


@pytest.mark.parametrize(("channel", "to", "says"), BAD)
def test_bad_addresses_are_named(channel: str, to: str | None, says: str) -> None:
    problem = address_problem(channel, to)
    assert problem is not None and says in problem


def test_an_sms_needs_a_body_that_fits_ten_segments() -> None:
    assert content_problem("sms", None, None) == (
        "body", "is required for the sms channel (the text sent)",
    )  # fmt: skip
    assert content_problem("sms", None, "x" * MAX_SMS_BODY) is None
    field, why = content_problem("sms", None, "x" * (MAX_SMS_BODY + 1)) or ("", "")
    assert field == "body" and str(MAX_SMS_BODY) in why


def test_an_email_needs_a_subject_or_a_body() -> None:
    assert content_problem("email", None, None) is not None
    assert content_problem("email", "Hello", None) is None
    assert content_problem("email", None, "text") is None
    assert content_problem("webhook", None, None) is None


def test_an_email_may_be_html_only() -> None:
    assert content_problem("email", None, None, "<p>Hello</p>") is None
