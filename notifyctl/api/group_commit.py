"""Group commit for single inserts: requests that arrive while a write is under way share the next
one, so with ``synchronous=full`` a burst of single POSTs costs one fsync per group, not one each.

The first request is written at once (no added latency when the API is idle); each caller still
gets its 201 only after the transaction that holds its notification has committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from notifyctl.model import InsertResult, NewNotification, now_ms

InsertMany = Callable[[Sequence[NewNotification], int], list[InsertResult]]


class GroupCommit:
    def __init__(self, insert_many: InsertMany, max_group: int = 1_000) -> None:
        self._insert_many = insert_many
        self._max_group = max_group
        self._waiting: list[tuple[NewNotification, asyncio.Future[InsertResult]]] = []
        self._writer: asyncio.Task[None] | None = None
        # A thread of its own: there is one writer task, so anyio's pool would add only its
        # limiter and checkpoints (two more event-loop rounds for every group). It ends when
        # this object is collected.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="group-commit")

    async def insert(self, item: NewNotification) -> InsertResult:
        future: asyncio.Future[InsertResult] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_groups())
        return await future

    async def _write_groups(self) -> None:
        while self._waiting:
            group = self._waiting[: self._max_group]
            del self._waiting[: self._max_group]
            try:
                items = [item for item, _ in group]
                results = await asyncio.get_running_loop().run_in_executor(
                    self._thread, self._insert_many, items, now_ms()
                )
            except Exception as exc:  # the store failed: every caller in the group hears it
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(group, results, strict=True):
                if not future.done():  # the caller may have gone away
                    future.set_result(result)
