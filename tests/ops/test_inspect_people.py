"""``notifyctl inspect recipient|message``: the real command line against a real SQLite store.
A recipient's device tokens show only their first 8 and last 4 characters (tables and JSON); a
message shows each of its notifications and the counts by status; unknown ids, and another
tenant's, exit 1 with a message; client text is shown as written, never read as markup."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.ids import new_id
from notifyctl.model import NewNotification, Outcome, Priority, Verdict, now_ms
from notifyctl.recipients import parse_recipient
from notifyctl.store import Store, open_store
from tests.conftest import make_config

LEASE = 600_000
APNS = "0123456789abcdef" * 4
FCM = "fcm-token_" + "x" * 30 + "END1"
MARKUP = "[bold]x[/bold]"
ADA: dict[str, Any] = {
    "email": "ada@example.com", "phone": "+15551234567", "locale": "de-AT",
    "timezone": "Europe/Vienna", "webhooks": ["https://example.test/ada"],
    "devices": [{"platform": "apns", "token": APNS, "app": "com.example.shop"},
                {"platform": "fcm", "token": FCM}],
    "preferences": {"opted_out": ["marketing"], "channels": {"orders": ["email", "push"]}},
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}  # fmt: skip
#: what the tables show of Ada and of her message m-1 (besides the notifications' ids)
RECIPIENT_SHOWS = (
    "01234567...cdef", "fcm-toke...END1", "com.example.shop", "Europe/Vienna", "22:00 to 07:00",
    "marketing", "email, push", "https://example.test/ada",
)  # fmt: skip
MESSAGE_SHOWS = (
    "(recipient's address)", "(nowhere to send to)", "01234567...cdef", "1/3", "0/3", "shipped",
    "opted out: orders by sms", "suppressed",
)  # fmt: skip
runner = CliRunner()


def run(config: Config, *args: str) -> Result:
    argv = ["--data-dir", str(config.data_dir), "inspect", *args]
    return runner.invoke(app, argv, env={"COLUMNS": "300"})


def as_json(config: Config, *args: str) -> Any:
    result = run(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def person(
    user_id: str, message_id: str, channel: str, to: str | None, *, suppressed: str | None = None,
    now: int = 0, nid: str = "",
) -> NewNotification:  # fmt: skip
    now = now or now_ms()
    return NewNotification(
        id=nid or new_id(now), user_id=user_id, channel=channel, to=to, title=None, body=None,
        data={"order_id": "A-17"}, priority=Priority.NORMAL, scheduled_for=now, max_attempts=3,
        idempotency_key=None, request_hash=f"{message_id}/{channel}", created_at=now,
        tenant_id="acme", message_id=message_id, template="shipped", category="orders",
        suppressed=suppressed,
    )  # fmt: skip


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Config, Store, list[str]]:
    """Ada of tenant acme with two devices, a recipient named in markup, and message ``m-1`` of
    acme: an email dead after one attempt (an error in markup), an APNs push pending, an SMS
    and a webhook (with no URL to send to) stored suppressed."""
    config = make_config(tmp_path)
    store = open_store(config)
    now = now_ms()
    store.put_recipient(parse_recipient("ada", ADA, tenant="acme", now=now))
    store.put_recipient(parse_recipient(MARKUP, {"email": "x@example.com"}, tenant="acme",
                                        now=now))  # fmt: skip
    first, second, third, fourth = sorted(new_id(now) for _ in range(4))  # oldest first
    reason = "opted out: orders by sms"
    items = [
        person("ada", "m-1", "email", None, now=now, nid=first),
        person("ada", "m-1", "apns", APNS, now=now, nid=second),
        person("ada", "m-1", "sms", None, suppressed=reason, now=now, nid=third),
        person("ada", "m-1", "webhook", None, suppressed="no webhook", now=now, nid=fourth),
    ]
    ids = [r.notification.id for r in store.insert_many(items, now)]
    claims = store.claim_ids([ids[0]], "w-1", now, LEASE)
    store.finish([Outcome(claims[0], Verdict.DEAD, f"HTTP 500: {MARKUP}")], now)
    return config, store, ids


def test_a_recipient_shows_its_devices_with_tokens_shortened(
    stored: tuple[Config, Store, list[str]],
) -> None:
    config, _, _ = stored
    shown = as_json(config, "recipient", "ada", "--tenant", "acme")
    assert shown["devices"] == [
        {"platform": "apns", "app": "com.example.shop", "token": "01234567...cdef"},
        {"platform": "fcm", "app": None, "token": "fcm-toke...END1"},
    ]
    assert (shown["user_id"], shown["tenant_id"], shown["email"], shown["phone"]) == (
        "ada", "acme", "ada@example.com", "+15551234567")  # fmt: skip
    assert shown["preferences"] == {"opted_out": ["marketing"],
                                    "channels": {"orders": ["email", "push"]}}  # fmt: skip
    assert shown["quiet_hours"] == {"start": "22:00", "end": "07:00"}
    assert shown["revision"] == 1 and shown["webhooks"] == ["https://example.test/ada"]
    table = run(config, "recipient", "ada", "--tenant", "acme")
    assert table.exit_code == 0, table.output
    for text in RECIPIENT_SHOWS:
        assert text in table.stdout, text
    for output in (table.stdout, json.dumps(shown)):
        assert APNS not in output and FCM not in output
        assert APNS[8:-4] not in output and FCM[8:-4] not in output


def test_a_message_shows_each_notification_and_the_counts(
    stored: tuple[Config, Store, list[str]],
) -> None:
    config, _, ids = stored
    shown = as_json(config, "message", "m-1")
    assert (shown["message_id"], shown["user_id"], shown["template"], shown["category"]) == (
        "m-1", "ada", "shipped", "orders")  # fmt: skip
    assert shown["status"] == "pending" and shown["tenant_id"] == "acme"
    assert shown["counts"] == {"dead": 1, "pending": 1, "suppressed": 2}
    rows = [(n["id"], n["channel"], n["to"], n["status"], n["attempts"], n["last_error"])
            for n in shown["notifications"]]  # fmt: skip
    assert rows == [
        (ids[0], "email", None, "dead", 1, f"HTTP 500: {MARKUP}"),
        (ids[1], "apns", "01234567...cdef", "pending", 0, None),
        (ids[2], "sms", None, "suppressed", 0, "opted out: orders by sms"),
        (ids[3], "webhook", None, "suppressed", 0, "no webhook"),
    ]
    table = run(config, "message", "m-1", "--tenant", "acme")
    assert table.exit_code == 0, table.output
    for text in (*ids, *MESSAGE_SHOWS):
        assert text in table.stdout, text
    assert APNS not in table.stdout


def test_unknown_ids_and_another_tenants_are_not_found(
    stored: tuple[Config, Store, list[str]],
) -> None:
    config, _, _ = stored
    unknown = run(config, "recipient", "nobody", "--tenant", "acme")
    assert unknown.exit_code == 1 and "tenant 'acme' has no recipient 'nobody'" in unknown.output
    default = run(config, "recipient", "ada")  # ada is acme's, not the default tenant's
    assert default.exit_code == 1 and "tenant 'default' has no recipient 'ada'" in default.output
    other = run(config, "recipient", "ada", "--tenant", "other")
    assert other.exit_code == 1 and "'other' has no recipient 'ada'" in other.output
    assert "ada@example.com" not in other.output
    for args in (["m-2"], ["m-1", "--tenant", "other"]):
        result = run(config, "message", *args)
        assert result.exit_code == 1 and f"no message has the id {args[0]!r}" in result.output
        assert "ada" not in result.output
    bad = run(config, "message", "m-1", "--tenant", "Not A Tenant")
    assert bad.exit_code == 2 and "invalid tenant name 'Not A Tenant'" in bad.output


def test_client_text_is_shown_as_written_never_read_as_markup(
    stored: tuple[Config, Store, list[str]],
) -> None:
    config, store, _ = stored
    recipient = run(config, "recipient", MARKUP, "--tenant", "acme")
    assert recipient.exit_code == 0, recipient.output
    assert f"Recipient {MARKUP}" in recipient.stdout
    message_id = f"m-{MARKUP}"
    store.insert_many([person(MARKUP, message_id, "email", None)], now_ms())
    message = run(config, "message", message_id)
    assert message.exit_code == 0, message.output
    assert f"Message {message_id}" in message.stdout and MARKUP in message.stdout
    dead = run(config, "message", "m-1")
    assert f"HTTP 500: {MARKUP}" in dead.stdout
    unknown = run(config, "recipient", "[/bold]", "--tenant", "acme")
    assert unknown.exit_code == 1 and "no recipient '[/bold]'" in unknown.output
