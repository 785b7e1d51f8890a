"""The worker process: one ``Worker``, its monitoring server and queue sampler, the systemd
watchdog, and the stop signals, until SIGTERM/SIGINT (``notifyctl worker --id N``)."""

from __future__ import annotations

import asyncio
import functools
import logging

import anyio

from notifyctl.broker import open_broker
from notifyctl.channels import open_channels
from notifyctl.config import Config
from notifyctl.lifecycle import handle_stop_signals
from notifyctl.ports import bind_monitor
from notifyctl.sdnotify import feed_watchdog
from notifyctl.serving import serve_until
from notifyctl.store import InsertListener, Store, listen_for_inserts
from notifyctl.tracing import Tracing
from notifyctl.worker.monitor import QueueSampler, build_monitor_app
from notifyctl.worker.worker import Worker

log = logging.getLogger("notifyctl.worker")


def wake_on_inserts(store: Store, worker: Worker) -> InsertListener | None:
    """Without a broker, the store's own wake-ups where it has them (PostgreSQL's NOTIFY after
    an insert) cut the sweep's rest short; None where the store has none."""
    loop = asyncio.get_running_loop()

    def on_insert() -> None:  # on the store's listening thread
        loop.call_soon_threadsafe(worker.claiming.nudge)

    return listen_for_inserts(store, on_insert)


async def serve_worker(
    config: Config, number: int, store: Store, tracing: Tracing | None = None
) -> None:
    """Run worker ``number`` with its monitoring server until SIGTERM/SIGINT."""
    # Bound first: a taken port stops the worker with one line (exit 2) before it claims anything,
    # rather than a traceback from inside the task group after it started delivering.
    host, base = config.monitor_host, config.monitor_port_base
    bound = bind_monitor(host, base, number) if base else None
    channels = open_channels(config, store.webhook_secrets)
    worker = Worker(config, store, channels, number, broker=open_broker(config), tracing=tracing)
    handle_stop_signals(worker.stop)
    finished = anyio.Event()
    queue = QueueSampler(worker, config.queue_metrics_interval_ms, config.heartbeat_interval_ms)
    async with anyio.create_task_group() as monitoring:
        monitoring.start_soon(feed_watchdog, finished)
        if bound is not None:
            app = build_monitor_app(worker, queue)
            serve = functools.partial(serve_until, bound=bound)
            monitoring.start_soon(serve, app, host, base + number, finished)
            monitoring.start_soon(queue.run, finished)
        log.info("worker %d (%s) started on %s", number, worker.id, store.url)
        listener = None if worker.broker.configured else wake_on_inserts(store, worker)
        try:
            await worker.run()
        finally:
            if listener is not None:
                listener.close()
        log.info("worker %d stopped: %r", number, worker)
        finished.set()  # the monitoring server, queue sampler and watchdog stop by themselves
