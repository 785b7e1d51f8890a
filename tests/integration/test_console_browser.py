"""The console in a real browser (issue 19): Debian's Chromium, headless, driven by Playwright for
Python, against a real API process and a real worker process on one SQLite store.

One session of an operator: sign in, watch the overview's counts change while the worker
delivers (the page refreshes itself), open a notification's timeline, replay a dead letter and
see it delivered, cancel a scheduled notification, and see a `<script>` title as text (no
dialog opens). Then a read-only key: no replay button, and its POST refused; and a POST without
the CSRF token refused.

Each page is saved as a PNG under the test's temp dir, or, to refresh the pictures in docs/, under
the folder named by NOTIFYCTL_CONSOLE_SCREENSHOTS (docs/console.md gives the command).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from notifyctl.config import Config
from notifyctl.model import Outcome, Status, Verdict, now_ms
from notifyctl.store import Store, open_store
from notifyctl.tenants import KeyRecord, Scope, key_digest
from tests.conftest import make_config
from tests.helpers import (
    Receiver,
    answers,
    free_port,
    insert,
    start_api,
    start_worker,
    stop,
    wait_until,
    webhooks,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: what this machine's closed network needs (see the machine's notes): no background traffic
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
OPERATOR = "operator-key-browser-0123456789"
READER = "nk_acme_reader_browser_0123456789"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("NOTIFYCTL_CONSOLE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium package")
        pytest.skip("no chromium here (apt-get install chromium)")
    with playwright_api.sync_playwright() as driver:
        launched = driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Service:
    """An API process and (when started) a worker process on one store."""

    def __init__(self, config: Config, store: Store, port: int) -> None:
        self.config, self.store, self.port = config, store, port
        self.base = f"http://127.0.0.1:{port}"
        self.api = start_api(config, port)
        self.worker: Any = None
        wait_until(lambda: answers(f"{self.base}/health"), 60, "the API")

    def post(self, body: dict[str, Any]) -> str:
        request = urllib.request.Request(
            f"{self.base}/v1/notifications", data=json.dumps(body).encode(), method="POST",
            headers={"content-type": "application/json", "authorization": f"Bearer {OPERATOR}"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 201
            return str(json.loads(response.read())["id"])

    def status(self, nid: str) -> Status:
        found = self.store.get(nid)
        assert found is not None
        return found.status

    def close(self) -> None:
        for process in (self.worker, self.api):
            if process is not None:
                stop(process)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    config = make_config(tmp_path, api_keys=OPERATOR, retry_base_ms=50, retry_max_ms=100)
    store = open_store(config)
    scopes = frozenset({Scope.READ})
    store.create_key(KeyRecord("key_00000000000000aa", "acme", "", scopes, key_digest(READER), 1))
    running = Service(config, store, free_port())
    yield running
    running.close()
    store.close()


def dead_of_acme(store: Store) -> str:
    (item,) = webhooks("http://127.0.0.1:9/gone", 1)
    (nid,) = insert(store, [replace(item, tenant_id="acme")])
    (claim,) = store.claim_ids([nid], "w-test", now_ms(), 30_000)
    store.finish([Outcome(claim, Verdict.DEAD, "HTTP 410")], now_ms())
    return nid


def sign_in(page: Any, base: str, key: str) -> None:
    page.goto(f"{base}/console")
    assert page.url.endswith("/console/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    assert page.url == f"{base}/console", page.locator("main").inner_text()


def count_of(page: Any, status: str) -> int:
    text = page.locator(f'[data-count="{status}"]').inner_text()
    return int(text.replace(",", ""))


def test_an_operator_watches_replays_cancels_and_reads_safely(
    service: Service, browser: Any, shots: Path
) -> None:
    base = service.base
    first_then_ok = {"n": 0}

    def respond(attempt: int) -> tuple[int, float]:
        first_then_ok["n"] += 1
        return (410, 0.0) if first_then_ok["n"] == 1 else (200, 0.0)

    with Receiver(respond) as receiver:
        doomed = service.post({"user_id": "u0", "channel": "webhook", "to": receiver.url})
        page = browser.new_page()
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        sign_in(page, base, OPERATOR)
        page.screenshot(path=str(shots / "overview-before.png"), full_page=True)
        assert count_of(page, "pending") == 1
        service.worker = start_worker(service.config, 1)
        wait_until(lambda: service.status(doomed) is Status.DEAD, 60, "the first one dead")
        ids = [service.post({"user_id": f"u{i}", "channel": "webhook", "to": receiver.url,
                             "title": f"hello {i}"}) for i in range(1, 11)]  # fmt: skip
        # the overview refreshes itself: no reload, no navigation
        page.wait_for_function(
            "() => document.querySelector('[data-count=\"sent\"]').textContent.trim() === '10'",
            timeout=60_000,
        )
        assert page.url == f"{base}/console" and count_of(page, "dead") == 1
        page.screenshot(path=str(shots / "overview.png"), full_page=True)

        page.goto(f"{base}/console/notifications/{ids[0]}")
        timeline = page.locator("ol.timeline").inner_text()
        assert "created" in timeline and "sent" in timeline
        page.screenshot(path=str(shots / "notification.png"), full_page=True)

        page.goto(f"{base}/console/dead")
        page.get_by_label(f"select {doomed}").check()
        page.screenshot(path=str(shots / "dead-letters.png"), full_page=True)
        page.get_by_role("button", name="Replay selected…").click()
        assert "Replay 1 dead letter?" in page.locator("h1").inner_text()
        page.get_by_role("button", name="Replay 1").click()
        assert "1 replayed" in page.locator("main").inner_text()
        wait_until(lambda: service.status(doomed) is Status.SENT, 60, "the replayed one sent")

        later = now_ms() + 3_600_000
        scheduled = service.post({"user_id": "u-late", "channel": "webhook", "to": receiver.url,
                                  "scheduled_for": iso(later)})  # fmt: skip
        page.goto(f"{base}/console/notifications/{scheduled}")
        page.get_by_role("button", name="Cancel it").click()
        page.wait_for_load_state()
        assert "Cancelled." in page.locator("main").inner_text()
        assert service.status(scheduled) is Status.CANCELLED
        assert dialogs == ["Cancel this notification?"]  # the confirmation, and nothing else

        hostile = service.post({"user_id": "u-x", "channel": "webhook", "to": receiver.url,
                                "title": SCRIPT, "scheduled_for": iso(later)})  # fmt: skip
        page.goto(f"{base}/console/notifications/{hostile}")
        assert page.get_by_text(SCRIPT, exact=True).count() >= 1
        page.wait_for_timeout(300)
        assert dialogs == ["Cancel this notification?"]  # no alert(1)
        page.goto(f"{base}/console/workers")
        assert "alive" in page.locator("table").inner_text()
        page.screenshot(path=str(shots / "workers.png"), full_page=True)


def test_a_read_only_key_cannot_replay_and_no_post_goes_without_the_token(
    service: Service, browser: Any, shots: Path
) -> None:
    base = service.base
    nid = dead_of_acme(service.store)
    reader = browser.new_context()
    page = reader.new_page()
    sign_in(page, base, READER)
    page.goto(f"{base}/console/dead")
    assert nid in page.locator("table").inner_text()
    assert page.get_by_role("button", name="Replay selected…").count() == 0
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    refused = reader.request.post(f"{base}/console/dead/replay",
                                  form={"csrf": token, "id": nid, "confirm": "1"})  # fmt: skip
    assert refused.status == 403
    page.screenshot(path=str(shots / "read-only.png"), full_page=True)

    operator = browser.new_context()
    sign_in(operator.new_page(), base, OPERATOR)
    without = operator.request.post(f"{base}/console/dead/replay",
                                    form={"id": nid, "confirm": "1"})  # fmt: skip
    assert without.status == 403
    assert service.status(nid) is Status.DEAD
    reader.close()
    operator.close()


def iso(ms: int) -> str:
    from notifyctl.shapes import iso_ms

    return str(iso_ms(ms))
