"""The nginx tier: the repository's docker/nginx.conf in front of two real ``notifyctl api``
processes on loopback. Each API has its own SQLite store, so where a notification was stored tells
which API served its POST."""

from __future__ import annotations

import asyncio
import http.client
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from notifyctl.config import Config
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import answers, call, child_env, free_port, wait_until

pytestmark = pytest.mark.integration

NGINX_CONF = Path(__file__).resolve().parents[2] / "docker" / "nginx.conf"


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx package")
        pytest.skip("nginx is not installed (apt-get install nginx, as .ci/run does)")
    return found


def render(conf: str, replacements: dict[str, str]) -> str:
    """The shipped config with ``replacements`` made, each of which must occur exactly once."""
    for old, new in replacements.items():
        assert conf.count(old) == 1, f"docker/nginx.conf should contain {old!r} once"
        conf = conf.replace(old, new)
    return conf


def run_nginx(prefix: Path, *args: str, directives: str = "") -> list[str]:
    """nginx with everything it writes under ``prefix``; the pid file is not in the config."""
    return [nginx_binary(), "-p", str(prefix), *args, "-g", f"pid {prefix}/nginx.pid; {directives}"]


def note(i: int) -> dict[str, object]:
    return {"user_id": f"u{i}", "channel": "log", "title": f"n{i}"}


@dataclass
class Tier:
    url: str
    apis: list[subprocess.Popen[bytes]]
    api_urls: list[str]
    configs: list[Config]

    def stored_by(self, notification_id: str) -> list[int]:
        """Which APIs' stores hold the notification (read from the files: an API may be dead)."""
        holders = []
        for index, config in enumerate(self.configs):
            store = open_store(config)
            try:
                if store.get(notification_id) is not None:
                    holders.append(index)
            finally:
                store.close()
        return holders


def start_api(config: Config) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "notifyctl", "api"]
    return subprocess.Popen(argv, env=child_env(config))


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def tier(tmp_path: Path) -> Iterator[Tier]:
    configs = [make_config(tmp_path / name, api_port=free_port()) for name in ("a", "b")]
    apis = [start_api(config) for config in configs]
    api_urls = [f"http://127.0.0.1:{c.api_port}" for c in configs]
    processes = list(apis)
    try:
        for url in api_urls:
            wait_until(lambda url=url: answers(f"{url}/health"), 30, f"the API at {url}")
        port, prefix = free_port(), tmp_path / "nginx"
        prefix.mkdir()
        conf = render(NGINX_CONF.read_text(), {
            "api-1:3000": f"127.0.0.1:{configs[0].api_port}",
            "api-2:3000": f"127.0.0.1:{configs[1].api_port}",
            "listen 80;": f"listen 127.0.0.1:{port};",
        })  # fmt: skip
        (prefix / "nginx.conf").write_text(conf)
        argv = run_nginx(prefix, "-c", str(prefix / "nginx.conf"), directives="daemon off;")
        with (prefix / "output.log").open("wb") as output:
            nginx = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        processes.insert(0, nginx)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: nginx.poll() is not None or answers(f"{url}/health"), 20, "nginx")
        assert nginx.poll() is None, (prefix / "output.log").read_text()
        yield Tier(url, apis, api_urls, configs)
    finally:
        stop_all(processes)  # nginx first: SIGTERM is its fast shutdown


def test_nginx_spreads_requests_over_both_apis(tier: Tier) -> None:
    ids = []
    for i in range(20):
        status, body = call("POST", f"{tier.url}/v1/notifications", note(i))
        assert status == 201, body
        ids.append(body["id"])
    holders = [tier.stored_by(notification_id) for notification_id in ids]
    assert all(len(h) == 1 for h in holders), "each notification is in exactly one store"
    per_api = Counter(h[0] for h in holders)
    assert set(per_api) == {0, 1}, per_api


@dataclass(frozen=True)
class Result:
    method: str
    status: int
    started: float
    ended: float
    notification_id: str | None


