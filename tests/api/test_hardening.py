"""The hardened API contract: listing, content types, API keys, rate limits, SSRF at intake."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.errors import ConfigError
from notifyctl.store import Store, open_store
from tests.conftest import make_config

PUBLIC_HOOK = "http://93.184.216.34/hook"  # a literal: accepted without any DNS look-up


def webhook(**fields: Any) -> dict[str, Any]:
    return {"user_id": "u1", "channel": "webhook", "to": PUBLIC_HOOK, **fields}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def client_for(tmp_path: Path, store: Store, **settings: Any) -> TestClient:
    return TestClient(build_app(make_config(tmp_path, **settings), store))


@pytest.fixture
def client(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    with client_for(tmp_path, store) as test_client:
        yield test_client


def code_of(response: Any) -> str:
    return str(response.json()["error"]["code"])


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_by_content_type_is_415(
    client: TestClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/v1/notifications", content=b"{}", headers=headers)
    assert response.status_code == 415 and code_of(response) == "unsupported_media_type"


def test_json_with_a_charset_or_a_suffix_type_is_accepted(client: TestClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.acme+json"):
        response = client.post(
            "/v1/notifications", content=b'{"user_id": "u", "channel": "log"}',
            headers={"content-type": content_type},
        )  # fmt: skip
        assert response.status_code == 201


def test_a_created_notification_has_a_location(client: TestClient) -> None:
    response = client.post("/v1/notifications", json=webhook())
    assert response.headers["location"] == f"/v1/notifications/{response.json()['id']}"


def test_listing_pages_newest_first_by_user_and_status(client: TestClient) -> None:
    mine = [client.post("/v1/notifications", json=webhook(title=str(i))).json()["id"]
            for i in range(5)]  # fmt: skip
    client.post("/v1/notifications", json=webhook(user_id="someone-else"))
    client.delete(f"/v1/notifications/{mine[0]}")
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        query = {"user_id": "u1", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/notifications", params=query).json()
        seen += [n["id"] for n in page["notifications"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(mine))
    cancelled = client.get("/v1/notifications", params={"status": "cancelled"}).json()
    assert [n["id"] for n in cancelled["notifications"]] == [mine[0]]


def test_bad_list_parameters_are_422_each_named(client: TestClient) -> None:
    query = {"status": "lost", "limit": "0", "cursor": "nope", "colour": "red"}
    response = client.get("/v1/notifications", params=query)
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"status", "limit", "cursor", "colour"}


KEY = "s3cret-key-one"
HASHED_KEY = "another-key"


@pytest.fixture
def keyed(tmp_path: Path, store: Store) -> Iterator[TestClient]:
    keys = f"{KEY},sha256:{hashlib.sha256(HASHED_KEY.encode()).hexdigest()}"
    with client_for(tmp_path, store, api_keys=keys, metrics_require_key=True) as test_client:
        yield test_client


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", f"Basic {KEY}", "Bearer "])
def test_without_the_right_key_v1_is_401(keyed: TestClient, authorization: str | None) -> None:
    headers = {"authorization": authorization} if authorization else {}
    response = keyed.post("/v1/notifications", json=webhook(), headers=headers)
    assert response.status_code == 401 and code_of(response) == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"
    assert keyed.get("/v1/notifications/x", headers=headers).status_code == 401


@pytest.mark.parametrize("key", [KEY, HASHED_KEY])
def test_a_configured_key_in_clear_or_hashed_is_accepted(keyed: TestClient, key: str) -> None:
    response = keyed.post("/v1/notifications", json=webhook(),
                          headers={"authorization": f"Bearer {key}"})  # fmt: skip
    assert response.status_code == 201


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(keyed: TestClient, scheme: str) -> None:
    response = keyed.post("/v1/notifications", json=webhook(),
                          headers={"authorization": f"{scheme}  {KEY}"})  # fmt: skip
    assert response.status_code == 201


@pytest.mark.parametrize("authorization", [None, "Bearer wrong"])
def test_failed_authentications_are_rate_limited_by_address(
    tmp_path: Path, store: Store, authorization: str | None
) -> None:
    headers = {"authorization": authorization} if authorization else {}
    settings = {"rate_limit_per_s": 1, "rate_limit_burst": 3, "api_keys": KEY}
    with client_for(tmp_path, store, **settings) as test_client:
        statuses = []
        for _ in range(40):  # a slow machine refills a token or two meanwhile: go until refused
            response = test_client.get("/v1/notifications", headers=headers)
            statuses.append(response.status_code)
            if response.status_code != 401:
                break
        assert statuses[-1] == 429 and len(statuses) >= 4 and set(statuses[:-1]) == {401}
        assert code_of(response) == "rate_limited" and int(response.headers["retry-after"]) >= 1
        good = test_client.get("/v1/notifications", headers={"authorization": f"Bearer {KEY}"})
        assert good.status_code == 200  # a key's own bucket: the failures cost it nothing


def test_health_and_openapi_stay_open_and_metrics_can_be_closed(keyed: TestClient) -> None:
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/openapi.json").status_code == 200
    assert keyed.get("/metrics").status_code == 401


def test_keys_come_from_a_file_too(tmp_path: Path, store: Store) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"# one per line\n{KEY}\n".replace("# one per line\n", ""))
    with client_for(tmp_path, store, api_keys_file=str(keys)) as test_client:
        ok = test_client.post("/v1/notifications", json=webhook(),
                              headers={"authorization": f"Bearer {KEY}"})  # fmt: skip
        assert ok.status_code == 201
        assert test_client.post("/v1/notifications", json=webhook()).status_code == 401


def test_an_unreadable_keys_file_stops_start_up(tmp_path: Path, store: Store) -> None:
    with pytest.raises(ConfigError, match="NOTIFYCTL_API_KEYS_FILE"):
        build_app(make_config(tmp_path, api_keys_file=str(tmp_path / "missing")), store)


def test_a_burst_over_the_limit_gets_429_then_201_after_retry_after(
    tmp_path: Path, store: Store
) -> None:
    with client_for(tmp_path, store, rate_limit_per_s=1, rate_limit_burst=10) as test_client:
        answers = []
        for _ in range(40):  # a slow machine refills a token or two meanwhile: go until refused
            answers.append(test_client.post("/v1/notifications", json=webhook()))
            if answers[-1].status_code != 201:
                break
        *accepted, limited = answers
        assert len(accepted) >= 10 and {a.status_code for a in accepted} == {201}
        assert limited.status_code == 429 and code_of(limited) == "rate_limited"
        retry_after = int(limited.headers["retry-after"])
        assert retry_after == 1
        assert limited.headers["x-ratelimit-limit"] == "10"
        assert limited.headers["x-ratelimit-remaining"] == "0"
        assert int(accepted[0].headers["x-ratelimit-remaining"]) == 9
        time.sleep(retry_after)
        assert test_client.post("/v1/notifications", json=webhook()).status_code == 201
        assert test_client.get("/health").status_code == 200  # never limited


def test_the_keys_of_one_tenant_share_its_bucket(tmp_path: Path, store: Store) -> None:
    settings = {"rate_limit_per_s": 1, "rate_limit_burst": 2, "api_keys": "a-key,b-key"}
    with client_for(tmp_path, store, **settings) as test_client:

        def post(key: str) -> int:
            headers = {"authorization": f"Bearer {key}"}
            return test_client.post(
                "/v1/notifications", json=webhook(), headers=headers
            ).status_code

        # both configured keys are tenant default's: a second key is no way around its limit
        assert [post("a-key") for _ in range(2)] == [201, 201]
        assert post("b-key") == 429


def test_rate_limiting_can_be_turned_off(tmp_path: Path, store: Store) -> None:
    settings = {"rate_limit_per_s": 0, "rate_limit_burst": 1}
    with client_for(tmp_path, store, **settings) as test_client:
        statuses = {test_client.post("/v1/notifications", json=webhook()).status_code
                    for _ in range(5)}  # fmt: skip
        assert statuses == {201}


FORBIDDEN = [
    "http://127.0.0.1/hook", "http://127.1.2.3:8080/", "http://[::1]/", "http://localhost/",
    "http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://[fd00::1]/",
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://224.0.0.1/",
    "http://100.100.100.200/", "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/",
    "http://metadata.google.internal/computeMetadata/v1/", "http://[64:ff9b::7f00:1]/",
    "http://[2002:7f00:1::1]/", "http://[::127.0.0.1]/", "http://192.0.0.100/",
    "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "http://[fe80::1%25eth0]/",
]  # fmt: skip


@pytest.mark.parametrize("url", FORBIDDEN)
def test_a_webhook_to_a_forbidden_address_is_refused_at_intake(
    tmp_path: Path, store: Store, url: str
) -> None:
    with client_for(tmp_path, store, webhook_allow="") as test_client:
        response = test_client.post("/v1/notifications", json=webhook(to=url))
        assert response.status_code == 422
        (detail,) = response.json()["error"]["details"]
        assert detail["field"] == "to" and "forbidden destination" in detail["message"]
        batch = test_client.post("/v1/notifications/batch",
                                 json={"notifications": [webhook(to=url), webhook()]})  # fmt: skip
        assert [r["status"] for r in batch.json()["results"]] == [422, 201]


def test_the_allow_list_admits_networks_and_host_names(tmp_path: Path, store: Store) -> None:
    allow = "10.1.0.0/16,localhost,metadata.google.internal"
    with client_for(tmp_path, store, webhook_allow=allow) as test_client:
        for url in ("http://10.1.2.3/", "http://localhost:8080/",
                    "http://metadata.google.internal/"):  # fmt: skip
            assert test_client.post("/v1/notifications", json=webhook(to=url)).status_code == 201
        refused = test_client.post("/v1/notifications", json=webhook(to="http://10.2.0.1/"))
        assert refused.status_code == 422
