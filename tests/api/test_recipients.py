"""The recipients' endpoints through the real app, with store keys of two tenants: PUT creates
then replaces, PATCH merges, GET and DELETE, the listing's pages, the batch answering per item;
every bad input is a 422 naming its field with nothing stored; a tenant never sees, changes or
deletes another's recipient (a 404 exactly like an unknown one). DNS is a fake resolver."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import now_ms
from notifyctl.recipients import Recipient, parse_recipient
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

ACME, GLOBEX, ACME_READER = "nk_acme", "nk_globex", "nk_acme-reader"
APNS = "ab" * 32
FCM = "fcm-token_" + "x" * 30
ADA: dict[str, Any] = {
    "email": "ada@example.com", "phone": "+15551234567",
    "devices": [{"platform": "apns", "token": APNS, "app": "com.example.app"}],
    "webhooks": ["https://hooks.example.com/ada"], "locale": "en-GB", "timezone": "Europe/London",
    "preferences": {"opted_out": ["marketing"], "channels": {"billing": ["email"]}},
    "quiet_hours": {"start": "22:00", "end": "07:00"},
}  # fmt: skip


class FakeResolver(AbstractResolver):
    """``evil.*`` resolves to a private address, every other name to a public one."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = "10.0.0.1" if host.startswith("evil.") else "93.184.216.34"
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]  # fmt: skip

    async def close(self) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    keys = [(ACME, "acme", {Scope.SEND, Scope.READ}), (GLOBEX, "globex", {Scope.SEND, Scope.READ}),
            (ACME_READER, "acme", {Scope.READ})]  # fmt: skip
    for number, (key, tenant, scopes) in enumerate(keys):
        record = KeyRecord(f"key_{number:016x}", tenant, "", frozenset(scopes), key_digest(key),
                           now_ms())  # fmt: skip
        opened.create_key(record)
    yield opened
    opened.close()


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    config = make_config(tmp_path, webhook_allow="", rate_limit_per_s=0)
    with TestClient(build_app(config, store, resolver=FakeResolver())) as test_client:
        yield test_client


def auth(key: str = ACME) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def put(client: TestClient, user_id: str, body: Any, key: str = ACME) -> Any:
    return client.put(f"/v1/recipients/{user_id}", json=body, headers=auth(key))


