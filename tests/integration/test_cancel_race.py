"""A cancel racing the workers: cancelled and never delivered, or delivered and 409 — never both."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from notifyctl.api.app import build_app
from notifyctl.model import Status, now_ms
from notifyctl.store import Store, open_store
from tests.conftest import make_config
from tests.helpers import Receiver, start_worker, stop, wait_until

pytestmark = pytest.mark.integration


def undelivered(store: Store) -> int:
    counts = store.counts(now_ms())
    return int(counts["pending"] + counts["scheduled"])


def test_every_cancel_either_wins_or_gets_409_after_delivery(tmp_path: Path) -> None:
    config = make_config(tmp_path, rate_limit_per_s=0, worker_concurrency=20)
    store = open_store(config)
    with (
        Receiver(lambda attempt: (200, 0.01)) as receiver,
        TestClient(build_app(config, store)) as client,
    ):
        items = [{"user_id": f"u{i}", "channel": "webhook", "to": receiver.url} for i in range(400)]
        workers = [start_worker(config, n) for n in (1, 2)]
        try:
            wait_until(lambda: store.workers() != [], 30, "a worker to start")
            results = client.post("/v1/notifications/batch", json={"notifications": items})
            ids = [r["notification"]["id"] for r in results.json()["results"]]
            answers = {i: client.delete(f"/v1/notifications/{i}").status_code for i in ids}
            # a claim its destination had no room for is given back due a moment later
            # (scheduled): wait for those too
            wait_until(lambda: undelivered(store) == 0, 60, "the workers")
        finally:
            for worker in workers:
                stop(worker)
        delivered = receiver.counts()
    cancelled = {i for i, status in answers.items() if status == 200}
    refused = {i for i, status in answers.items() if status == 409}
    assert cancelled | refused == set(ids)
    assert cancelled and refused, "no race happened: the test proves nothing"
    assert not cancelled & set(delivered)
    assert set(delivered) == refused and all(n == 1 for n in delivered.values())
    for notification_id in cancelled:
        found = store.get(notification_id)
        assert found is not None and found.status is Status.CANCELLED
