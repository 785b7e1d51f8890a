"""The provider channels' settings: credentials from ``*_FILE``, masked when shown, bad URLs
named without echoing a password; and which channels a deployment offers."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifyctl import channels
from notifyctl.config import load, masked
from notifyctl.config.settings import BY_NAME
from notifyctl.errors import ConfigError
from tests.conftest import make_config

SMS = {
    "sms_url": "https://sms.example.com", "sms_account_sid": "AC1", "sms_auth_token": "t0ken",
    "sms_from": "+15550000000",
}  # fmt: skip


def test_a_credential_may_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("s3cret-token\n")
    config = load({}, {"NOTIFYCTL_SMS_AUTH_TOKEN_FILE": str(secret)})
    assert config.sms_auth_token == "s3cret-token"
    # the variable itself wins over its file
    both = {"NOTIFYCTL_SMS_AUTH_TOKEN_FILE": str(secret), "NOTIFYCTL_SMS_AUTH_TOKEN": "direct"}
    assert load({}, both).sms_auth_token == "direct"


def test_an_unreadable_credential_file_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="NOTIFYCTL_SMTP_URL_FILE: cannot read"):
        load({}, {"NOTIFYCTL_SMTP_URL_FILE": str(tmp_path / "missing")})


def test_only_credentials_are_read_from_files(tmp_path: Path) -> None:
    (tmp_path / "from").write_text("x@example.com")
    assert load({}, {"NOTIFYCTL_EMAIL_FROM_FILE": str(tmp_path / "from")}).email_from == ""


def test_credentials_are_masked_when_shown() -> None:
    assert masked(BY_NAME["sms_auth_token"], "t0ken") == "********"
    assert masked(BY_NAME["smtp_url"], "smtp://u:pw@mail:587") == "smtp://u:***@mail:587"
    assert masked(BY_NAME["sms_auth_token"], "") == ""
    assert masked(BY_NAME["sms_from"], "+15550000000") == "+15550000000"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://u:hunter2@mail:25", "smtp://"),
        ("smtp://u:hunter2@mail:99999", "not a valid URL"),
        ("smtp://u:hunter2@mail:25?starttls=maybe", "starttls=off"),
        ("smtp://u:hunter2@mail:25?verify=no", "starttls=off"),
    ],
)
def test_a_bad_smtp_url_is_named_without_its_password(url: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load({}, {"NOTIFYCTL_SMTP_URL": url})
    assert says in str(raised.value) and "hunter2" not in str(raised.value)


def test_provider_urls_take_names_or_http_urls() -> None:
    assert load({}, {"NOTIFYCTL_APNS_URL": "Sandbox"}).apns_url == "sandbox"
    assert load({}, {"NOTIFYCTL_APNS_URL": "https://127.0.0.1:8443/"}).apns_url == (
        "https://127.0.0.1:8443"
    )
    with pytest.raises(ConfigError, match="NOTIFYCTL_FCM_URL"):
        load({}, {"NOTIFYCTL_FCM_URL": "fcm.googleapis.com"})


def test_webhook_and_log_are_always_offered(tmp_path: Path) -> None:
    assert channels.offered(make_config(tmp_path)) == ("webhook", "log")


def test_a_provider_channel_is_offered_only_with_every_setting_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(channels.BUILDERS, "sms", "notifyctl.channels.sms")
    assert "sms" in channels.offered(make_config(tmp_path, **SMS))
    partial = {**SMS, "sms_auth_token": ""}
    assert "sms" not in channels.offered(make_config(tmp_path, **partial))
    assert channels.missing_settings(make_config(tmp_path, **partial), "sms") == [
        "NOTIFYCTL_SMS_AUTH_TOKEN"
    ]


def test_a_channel_without_a_builder_is_not_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(channels.BUILDERS, "sms", raising=False)
    assert "sms" not in channels.offered(make_config(tmp_path, **SMS))
