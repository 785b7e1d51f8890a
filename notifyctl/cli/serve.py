"""``notifyctl api``, ``notifyctl worker`` and ``notifyctl up``: build the Config, hand it to
the role."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from notifyctl import logs
from notifyctl.cli.common import DataDir, fail, fast_event_loop, open_store_or_exit, settings
from notifyctl.config import Config
from notifyctl.errors import NotifyError

if TYPE_CHECKING:
    from notifyctl.tracing import Tracing


def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (NOTIFYCTL_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (NOTIFYCTL_API_PORT; 3000).")] = None,
) -> None:
    """Run the HTTP intake API (POST /v1/notifications, GET /health, ...)."""
    import anyio

    from notifyctl.api.app import serve_api
    from notifyctl.broker import open_broker
    from notifyctl.exposure import check_api_keys

    built = settings(ctx, api_host=host, api_port=port)
    store = open_store_or_exit(built)
    try:
        check_api_keys(built, store.has_keys())
    except NotifyError as exc:
        fail(exc)
    with traced(built, "api") as tracing:
        args = (built, store, built.api_host, built.api_port, open_broker(built), tracing)
        anyio.run(serve_api, *args, backend_options=fast_event_loop())


WorkerNumber = Annotated[
    int, typer.Option("--id", min=1, max=999, help="Worker number N: monitoring on port 9090+N.")
]
BatchSize = Annotated[
    int | None, typer.Option(help="Notifications per claim (WORKER_BATCH_SIZE; 50).")
]
Concurrency = Annotated[
    int | None, typer.Option(help="Deliveries in flight (NOTIFYCTL_WORKER_CONCURRENCY; 100).")
]


def worker(
    ctx: typer.Context,
    worker_id: WorkerNumber,
    batch_size: BatchSize = None,
    concurrency: Concurrency = None,
) -> None:
    """Run one worker: claim due notifications from the store and deliver them."""
    import anyio

    from notifyctl.worker import serve_worker

    built = settings(ctx, worker_batch_size=batch_size, worker_concurrency=concurrency)
    logs.identify(worker=worker_id)
    store = open_store_or_exit(built, durable_writes=False)
    try:
        with traced(built, "worker") as tracing:
            args = (built, worker_id, store, tracing)
            anyio.run(serve_worker, *args, backend_options=fast_event_loop())
    except NotifyError as exc:
        fail(exc)


def up(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to run.")] = 2,
    port: Annotated[int | None, typer.Option(help="API port (default 3000).")] = None,
    host: Annotated[str | None, typer.Option(help="API bind address (default 127.0.0.1).")] = None,
    data_dir: DataDir = None,
) -> None:  # fmt: skip
    """Run the whole service on this machine: the API plus N supervised workers."""
    from notifyctl.up import plan as role
    from notifyctl.up.supervisor import Supervisor

    built = settings(ctx, api_port=port, api_host=host, data_dir=data_dir)
    store = open_store_or_exit(built)  # fail fast, with one line, before starting anything
    try:
        store_keys = store.has_keys()
        plan = role.plan(built, workers, store_keys)
    except NotifyError as exc:
        fail(exc)
    finally:
        store.close()
    show_banner(role.banner(plan))
    role.log_warnings(plan)
    raise typer.Exit(Supervisor(plan.config, workers).run())


def show_banner(lines: list[str]) -> None:
    """``up``'s start lines: on the terminal, or, when the log stream is JSON, as records of it
    (nothing then reaches stdout or stderr unstructured)."""
    if logs.json_lines():
        for line in lines:
            logging.getLogger("notifyctl.up").info("%s", line.strip(), extra={"event": "banner"})
        return
    out = Console(highlight=False)
    for line in lines:
        out.print(
            line, style="bold red" if "WARNING" in line else None, markup=False, soft_wrap=True
        )


@contextlib.contextmanager
def traced(built: Config, role: str) -> Iterator[Tracing | None]:
    """The role's tracing (None when off); what it buffered is exported when the role ends."""
    from notifyctl import tracing

    try:
        started = tracing.start(built, role)
    except NotifyError as exc:
        fail(exc)
    try:
        yield started
    finally:
        if started is not None:
            started.shutdown()
