"""The templates resource through the real app, with real store keys of two tenants: PUT
creates (201) and replaces (200, the version one more), GET shows what was put, DELETE removes,
the listing pages by name; a template that does not compile or uses an undeclared variable is a
422 naming the field and line with nothing stored; each tenant sees only its own, another's
answering exactly as an unknown one; a key without the scope gets 403."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.errors import StoreUnavailable
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

ORDER = {
    "category": "orders",
    "variables": ["order_id", "name"],
    "channels": {"email": {"subject": "Order {{ order_id }}", "text": "Hi {{ name }}"},
                 "sms": {"body": "Order {{ order_id }} shipped"}},
    "locales": {"de": {"channels": {"sms": {"body": "Bestellung {{ order_id }}"}}}},
}  # fmt: skip
#: key name -> (tenant, scopes)
KEYS = {
    "acme": ("acme", {Scope.READ, Scope.ADMIN}),
    "globex": ("globex", {Scope.READ, Scope.ADMIN}),
    "acme-reader": ("acme", {Scope.READ}),
    "acme-admin-only": ("acme", {Scope.ADMIN}),
}
MAX_BODY = 4096


def secret_of(key: str) -> str:
    return f"nk_test-key-{key}"


def as_key(key: str) -> dict[str, str]:
    return {"content-type": "application/json", "authorization": f"Bearer {secret_of(key)}"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    for number, (key, (tenant, scopes)) in enumerate(KEYS.items()):
        store.create_key(KeyRecord(f"key_{number:016x}", tenant, key, frozenset(scopes),
                                   key_digest(secret_of(key)), now_ms()))  # fmt: skip
    config = make_config(tmp_path, max_body_bytes=MAX_BODY)
    with TestClient(build_app(config, store)) as test_client:
        yield test_client


def put(client: TestClient, name: str, document: Any, key: str = "acme") -> Any:
    return client.put(f"/v1/templates/{name}", json=document, headers=as_key(key))


def get(client: TestClient, name: str, key: str = "acme") -> Any:
    return client.get(f"/v1/templates/{name}", headers=as_key(key))


def with_sms(body: str, **fields: Any) -> dict[str, Any]:
    return {**fields, "channels": {"sms": {"body": body}}}


def test_a_put_creates_then_replaces_and_get_shows_what_was_put(client: TestClient) -> None:
    created = put(client, "order-shipped", ORDER)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "/v1/templates/order-shipped"
    body = created.json()
    assert (body["name"], body["version"], body["document"]) == ("order-shipped", 1, ORDER)
    assert body["created_at"] == body["updated_at"] and body["created_at"].endswith("Z")
    changed = {**ORDER, "category": "shipping"}
    replaced = put(client, "order-shipped", changed)
    assert replaced.status_code == 200
    assert "location" not in replaced.headers
    assert (replaced.json()["version"], replaced.json()["created_at"]) == (2, body["created_at"])
    shown = get(client, "order-shipped")
    assert shown.status_code == 200
    assert shown.json() == replaced.json()
    assert client.head("/v1/templates/order-shipped", headers=as_key("acme")).status_code == 200


def test_a_template_that_does_not_compile_is_a_422_naming_field_and_line(
    client: TestClient, store: Store
) -> None:
    broken = with_sms("Hello\n{{ name ", variables=["name"])
    refused = put(client, "welcome", broken)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert error["code"] == "invalid_template"
    (problem,) = error["details"]
    assert (problem["field"], problem["line"]) == ("channels.sms.body", 2)
    assert "channels.sms.body (line 2)" in error["message"]
    assert store.get_template("acme", "welcome") is None
    assert get(client, "welcome").status_code == 404


def test_an_undeclared_variable_is_refused_with_its_line(client: TestClient) -> None:
    document = with_sms("Hi {{ name }}\n\nyour code: {{ code }}", variables=["name"])
    refused = put(client, "welcome", document)
    assert refused.status_code == 422
    (problem,) = refused.json()["error"]["details"]
    assert problem["field"] == "channels.sms.body" and problem["line"] == 3
    assert "'code'" in problem["message"]


def test_every_problem_is_named_and_a_replace_that_fails_keeps_the_stored_one(
    client: TestClient,
) -> None:
    assert put(client, "order-shipped", ORDER).status_code == 201
    bad = {"channels": {"sms": {"body": "{% if %}"}, "fax": {"body": "x"}}, "colour": "red"}
    refused = put(client, "order-shipped", bad)
    assert refused.status_code == 422
    fields = {p["field"] for p in refused.json()["error"]["details"]}
    assert fields == {"colour", "channels.sms.body", "channels.fax"}
    kept = get(client, "order-shipped").json()
    assert (kept["version"], kept["document"]) == (1, ORDER)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b'"a string"', "application/json", 422, "invalid_template"),
        (b"[]", "application/json", 422, "invalid_template"),
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b'{"channels": {"sms": {"body": "' + b"x" * MAX_BODY + b'"}}}', "application/json",
         413, "body_too_large"),
    ],
)  # fmt: skip
def test_bodies_that_are_no_template_are_refused_and_nothing_stored(
    client: TestClient, store: Store, body: bytes, content_type: str, status: int, code: str
) -> None:
    headers = {**as_key("acme"), "content-type": content_type}
    refused = client.put("/v1/templates/welcome", content=body, headers=headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)
    assert store.get_template("acme", "welcome") is None


def test_a_name_outside_the_rule_is_a_422_at_put_and_a_404_to_read(client: TestClient) -> None:
    refused = put(client, "Order_Shipped", ORDER)
    assert refused.status_code == 422
    assert [p["field"] for p in refused.json()["error"]["details"]] == ["name"]
    assert get(client, "Order_Shipped").status_code == 404
    deleted = client.delete("/v1/templates/Order_Shipped", headers=as_key("acme"))
    assert deleted.status_code == 404


def test_delete_removes_it_and_an_unknown_one_is_404(client: TestClient) -> None:
    put(client, "order-shipped", ORDER)
    deleted = client.delete("/v1/templates/order-shipped", headers=as_key("acme"))
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert get(client, "order-shipped").status_code == 404
    again = client.delete("/v1/templates/order-shipped", headers=as_key("acme"))
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")


def test_another_tenants_template_answers_exactly_as_an_unknown_one(
    client: TestClient, store: Store
) -> None:
    put(client, "acme-only", ORDER)
    for method in ("GET", "DELETE"):
        theirs = client.request(method, "/v1/templates/acme-only", headers=as_key("globex"))
        unknown = client.request(method, "/v1/templates/nothing", headers=as_key("globex"))
        assert theirs.status_code == unknown.status_code == 404
        assert theirs.json() == unknown.json()
    assert store.get_template("acme", "acme-only") is not None  # globex's DELETE left it
    # the same name is globex's own template, created anew and leaving acme's alone
    assert put(client, "acme-only", with_sms("globex's"), key="globex").status_code == 201
    assert get(client, "acme-only").json()["document"] == ORDER
    listed = client.get("/v1/templates", headers=as_key("globex")).json()
    assert [t["name"] for t in listed["templates"]] == ["acme-only"]
    assert listed["templates"][0]["version"] == 1


def test_changing_needs_admin_and_reading_needs_read(client: TestClient) -> None:
    assert put(client, "order-shipped", ORDER).status_code == 201
    refused = put(client, "order-shipped", ORDER, key="acme-reader")
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "insufficient_scope")
    deleting = client.delete("/v1/templates/order-shipped", headers=as_key("acme-reader"))
    assert deleting.status_code == 403
    assert get(client, "order-shipped", key="acme-reader").status_code == 200
    assert get(client, "order-shipped", key="acme-admin-only").status_code == 403
    listing = client.get("/v1/templates", headers=as_key("acme-admin-only"))
    assert listing.status_code == 403
    assert get(client, "order-shipped").json()["version"] == 1  # the refused PUT changed nothing
    anonymous = client.get("/v1/templates/order-shipped")
    assert anonymous.status_code == 401


def test_the_listing_pages_by_name_with_summaries(client: TestClient) -> None:
    names = ["d-four", "a-one", "c-three", "b-two", "e-five"]
    for name in names:
        assert put(client, name, ORDER).status_code == 201
    seen: list[str] = []
    url = "/v1/templates?limit=2"
    while url:
        page = client.get(url, headers=as_key("acme")).json()
        seen += [t["name"] for t in page["templates"]]
        cursor = page["next_cursor"]
        url = f"/v1/templates?limit=2&cursor={cursor}" if cursor else ""
    assert seen == sorted(names)
    (first,) = client.get("/v1/templates?limit=1", headers=as_key("acme")).json()["templates"]
    assert first == {
        "name": "a-one", "version": 1, "category": "orders", "channels": ["email", "sms"],
        "locales": ["de"], "created_at": first["created_at"], "updated_at": first["updated_at"],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("query", "field"),
    [("limit=0", "limit"), ("limit=201", "limit"), ("limit=x", "limit"), ("limit=%C2%B2", "limit"),
     ("limit=" + "9" * 5000, "limit"),
     ("cursor=Not%20A%20Name", "cursor"), ("colour=red", "colour")],
)  # fmt: skip
def test_a_bad_listing_query_names_the_parameter(
    client: TestClient, query: str, field: str
) -> None:
    refused = client.get(f"/v1/templates?{query}", headers=as_key("acme"))
    assert refused.status_code == 422
    assert [d["field"] for d in refused.json()["error"]["details"]] == [field]


def test_an_unavailable_store_is_a_503(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*args: object) -> None:
        raise StoreUnavailable("the store is down")

    monkeypatch.setattr(store, "put_template", down)
    refused = put(client, "order-shipped", ORDER)
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "store_unavailable")
