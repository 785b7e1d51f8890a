"""Each tenant's limits through the real app: the rate limit is the tenant's, shared by its keys
and separate from other tenants'; a tenant's own rate replaces the deployment's and reaches the
API within the cache's TTL; the daily quota is counted in the store (shared by API processes),
refuses with 429 ``quota_exceeded`` and ``Retry-After`` at the next UTC midnight, takes a batch
whole or not at all, and gives back what created nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.api.limits import TenantLimitsCache
from notifyctl.errors import StoreUnavailable
from notifyctl.limits import TenantLimits, quota_day, seconds_to_next_day
from notifyctl.model import now_ms
from notifyctl.store import Store, open_store
from notifyctl.store.calls import CallObserver
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config

HOOK = "http://127.0.0.1:9/hook"
#: two keys of acme, one of globex
KEYS = {"nk_acme-one": "acme", "nk_acme-two": "acme", "nk_globex": "globex"}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    for number, (key, tenant) in enumerate(KEYS.items()):
        scopes = frozenset({Scope.SEND, Scope.READ})
        opened.create_key(KeyRecord(f"key_{number:016x}", tenant, "", scopes, key_digest(key),
                                    now_ms()))  # fmt: skip
    yield opened
    opened.close()


def client_for(tmp_path: Path, store: Store, **settings: Any) -> TestClient:
    return TestClient(build_app(make_config(tmp_path, **settings), store))


def body(key: str | None = None) -> dict[str, Any]:
    return {"user_id": "u1", "channel": "webhook", "to": HOOK, **({"idempotency_key": key}
                                                                   if key else {})}  # fmt: skip


def post(client: TestClient, key: str, idempotency_key: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {key}"}
    return client.post("/v1/notifications", json=body(idempotency_key), headers=headers)


def post_batch(client: TestClient, key: str, items: list[Any]) -> Any:
    headers = {"authorization": f"Bearer {key}"}
    return client.post("/v1/notifications/batch", json={"notifications": items}, headers=headers)


def statuses(client: TestClient, key: str, count: int) -> list[int]:
    return [post(client, key).status_code for _ in range(count)]


def code_of(response: Any) -> str:
    return str(response.json()["error"]["code"])


def stored_of(store: Store, tenant: str) -> int:
    return store.counts(now_ms(), tenant).get("pending", 0)


# -- the rate limit -------------------------------------------------------------------------------


def test_the_keys_of_a_tenant_share_its_bucket_and_other_tenants_keep_theirs(
    tmp_path: Path, store: Store
) -> None:
    for tenant in ("acme", "globex"):  # a rate too slow to refill during the test
        store.set_tenant_limits(TenantLimits(tenant, rate_per_s=0.01, burst=3))
    with client_for(tmp_path, store) as client:
        assert statuses(client, "nk_acme-one", 2) == [201, 201]
        assert statuses(client, "nk_acme-two", 2) == [201, 429]  # acme's third, then none
        limited = post(client, "nk_acme-one")
        assert limited.status_code == 429 and code_of(limited) == "rate_limited"
        assert statuses(client, "nk_globex", 3) == [201, 201, 201]


def test_a_tenants_own_rate_replaces_the_deployments(tmp_path: Path, store: Store) -> None:
    store.set_tenant_limits(TenantLimits("acme", rate_per_s=0.01, burst=5))
    with client_for(tmp_path, store, rate_limit_per_s=1, rate_limit_burst=2) as client:
        assert statuses(client, "nk_acme-one", 6) == [201] * 5 + [429]
        assert post(client, "nk_acme-two").headers["x-ratelimit-limit"] == "5"
        assert post(client, "nk_globex").headers["x-ratelimit-limit"] == "2"  # the default


def test_a_tenants_own_rate_limits_it_where_the_deployment_limits_nothing(
    tmp_path: Path, store: Store
) -> None:
    store.set_tenant_limits(TenantLimits("acme", rate_per_s=0.01, burst=2))
    with client_for(tmp_path, store, rate_limit_per_s=0) as client:
        assert statuses(client, "nk_acme-one", 3) == [201, 201, 429]
        assert statuses(client, "nk_globex", 5) == [201] * 5


def test_a_new_limit_reaches_the_api_within_the_ttl_without_a_restart(
    tmp_path: Path, store: Store
) -> None:
    clock = [0.0]

    def limits_cache(cached: Store, observer: CallObserver) -> TenantLimitsCache:
        return TenantLimitsCache(cached, observer, ttl_s=10, clock=lambda: clock[0])

    app = build_app(make_config(tmp_path, rate_limit_per_s=0), store, tenant_limits=limits_cache)
    with TestClient(app) as client:
        assert statuses(client, "nk_acme-one", 3) == [201] * 3  # read: acme has no limits
        store.set_tenant_limits(TenantLimits("acme", daily_quota=4))
        clock[0] = 9.9
        assert statuses(client, "nk_acme-one", 2) == [201, 201]  # cached: still no quota
        clock[0] = 10.0
        assert statuses(client, "nk_acme-one", 5) == [201] * 4 + [429]  # the quota, counted anew


# -- the daily quota ------------------------------------------------------------------------------


def test_a_tenant_over_its_quota_gets_429_until_the_next_utc_day(
    tmp_path: Path, store: Store
) -> None:
    store.set_tenant_limits(TenantLimits("acme", daily_quota=3))
    with client_for(tmp_path, store) as client:
        accepted = [post(client, "nk_acme-one") for _ in range(3)]
        assert [a.status_code for a in accepted] == [201] * 3
        assert [a.headers["x-daily-quota-remaining"] for a in accepted] == ["2", "1", "0"]
        assert accepted[0].headers["x-daily-quota-limit"] == "3"
        refused = post(client, "nk_acme-two")  # another key of the tenant: the same quota
        expected_wait = seconds_to_next_day(now_ms())
        assert refused.status_code == 429 and code_of(refused) == "quota_exceeded"
        assert abs(int(refused.headers["retry-after"]) - expected_wait) <= 5
        assert "3 of 3" in refused.json()["error"]["message"]
        assert "00:00 UTC" in refused.json()["error"]["message"]
        assert refused.json()["error"]["details"] == [{"quota": 3, "used": 3, "requested": 1}]
        assert refused.headers["x-daily-quota-remaining"] == "0"
        assert statuses(client, "nk_globex", 4) == [201] * 4  # no quota of its own
        assert "x-daily-quota-limit" not in post(client, "nk_globex").headers
    assert stored_of(store, "acme") == 3  # the refused one stored nothing
    assert store.quota_used("acme", quota_day(now_ms())) == 3


def test_the_quota_is_shared_by_api_processes_on_one_store(tmp_path: Path, store: Store) -> None:
    store.set_tenant_limits(TenantLimits("acme", daily_quota=4))
    other = open_store(make_config(tmp_path))  # a second API process's own connection
    try:
        with client_for(tmp_path, store) as first, client_for(tmp_path, other) as second:
            answers = [post(api, "nk_acme-one").status_code for api in [first, second] * 3]
    finally:
        other.close()
    assert answers == [201, 201, 201, 201, 429, 429]


def test_a_batch_is_counted_whole_or_refused_whole(tmp_path: Path, store: Store) -> None:
    store.set_tenant_limits(TenantLimits("acme", daily_quota=5))
    with client_for(tmp_path, store) as client:
        first = post_batch(client, "nk_acme-one", [body() for _ in range(3)] + [{"bad": 1}])
        assert first.status_code == 200  # the invalid item is not counted
        assert first.headers["x-daily-quota-remaining"] == "2"
        refused = post_batch(client, "nk_acme-one", [body() for _ in range(3)])
        assert refused.status_code == 429 and code_of(refused) == "quota_exceeded"
        assert "these 3 notifications" in refused.json()["error"]["message"]
        assert post_batch(client, "nk_acme-one", [body(), body()]).status_code == 200
    assert stored_of(store, "acme") == 5


def test_idempotent_replays_and_conflicts_give_their_count_back(
    tmp_path: Path, store: Store
) -> None:
    store.set_tenant_limits(TenantLimits("acme", daily_quota=3))
    with client_for(tmp_path, store) as client:
        assert post(client, "nk_acme-one", "order-1").status_code == 201
        replay = post(client, "nk_acme-one", "order-1")
        assert replay.status_code == 200 and replay.headers["x-daily-quota-remaining"] == "2"
        batch = post_batch(client, "nk_acme-one", [body("order-1"), body("order-2")])
        assert [r["status"] for r in batch.json()["results"]] == [200, 201]
        assert batch.headers["x-daily-quota-remaining"] == "1"
        assert post(client, "nk_acme-one", "order-3").status_code == 201
        # used up: even a replay needs room for one (docs/tenants.md says so), and is refused
        assert post(client, "nk_acme-one", "order-1").status_code == 429
    assert store.quota_used("acme", quota_day(now_ms())) == 3


class FailingInserts:
    """The real store, whose inserts fail as a store that went away would."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def insert_many(self, *args: Any) -> Any:
        raise StoreUnavailable("the test's store is down")


@pytest.mark.parametrize(
    "send",
    [
        lambda client: post(client, "nk_acme-one"),
        lambda client: post_batch(client, "nk_acme-one", [body(), body()]),
    ],
    ids=["single", "batch"],
)
def test_a_failed_insert_gives_its_count_back(
    tmp_path: Path, store: Store, send: Callable[[TestClient], Any]
) -> None:
    store.set_tenant_limits(TenantLimits("acme", daily_quota=10))
    failing: Any = FailingInserts(store)
    with client_for(tmp_path, failing) as client:
        assert send(client).status_code == 503
    assert store.quota_used("acme", quota_day(now_ms())) == 0
