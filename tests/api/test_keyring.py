"""The identity the guard leaves for the handlers (``request.state``), and the key cache's bounds.

The guard runs in front of a tiny app that answers with what it finds in ``request.state``; the
keys are in a real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from notifyctl.api.guard import Guard
from notifyctl.api.keyring import StoreKeys, TtlCache
from notifyctl.apikeys import ApiKeys
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.api.test_keys import CountingStore
from tests.conftest import make_config


class NoMetrics:
    def observe_store_call(self, operation: str, seconds: float) -> None:
        pass


async def echo(request: Request) -> JSONResponse:
    state = request.state
    return JSONResponse(
        {"tenant": state.tenant, "scopes": sorted(state.scopes), "key_id": state.key_id}
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def guarded(store: Store, configured: str = "") -> TestClient:
    app = Starlette(routes=[Route("/v1/notifications", echo, methods=["GET", "POST"])])
    keys = ApiKeys.from_config(configured, "")
    return TestClient(Guard(app, keys, None, store_keys=StoreKeys(store, NoMetrics())))


def seen(client: TestClient, key: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    response = client.get("/v1/notifications", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_without_keys_anywhere_every_request_is_the_open_default_tenant(store: Store) -> None:
    with guarded(store) as client:
        everything = ["admin", "cancel", "read", "send"]
        assert seen(client) == {"tenant": "default", "scopes": everything, "key_id": None}
        assert seen(client, "anything") == seen(client)  # a key is not asked for, nor looked at


def test_a_store_key_brings_its_tenant_scopes_and_id(store: Store) -> None:
    record = KeyRecord("key_00000000000000aa", "acme", "ci", frozenset({Scope.READ}),
                       key_digest("nk_acme"), now_ms())  # fmt: skip
    store.create_key(record)
    with guarded(store) as client:
        assert seen(client, "nk_acme") == {"tenant": "acme", "scopes": ["read"],
                                           "key_id": "key_00000000000000aa"}  # fmt: skip


def test_a_configured_key_is_tenant_default_with_every_scope(store: Store) -> None:
    with guarded(store, configured="env-key") as client:
        identity = seen(client, "env-key")
        assert identity["tenant"] == "default"
        assert identity["scopes"] == ["admin", "cancel", "read", "send"]
        assert identity["key_id"].startswith("env:") and "env-key" not in identity["key_id"]
        assert client.get("/v1/notifications").status_code == 401


def test_a_cache_entry_lasts_its_ttl() -> None:
    now = [0.0]
    cache: TtlCache[str] = TtlCache(5.0, 10, lambda: now[0])
    cache.put("a", "A")
    now[0] = 4.9
    assert cache.get("a") == (True, "A")
    now[0] = 5.0
    assert cache.get("a") == (False, None) and len(cache) == 0


def test_a_full_cache_drops_its_oldest_entry_first() -> None:
    cache: TtlCache[None] = TtlCache(5.0, 3, lambda: 0.0)
    for key in "abcd":
        cache.put(key, None)
    assert len(cache) == 3
    assert [cache.get(key)[0] for key in "abcd"] == [False, True, True, True]


def test_guessed_keys_cannot_push_a_real_key_out_of_the_cache(store: Store) -> None:
    store.create_key(KeyRecord("key_00000000000000bb", "acme", "", frozenset({Scope.READ}),
                               key_digest("nk_real"), now_ms()))  # fmt: skip
    counting = CountingStore(store)
    keys = StoreKeys(counting, NoMetrics(), max_entries=5)
    app = Starlette(routes=[Route("/v1/notifications", echo, methods=["GET"])])
    with TestClient(Guard(app, ApiKeys([]), None, store_keys=keys)) as client:
        seen(client, "nk_real")
        for guess in range(50):
            client.get("/v1/notifications", headers={"authorization": f"Bearer nk_guess-{guess}"})
        seen(client, "nk_real")
    assert counting.calls["key_by_digest"] == 51  # the real key once: it stayed cached
