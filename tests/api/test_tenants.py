"""The API keeps tenants apart: whatever tenant a request's API key belongs to, its
notifications, listings, cancels and idempotency keys are its own, and another tenant's id
answers 404 exactly as an unknown one (existence is not leaked). The keys are real ones, in the
store, as ``notifyctl keys create`` makes them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

HOOK = "http://127.0.0.1:9/hook"
TENANTS = ("acme", "globex")


def key_of(tenant: str) -> str:
    return f"nk_test-key-of-{tenant}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    """The real app, with a key per tenant that may send, read and cancel."""
    for number, tenant in enumerate(TENANTS):
        scopes = frozenset({Scope.SEND, Scope.READ, Scope.CANCEL})
        store.create_key(KeyRecord(f"key_{number:016x}", tenant, "", scopes,
                                   key_digest(key_of(tenant)), now_ms()))  # fmt: skip
    with TestClient(build_app(make_config(tmp_path), store)) as test_client:
        yield test_client


def as_tenant(tenant: str, **headers: str) -> dict[str, str]:
    authorization = f"Bearer {key_of(tenant)}"
    return {"content-type": "application/json", "authorization": authorization, **headers}


def send(client: TestClient, tenant: str, key: str | None = None) -> Any:
    headers = as_tenant(tenant, **({"idempotency-key": key} if key else {}))
    body = {"user_id": "u1", "channel": "webhook", "to": HOOK}
    return client.post("/v1/notifications", json=body, headers=headers)


def test_another_tenants_notification_is_404_for_get_and_cancel(
    client: TestClient, store: Store
) -> None:
    created = send(client, "acme")
    assert created.status_code == 201
    nid = created.json()["id"]
    assert store.get(nid, "acme") is not None  # stored as the caller's tenant's
    for method in ("GET", "DELETE"):
        theirs = client.request(method, f"/v1/notifications/{nid}", headers=as_tenant("globex"))
        unknown = client.request(method, "/v1/notifications/01ZZZZZZZZZZZZZZZZZZZZZZZZ",
                                 headers=as_tenant("globex"))  # fmt: skip
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == unknown.json()
    assert client.get(f"/v1/notifications/{nid}", headers=as_tenant("acme")).status_code == 200
    assert client.delete(f"/v1/notifications/{nid}", headers=as_tenant("acme")).status_code == 200


def test_listings_show_only_the_callers_notifications(client: TestClient) -> None:
    acme = {send(client, "acme").json()["id"] for _ in range(3)}
    globex = {send(client, "globex").json()["id"] for _ in range(2)}
    for tenant, mine in (("acme", acme), ("globex", globex)):
        listed = client.get("/v1/notifications?limit=2", headers=as_tenant(tenant)).json()
        seen = {n["id"] for n in listed["notifications"]}
        cursor = listed["next_cursor"]
        while cursor:
            page = client.get(f"/v1/notifications?limit=2&cursor={cursor}",
                              headers=as_tenant(tenant)).json()  # fmt: skip
            seen |= {n["id"] for n in page["notifications"]}
            cursor = page["next_cursor"]
        assert seen == mine


def test_idempotency_keys_belong_to_their_tenant(client: TestClient) -> None:
    first = send(client, "acme", key="order-42")
    replay = send(client, "acme", key="order-42")
    other = send(client, "globex", key="order-42")
    assert (first.status_code, replay.status_code, other.status_code) == (201, 200, 201)
    assert replay.json()["id"] == first.json()["id"] != other.json()["id"]
    item = {"user_id": "u1", "channel": "webhook", "to": HOOK, "idempotency_key": "order-42"}
    batch = client.post(
        "/v1/notifications/batch", headers=as_tenant("globex"), json={"notifications": [item]}
    )
    (result,) = batch.json()["results"]
    # the key names globex's own notification (a different body: a 409 naming it), never acme's
    assert result["status"] == 409
    assert result["error"]["details"] == [{"id": other.json()["id"]}]


@pytest.mark.parametrize("configured", ["", "env-key"], ids=["no keys", "NOTIFYCTL_API_KEYS"])
def test_without_store_keys_requests_are_the_default_tenants(
    tmp_path: Path, store: Store, configured: str
) -> None:
    headers = {"authorization": f"Bearer {configured}"} if configured else {}
    with TestClient(build_app(make_config(tmp_path, api_keys=configured), store)) as client:
        created = client.post("/v1/notifications", json={"user_id": "u", "channel": "log"},
                              headers=headers)  # fmt: skip
    assert created.status_code == 201
    assert store.get(created.json()["id"], "default") is not None
