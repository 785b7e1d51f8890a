"""How a role learns it should stop: SIGTERM/SIGINT, or its supervisor going away.

Plain event-loop callbacks rather than tasks, so stopping never needs a cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger("notifyctl")
#: set by ``notifyctl up`` in each child's environment
SUPERVISOR_ENV = "NOTIFYCTL_SUPERVISOR_PID"


def handle_stop_signals(stop: Callable[[], None]) -> None:
    """The first SIGTERM/SIGINT stops gracefully; a second one exits at once.

    Under ``notifyctl up``, a child whose supervisor died (even by kill -9) stops gracefully too.
    """
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal() -> None:
        nonlocal received
        received += 1
        if received == 1:
            log.info("stopping gracefully (send the signal again to stop at once)")
            stop()
        else:
            log.warning("second stop signal: exiting at once; leases will expire")
            os._exit(1)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    supervisor = os.environ.get(SUPERVISOR_ENV, "")
    if supervisor.isdigit():
        _stop_when_orphaned(loop, int(supervisor), stop)


def _stop_when_orphaned(
    loop: asyncio.AbstractEventLoop, supervisor_pid: int, stop: Callable[[], None]
) -> None:
    def check() -> None:
        if os.getppid() != supervisor_pid:
            log.warning("supervisor %d is gone; stopping", supervisor_pid)
            stop()
            return
        loop.call_later(1.0, check)

    loop.call_later(1.0, check)
