"""Group commit: concurrent single inserts share transactions, each caller gets its own answer."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from notifyctl.api.group_commit import GroupCommit
from notifyctl.errors import StoreError
from notifyctl.model import InsertResult, NewNotification, now_ms
from notifyctl.store import open_store
from tests.conftest import make_config
from tests.helpers import webhooks


class CountingStore:
    def __init__(self, tmp_path: Path, fail: bool = False) -> None:
        self.store = open_store(make_config(tmp_path))
        self.groups: list[int] = []
        self.fail = fail
        self.lock = threading.Lock()

    def insert_many(self, items: Sequence[NewNotification], now: int) -> list[InsertResult]:
        with self.lock:
            self.groups.append(len(items))
        time.sleep(0.05)  # a slow fsync, so that others queue up meanwhile
        if self.fail:
            raise StoreError("disk on fire")
        return self.store.insert_many(items, now)


async def insert_all(commit: GroupCommit, items: list[NewNotification]) -> list[object]:
    return await asyncio.gather(*(commit.insert(item) for item in items), return_exceptions=True)


def test_inserts_arriving_during_a_write_share_the_next_one(tmp_path: Path) -> None:
    counting = CountingStore(tmp_path)
    commit = GroupCommit(counting.insert_many)
    first, *rest = webhooks("http://127.0.0.1:9/", 50)

    async def scenario() -> list[object]:
        alone = asyncio.create_task(commit.insert(first))
        await asyncio.sleep(0.01)  # the first write is under way (it takes 50 ms)
        return [await alone, *await insert_all(commit, rest)]

    results = asyncio.run(scenario())
    assert [r.notification.id for r in results] == [first.id] + [i.id for i in rest]  # type: ignore[union-attr]
    assert all(r.created for r in results)  # type: ignore[union-attr]
    assert counting.groups == [1, 49]  # the first did not wait for company; the rest shared
    assert counting.store.counts(now_ms())["pending"] == 50


def test_a_replay_inside_one_group_returns_the_first(tmp_path: Path) -> None:
    counting = CountingStore(tmp_path)
    first, second = webhooks("http://127.0.0.1:9/", 2)
    a, b = replace(first, idempotency_key="k"), replace(second, idempotency_key="k")
    results = asyncio.run(insert_all(GroupCommit(counting.insert_many), [a, b]))
    assert results[0].created and not results[1].created  # type: ignore[union-attr]
    assert results[1].notification.id == a.id  # type: ignore[union-attr]


def test_a_store_failure_reaches_every_caller_of_the_group(tmp_path: Path) -> None:
    counting = CountingStore(tmp_path, fail=True)
    results = asyncio.run(insert_all(GroupCommit(counting.insert_many),
                                     webhooks("http://127.0.0.1:9/", 5)))  # fmt: skip
    assert all(isinstance(r, StoreError) for r in results)
    with pytest.raises(StoreError):
        asyncio.run(GroupCommit(counting.insert_many).insert(webhooks("http://x/", 1)[0]))
