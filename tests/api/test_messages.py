"""Sending to a person by template through the real app (issue 16): the fan-out per channel and
device with what the preferences refuse stored suppressed, the message report, idempotent
replays, the batch, each refusal (unknown template or user, a variable missing from data, a
channel the template lacks, texts beside a template) with nothing stored, and isolation between
tenants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.recipients import parse_recipient
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

ACME, GLOBEX = "nk_acme", "nk_globex"
APNS, FCM = "ab" * 32, "fcm-token_" + "x" * 30
SHIPPED: dict[str, Any] = {
    "category": "orders",
    "variables": ["order_id", "name"],
    "channels": {
        "email": {"subject": "Order {{ order_id }} shipped", "text": "Hi {{ name }}"},
        "push": {"title": "Shipped", "body": "Order {{ order_id }} is on its way"},
        "sms": {"body": "Order {{ order_id }} shipped"},
    },
}
ADA: dict[str, Any] = {
    "email": "ada@example.com", "phone": "+15551234567",
    "devices": [{"platform": "apns", "token": APNS}, {"platform": "fcm", "token": FCM}],
    "preferences": {"channels": {"orders": ["email", "push"]}},
}  # fmt: skip
DATA = {"order_id": "A-17", "name": "Ada"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    for number, (key, tenant) in enumerate(((ACME, "acme"), (GLOBEX, "globex"))):
        scopes = frozenset({Scope.SEND, Scope.READ, Scope.ADMIN})
        opened.create_key(KeyRecord(f"key_{number:016x}", tenant, "", scopes, key_digest(key), 1))
    opened.put_template("acme", "shipped", SHIPPED, now_ms())
    opened.put_recipient(parse_recipient("ada", ADA, tenant="acme", now=now_ms()))
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    config = make_config(
        tmp_path, smtp_url="smtp://127.0.0.1:2525?starttls=off", email_from="n@example.com",
        sms_url="http://127.0.0.1:9/sms", sms_account_sid="AC1", sms_auth_token="t",
        sms_from="+15550000000",
    )  # fmt: skip
    with TestClient(build_app(config, store)) as test_client:
        yield test_client


def send(client: TestClient, key: str = ACME, **fields: Any) -> Any:
    body = {"user_id": "ada", "template": "shipped", "data": DATA, **fields}
    return client.post("/v1/notifications", json=body, headers={"Authorization": f"Bearer {key}"})


def test_a_send_fans_out_per_channel_and_device_and_suppresses_what_preferences_refuse(
    client: TestClient, store: Store
) -> None:
    response = send(client)
    assert response.status_code == 201, response.text
    message = response.json()
    assert response.headers["location"] == f"/v1/messages/{message['message_id']}"
    by_channel = {n["channel"]: n for n in message["notifications"]}
    assert [n["channel"] for n in message["notifications"]] == ["email", "apns", "fcm", "sms"]
    assert by_channel["email"]["status"] == "pending" and by_channel["email"]["to"] is None
    assert by_channel["apns"]["to"] == APNS and by_channel["fcm"]["to"] == FCM
    # ada allows only email and push for orders: the SMS is stored suppressed, saying why
    assert by_channel["sms"]["status"] == "suppressed"
    assert "allows only email, push" in by_channel["sms"]["last_error"]
    # this deployment has no APNs or FCM settings: the pushes are kept, suppressed, saying so
    for push in ("apns", "fcm"):
        assert by_channel[push]["status"] == "suppressed"
        assert f"no {push} settings" in by_channel[push]["last_error"]
    assert message["counts"] == {"pending": 1, "suppressed": 3}
    assert message["status"] == "pending"
    report = client.get(response.headers["location"], headers={"Authorization": f"Bearer {ACME}"})
    assert report.status_code == 200
    assert [n["id"] for n in report.json()["notifications"]] == [
        n["id"] for n in message["notifications"]
    ]
    stored = store.message_notifications(message["message_id"], "acme")
    assert {n.template for n in stored} == {"shipped"}
    assert {n.category for n in stored} == {"orders"}


def test_a_replay_with_the_same_key_returns_the_same_message_and_stores_nothing_more(
    client: TestClient, store: Store
) -> None:
    first = send(client, idempotency_key="order-A-17")
    again = send(client, idempotency_key="order-A-17")
    other = send(client, idempotency_key="order-A-17", data={**DATA, "name": "Eve"})
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json()["message_id"] == first.json()["message_id"]
    assert [n["id"] for n in again.json()["notifications"]] == [
        n["id"] for n in first.json()["notifications"]
    ]
    counts = store.counts(now_ms())
    assert (counts["pending"], counts["suppressed"]) == (1, 3)


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"template": "nope"}, "template", "no template named 'nope'"),
        ({"user_id": "bob"}, "user_id", "no recipient 'bob'"),
        ({"data": {"order_id": "A-17"}}, "data", "needs name in data"),
        ({"channels": ["webhook"]}, "channels", "has no webhook texts"),
        ({"channels": ["fax"]}, "channels", "must be a non-empty list"),
        ({"body": "hello"}, "body", "not with a template"),
        ({"template": "Bad Name"}, "template", "invalid template name"),
    ],
)
def test_a_bad_send_is_422_naming_its_field_and_stores_nothing(
    client: TestClient, store: Store, fields: dict[str, Any], field: str, words: str
) -> None:
    response = send(client, **fields)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    assert any(d["field"] == field and words in d["message"] for d in details), details
    assert store.counts(now_ms())["pending"] == 0
    assert store.counts(now_ms())["suppressed"] == 0


def test_another_tenant_can_neither_use_the_template_and_recipient_nor_read_the_message(
    client: TestClient,
) -> None:
    refused = send(client, key=GLOBEX)
    assert refused.status_code == 422
    fields = {d["field"] for d in refused.json()["error"]["details"]}
    assert fields == {"template", "user_id"}
    message_id = send(client).json()["message_id"]
    auth = {"Authorization": f"Bearer {GLOBEX}"}
    assert client.get(f"/v1/messages/{message_id}", headers=auth).status_code == 404


def test_a_batch_mixes_sends_to_people_with_notifications_with_texts(
    client: TestClient, store: Store
) -> None:
    items = [
        {"user_id": "ada", "template": "shipped", "data": DATA, "channels": ["email"]},
        {"user_id": "bob", "channel": "webhook", "to": "http://127.0.0.1:9/hook", "body": "hi"},
        {"user_id": "bob", "template": "shipped", "data": DATA},
    ]
    response = client.post(
        "/v1/notifications/batch", json={"notifications": items},
        headers={"Authorization": f"Bearer {ACME}"},
    )  # fmt: skip
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 201, 422]
    assert [n["channel"] for n in results[0]["message"]["notifications"]] == ["email"]
    assert results[1]["notification"]["channel"] == "webhook"
    assert store.counts(now_ms())["pending"] == 2


def test_an_unknown_message_is_404(client: TestClient) -> None:
    auth = {"Authorization": f"Bearer {ACME}"}
    assert client.get("/v1/messages/nothing-here", headers=auth).status_code == 404
