"""The operators' pauses as the API applies them: a new notification that a pause holds back is
stored ``paused`` at once (``notifyctl/pauses.py``), so no worker claims it only to park it.

The pauses are read from the store at most once per ``PAUSES_TTL_S`` per API process: a request
costs a look-up in memory, and a pause reaches every API process within the TTL. What an API
process stores as due in that second, a worker parks when it claims it; so the TTL decides only
how much the workers park, never whether a paused notification is sent.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

from notifyctl.errors import StoreError
from notifyctl.model import NewNotification
from notifyctl.pauses import Pause, Pauses
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver, call

log = logging.getLogger("notifyctl.api")
#: how long the pauses read are trusted before they are read again
PAUSES_TTL_S = 1.0


class IntakePauses:
    def __init__(
        self,
        store: Store,
        observer: CallObserver,
        ttl_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._observer = observer
        self._ttl_s = PAUSES_TTL_S if ttl_s is None else ttl_s
        self._clock = clock
        self._pauses = Pauses()
        self._read_at: float | None = None

    async def mark(self, items: list[NewNotification]) -> list[NewNotification]:
        """``items``, each one a pause holds back marked to be stored ``paused``."""
        pauses = await self._current()
        if not pauses:  # the common case: nothing paused
            return items
        return [
            dataclasses.replace(item, paused=True) if pauses.holding(item) else item
            for item in items
        ]

    async def _current(self) -> Pauses:
        now = self._clock()
        if self._read_at is not None and now - self._read_at < self._ttl_s:
            return self._pauses
        self._read_at = now
        try:
            found: list[Pause] = await call(self._observer, "pauses", self._store.pauses)
        except StoreError as exc:  # intake goes on: the workers park what a pause holds
            log.warning("could not read the pauses (kept those read before): %s", exc)
            return self._pauses
        self._pauses = Pauses.of(found)
        return self._pauses
