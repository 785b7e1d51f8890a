"""How a role learns it should stop: SIGTERM/SIGINT, or its supervisor going away; and how long
a graceful stop may take (``stop_budget``), which the supervisor, the systemd units and the compose
file follow.

Plain event-loop callbacks rather than tasks, so stopping never needs a cancellation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass

from notifyctl.config import Config

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


#: a stopping worker tries to write its last outcomes for at least this long
#: (``Outcomes.flush_at_stop``), even with a grace period shorter than that
FINAL_FLUSH_MIN_S = 2.0
#: the broker's I/O thread is joined for this long at close (``RabbitBroker.close``)
BROKER_JOIN_S = 10.0
#: Hypercorn's graceful_timeout (``serving.hypercorn_config``): an API drains open requests
API_DRAIN_S = 5.0
#: closing channels, removing the worker's row and exiting, after the last flush
CLOSE_S = 5.0
#: the supervisor's own share: killing what overran its deadline and reaping it
SUPERVISOR_S = 2.0


@dataclass(frozen=True)
class StopBudget:
    """How long a graceful stop may take, part by part, from one Config. The supervisor waits
    ``wait_s`` before it kills; whatever stops ``up`` or a worker from outside (systemd's
    TimeoutStopSec, compose's stop_grace_period, ``docker stop --time``) must give ``total_s``."""

    grace_s: float  # deliveries in flight finish (NOTIFYCTL_SHUTDOWN_GRACE_MS)
    final_flush_s: float  # the last outcomes are written (Outcomes.flush_at_stop's bound)
    broker_join_s: float  # the broker's thread ends (0 without a broker)
    close_s: float
    api_s: float

    @property
    def worker_s(self) -> float:
        return self.grace_s + self.final_flush_s + self.broker_join_s + self.close_s

    @property
    def wait_s(self) -> float:
        return max(self.worker_s, self.api_s + self.close_s)

    @property
    def total_s(self) -> float:
        return self.wait_s + SUPERVISOR_S


def stop_budget(config: Config) -> StopBudget:
    grace_s = config.shutdown_grace_ms / 1000
    return StopBudget(
        grace_s=grace_s,
        final_flush_s=max(grace_s, FINAL_FLUSH_MIN_S),
        broker_join_s=0.0 if config.rabbitmq_url == "none" else BROKER_JOIN_S,
        close_s=CLOSE_S,
        api_s=API_DRAIN_S,
    )
