"""The store's API keys as the API sees them: looked up by digest through an in-process cache.

A request whose key is cached costs a dictionary look-up, no store round trip. Both answers are
cached for ``ttl_s`` (5 s by default): a known key (its record) and an unknown digest (None), so
a key created or revoked with ``notifyctl keys`` takes effect in every API process within
``ttl_s``, without a restart. Expiry needs no wait: a cached record's ``expires_at`` is compared
with the clock on every request. Each cache is bounded (``max_entries``, oldest dropped first),
and unknown digests have a cache of their own, so a client guessing keys cannot push the real
keys out.

Looking a digest up in a dictionary is not a constant-time comparison, and needs not be: the
digest is SHA-256 of the presented key, so how close a guess's digest came tells nothing about
any key (as with any service that finds keys by their hash).

``last_used_at`` is recorded at most once per ``touch_every_s`` (a minute) per key and process,
on a thread of its own: the answer never waits for that write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from notifyctl.model import now_ms
from notifyctl.store import Store
from notifyctl.store.calls import CallObserver, call
from notifyctl.tenants import Identity, KeyRecord, key_digest

log = logging.getLogger("notifyctl.api")
TTL_S = 5.0
MAX_ENTRIES = 10_000
TOUCH_EVERY_S = 60.0
V = TypeVar("V")


class TtlCache(Generic[V]):
    """Entries that expire ``ttl_s`` after they were put; at most ``max_entries`` (the oldest
    put goes first). Not thread-safe: it lives on the API's event loop."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.ttl_s, self.max_entries, self.clock = ttl_s, max_entries, clock
        self._entries: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> tuple[bool, V | None]:
        """(found, value): an entry past its TTL is not found (and dropped)."""
        entry = self._entries.get(key)
        if entry is None:
            return False, None
        if self.clock() >= entry[0]:
            del self._entries[key]
            return False, None
        return True, entry[1]

    def put(self, key: str, value: V) -> None:
        self._entries.pop(key, None)
        self._entries[key] = (self.clock() + self.ttl_s, value)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


class StoreKeys:
    """The keys kept in the store (``notifyctl keys``), cached; see the module docstring."""

    def __init__(
        self,
        store: Store,
        observer: CallObserver,
        ttl_s: float = TTL_S,
        max_entries: int = MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
        wall_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.store, self.observer, self.clock, self.wall_ms = store, observer, clock, wall_ms
        self._known: TtlCache[KeyRecord] = TtlCache(ttl_s, max_entries, clock)
        self._unknown: TtlCache[None] = TtlCache(ttl_s, max_entries, clock)
        self._touched: TtlCache[None] = TtlCache(TOUCH_EVERY_S, max_entries, clock)
        self.ttl_s = ttl_s
        self._any = False
        #: when to ask the store again whether it holds any key
        self._any_until = float("-inf")

    async def any(self) -> bool:
        """Whether the store holds any key. Asked again every ``ttl_s`` until it does; then never
        again, since keys are never deleted (a revoked one still counts)."""
        if self.clock() < self._any_until:
            return self._any
        self._any = await call(self.observer, "has_keys", self.store.has_keys)
        self._any_until = float("inf") if self._any else self.clock() + self.ttl_s
        return self._any

    async def identify(self, token: str) -> Identity | None:
        """The identity of a usable key (not revoked, not expired), else None."""
        return await self.identify_digest(key_digest(token))

    async def identify_digest(self, digest: str) -> Identity | None:
        """``identify`` by the key's digest (a console session holds the digest, not the key)."""
        record = await self._record(digest)
        if record is None or not record.usable(self.wall_ms()):
            return None
        self._touch(record)
        return Identity(record.tenant, record.scopes, record.id)

    async def _record(self, digest: str) -> KeyRecord | None:
        found, record = self._known.get(digest)
        if found or self._unknown.get(digest)[0]:
            return record
        record = await call(self.observer, "key_by_digest", self.store.key_by_digest, digest)
        if record is None:
            self._unknown.put(digest, None)
        else:
            self._known.put(digest, record)
        return record

    def _touch(self, record: KeyRecord) -> None:
        """Record the use, at most once a minute per key, without waiting for the write."""
        if self._touched.get(record.id)[0]:
            return
        self._touched.put(record.id, None)
        loop = asyncio.get_running_loop()
        try:
            write = loop.run_in_executor(None, self.store.touch_key, record.id, self.wall_ms())
        except RuntimeError:  # the loop's executor is shutting down: the process is stopping
            return
        write.add_done_callback(lambda done: report_failed_touch(record.id, done))


def report_failed_touch(key_id: str, done: asyncio.Future[None]) -> None:
    # last use is for people reading ``keys list``: a failed write costs nothing but a warning
    if not done.cancelled() and done.exception() is not None:
        log.warning("recording the use of key %s failed: %s", key_id, done.exception())
