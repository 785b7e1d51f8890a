"""Running an in-process worker in a test until a condition holds (bounded), then stopping it."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from notifyctl.worker.worker import Worker


def run_until(worker: Worker, done: Callable[[Worker], bool], timeout_s: float = 20) -> Worker:
    """Run ``worker`` until ``done(worker)``, at most ``timeout_s`` (else TimeoutError), then
    stop it the way SIGTERM does and wait for it to finish."""

    async def main() -> None:
        async with anyio.create_task_group() as running:
            running.start_soon(worker.run)
            with anyio.fail_after(timeout_s):
                while not done(worker):
                    await anyio.sleep(0.01)
            worker.stop()

    anyio.run(main)
    return worker
