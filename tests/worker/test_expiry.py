"""Expiry at delivery (issue 17), in-process worker on a real SQLite store: a notification claimed
past its ``expires_at`` is never sent and ends ``expired`` without spending an attempt; one that
fails and would retry after its expiry ends expired at its expiry instead of waiting; a delivery
already begun when the expiry passes completes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import anyio

from notifyctl.model import Notification, Status, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import Store, open_store
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks
from tests.worker.running import run_until

URL = "http://127.0.0.1:9/hook"


class StandIn:
    """Answers ``result`` after ``delay_s``; records what it was given."""

    name = "webhook"

    def __init__(self, result: DeliveryResult, delay_s: float = 0.0) -> None:
        self.result, self.delay_s = result, delay_s
        self.sent: list[Notification] = []

    async def deliver(self, notification: Notification) -> DeliveryResult:
        self.sent.append(notification)
        await anyio.sleep(self.delay_s)
        return self.result

    async def aclose(self) -> None:
        pass


def run(tmp_path: Path, store: Store, channel: StandIn, done: Callable[[Worker], bool]) -> Worker:
    config = make_config(tmp_path, retry_base_ms=60_000, retry_max_ms=60_000)
    worker = Worker(config, store, {"webhook": channel}, 1)  # type: ignore[dict-item]
    return run_until(worker, done)


def test_a_notification_claimed_past_its_expiry_is_never_sent(tmp_path: Path) -> None:
    store = open_store(make_config(tmp_path))
    try:
        late = [replace(n, expires_at=now_ms() - 1) for n in webhooks(URL, 3)]
        fresh = [replace(n, expires_at=now_ms() + 60_000) for n in webhooks(URL, 2)]
        insert(store, late + fresh)
        channel = StandIn(DeliveryResult(ResultKind.OK))
        worker = run(tmp_path, store, channel, lambda w: w.stats.expired + w.stats.sent >= 5)
        assert (worker.stats.expired, worker.stats.sent) == (3, 2)
        assert {n.id for n in channel.sent} == {n.id for n in fresh}
        for item in late:
            found = store.get(item.id)
            assert found is not None and found.status is Status.EXPIRED
            assert found.attempts == 0 and "expired at" in (found.last_error or "")
    finally:
        store.close()


def test_a_retry_that_would_come_after_the_expiry_ends_expired_at_the_expiry(
    tmp_path: Path,
) -> None:
    store = open_store(make_config(tmp_path))
    try:
        (item,) = [replace(n, expires_at=now_ms() + 500) for n in webhooks(URL, 1)]
        insert(store, [item])
        channel = StandIn(DeliveryResult(ResultKind.RETRYABLE, "HTTP 503"))
        worker = run(tmp_path, store, channel, lambda w: w.stats.expired >= 1)
        assert worker.stats.retried == 1 and len(channel.sent) == 1  # the backoff is 60 s
        found = store.get(item.id)
        assert found is not None and found.status is Status.EXPIRED
        assert found.attempts == 1  # the one real attempt; the claim that found it late is none
        history = store.history(item.id) or []
        assert [h.outcome for h in history] == ["retry", "expired"]
    finally:
        store.close()


def test_a_delivery_begun_before_the_expiry_completes(tmp_path: Path) -> None:
    store = open_store(make_config(tmp_path))
    try:
        (item,) = [replace(n, expires_at=now_ms() + 300) for n in webhooks(URL, 1)]
        insert(store, [item])
        channel = StandIn(DeliveryResult(ResultKind.OK), delay_s=0.6)
        worker = run(tmp_path, store, channel, lambda w: w.stats.sent >= 1)
        found = store.get(item.id)
        assert found is not None and found.status is Status.SENT and worker.stats.expired == 0
    finally:
        store.close()
