"""What a process samples about itself: CPU and memory.

Read by ``/resources``, ``/stats`` and the metrics at request time; every figure is cheap (one or
two reads of ``/proc`` through psutil). The store's pool figures come from ``Store.pool_stats``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil

#: CPU use is averaged over at least this long, so frequent readers all see a stable figure
MIN_CPU_WINDOW_S = 1.0


@dataclass(frozen=True, slots=True)
class Memory:
    #: resident set size: all the memory of the process that is in RAM
    rss: int
    #: resident anonymous memory (RSS minus file-backed pages): Python's object arenas, the C heap
    #: and thread stacks. Python has no single managed heap like V8's; this is what it allocated.
    heap_used: int
    #: the address space reserved for data (data segment, anonymous mappings and stacks), mostly
    #: not resident: the ceiling ``heap_used`` can grow into without new mappings
    heap_total: int
    #: resident file-backed and shared pages: the interpreter, shared libraries, mapped files
    external: int


class ResourceSampler:
    """CPU and memory of this process. One per process; not thread-safe (use it from one loop)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.cores = psutil.cpu_count(logical=True) or 1
        # The first reading averages over the process's whole life so far.
        self._at = time.monotonic() - max(time.time() - self._process.create_time(), 0.001)
        self._used = 0.0
        self._percent = 0.0

    def cpu_percent(self) -> float:
        """This process's CPU use as a percent of every core of the machine (100 = all busy),
        averaged since the previous reading at least ``MIN_CPU_WINDOW_S`` ago."""
        now = time.monotonic()
        if now - self._at >= MIN_CPU_WINDOW_S:
            times = self._process.cpu_times()
            used = times.user + times.system
            self._percent = 100.0 * (used - self._used) / ((now - self._at) * self.cores)
            self._at, self._used = now, used
        return round(self._percent, 2)

    def memory(self) -> Memory:
        info = self._process.memory_info()
        return Memory(
            rss=info.rss, heap_used=max(info.rss - info.shared, 0), heap_total=info.data,
            external=info.shared,
        )  # fmt: skip
