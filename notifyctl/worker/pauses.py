"""A worker's side of the operators' pauses (issue 17 item 4; the rules are
``notifyctl/pauses.py``'s, the shared state ``store/pauses.py``'s).

Each worker reads the pauses in force every second, so it stops delivering what is paused within
a second of ``notifyctl pause``. What it claims that a pause holds back is parked (``paused``,
the claim's attempt given back): what the pause command's batches could not move (leased then,
inserted meanwhile) or could not recognise (a person's address is known only now).

When a pause disappears (``notifyctl resume``), a worker that had not yet seen it go may still
park a few claims under it; so each worker that sees a pause go moves back, twice a few seconds
later, every paused notification no remaining pause holds. Without that, a notification parked
just after the resume's own move would wait for the next resume.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from notifyctl.errors import StoreError
from notifyctl.model import Claim, Notification, Outcome, Verdict
from notifyctl.pauses import Pause, Pauses
from notifyctl.store import Store

log = logging.getLogger("notifyctl.worker")
StoreCall = Callable[..., Awaitable[Any]]
#: how often a worker reads the pauses
REFRESH_EVERY_S = 1.0
#: after a pause goes, when (seconds) to move back what stale views of it parked meanwhile:
#: the first once every worker has read the pauses again, the second for one that was slow to
MOVE_BACK_AFTER_S = (3.0, 15.0)
#: notifications moved per write
BATCH = 1_000


class PauseWatch:
    def __init__(self, store: Store, call: StoreCall, clock: Callable[[], int]) -> None:
        self._store = store
        self._call = call
        self._clock = clock
        self.pauses = Pauses()
        self._seen: set[Pause] = set()
        #: claims parked because a pause held them back
        self.parked = 0
        self._move_backs: list[float] = []

    def holding(self, n: Notification, destination: str | None = None) -> Pause | None:
        """The pause holding ``n`` back, if any. Read from memory: no store call."""
        if not self.pauses:  # the common case: nothing paused
            return None
        return self.pauses.holding(n, destination)

    def park(self, claim: Claim, pause: Pause) -> Outcome:
        """The outcome parking ``claim`` for ``pause``."""
        self.parked += 1
        return Outcome(claim, Verdict.PAUSED, f"paused: {pause}")

    async def refresh(self) -> None:
        try:
            found: list[Pause] = await self._call("pauses", self._store.pauses)
        except StoreError as exc:
            log.warning("could not read the pauses: %s", exc)
            return
        current = {Pause(p.kind, p.value) for p in found}
        if self._seen - current:  # some pause went: move back what stale views park meanwhile
            now = anyio.current_time()
            self._move_backs = [now + after for after in MOVE_BACK_AFTER_S]
        for pause in sorted(current - self._seen, key=str):
            log.warning("paused: %s (its notifications wait as 'paused')", pause)
        for pause in sorted(self._seen - current, key=str):
            log.warning("resumed: %s", pause)
        self._seen = current
        self.pauses = Pauses.of(current)

    async def move_back_if_due(self) -> None:
        if not self._move_backs or self._move_backs[0] > anyio.current_time():
            return
        self._move_backs.pop(0)
        try:
            moved: int = await self._call(
                "unpark", self._store.unpark, self._clock(), sorted(self._seen, key=str), BATCH
            )
        except StoreError as exc:
            log.warning("could not move back notifications parked by a pause: %s", exc)
            return
        if moved:
            log.info("moved back %d notifications parked just after their pause went", moved)

    async def run(self) -> None:
        """Every ``REFRESH_EVERY_S``, after the first reading (``Worker.run`` makes it before
        the first claim)."""
        while True:
            await anyio.sleep(REFRESH_EVERY_S)
            await self.refresh()
            await self.move_back_if_due()
