"""The worker's dead-letter publisher: every dead notification reaches ``<group>.dead-letters`` at
least once, across broker outages and worker crashes.

The store marks each death in the same write that makes the notification dead (see
``notifyctl.store.base``). This loop, one per worker with a broker, takes marked ones in leased
batches, publishes them with confirms, and clears the marks of those the broker confirmed. What
is not confirmed (the broker is down, nacked or silent) or not cleared (the store failed, the
worker stopped or crashed) keeps its mark and is taken again once its lease runs out: nothing is
lost, and a copy may come twice. The leases share the work between workers; the worker that
recorded a death is nudged to publish it at once, and every worker sweeps for what is left.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import anyio

from notifyctl.broker import Broker
from notifyctl.errors import StoreError
from notifyctl.model import DeadLetter, Notification
from notifyctl.shapes import payload
from notifyctl.store import Store
from notifyctl.worker.outcomes import StoreCall

log = logging.getLogger("notifyctl.worker")
#: dead letters taken, published and cleared together
BATCH = 100
#: a taken batch is its publisher's for this long: far more than a publish and its confirms
LEASE_MS = 60_000
#: how often each worker looks for dead letters nobody published (outages, crashes), jittered
SWEEP_S = 5.0


def dead_letter_record(notification: Notification, worker_id: str) -> dict[str, Any]:
    """The message: what a receiver would have got, with the status, the last error and the
    worker that published it."""
    record = payload(notification)
    record.update(status="dead", last_error=notification.last_error, worker=worker_id)
    return record


class DeadLetterPublisher:
    def __init__(
        self,
        store: Store,
        call: StoreCall,
        broker: Broker,
        worker_id: str,
        clock: Callable[[], int],
    ) -> None:
        self._store = store
        self._call = call
        self._broker = broker
        self._worker_id = worker_id
        self._clock = clock
        self._nudged = anyio.Event()

    def nudge(self) -> None:
        """A death was just recorded here (on the event loop): publish now, not at the sweep."""
        self._nudged.set()

    async def run(self) -> None:
        """Publish until cancelled: batch after batch while full ones come, then rest until
        nudged or the next sweep."""
        while True:
            taken = await self.publish_batch() if self._broker.connected else 0
            if taken == BATCH:
                continue  # more may be waiting
            with anyio.move_on_after(SWEEP_S * random.uniform(0.5, 1.5)):
                await self._nudged.wait()
            self._nudged = anyio.Event()

    async def publish_batch(self) -> int:
        """Take, publish and clear one batch; returns how many were taken."""
        try:
            letters = await self._call(
                "take_dead_letters", self._store.take_dead_letters, BATCH, self._clock(), LEASE_MS
            )
        except StoreError as exc:
            log.warning("reading the dead letters to publish failed, retrying later: %s", exc)
            return 0
        if letters:
            await self._clear(await self._publish(letters))
        return len(letters)

    async def _publish(self, letters: list[DeadLetter]) -> list[DeadLetter]:
        """Those of ``letters`` the broker confirmed. Waiting for the confirms is abandoned at
        stop: the marks stay, and the dead letters go out again after their lease."""
        records = [dead_letter_record(d.notification, self._worker_id) for d in letters]
        answers = await anyio.to_thread.run_sync(
            self._broker.publish_dead_letters, records, abandon_on_cancel=True
        )
        confirmed = [letter for letter, ok in zip(letters, answers, strict=True) if ok]
        if len(confirmed) < len(letters):
            log.warning(
                "the broker did not confirm %d of %d dead letters; they are published again"
                " after %d s", len(letters) - len(confirmed), len(letters), LEASE_MS // 1000,
            )  # fmt: skip
        return confirmed

    async def _clear(self, confirmed: list[DeadLetter]) -> None:
        if not confirmed:
            return
        try:
            await self._call("clear_dead_letters", self._store.clear_dead_letters, confirmed)
        except StoreError as exc:
            log.warning(
                "recording %d dead letters as published failed: %s; they are published again"
                " (a duplicate) after %d s", len(confirmed), exc, LEASE_MS // 1000,
            )  # fmt: skip
