"""The command line: thin commands that build the Config once and hand it to a role."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from notifyctl import __version__, config
from notifyctl.cli_ops import dlq_app, inspect_app
from notifyctl.destinations import LOOPBACK_ONLY
from notifyctl.errors import NotifyError

app = typer.Typer(
    help="notifyctl: accept notifications over HTTP, keep them in a store, deliver each once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)
app.add_typer(inspect_app, name="inspect")
app.add_typer(dlq_app, name="dlq")


def version_callback(value: bool) -> None:
    if value:
        print(f"notifyctl {__version__}")
        raise typer.Exit()


ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="TOML file of settings (see README).")
]
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store", help="Store URL (env NOTIFYCTL_STORE_URL); default: SQLite in the data dir."
    ),
]
DataDir = Annotated[
    str | None,
    typer.Option(help="Where the embedded store lives (env NOTIFYCTL_DATA_DIR; ./notifyctl-data)."),
]
BrokerUrl = Annotated[
    str | None,
    typer.Option("--broker", help="amqp:// URL of RabbitMQ, or none (RABBITMQ_URL; none)."),
]
LogLevel = Annotated[
    str | None, typer.Option(help="debug, info, warning or error (env NOTIFYCTL_LOG_LEVEL).")
]
Version = Annotated[
    bool,
    typer.Option("--version", callback=version_callback, is_eager=True, help="Print the version."),
]


@app.callback()
def root(
    ctx: typer.Context,
    config_file: ConfigFile = None,
    store: StoreUrl = None,
    data_dir: DataDir = None,
    broker: BrokerUrl = None,
    log_level: LogLevel = None,
    version: Version = False,
) -> None:
    ctx.obj = {
        "file": config_file,
        "flags": {
            "store_url": store,
            "data_dir": data_dir,
            "rabbitmq_url": broker,
            "log_level": log_level,
        },
    }


#: settings whose command-line flag is not --<setting-name>
FLAG_NAMES = {
    "store_url": "--store",
    "rabbitmq_url": "--broker",
    "api_host": "--host",
    "api_port": "--port",
    "worker_batch_size": "--batch-size",
    "worker_concurrency": "--concurrency",
}


def settings(ctx: typer.Context, **flags: Any) -> config.Config:
    """Build the one Config: flag > environment > file > default. Bad values exit 2."""
    try:
        given = {**ctx.obj["flags"], **{k: v for k, v in flags.items() if v is not None}}
        built = config.load(given, os.environ, ctx.obj["file"], FLAG_NAMES)
    except NotifyError as exc:
        fail(exc)
    logging.basicConfig(
        level=built.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika narrates every connection step
    return built


def fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]notifyctl: error:[/red] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def open_store_or_exit(built: config.Config, durable_writes: bool = True) -> Any:
    from notifyctl.store import open_store

    try:
        return open_store(built, durable_writes=durable_writes)
    except NotifyError as exc:
        fail(exc)


@app.command()
def api(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Bind address (NOTIFYCTL_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (NOTIFYCTL_API_PORT; 3000).")] = None,
) -> None:
    """Run the HTTP intake API (POST /v1/notifications, GET /health, ...)."""
    import anyio

    from notifyctl.broker import open_broker
    from notifyctl.roles.api import serve_api

    built = settings(ctx, api_host=host, api_port=port)
    store = open_store_or_exit(built)
    anyio.run(serve_api, built, store, built.api_host, built.api_port, open_broker(built))


WorkerNumber = Annotated[
    int, typer.Option("--id", min=1, max=999, help="Worker number N: monitoring on port 9090+N.")
]
BatchSize = Annotated[
    int | None, typer.Option(help="Notifications per claim (WORKER_BATCH_SIZE; 50).")
]
Concurrency = Annotated[
    int | None, typer.Option(help="Deliveries in flight (NOTIFYCTL_WORKER_CONCURRENCY; 100).")
]


@app.command()
def worker(
    ctx: typer.Context,
    worker_id: WorkerNumber,
    batch_size: BatchSize = None,
    concurrency: Concurrency = None,
) -> None:
    """Run one worker: claim due notifications from the store and deliver them."""
    import anyio

    from notifyctl.roles.worker import serve_worker

    built = settings(ctx, worker_batch_size=batch_size, worker_concurrency=concurrency)
    store = open_store_or_exit(built, durable_writes=False)
    try:
        anyio.run(serve_worker, built, worker_id, store)
    except NotifyError as exc:
        fail(exc)


@app.command()
def up(
    ctx: typer.Context,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes to run.")] = 2,
    port: Annotated[int | None, typer.Option(help="API port (default 3000).")] = None,
    host: Annotated[str | None, typer.Option(help="API bind address (default 127.0.0.1).")] = None,
    data_dir: DataDir = None,
) -> None:  # fmt: skip
    """Run the whole service on this machine: the API plus N supervised workers."""
    from notifyctl.roles.supervisor import Supervisor

    built = settings(ctx, api_port=port, api_host=host, data_dir=data_dir)
    if not built.webhook_allow:  # one machine: its own receivers are fair game
        built = dataclasses.replace(built, webhook_allow=LOOPBACK_ONLY)
    open_store_or_exit(built).close()  # fail fast, with one line, before starting anything
    out = Console()
    out.print(f"[bold]notifyctl up[/bold] {__version__}")
    out.print(f"  API        http://{built.api_host}:{built.api_port}  (POST /v1/notifications)")
    first, last = built.monitor_port_base + 1, built.monitor_port_base + workers
    monitoring = (
        f"monitoring on ports {first}-{last}" if built.monitor_port_base else "no monitoring"
    )
    out.print(f"  workers    {workers} ({monitoring})")
    out.print(f"  store      {config.redacted(built.store_url)}")
    if built.rabbitmq_url == "none":
        out.print("  broker     none (workers poll the store)")
    else:
        broker = config.redacted(built.rabbitmq_url)
        out.print(f"  broker     {broker} queue {built.rabbitmq_consumer_group}")
    out.print(f"  webhooks   may reach {built.webhook_allow} (NOTIFYCTL_WEBHOOK_ALLOW); other")
    out.print("             private, link-local and metadata addresses are refused")
    out.print("  Ctrl-C stops everything gracefully.")
    raise typer.Exit(Supervisor(built, workers).run())


def main() -> None:
    app()
