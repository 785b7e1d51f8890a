"""Pauses at work (issue 17 item 4): an in-process worker on a real SQLite store, with one
destination paused before anything was parked (as if the pause command's batches had missed
everything). The worker parks what the pause holds, delivers the rest, spends no attempt on the
parked; when the pause goes, the worker itself moves back what it parked, and every notification
is delivered once."""

from __future__ import annotations

from pathlib import Path

import anyio

from notifyctl.model import Notification, Status, now_ms
from notifyctl.pauses import pause_of
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.store import open_store
from notifyctl.worker.worker import Worker
from tests.conftest import make_config
from tests.helpers import insert, webhooks

PAUSED_URL = "http://127.0.0.1:9/paused"
OPEN_URL = "http://127.0.0.1:10/open"
COUNT = 10


class Recording:
    name = "webhook"

    def __init__(self) -> None:
        self.delivered: list[tuple[str, str | None]] = []

    async def deliver(self, notification: Notification) -> DeliveryResult:
        self.delivered.append((notification.id, notification.to))
        return DeliveryResult(ResultKind.OK)

    async def aclose(self) -> None:
        pass


def test_a_worker_parks_what_is_paused_and_moves_it_back_when_the_pause_goes(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path, worker_concurrency=4)
    store = open_store(config)
    pause = pause_of("destination", PAUSED_URL, now_ms(), "incident")
    store.add_pause(pause)
    receiver = Recording()
    worker = Worker(config, store, {"webhook": receiver}, 1)  # type: ignore[dict-item]
    held = insert(store, webhooks(PAUSED_URL, COUNT))
    free = insert(store, webhooks(OPEN_URL, COUNT))

    def counts() -> dict[str, int]:
        return store.counts(now_ms())

    async def main() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(20):
                while counts()["paused"] < COUNT or counts()["sent"] < COUNT:
                    await anyio.sleep(0.02)
            assert {nid for nid, _ in receiver.delivered} == set(free)
            for nid in held:
                parked = store.get(nid)
                assert parked is not None and (parked.status, parked.attempts) == (
                    Status.PAUSED, 0,
                )  # fmt: skip
                assert [h.outcome for h in store.history(nid) or []] == ["paused"]
            assert store.count_paused(pause) == COUNT
            store.remove_pause(pause)  # no unpark: the worker moves back what it parked
            with anyio.fail_after(30):
                while counts()["sent"] < 2 * COUNT:
                    await anyio.sleep(0.05)
            worker.stop()

    try:
        anyio.run(main)
        delivered = [nid for nid, _ in receiver.delivered]
        assert sorted(delivered) == sorted(held + free)  # each once
        assert worker.pause_watch.parked == COUNT
        assert counts()["paused"] == 0
    finally:
        store.close()
