"""``notifyctl keys``: the real command line against a real SQLite store, and the key it prints
accepted by the real app; bad input is one line, exit 2, and nothing changed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient
from typer.testing import CliRunner

from notifyctl.api.app import build_app
from notifyctl.cli import app
from notifyctl.config import Config
from notifyctl.model import now_ms
from notifyctl.ops.keys import KeyRequestError, parse_expires
from notifyctl.store import open_store
from notifyctl.tenants import key_digest
from tests.conftest import make_config

runner = CliRunner()
DAY_MS = 86_400_000


def notifyctl(config: Config, *args: str) -> Any:
    return runner.invoke(app, ["--data-dir", str(config.data_dir), *args])


def ok_json(config: Config, *args: str) -> Any:
    result = notifyctl(config, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return make_config(tmp_path)


def test_create_prints_the_key_once_and_stores_only_its_digest(config: Config) -> None:
    created = ok_json(config, "keys", "create", "--tenant", "acme", "--scope", "send,read",
                      "--name", "ci", "--expires", "90d")  # fmt: skip
    assert re.fullmatch(r"nk_[A-Za-z0-9_-]{43}", created["key"])
    assert re.fullmatch(r"key_[0-9a-f]{16}", created["id"])
    assert created["tenant"] == "acme" and created["scopes"] == ["send", "read"]
    assert created["state"] == "active" and created["name"] == "ci"
    store = open_store(config)
    try:
        (record,) = store.list_keys("acme")
        assert record.digest == key_digest(created["key"]) and record.id == created["id"]
        expires_in = record.expires_at - record.created_at if record.expires_at else None
        assert expires_in == 90 * DAY_MS
    finally:
        store.close()


def test_create_as_text_shows_the_key_and_its_id(config: Config) -> None:
    result = notifyctl(config, "keys", "create", "--tenant", "acme", "--scope", "send")
    assert result.exit_code == 0, result.output
    key = re.search(r"^nk_\S+$", result.stdout, re.MULTILINE)
    key_id = re.search(r"key_[0-9a-f]{16}", result.stdout)
    assert key is not None and key_id is not None and "shown only this once" in result.stdout


def test_the_created_key_works_on_the_api_with_its_scopes(config: Config, tmp_path: Path) -> None:
    created = ok_json(config, "keys", "create", "--tenant", "acme", "--scope", "send")
    store = open_store(config)
    try:
        with TestClient(build_app(make_config(tmp_path), store)) as client:
            headers = {"authorization": f"Bearer {created['key']}"}
            body = {"user_id": "u1", "channel": "log"}
            assert client.post("/v1/notifications", json=body, headers=headers).status_code == 201
            assert client.get("/v1/notifications", headers=headers).status_code == 403
            assert client.post("/v1/notifications", json=body).status_code == 401
    finally:
        store.close()


def test_list_shows_every_key_or_a_tenants_never_a_key_or_digest(config: Config) -> None:
    acme = ok_json(config, "keys", "create", "--tenant", "acme", "--scope", "send")
    globex = ok_json(config, "keys", "create", "--tenant", "globex", "--scope", "read,cancel")
    everything = ok_json(config, "keys", "list")
    assert [k["id"] for k in everything] == [acme["id"], globex["id"]]
    assert [k["id"] for k in ok_json(config, "keys", "list", "--tenant", "globex")] == [
        globex["id"]
    ]
    assert ok_json(config, "keys", "list", "--tenant", "nobody") == []
    text = notifyctl(config, "keys", "list").stdout + json.dumps(everything)
    for created in (acme, globex):
        assert created["key"] not in text and key_digest(created["key"]) not in text
    assert set(everything[0]) == {"id", "tenant", "name", "scopes", "state", "created_at",
                                  "last_used_at", "expires_at", "revoked_at"}  # fmt: skip


def test_revoke_marks_the_key_revoked_and_the_api_refuses_it(
    config: Config, tmp_path: Path
) -> None:
    created = ok_json(config, "keys", "create", "--tenant", "acme", "--scope", "read")
    revoked = ok_json(config, "keys", "revoke", created["id"])
    assert revoked["state"] == "revoked" and revoked["revoked_at"] is not None
    (listed,) = ok_json(config, "keys", "list")
    assert listed["state"] == "revoked"
    again = ok_json(config, "keys", "revoke", created["id"])  # revoking again changes nothing
    assert again["revoked_at"] == revoked["revoked_at"]
    store = open_store(config)
    try:
        with TestClient(build_app(make_config(tmp_path), store)) as client:
            headers = {"authorization": f"Bearer {created['key']}"}
            assert client.get("/v1/notifications", headers=headers).status_code == 401
    finally:
        store.close()


BAD_CREATES = {
    "unknown scope": (["--tenant", "acme", "--scope", "send,write"], "unknown scope 'write'"),
    "no scope": (["--tenant", "acme", "--scope", ","], "no scope given"),
    "malformed tenant": (["--tenant", "Acme Corp", "--scope", "send"], "invalid tenant name"),
    "long tenant": (["--tenant", "a" * 64, "--scope", "send"], "1-63 characters"),
    "bad expires": (["--tenant", "acme", "--scope", "send", "--expires", "soon"], "--expires"),
    "past expires": (
        ["--tenant", "acme", "--scope", "send", "--expires", "2001-01-01T00:00:00Z"],
        "in the future",
    ),  # fmt: skip
    "bad name": (["--tenant", "acme", "--scope", "send", "--name", "a\nb"], "--name"),
}


@pytest.mark.parametrize("case", list(BAD_CREATES))
def test_bad_input_is_one_line_exit_2_and_nothing_changed(config: Config, case: str) -> None:
    args, message = BAD_CREATES[case]
    result = notifyctl(config, "keys", "create", *args)
    assert result.exit_code == 2 and message in result.output
    assert result.output.startswith("notifyctl: error:")
    assert "Traceback" not in result.output
    assert not Path(config.store_url.removeprefix("sqlite:///")).exists()  # not even opened


def test_revoking_an_unknown_id_is_exit_2_and_changes_nothing(config: Config) -> None:
    created = ok_json(config, "keys", "create", "--tenant", "acme", "--scope", "send")
    before = ok_json(config, "keys", "list")
    result = notifyctl(config, "keys", "revoke", "key_ffffffffffffffff")
    assert result.exit_code == 2 and "no API key has the id 'key_ffffffffffffffff'" in result.output
    assert ok_json(config, "keys", "list") == before and before[0]["id"] == created["id"]


def test_listing_a_malformed_tenant_is_exit_2(config: Config) -> None:
    result = notifyctl(config, "keys", "list", "--tenant", "../etc")
    assert result.exit_code == 2 and "invalid tenant name" in result.output


@pytest.mark.parametrize(
    ("text", "ahead_ms"),
    [("90d", 90 * DAY_MS), ("12h", 12 * 3_600_000), ("2w", 14 * DAY_MS), ("30m", 1_800_000)],
)
def test_expires_takes_an_age(text: str, ahead_ms: int) -> None:
    now = now_ms()
    assert parse_expires(text, now) == now + ahead_ms


@pytest.mark.parametrize("text", ["0d", "-1d", "90", "d", "99999999d", "1y", ""])
def test_expires_refuses_what_is_not_a_future_age_or_time(text: str) -> None:
    with pytest.raises(KeyRequestError, match="--expires"):
        parse_expires(text, now_ms())
