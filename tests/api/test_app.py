"""The intake API in process (Starlette's TestClient over the real SQLite store)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config

HOOK = "http://127.0.0.1:9/hook"
JSON = {"content-type": "application/json"}


@pytest.fixture
def api_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(make_config(tmp_path))
    yield store
    store.close()


@pytest.fixture
def client(tmp_path: Path, api_store: Store) -> Iterator[TestClient]:
    with TestClient(build_app(make_config(tmp_path), api_store)) as test_client:
        yield test_client


def webhook(**fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "channel": "webhook", "to": HOOK, **fields}


def error_code(response: Any) -> str:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return str(body["error"]["code"])


def test_a_valid_notification_is_stored_and_answered_201(
    client: TestClient, api_store: Store
) -> None:
    response = client.post("/v1/notifications", json=webhook(title="hi", data={"k": [1, 2]}))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "pending" and body["attempts"] == 0 and body["priority"] == "normal"
    stored = api_store.get(body["id"])
    assert stored is not None and stored.data == {"k": [1, 2]} and stored.title == "hi"
    assert client.get(f"/v1/notifications/{body['id']}").json() == body


def test_a_future_scheduled_for_is_stored_as_scheduled(client: TestClient) -> None:
    soon = datetime.now(UTC).astimezone(timezone(timedelta(hours=2))) + timedelta(hours=1)
    response = client.post("/v1/notifications", json=webhook(scheduled_for=soon.isoformat()))
    assert response.status_code == 201 and response.json()["status"] == "scheduled"
    at = datetime.fromisoformat(response.json()["scheduled_for"])
    assert abs((at - soon).total_seconds()) < 0.001


def test_scheduled_for_more_than_a_year_ahead_is_422(client: TestClient) -> None:
    response = client.post("/v1/notifications", json=webhook(scheduled_for="2099-01-01T00:00:00Z"))
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "scheduled_for"


def test_a_replayed_idempotency_key_returns_200_and_the_first_notification(
    client: TestClient, api_store: Store
) -> None:
    first = client.post("/v1/notifications", json=webhook(idempotency_key="k-1"))
    again = client.post("/v1/notifications", json=webhook(idempotency_key="k-1"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert api_store.counts(now_ms())["pending"] == 1


def test_the_idempotency_key_header_works_like_the_field(client: TestClient) -> None:
    headers = {"Idempotency-Key": "hdr-1"}
    first = client.post("/v1/notifications", json=webhook(), headers=headers)
    again = client.post("/v1/notifications", json=webhook(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["idempotency_key"] == "hdr-1"


@pytest.mark.parametrize("key", ["", "k" * 100_000, "k" * 257], ids=["empty", "100000", "257"])
def test_an_empty_or_oversized_idempotency_key_header_is_422_naming_it(
    client: TestClient, key: str
) -> None:
    response = client.post("/v1/notifications", json=webhook(), headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["error"]["details"]] == ["Idempotency-Key"]
    assert "Idempotency-Key" in response.json()["error"]["message"]


def test_the_same_key_with_a_different_body_is_409(client: TestClient) -> None:
    client.post("/v1/notifications", json=webhook(idempotency_key="k-2", title="a"))
    response = client.post("/v1/notifications", json=webhook(idempotency_key="k-2", title="b"))
    assert response.status_code == 409 and error_code(response) == "idempotency_conflict"


def test_malformed_json_is_400(client: TestClient) -> None:
    response = client.post("/v1/notifications", content=b'{"user_id": ', headers=JSON)
    assert response.status_code == 400 and error_code(response) == "malformed_json"


@pytest.mark.parametrize("raw", [b'{"user_id": NaN}', b'{"data": {"x": Infinity}}', b"\xff\xfe"])
def test_non_json_constants_and_bad_encodings_are_400(client: TestClient, raw: bytes) -> None:
    response = client.post("/v1/notifications", content=raw, headers=JSON)
    assert response.status_code == 400 and error_code(response) == "malformed_json"


def test_invalid_fields_are_422_naming_every_field(client: TestClient) -> None:
    body = {"user_id": 7, "channel": "pigeon", "priority": "urgent", "colour": "red"}
    response = client.post("/v1/notifications", json=body)
    assert response.status_code == 422 and error_code(response) == "invalid_fields"
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"user_id", "channel", "priority", "colour"}


def test_a_body_over_the_limit_is_413(client: TestClient) -> None:
    big = json.dumps(webhook(body="x" * make_config(Path(".")).max_body_bytes))
    response = client.post("/v1/notifications", content=big, headers=JSON)
    assert response.status_code == 413 and error_code(response) == "body_too_large"


def test_a_batch_answers_per_item_in_order_and_stores_only_valid_items(
    client: TestClient, api_store: Store
) -> None:
    items = [webhook(title="a"), {"user_id": "u"}, webhook(title="c", idempotency_key="b-1")]
    response = client.post("/v1/notifications/batch", json={"notifications": items})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [201, 422, 201]
    assert results[0]["notification"]["title"] == "a"
    assert results[1]["error"]["code"] == "invalid_fields"
    assert api_store.counts(now_ms())["pending"] == 2
    replay = client.post("/v1/notifications/batch", json={"notifications": items[2:]})
    assert replay.json()["results"][0]["status"] == 200


@pytest.mark.parametrize(
    "body",
    [
        {"notifications": []},
        {"notifications": {}},
        [],
        {"items": [1]},
        {"notifications": [1] * 1001},
    ],
)
def test_a_malformed_batch_is_422(client: TestClient, body: Any) -> None:
    response = client.post("/v1/notifications/batch", json=body)
    assert response.status_code == 422 and error_code(response) == "invalid_fields"


def test_an_unknown_id_is_404(client: TestClient) -> None:
    response = client.get("/v1/notifications/nope")
    assert response.status_code == 404 and error_code(response) == "not_found"
    assert client.delete("/v1/notifications/nope").status_code == 404


def test_cancel_before_delivery_then_again_is_409(client: TestClient) -> None:
    created = client.post("/v1/notifications", json=webhook()).json()
    cancelled = client.delete(f"/v1/notifications/{created['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = client.delete(f"/v1/notifications/{created['id']}")
    assert again.status_code == 409 and error_code(again) == "not_cancellable"


def test_health_reports_the_store_connected(client: TestClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "healthy",
        "database": "connected",
        "messageQueue": "none",
        "channels": ["webhook", "log"],
    }


def test_unknown_routes_and_methods_answer_json_errors(client: TestClient) -> None:
    assert error_code(client.get("/v2/whatever")) == "not_found"
    response = client.put("/v1/notifications")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
field_names = st.sampled_from(
    ["user_id", "channel", "to", "title", "body", "data", "priority", "scheduled_for",
     "idempotency_key", "max_attempts", "extra"]
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=json_values | st.dictionaries(field_names, json_values))
def test_no_body_makes_a_500_and_the_store_holds_exactly_what_was_accepted(
    client: TestClient, api_store: Store, body: Any
) -> None:
    before = sum(api_store.counts(now_ms()).values()) - api_store.counts(now_ms())["locked"]
    response = client.post("/v1/notifications", json=body)
    assert response.status_code in (200, 201, 400, 409, 415, 422)
    after = sum(api_store.counts(now_ms()).values()) - api_store.counts(now_ms())["locked"]
    assert after - before == (1 if response.status_code == 201 else 0)


def test_a_lone_surrogate_is_422_and_nothing_is_stored(
    client: TestClient, api_store: Store
) -> None:
    headers = {"content-type": "application/json"}
    single = b'{"user_id": "\\ud800", "channel": "log"}'
    response = client.post("/v1/notifications", content=single, headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "user_id"
    batch = b'{"notifications": [{"user_id": "u", "channel": "log", "title": "\\udfff"}]}'
    response = client.post("/v1/notifications/batch", content=batch, headers=headers)
    assert response.status_code == 200 and response.json()["results"][0]["status"] == 422
    assert sum(api_store.counts(now_ms()).values()) == 0


def test_head_answers_as_get_without_a_body(client: TestClient) -> None:
    created = client.post("/v1/notifications", json={"user_id": "u", "channel": "log"})
    nid = created.json()["id"]
    for path in (f"/v1/notifications/{nid}", "/v1/notifications"):
        head, get = client.head(path), client.get(path)
        assert head.status_code == get.status_code == 200
        assert head.content == b""


@pytest.mark.parametrize("limit", ["²", "١٢", "0", "1001", "9" * 30, "-1", "1.5"])
def test_a_limit_that_is_not_ascii_digits_in_range_is_422(client: TestClient, limit: str) -> None:
    response = client.get("/v1/notifications", params={"limit": limit})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "limit"
