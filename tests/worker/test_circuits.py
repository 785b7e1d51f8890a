"""The circuit breaker at work (issue 17 item 2): an in-process worker on a real SQLite store
delivers to a receiver that fails every request for a while, then recovers. The circuit opens
after the configured failures in a row; while it is open the worker sends only one probe per
cooldown; once a probe succeeds, every notification is delivered and none is dead, though the
receiver was down for longer than their attempts would have lasted."""

from __future__ import annotations

import time
from pathlib import Path

import anyio

from notifyctl.model import Notification, Status, now_ms
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import open_store
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks

URL = "http://127.0.0.1:9/flaky"
COUNT = 30
DOWN_S = 3.5
COOLDOWN_S = 1


class DownThenUp:
    """Answers 503 until ``recover()``; records each request and whether the receiver was down."""

    name = "webhook"

    def __init__(self) -> None:
        self.down = True
        self.while_down: list[float] = []
        self.delivered: set[str] = set()

    async def deliver(self, notification: Notification) -> DeliveryResult:
        await anyio.sleep(0.002)
        if self.down:
            self.while_down.append(time.monotonic())
            return DeliveryResult(ResultKind.RETRYABLE, "HTTP 503")
        self.delivered.add(notification.id)
        return DeliveryResult(ResultKind.OK)

    async def aclose(self) -> None:
        pass


def test_an_open_circuit_holds_deliveries_probes_once_per_cooldown_and_loses_nothing(
    tmp_path: Path,
) -> None:
    config = make_config(
        tmp_path, worker_concurrency=4, destination_concurrency=4, breaker_failures=3,
        breaker_cooldown_s=COOLDOWN_S, breaker_max_cooldown_s=COOLDOWN_S, retry_base_ms=50,
        retry_max_ms=100, max_attempts=3,
    )  # fmt: skip
    store = open_store(config)
    receiver = DownThenUp()
    worker = Worker(config, store, {"webhook": receiver}, 1)  # type: ignore[dict-item]
    items = webhooks(URL, COUNT, max_attempts=3)
    insert(store, items)

    async def main() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            await anyio.sleep(DOWN_S)
            receiver.down = False
            with anyio.fail_after(30):
                while len(receiver.delivered) < COUNT:
                    await anyio.sleep(0.02)
            worker.stop()

    try:
        anyio.run(main)
        counts = store.counts(now_ms())
        assert counts[Status.SENT.value] == COUNT and counts[Status.DEAD.value] == 0
        assert store.breakers() == []  # closed again by the successful probe
        # the failures before it opened: at most the 4 slots' worth, then one probe per cooldown
        burst = [t for t in receiver.while_down if t - receiver.while_down[0] < 0.5]
        probes = receiver.while_down[len(burst) :]
        assert 3 <= len(burst) <= 3 + 4
        assert 1 <= len(probes) <= DOWN_S / COOLDOWN_S + 1
        # without the breaker 30 notifications x 3 attempts would have died in well under 3.5 s
        assert len(receiver.while_down) < COUNT
        assert worker.circuits.deferred > 0
        for item in items:
            found = store.get(item.id)
            assert found is not None and found.attempts <= 2
    finally:
        store.close()
