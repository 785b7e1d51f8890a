"""``store.calls``: the one timed, off-loop store call of the API and the workers."""

from __future__ import annotations

import threading

import anyio
import pytest

from notifyctl.store.calls import call


class Timings:
    def __init__(self) -> None:
        self.seen: list[tuple[str, float]] = []

    def observe_store_call(self, operation: str, seconds: float) -> None:
        self.seen.append((operation, seconds))


def test_a_call_runs_on_a_worker_thread_and_is_timed_even_when_it_fails() -> None:
    timings = Timings()
    loop_thread = threading.get_ident()

    def method(x: int) -> int:
        assert threading.get_ident() != loop_thread  # never on the event loop
        return x * 2

    def failing() -> None:
        raise OSError("disk I/O error")

    async def scenario() -> int:
        with pytest.raises(OSError):
            await call(timings, "broken", failing)
        return await call(timings, "double", method, 21)

    assert anyio.run(scenario) == 42
    assert [name for name, _ in timings.seen] == ["broken", "double"]
    assert all(seconds >= 0 for _, seconds in timings.seen)
