"""The store's API keys through the real app (Starlette's TestClient over a real SQLite store):
which scope opens which endpoint, expiry, revocation and new keys within the cache's TTL, the
cache sparing the store, last use recorded, and NOTIFYCTL_API_KEYS beside store keys."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.api.guard import required_scope
from notifyctl.api.keyring import StoreKeys
from notifyctl.errors import StoreUnavailable
from notifyctl.model import now_ms
from notifyctl.ops.keys import new_key_id
from notifyctl.store import Store, open_store
from notifyctl.tenants import ALL_SCOPES, KeyRecord, Scope, key_digest, scopes_text
from tests.conftest import make_config
from tests.helpers import insert, wait_until, webhooks

HOOK = "http://127.0.0.1:9/hook"
TTL_S = 5.0
KEY = "nk_the-key-of-acme"


class Clock:
    """A clock the test moves by hand: the key cache's (monotonic seconds) or the wall's (ms)."""

    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> Any:
        return self.now


class CountingStore:
    """The real store, counting the calls the key cache makes to it."""

    COUNTED = ("key_by_digest", "has_keys", "touch_key")

    def __init__(self, store: Store) -> None:
        self._store = store
        self.calls = dict.fromkeys(self.COUNTED, 0)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._store, name)
        if name not in self.COUNTED:
            return method

        def counted(*args: Any) -> Any:
            self.calls[name] += 1
            return method(*args)

        counted.__name__ = name
        return counted


def store_key(
    store: Any, key: str = KEY, scopes: frozenset[Scope] = ALL_SCOPES, **fields: Any
) -> KeyRecord:
    record = KeyRecord(
        id=new_key_id(), tenant=fields.pop("tenant", "acme"), name="", scopes=scopes,
        digest=key_digest(key), created_at=now_ms(), **fields,
    )  # fmt: skip
    store.create_key(record)
    return record


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def webhook() -> dict[str, Any]:
    return {"user_id": "u1", "channel": "webhook", "to": HOOK}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def app_for(
    tmp_path: Path, store: Any, clock: Clock, wall: Clock | None = None, **settings: Any
) -> TestClient:
    """The real app, its key cache on ``clock`` (and ``wall`` for expiry) with a 5 s TTL."""
    factory = partial(StoreKeys, ttl_s=TTL_S, clock=clock, **({"wall_ms": wall} if wall else {}))
    config = make_config(tmp_path, **settings)
    return TestClient(build_app(config, store, store_keys=factory))


# -- every endpoint with every combination of scopes -------------------------------------------

ENDPOINTS: dict[str, tuple[str, str, Scope]] = {
    "create": ("POST", "/v1/notifications", Scope.SEND),
    "batch": ("POST", "/v1/notifications/batch", Scope.SEND),
    "list": ("GET", "/v1/notifications", Scope.READ),
    "get": ("GET", "/v1/notifications/{id}", Scope.READ),
    "cancel": ("DELETE", "/v1/notifications/{id}", Scope.CANCEL),
}
#: each endpoint's answer to a key that may use it
ALLOWED = {"create": 201, "batch": 200, "list": 200, "get": 200, "cancel": 200}
COMBINATIONS = [
    frozenset(combination)
    for size in range(len(Scope) + 1)
    for combination in itertools.combinations(Scope, size)
]


def combination_key(scopes: frozenset[Scope]) -> str:
    return f"nk_scoped-{scopes_text(scopes) or 'none'}"


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Store]]:
    """One app and one key of tenant ``default`` per combination of scopes (none included)."""
    tmp_path = tmp_path_factory.mktemp("scopes")
    store = open_store(make_config(tmp_path))
    for scopes in COMBINATIONS:
        store_key(store, combination_key(scopes), scopes, tenant="default")
    with TestClient(build_app(make_config(tmp_path, rate_limit_per_s=0), store)) as client:
        yield client, store
    store.close()


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize("scopes", COMBINATIONS, ids=lambda s: scopes_text(s) or "none")
def test_each_endpoint_opens_exactly_to_the_keys_with_its_scope(
    scoped: tuple[TestClient, Store], endpoint: str, scopes: frozenset[Scope]
) -> None:
    client, store = scoped
    method, path, needed = ENDPOINTS[endpoint]
    (notification_id,) = insert(store, webhooks(HOOK, 1))  # pending: cancellable
    body = None
    if method == "POST":
        body = {"notifications": [webhook()]} if endpoint == "batch" else webhook()
    url, headers = path.format(id=notification_id), bearer(combination_key(scopes))
    response = client.request(method, url, json=body, headers=headers)
    if needed in scopes:
        assert response.status_code == ALLOWED[endpoint], response.text
    else:
        assert response.status_code == 403
        error = response.json()["error"]
        assert error["code"] == "insufficient_scope" and error["details"] == [{"scope": needed}]
        assert needed.value in error["message"]
        assert response.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="{needed.value}"'
        )


def test_the_guard_asks_each_request_for_the_scope_of_the_table() -> None:
    """The rule the test above proves through the app: one scope per endpoint (``admin`` opens
    none of them: it is no superset), HEAD as GET, nothing for what only gets a 404 or 405."""
    asked = {
        (method, path): required_scope(method, path)
        for method in ("GET", "HEAD", "POST", "DELETE", "PUT")
        for path in (
            "/v1/notifications",
            "/v1/notifications/batch",
            "/v1/notifications/01J0",
            "/v1/notifications/01J0/x",
            "/v1/other",
            "/metrics",
        )  # fmt: skip
    }
    needed = {key: scope for key, scope in asked.items() if scope is not None}
    assert needed == {
        ("GET", "/v1/notifications"): Scope.READ, ("HEAD", "/v1/notifications"): Scope.READ,
        ("POST", "/v1/notifications"): Scope.SEND,
        ("POST", "/v1/notifications/batch"): Scope.SEND,
        # the batch path answers only POST; a GET of it is a GET of the id "batch"
        ("GET", "/v1/notifications/batch"): Scope.READ,
        ("HEAD", "/v1/notifications/batch"): Scope.READ,
        ("DELETE", "/v1/notifications/batch"): Scope.CANCEL,
        ("GET", "/v1/notifications/01J0"): Scope.READ,
        ("HEAD", "/v1/notifications/01J0"): Scope.READ,
        ("DELETE", "/v1/notifications/01J0"): Scope.CANCEL,
    }  # fmt: skip


def test_recipients_templates_and_messages_have_their_scopes() -> None:
    """Recipients are kept by whoever sends to them (``send``); templates are the tenant's
    settings (``admin`` to change, ``read`` to read); message reports are read with ``read``."""
    table = {
        ("GET", "/v1/recipients"): Scope.READ, ("GET", "/v1/recipients/u42"): Scope.READ,
        ("PUT", "/v1/recipients/u42"): Scope.SEND, ("PATCH", "/v1/recipients/u42"): Scope.SEND,
        ("DELETE", "/v1/recipients/u42"): Scope.SEND,
        ("POST", "/v1/recipients/batch"): Scope.SEND,
        ("GET", "/v1/templates"): Scope.READ, ("GET", "/v1/templates/order-shipped"): Scope.READ,
        ("PUT", "/v1/templates/order-shipped"): Scope.ADMIN,
        ("DELETE", "/v1/templates/order-shipped"): Scope.ADMIN,
        ("GET", "/v1/messages/01J0"): Scope.READ, ("HEAD", "/v1/messages/01J0"): Scope.READ,
        ("POST", "/v1/templates/batch"): None, ("POST", "/v1/recipients"): None,
        ("GET", "/v1/messages"): None, ("PUT", "/v1/recipients/u42/x"): None,
    }  # fmt: skip
    assert {key: required_scope(*key) for key in table} == table


def test_a_refused_scope_changes_nothing(scoped: tuple[TestClient, Store]) -> None:
    client, store = scoped
    (notification_id,) = insert(store, webhooks(HOOK, 1))
    read_only = bearer(combination_key(frozenset({Scope.READ, Scope.ADMIN})))
    assert (
        client.delete(f"/v1/notifications/{notification_id}", headers=read_only).status_code == 403
    )
    found = store.get(notification_id)
    assert found is not None and found.status.value == "pending"
    before = len(store.list_notifications(None, None, 1_000, None))
    assert client.post("/v1/notifications", json=webhook(), headers=read_only).status_code == 403
    assert len(store.list_notifications(None, None, 1_000, None)) == before


def test_health_and_openapi_need_no_key_and_metrics_stay_as_configured(
    scoped: tuple[TestClient, Store],
) -> None:
    client, _ = scoped
    assert client.get("/health").status_code == 200
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/metrics").status_code == 200  # NOTIFYCTL_METRICS_REQUIRE_KEY is off
    assert client.get("/v1/notifications").status_code == 401


# -- expiry, revocation and new keys, within the cache's TTL -------------------------------------


def test_an_expired_key_is_refused_at_once(tmp_path: Path, store: Store) -> None:
    wall = Clock(now_ms())
    store_key(store, expires_at=wall.now + 60_000)
    store_key(store, "nk_expired-already", expires_at=wall.now - 1)
    with app_for(tmp_path, store, Clock(0.0), wall) as client:
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        refused = client.get("/v1/notifications", headers=bearer("nk_expired-already"))
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        wall.now += 60_000  # cached, but expiry is checked on every request
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 401


def test_a_revoked_key_is_refused_once_the_cache_ttl_has_passed(
    tmp_path: Path, store: Store
) -> None:
    clock = Clock(0.0)
    record = store_key(store)
    with app_for(tmp_path, store, clock) as client:
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        assert store.revoke_key(record.id, now_ms())
        clock.now += TTL_S - 0.1  # the documented delay: the cached record still stands
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        clock.now += 0.1
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 401
        assert client.post("/v1/notifications", json=webhook(),
                           headers=bearer(KEY)).status_code == 401  # fmt: skip


def test_a_new_key_is_accepted_once_the_cache_ttl_has_passed(tmp_path: Path, store: Store) -> None:
    clock = Clock(0.0)
    store_key(store, "nk_first")  # keys are on
    with app_for(tmp_path, store, clock) as client:
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 401
        store_key(store)
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 401  # cached
        clock.now += TTL_S
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200


def test_an_open_api_asks_for_keys_once_the_first_is_created(tmp_path: Path, store: Store) -> None:
    clock = Clock(0.0)
    with app_for(tmp_path, store, clock) as client:
        assert client.post("/v1/notifications", json=webhook()).status_code == 201
        record = store_key(store, scopes=frozenset({Scope.READ}))
        clock.now += TTL_S
        assert client.post("/v1/notifications", json=webhook()).status_code == 401
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        store.revoke_key(record.id, now_ms())  # the last key revoked: the API stays closed
        clock.now += TTL_S
        assert client.post("/v1/notifications", json=webhook()).status_code == 401


# -- the cache spares the store ------------------------------------------------------------------


def test_a_cached_key_costs_no_store_call(tmp_path: Path, store: Store) -> None:
    counting = CountingStore(store)
    store_key(store)
    with app_for(tmp_path, counting, Clock(0.0)) as client:
        for _ in range(20):
            assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        for _ in range(20):
            assert client.get("/v1/notifications", headers=bearer("nk_wrong")).status_code == 401
    assert counting.calls["key_by_digest"] == 2  # one per digest, the unknown one included
    assert counting.calls["has_keys"] == 1  # once keys exist, never asked again


def test_the_cache_asks_the_store_again_after_its_ttl(tmp_path: Path, store: Store) -> None:
    counting, clock = CountingStore(store), Clock(0.0)
    store_key(store)
    with app_for(tmp_path, counting, clock) as client:
        for _ in range(3):
            client.get("/v1/notifications", headers=bearer(KEY))
            clock.now += TTL_S
    assert counting.calls["key_by_digest"] == 3


def test_an_open_api_asks_the_store_for_keys_once_per_ttl(tmp_path: Path, store: Store) -> None:
    counting = CountingStore(store)
    with app_for(tmp_path, counting, Clock(0.0)) as client:
        for _ in range(10):
            assert client.get("/v1/notifications").status_code == 200
    assert counting.calls == {"key_by_digest": 0, "has_keys": 1, "touch_key": 0}


def test_a_store_that_cannot_read_keys_is_503_never_open(tmp_path: Path, store: Store) -> None:
    class Failing(CountingStore):
        def key_by_digest(self, digest: str) -> None:
            raise StoreUnavailable("sqlite store: disk I/O error")

    store_key(store)
    with app_for(tmp_path, Failing(store), Clock(0.0)) as client:
        response = client.get("/v1/notifications", headers=bearer(KEY))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "store_unavailable"


# -- last use ------------------------------------------------------------------------------------


def test_last_use_is_recorded_at_most_once_a_minute_per_key(tmp_path: Path, store: Store) -> None:
    counting, clock = CountingStore(store), Clock(0.0)
    record = store_key(store)
    with app_for(tmp_path, counting, clock) as client:
        for _ in range(5):
            assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        wait_until(lambda: store.list_keys("acme")[0].last_used_at is not None, 10, "a touch")
        first = store.list_keys("acme")[0].last_used_at
        assert counting.calls["touch_key"] == 1 and first is not None
        assert first >= record.created_at
        clock.now += 61.0
        client.get("/v1/notifications", headers=bearer(KEY))
        wait_until(lambda: counting.calls["touch_key"] == 2, 10, "the next minute's touch")


# -- NOTIFYCTL_API_KEYS beside the store's keys --------------------------------------------------


def test_configured_keys_keep_every_scope_beside_store_keys(tmp_path: Path, store: Store) -> None:
    store_key(store, scopes=frozenset({Scope.READ}))
    with app_for(tmp_path, store, Clock(0.0), api_keys="env-key") as client:
        assert client.post("/v1/notifications", json=webhook(),
                           headers=bearer("env-key")).status_code == 201  # fmt: skip
        assert client.post("/v1/notifications", json=webhook(),
                           headers=bearer(KEY)).status_code == 403  # fmt: skip
        assert client.get("/v1/notifications", headers=bearer(KEY)).status_code == 200
        assert client.get("/v1/notifications", headers=bearer("nope")).status_code == 401
