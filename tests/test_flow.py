"""What a destination is (issue 17): a webhook's scheme, host and port (default ports filled in,
case folded, paths and queries ignored), a provider channel's provider."""

from __future__ import annotations

import pytest

from notifyctl.flow import destination_of


@pytest.mark.parametrize(
    ("channel", "to", "destination"),
    [
        ("webhook", "https://Hooks.Example.com/a?x=1", "https://hooks.example.com:443"),
        ("webhook", "https://hooks.example.com:443/b", "https://hooks.example.com:443"),
        ("webhook", "http://hooks.example.com/a", "http://hooks.example.com:80"),
        ("webhook", "http://127.0.0.1:8080/hook", "http://127.0.0.1:8080"),
        ("webhook", "http://[::1]:9/h", "http://::1:9"),
        ("webhook", "http://h:99999/", "webhook"),  # a malformed port: on its own
        ("webhook", None, "webhook"),
        ("email", "ada@example.com", "smtp"),
        ("apns", "ab" * 32, "apns"),
        ("fcm", "token", "fcm"),
        ("sms", "+15551234567", "sms"),
        ("log", None, "log"),
    ],
)
def test_destination_of(channel: str, to: str | None, destination: str) -> None:
    assert destination_of(channel, to) == destination
