"""A provider that refuses the address itself: the notification ends dead with "invalid address"
in its last error, and the worker counts it by channel (``worker_invalid_addresses_total``).
In-process worker, real SQLite store; the channel is a stand-in answering as a provider would."""

from __future__ import annotations

from pathlib import Path

import anyio
from prometheus_client.parser import text_string_to_metric_families

from notifyctl.model import Notification, Status, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import open_store
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks


class UnregisteredTokens:
    """Answers every delivery as APNs answers a token that is no longer registered."""

    name = "webhook"

    async def deliver(self, notification: Notification) -> DeliveryResult:
        return DeliveryResult(ResultKind.PERMANENT, "410 Unregistered", invalid_address=True)

    async def aclose(self) -> None:
        pass


async def run_until_dead(worker: Worker, store: object, count: int) -> None:
    async with anyio.create_task_group() as running:
        running.start_soon(worker.run)
        with anyio.fail_after(30):
            while worker.stats.dead < count:
                await anyio.sleep(0.01)
        worker.stop()


def test_an_invalid_address_ends_dead_recorded_and_counted(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    store = open_store(config)
    try:
        insert(store, webhooks("http://127.0.0.1:9/hook", 3))
        worker = Worker(config, store, {"webhook": UnregisteredTokens()}, 1)
        anyio.run(run_until_dead, worker, store, 3)
        dead = store.list_notifications(Status.DEAD.value, None, 10, None)
        assert len(dead) == 3
        assert all("invalid address: 410 Unregistered" in (n.last_error or "") for n in dead)
        assert worker.stats.invalid_addresses == {"webhook": 3}
        families = {
            family.name: family
            for family in text_string_to_metric_families(worker.metrics.exposition().decode())
        }
        (sample,) = [
            s for s in families["worker_invalid_addresses"].samples if s.name.endswith("_total")
        ]
        assert sample.labels == {"channel": "webhook"} and sample.value == 3
        assert store.counts(now_ms())["dead"] == 3
    finally:
        store.close()