def fields_of(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [detail["field"] for detail in response.json()["error"]["details"]]


def test_put_creates_then_replaces_and_get_shows_it(client: TestClient) -> None:
    created = put(client, "ada", ADA)
    assert created.status_code == 201 and created.headers["location"] == "/v1/recipients/ada"
    shown = created.json()
    assert shown["user_id"] == "ada" and shown["devices"] == ADA["devices"]
    assert shown["quiet_hours"] == ADA["quiet_hours"]
    assert client.get("/v1/recipients/ada", headers=auth()).json() == shown
    replaced = put(client, "ada", {"email": "ada@example.org"})
    assert replaced.status_code == 200
    assert replaced.json()["created_at"] == shown["created_at"]
    assert replaced.json()["phone"] is None and replaced.json()["devices"] == []  # replaced whole


def test_patch_merges_into_the_stored_recipient(client: TestClient) -> None:
    put(client, "ada", ADA)
    patch = {"phone": None, "locale": "de", "preferences": {"channels": {"news": ["push"]}}}
    response = client.patch("/v1/recipients/ada", json=patch, headers=auth())
    assert response.status_code == 200, response.text
    shown = response.json()
    assert shown["phone"] is None and shown["locale"] == "de" and shown["email"] == ADA["email"]
    channels = {"billing": ["email"], "news": ["push"]}
    assert shown["preferences"] == {"opted_out": ["marketing"], "channels": channels}
    merge_type = {**auth(), "content-type": "application/merge-patch+json"}
    again = client.patch("/v1/recipients/ada", content=b'{"email": null}', headers=merge_type)
    assert again.status_code == 200 and again.json()["email"] is None


def test_a_patch_merges_again_when_another_write_came_between(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(client, "ada", ADA)
    replace = store.replace_recipient
    writes = iter([{"phone": "+4915112345678"}])

    def another_write_first(recipient: Recipient, revision: int) -> Recipient | None:
        for change in writes:  # once: a PUT lands between the PATCH's read and its write
            store.put_recipient(parse_recipient("ada", {**ADA, **change}, tenant="acme", now=1))
        return replace(recipient, revision)

    monkeypatch.setattr(store, "replace_recipient", another_write_first)
    response = client.patch("/v1/recipients/ada", json={"locale": "de"}, headers=auth())
    assert response.status_code == 200
    assert (response.json()["locale"], response.json()["phone"]) == ("de", "+4915112345678")


def test_a_patch_that_keeps_losing_the_race_is_a_409(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(client, "ada", ADA)
    monkeypatch.setattr(store, "replace_recipient", lambda recipient, revision: None)
    response = client.patch("/v1/recipients/ada", json={"locale": "de"}, headers=auth())
    assert response.status_code == 409 and response.json()["error"]["code"] == "conflict"
    assert client.get("/v1/recipients/ada", headers=auth()).json()["locale"] == ADA["locale"]


def test_a_bad_patch_changes_nothing_and_an_unknown_recipient_is_a_404(
    client: TestClient,
) -> None:
    before = put(client, "ada", ADA).json()
    bad = client.patch("/v1/recipients/ada", json={"timezone": "Mars/Base"}, headers=auth())
    assert fields_of(bad) == ["timezone"]
    assert client.get("/v1/recipients/ada", headers=auth()).json() == before
    unknown = client.patch("/v1/recipients/nobody", json={"locale": "de"}, headers=auth())
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


def test_delete_answers_204_then_404(client: TestClient) -> None:
    put(client, "ada", ADA)
    assert client.delete("/v1/recipients/ada", headers=auth()).status_code == 204
    assert client.delete("/v1/recipients/ada", headers=auth()).status_code == 404
    assert client.get("/v1/recipients/ada", headers=auth()).status_code == 404


def test_another_tenants_recipient_is_a_404_exactly_like_an_unknown_one(
    client: TestClient,
) -> None:
    put(client, "ada", ADA)
    unknown = client.get("/v1/recipients/nobody", headers=auth(GLOBEX))
    theirs = client.get("/v1/recipients/ada", headers=auth(GLOBEX))
    assert theirs.status_code == unknown.status_code == 404
    assert theirs.json() == unknown.json()
    assert client.patch("/v1/recipients/ada", json={}, headers=auth(GLOBEX)).status_code == 404
    assert client.delete("/v1/recipients/ada", headers=auth(GLOBEX)).status_code == 404
    assert client.get("/v1/recipients", headers=auth(GLOBEX)).json()["recipients"] == []
    # globex's own "ada" is another user: acme's stays as it was
    assert put(client, "ada", {"email": "g@example.com"}, GLOBEX).status_code == 201
    assert client.get("/v1/recipients/ada", headers=auth()).json()["email"] == ADA["email"]


def test_a_read_only_key_reads_but_does_not_write(client: TestClient) -> None:
    put(client, "ada", ADA)
    assert client.get("/v1/recipients/ada", headers=auth(ACME_READER)).status_code == 200
    assert put(client, "ada", {}, ACME_READER).status_code == 403
    assert client.delete("/v1/recipients/ada", headers=auth(ACME_READER)).status_code == 403


def test_the_listing_pages_by_user_id(client: TestClient) -> None:
    for user_id in ("c", "a", "b", "d", "e"):
        put(client, user_id, {})
    put(client, "z", {}, GLOBEX)
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/recipients", params=query, headers=auth()).json()
        seen.append([r["user_id"] for r in page["recipients"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [["a", "b"], ["c", "d"], ["e"]]


@pytest.mark.parametrize(
    ("query", "fields"),
    [({"limit": "0"}, ["limit"]), ({"limit": "201"}, ["limit"]), ({"limit": "x"}, ["limit"]),
     ({"limit": "\u00b2"}, ["limit"]), ({"cursor": "\x01"}, ["cursor"]),
     ({"status": "sent"}, ["status"])],
)  # fmt: skip
def test_a_bad_listing_query_is_named(
    client: TestClient, query: dict[str, str], fields: list[str]
) -> None:
    assert fields_of(client.get("/v1/recipients", params=query, headers=auth())) == fields


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"devices": [{"platform": "fcm", "token": f"{FCM}{n}"} for n in range(21)]}, "devices"),
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"locale": "not a locale"}, "locale"),
        ({"phone": "0151 2345678"}, "phone"),
        ({"email": "ada at example"}, "email"),
        ({"devices": [{"platform": "wns", "token": FCM}]}, "devices[0].platform"),
        ({"devices": [{"platform": "apns", "token": "xyz"}]}, "devices[0].token"),
        ({"webhooks": ["https://evil.example/hook"]}, "webhooks[0]"),
        ({"webhooks": ["https://hooks.example.com/", "http://10.1.2.3/"]}, "webhooks[1]"),
        ({"webhooks": ["http://127.0.0.1/hook"]}, "webhooks[0]"),
        ({"quiet_hours": {"start": "22:00", "end": "7am"}}, "quiet_hours"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field_and_nothing_is_stored(
    client: TestClient, change: dict[str, Any], field: str
) -> None:
    response = put(client, "ada", {**ADA, **change})
    assert fields_of(response) == [field]
    assert client.get("/v1/recipients/ada", headers=auth()).status_code == 404
    batch = client.post("/v1/recipients/batch", headers=auth(),
                        json={"recipients": [{"user_id": "ada", **ADA, **change}]})  # fmt: skip
    (result,) = batch.json()["results"]
    assert result["status"] == 422 and result["error"]["details"][0]["field"] == field
    assert client.get("/v1/recipients/ada", headers=auth()).status_code == 404


def test_a_forbidden_webhook_says_why(client: TestClient) -> None:
    response = put(client, "ada", {"webhooks": ["https://evil.example/hook"]})
    (detail,) = response.json()["error"]["details"]
    assert detail["message"].startswith("forbidden destination: ")


def test_every_bad_field_is_named_at_once(client: TestClient) -> None:
    body = {"timezone": "Nowhere", "locale": "?", "phone": "12"}
    assert sorted(fields_of(put(client, "ada", body))) == ["locale", "phone", "timezone"]


def test_any_printable_user_id_is_one_and_its_location_is_quoted(client: TestClient) -> None:
    created = put(client, "a%20b%C3%A9", {})
    assert created.status_code == 201 and created.json()["user_id"] == "a bé"
    assert created.headers["location"] == "/v1/recipients/a%20b%C3%A9"
    assert client.get(created.headers["location"], headers=auth()).status_code == 200
    assert client.head(created.headers["location"], headers=auth()).status_code == 200


def test_a_user_id_that_cannot_be_one_is_refused(client: TestClient) -> None:
    assert fields_of(put(client, "x" * 257, {})) == ["user_id"]
    assert fields_of(client.get(f"/v1/recipients/{'x' * 257}", headers=auth())) == ["user_id"]
    assert fields_of(put(client, "ada", {"user_id": "grace"})) == ["user_id"]


def test_a_batch_of_1000_is_stored_and_answered_per_item(client: TestClient, store: Store) -> None:
    put(client, "u0000", {})
    items = [{"user_id": f"u{n:04d}", "email": f"u{n}@example.com"} for n in range(1000)]
    response = client.post("/v1/recipients/batch", json={"recipients": items}, headers=auth())
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == [200] + [201] * 999
    assert results[7]["recipient"]["email"] == "u7@example.com"
    assert len(store.recipients_by_ids("acme", [item["user_id"] for item in items])) == 1000
    assert store.recipients_by_ids("globex", ["u0001"]) == {}


def test_a_batch_refuses_its_bad_items_and_stores_the_rest(client: TestClient) -> None:
    items = [{"user_id": "a"}, {"user_id": "b", "timezone": "Nowhere"}, {"email": "x@y.zz"},
             {"user_id": "a", "locale": "de"}, "not an object", {"user_id": "c"}]  # fmt: skip
    results = client.post("/v1/recipients/batch", json={"recipients": items}, headers=auth())
    assert [r["status"] for r in results.json()["results"]] == [201, 422, 422, 422, 422, 201]
    listed = client.get("/v1/recipients", headers=auth()).json()["recipients"]
    assert [r["user_id"] for r in listed] == ["a", "c"] and listed[0]["locale"] is None


@pytest.mark.parametrize(
    "body",
    [{"recipients": []}, {"recipients": {}}, {"items": [{"user_id": "a"}]}, [],
     {"recipients": [{"user_id": f"u{n}"} for n in range(1001)]}],
)  # fmt: skip
def test_a_batch_that_is_not_one_is_refused_whole(client: TestClient, body: Any) -> None:
    response = client.post("/v1/recipients/batch", json=body, headers=auth())
    assert fields_of(response) == ["recipients"]
    assert client.get("/v1/recipients", headers=auth()).json()["recipients"] == []