def client(tier: Tier, number: int, killed: threading.Event, out: list[Result]) -> None:
    """37 requests, POST and GET in turn, 20 ms apart (148 from four clients: under the burst
    of 200, so no 429); the last ten only once the API has been killed."""
    for i in range(37):
        if i == 27:
            killed.wait(60)
        method = "POST" if i % 2 == 0 else "GET"
        started = time.monotonic()
        try:
            if method == "POST":
                status, body = call("POST", f"{tier.url}/v1/notifications", note(number * 100 + i))
            else:
                status, body = call("GET", f"{tier.url}/health")
        except (OSError, http.client.HTTPException):  # no answer, or one cut off mid-body
            status, body = 0, {}
        out.append(Result(method, status, started, time.monotonic(), body.get("id")))
        time.sleep(0.02)


def test_killing_an_api_fails_only_posts_in_flight_at_that_moment(tier: Tier) -> None:
    results: list[Result] = []
    killed = threading.Event()
    threads = [threading.Thread(target=client, args=(tier, n, killed, results)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: len(results) >= 40, 60, "40 requests before the kill")
        kill_started = time.monotonic()
        tier.apis[1].kill()
        tier.apis[1].wait()
        kill_ended = time.monotonic()
    finally:
        killed.set()
        for thread in threads:
            thread.join(120)
    assert len(results) == 148

    # A request nginx can still retry goes to the other API; a POST that had reached the killed
    # API is not retried (it may have been stored), and an answer already being sent when the
    # API died is cut off (status 0 here): only such requests, in flight at the kill, may fail.
    in_flight = [r for r in results if r.started < kill_ended and r.ended > kill_started]
    failed = [r for r in results if r.status not in (200, 201)]
    assert all(r.status in (0, 502) and r in in_flight for r in failed), failed
    assert all(r.method == "POST" for r in failed if r.status == 502), failed
    after = [r for r in results if r.started > kill_ended]
    assert len(after) >= 40 and all(r.status in (200, 201) for r in after)

    created = [r.notification_id for r in results if r.status == 201]
    holders = {i: tier.stored_by(i) for i in created if i is not None}
    assert all(len(h) == 1 for h in holders.values()), "every 201 is stored exactly once"
    after_ids = {r.notification_id for r in after if r.method == "POST"}
    assert all(holders[i] == [0] for i in after_ids), "after the kill only API a stores"
    assert any(h == [1] for h in holders.values()), "API b served requests before the kill"


async def burst(url: str, count: int) -> list[tuple[int, str | None, bytes]]:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def one() -> tuple[int, str | None, bytes]:
            async with session.get(url) as response:
                return response.status, response.headers.get("Retry-After"), await response.read()

        return await asyncio.gather(*(one() for _ in range(count)))


def test_a_burst_beyond_the_limit_gets_429_from_nginx(tier: Tier) -> None:
    responses = asyncio.run(burst(f"{tier.url}/health", 300))
    statuses = Counter(status for status, _, _ in responses)
    assert set(statuses) == {200, 429}, statuses
    # nodelay with burst=200: the first 201 pass before anything is refused.
    assert statuses[200] >= 201, statuses
    limited = [(retry, body) for status, retry, body in responses if status == 429]
    assert all(retry == "1" and b'"code": "rate_limited"' in body for retry, body in limited)
    assert b"load balancer" in limited[0][1]


def test_nginx_accepts_the_shipped_config(tmp_path: Path) -> None:
    """``nginx -t`` on docker/nginx.conf as shipped but for its two upstream names, which nginx
    resolves when it reads the file and which exist only on the compose network: they become
    loopback addresses in a copy (nginx -t connects to nothing and binds no port). Needs no
    resolver, mount namespace or privilege, so it runs wherever nginx is installed, CI included."""
    conf = render(NGINX_CONF.read_text(), {
        "server api-1:3000 ": "server 127.0.0.1:3000 ",
        "server api-2:3000 ": "server 127.0.0.2:3000 ",
    })  # fmt: skip
    (tmp_path / "nginx.conf").write_text(conf)
    check = run_nginx(tmp_path, "-t", "-c", str(tmp_path / "nginx.conf"))
    result = subprocess.run(check, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_a_missing_nginx_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """.ci/run installs nginx and sets CI: there, a missing nginx is a failure, not a skip."""
    monkeypatch.setenv("CI", "1")
    monkeypatch.setattr(shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(BaseException) as outcome:  # a skip too, so that it cannot pass as one
        nginx_binary()
    assert outcome.type is pytest.fail.Exception and "nginx is missing" in str(outcome.value)
