"""Stand-ins for the API that a load-generator test can make slow, stall, or deliver wrongly.

``FakeApi`` is a real HTTP server on 127.0.0.1 in a background thread, speaking the v1 intake
contract (POST /v1/notifications -> 201 with an id) and delivering each notification to its
``to`` URL with a ``webhook-id`` header, as the real workers do. ``NullApiThread`` runs the
generator's own null API in a thread, for a target the generator cannot outrun.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from notifyctl.loadgen.sink import NullApi


class LoopThread:
    """An asyncio loop in a daemon thread: start it with a coroutine that sets things up."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self, setup: Callable[[], Any]) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(setup(), self.loop).result(10)

    def stop(self, cleanup: Callable[[], Any]) -> None:
        asyncio.run_coroutine_threadsafe(cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class FakeApi:
    """``delay_s`` before every answer; ``stall_at``: the request with that index blocks the
    whole server for ``stall_s`` (a stop-the-world pause); ``duplicate``: seqs delivered twice;
    ``drop``: seqs accepted but never delivered; ``deliver``: whether to deliver at all."""

    def __init__(
        self, delay_s: float = 0.0, stall_at: int | None = None, stall_s: float = 1.0,
        duplicate: frozenset[int] = frozenset(), drop: frozenset[int] = frozenset(),
        deliver: bool = True,
    ) -> None:  # fmt: skip
        self.delay_s, self.stall_at, self.stall_s = delay_s, stall_at, stall_s
        self.duplicate, self.drop, self.deliver = duplicate, drop, deliver
        self.requests = 0
        self.port = 0
        self._thread = LoopThread()
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FakeApi:
        self._thread.start(self._setup)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop(self._cleanup)

    async def _setup(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/notifications", self._create)
        app.router.add_post("/v1/notifications/batch", self._create_batch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._client = aiohttp.ClientSession()

    async def _cleanup(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _create(self, request: web.Request) -> web.Response:
        index, self.requests = self.requests, self.requests + 1
        body = await request.json()
        if index == self.stall_at:
            time.sleep(self.stall_s)  # deliberately blocks the event loop: nothing is answered
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return web.json_response(await self._accept(body), status=201)

    async def _create_batch(self, request: web.Request) -> web.Response:
        self.requests += 1
        items = (await request.json())["notifications"]
        results = [{"status": 201, "notification": await self._accept(item)} for item in items]
        return web.json_response({"results": results})

    async def _accept(self, body: dict[str, Any]) -> dict[str, Any]:
        seq = body["data"]["seq"]
        notification = {"id": f"fake-{seq:08d}", **body}
        if seq in self.duplicate:  # both copies arrive before the answer: no race with a drain
            await self._deliver(notification)
            await self._deliver(notification)
        elif self.deliver and seq not in self.drop:
            task = asyncio.create_task(self._deliver(notification))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return notification

    async def _deliver(self, notification: dict[str, Any]) -> None:
        assert self._client is not None
        headers = {"webhook-id": notification["id"], "content-type": "application/json"}
        data = json.dumps(notification)
        async with self._client.post(notification["to"], data=data, headers=headers) as answer:
            await answer.read()


class NullApiThread:
    """The generator's null API (answers 201 at once, never delivers) in a background thread."""

    def __init__(self) -> None:
        self._thread = LoopThread()
        self._api = NullApi()

    @property
    def url(self) -> str:
        return self._api.url

    def __enter__(self) -> NullApiThread:
        self._thread.start(self._api.__aenter__)
        return self

    def __exit__(self, *exc: object) -> None:
        self._thread.stop(self._api.__aexit__)
