"""Intake resolves webhook hosts concurrently, each once, within a deadline, with a short cache;
and a batch costs rate-limit tokens in proportion to its size. The resolver is a fake one that
counts its calls and can hold a name until the test lets it go (no real DNS, no timing)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.api.intake_dns import IntakeResolver
from notifyctl.channels.destinations import DestinationPolicy
from notifyctl.store import Store, open_store
from tests.conftest import make_config

PUBLIC = "93.184.216.34"


class FakeResolver(AbstractResolver):
    """``evil.*`` resolves to loopback, ``hang.*`` waits for ``release``, any other name to a
    public address once ``together`` calls are in flight at the same time (or 2 s passed)."""

    def __init__(self, together: int = 1) -> None:
        self.together = together
        self.calls: list[str] = []
        self.in_flight = self.most_in_flight = 0
        self.release = threading.Event()  # set from the test's thread, read on the app's loop
        self.hang_finished = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.calls.append(host)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if host.startswith("hang."):
                await self._wait(lambda: self.release.is_set(), 30)
                self.hang_finished = True
            else:
                await self._wait(lambda: self.in_flight >= self.together, 2)
        finally:
            self.in_flight -= 1
        address = "127.0.0.1" if host.startswith("evil.") else PUBLIC
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0}]  # fmt: skip

    @staticmethod
    async def _wait(condition: Any, bound_s: float) -> None:
        for _ in range(int(bound_s * 100)):  # bounded: a missed condition fails, never hangs
            if condition():
                return
            await asyncio.sleep(0.01)

    async def close(self) -> None:
        return None


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(make_config(tmp_path))
    yield opened
    opened.close()


def hook(host: str, n: int = 0) -> dict[str, Any]:
    return {"user_id": "u", "channel": "webhook", "to": f"http://{host}/hook/{n}"}


def batch(client: TestClient, items: list[dict[str, Any]]) -> list[int]:
    response = client.post("/v1/notifications/batch", json={"notifications": items})
    assert response.status_code == 200, response.text
    return [r["status"] for r in response.json()["results"]]


def test_a_batch_resolves_its_distinct_hosts_at_once_each_once(
    tmp_path: Path, store: Store
) -> None:
    hosts = ["a.example", "b.example", "c.example", "d.example", "evil.example"]
    resolver = FakeResolver(together=len(hosts))
    config = make_config(tmp_path, webhook_allow="", intake_dns_timeout_ms=30_000)
    items = [hook(hosts[n % len(hosts)], n) for n in range(20)]
    with TestClient(build_app(config, store, resolver=resolver)) as client:
        statuses = batch(client, items)
    assert resolver.most_in_flight == len(hosts)  # all at once, not one after another
    assert sorted(resolver.calls) == sorted(hosts)  # 20 items, 5 hosts: 5 look-ups
    assert statuses == [422 if n % 5 == 4 else 201 for n in range(20)]


def test_a_host_that_does_not_resolve_in_time_is_accepted_and_the_rest_still_checked(
    tmp_path: Path, store: Store
) -> None:
    resolver = FakeResolver()
    config = make_config(tmp_path, webhook_allow="", intake_dns_timeout_ms=200)
    with TestClient(build_app(config, store, resolver=resolver)) as client:
        statuses = batch(client, [hook("hang.example"), hook("evil.example"), hook("ok.example")])
        answered_before_dns = not resolver.hang_finished
        single = client.post("/v1/notifications", json=hook("hang.example"))
        resolver.release.set()
    # accepted unchecked, as a name that does not resolve always was: delivery checks it again
    assert answered_before_dns and statuses == [201, 422, 201]
    assert single.status_code == 201
    assert resolver.calls.count("hang.example") == 1  # the second request joined the first look-up


def test_outcomes_are_cached_across_requests(tmp_path: Path, store: Store) -> None:
    resolver = FakeResolver()
    config = make_config(tmp_path, webhook_allow="")
    with TestClient(build_app(config, store, resolver=resolver)) as client:
        for _ in range(3):
            assert client.post("/v1/notifications", json=hook("evil.example")).status_code == 422
            assert client.post("/v1/notifications", json=hook("ok.example")).status_code == 201
    assert sorted(resolver.calls) == ["evil.example", "ok.example"]


def test_the_cache_expires_and_stays_bounded() -> None:
    now = [1_000.0]
    resolver = FakeResolver()
    intake = IntakeResolver(DestinationPolicy(), 5.0, resolver, lambda: now[0], max_entries=3)

    async def check(*hosts: str) -> dict[str, str]:
        return await intake.problems(f"http://{host}/" for host in hosts)

    async def scenario() -> None:
        assert set(await check("evil.example", "a.example")) == {"http://evil.example/"}
        await check("evil.example")
        assert sorted(resolver.calls) == ["a.example", "evil.example"]
        now[0] += 31  # past the time-to-live
        await check("evil.example")
        assert resolver.calls.count("evil.example") == 2
        await check("b.example", "c.example", "d.example", "e.example")
        assert len(intake._cache) == 3

    asyncio.run(scenario())


def test_a_full_batch_costs_eleven_tokens_and_never_a_429_on_a_fresh_default_bucket(
    tmp_path: Path, store: Store
) -> None:
    logs = [{"user_id": "u", "channel": "log"} for _ in range(1_000)]
    with TestClient(build_app(make_config(tmp_path), store)) as client:  # 100/s, burst 200
        first = client.post("/v1/notifications/batch", json={"notifications": logs})
    assert first.status_code == 200
    assert int(first.headers["x-ratelimit-remaining"]) <= 200 - 11


def test_a_batch_beyond_the_bucket_is_429_naming_its_cost(tmp_path: Path, store: Store) -> None:
    logs = [{"user_id": "u", "channel": "log"} for _ in range(1_000)]
    config = make_config(tmp_path, rate_limit_per_s=1, rate_limit_burst=15)
    with TestClient(build_app(config, store)) as client:
        first = client.post("/v1/notifications/batch", json={"notifications": logs})
        second = client.post("/v1/notifications/batch", json={"notifications": logs})
        single = client.post("/v1/notifications", json={"user_id": "u", "channel": "log"})
    assert first.status_code == 200 and int(first.headers["x-ratelimit-remaining"]) <= 4
    assert second.status_code == 429 and "costs 11" in second.json()["error"]["message"]
    assert len(second.headers.get_list("x-ratelimit-remaining")) == 1
    assert int(second.headers["retry-after"]) >= 1
    assert single.status_code == 201  # a refused batch took only its request's token
