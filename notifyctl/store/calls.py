"""One way to call the store from an event loop: on a worker thread, timed.

Every store call of the API and of a worker goes through ``call`` (or ``timed``, for a call that
is awaited some other way), so each is observed in ``database_operation_duration_seconds`` by
operation, the wait for a connection and for SQLite's write lock included, and none blocks the
event loop. As Oban's engine wraps every engine call in one instrumented dispatch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

import anyio

T = TypeVar("T")


class CallObserver(Protocol):
    """Where timings go: the process's metrics (``Metrics.observe_store_call``)."""

    def observe_store_call(self, operation: str, seconds: float) -> None: ...


@contextlib.contextmanager
def timed(observer: CallObserver, operation: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        observer.observe_store_call(operation, time.perf_counter() - started)


async def call(observer: CallObserver, operation: str, method: Callable[..., T], *args: Any) -> T:
    """``method(*args)`` on a worker thread, timed as ``operation``."""
    with timed(observer, operation):
        return await anyio.to_thread.run_sync(method, *args)
