"""notifyctl/logs.py: the JSON line's fields, the text line unchanged, secrets masked in both."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from notifyctl import logs
from notifyctl.logs import JsonFormatter, Redactor, TextFormatter, about, rfc3339, secrets_of
from tests.channels.test_channels import notification as make_notification
from tests.conftest import make_config


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("notifyctl.worker").makeRecord(
        "notifyctl.worker", logging.WARNING, __file__, 1, message, args, None, extra=extra
    )
    made.created = 1_796_285_986.013  # 2026-12-03T08:19:46.013Z
    return made


def test_a_json_line_has_the_identity_the_message_and_the_extra_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logs, "IDENTITY", {"role": "worker", "worker": 3, "worker_id": None})
    line = JsonFormatter(Redactor())
    entry = json.loads(line.format(record("Retry attempt %d", 2, event="retry_scheduled")))
    assert entry == {
        "time": "2026-12-03T08:19:46.013Z",
        "level": "warning",
        "logger": "notifyctl.worker",
        "role": "worker",
        "worker": 3,
        "pid": entry["pid"],
        "message": "Retry attempt 2",
        "event": "retry_scheduled",
    }


def test_an_exception_is_a_field_of_its_line_not_lines_of_its_own() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        failed = record("delivery raised")
        failed.exc_info = __import__("sys").exc_info()
    text = JsonFormatter(Redactor()).format(failed)
    assert "\n" not in text and "ValueError: boom" in json.loads(text)["exception"]


def test_the_text_line_keeps_its_wording() -> None:
    line = TextFormatter(Redactor()).format(record("Lock expired on %s", "01ABC"))
    assert " WARNING notifyctl.worker[" in line and line.endswith("] Lock expired on 01ABC")


def test_url_passwords_and_configured_secrets_are_masked_in_both_formats() -> None:
    redact = Redactor(["whsec_abcdefgh", "short"])
    said = record("cannot reach amqp://app:hunter2pw@mq:5672/ (whsec_abcdefgh) short")
    for formatter in (JsonFormatter(redact), TextFormatter(redact)):
        line = formatter.format(said)
        assert "hunter2pw" not in line and "whsec_abcdefgh" not in line
        assert "amqp://app:***@mq:5672/" in line and "short" in line  # too short to mask


def test_secrets_of_a_config_are_its_credentials(tmp_path: Path) -> None:
    config = make_config(
        tmp_path,
        api_keys="key-one-123456,key-two-654321",
        webhook_secret="whsec_c2VjcmV0c2VjcmV0",
        smtp_url="smtp://u:mailpassword@relay:587",
    )
    found = secrets_of(config)
    assert {"key-one-123456", "key-two-654321", "whsec_c2VjcmV0c2VjcmV0", "mailpassword"} <= set(
        found
    )


def test_about_gives_the_notification_fields_and_a_destination_without_the_path() -> None:
    notification = make_notification(channel="webhook", to="https://hooks.example.com/a/secret")
    fields = about(notification, "delivered", latency_s=0.5)
    assert fields["destination"] == "https://hooks.example.com:443"
    assert fields["notification_id"] == notification.id and fields["latency_s"] == 0.5
    assert {"event", "attempt", "channel", "tenant"} <= set(fields)


def test_rfc3339_is_utc_to_the_millisecond() -> None:
    assert rfc3339(0.5) == "1970-01-01T00:00:00.500Z"


def test_an_error_before_logging_is_set_up_is_still_one_json_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    logs.error_record("NOTIFYCTL_LOG_LEVEL: must be one of ...", event="cannot_start")
    entry = json.loads(capsys.readouterr().err)
    assert entry["level"] == "error" and entry["event"] == "cannot_start"
