"""The command line: thin commands that build the Config once and hand it to a role."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from notifyctl import __version__, config
from notifyctl.cli_ops import dlq_app, inspect_app
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
    # the message may quote what a person typed: shown as written, never read as markup
    err.print(Text.assemble(("notifyctl: error:", "red"), f" {exc}"), highlight=False,
              soft_wrap=True)  # fmt: skip
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

    from notifyctl.api.app import serve_api
    from notifyctl.broker import open_broker
    from notifyctl.exposure import check_api_keys

    built = settings(ctx, api_host=host, api_port=port)
    try:
        check_api_keys(built)
    except NotifyError as exc:
        fail(exc)
    store = open_store_or_exit(built)
    args = (built, store, built.api_host, built.api_port, open_broker(built))
    anyio.run(serve_api, *args, backend_options=fast_event_loop())


def fast_event_loop() -> dict[str, bool]:
    """uvloop where it is installed: Hypercorn and the thread hops of every request spend much of
    the API's CPU in the event loop, and uvloop's is in C (about 12 % fewer instructions a POST)."""
    import importlib.util

    return {"use_uvloop": importlib.util.find_spec("uvloop") is not None}


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

    from notifyctl.worker.worker import serve_worker

    built = settings(ctx, worker_batch_size=batch_size, worker_concurrency=concurrency)
    store = open_store_or_exit(built, durable_writes=False)
    try:
        anyio.run(serve_worker, built, worker_id, store, backend_options=fast_event_loop())
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
    from notifyctl.up import plan as role
    from notifyctl.up.supervisor import Supervisor

    built = settings(ctx, api_port=port, api_host=host, data_dir=data_dir)
    try:
        plan = role.plan(built, workers)
    except NotifyError as exc:
        fail(exc)
    open_store_or_exit(plan.config).close()  # fail fast, with one line, before starting anything
    out = Console(highlight=False)
    for line in role.banner(plan):
        out.print(
            line, style="bold red" if "WARNING" in line else None, markup=False, soft_wrap=True
        )
    role.log_warnings(plan)
    raise typer.Exit(Supervisor(plan.config, workers).run())


def option(help: str, *flags: str, **limits: Any) -> Any:
    return typer.Option(*flags, help=help, **limits)


Target = Annotated[str, option("Base URL of the API, or of the proxy in front of it.")]
Rate = Annotated[float, option("Notifications per second (with --ramp: the first rate).", min=0)]
Duration = Annotated[
    str | None,
    option("How long to send: 90, 90s, 5m, 1h (default 60 s; with --calibrate: per step, 30 s)."),
]
Users = Annotated[int, option("Size of the user_id pool (not a concurrency).", min=1)]
Batch = Annotated[
    int, option("Notifications per request; above 1: POST /v1/notifications/batch.", min=1)
]
Channel = Annotated[str, option("webhook (checked through the sink) or log (not checked).")]
Ramp = Annotated[
    str | None,
    option("Stages DURATION:RATE,... moving the rate linearly, e.g. 1m:100,5m:100,1m:0."),
]
ApiKey = Annotated[
    str | None, option("Sent as Authorization: Bearer KEY.", envvar="NOTIFYCTL_API_KEY")
]
Timeout = Annotated[float, option("Hard timeout of one request, in seconds.", min=0.001)]
Seed = Annotated[int, option("Seed of the user_id draws.")]
SinkHost = Annotated[str, option("Address the sink listens on, as the workers reach it.")]
SinkPort = Annotated[int, option("Port of the sink (0: any free port).", min=0, max=65535)]
Drain = Annotated[float, option("Seconds to wait for deliveries after the last answer.", min=0)]
Progress = Annotated[float, option("Seconds between progress lines.", min=0.1)]
JsonPath = Annotated[Path | None, option("Write the full report here, as JSON.", "--json")]
MaxMs = Annotated[float, option("Threshold, ms (see README).", min=0)]
Ratio = Annotated[float, option("Threshold, a fraction (see README).", min=0, max=1)]
Count = Annotated[int, option("Threshold, a count (see README).", min=0)]
MaxLag = Annotated[float, option("Generator lag p99 (ms) above which a run is INVALID.", min=0)]
Calibrate = Annotated[
    bool, option("Measure the generator's own ceiling, against a null API.", "--calibrate")
]


@app.command(short_help="Open-model load with every delivery checked (see README).")
def loadgen(
    target: Target = "http://127.0.0.1:3000",
    rate: Rate = 12,
    duration: Duration = None,
    users: Users = 10_000,
    batch: Batch = 1,
    channel: Channel = "webhook",
    ramp: Ramp = None,
    api_key: ApiKey = None,
    timeout: Timeout = 10.0,
    seed: Seed = 0,
    sink_host: SinkHost = "127.0.0.1",
    sink_port: SinkPort = 0,
    drain_timeout: Drain = 60.0,
    progress: Progress = 5.0,
    json_path: JsonPath = None,
    max_mean_ms: MaxMs = 200,
    max_p95_ms: MaxMs = 300,
    max_p99_ms: MaxMs = 500,
    max_error_rate: Ratio = 0.01,
    max_duplicates: Count = 0,
    max_lost: Count = 0,
    min_achieved: Ratio = 0.99,
    max_lag_ms: MaxLag = 10.0,
    calibrate: Calibrate = False,
) -> None:
    """Open-model load; latency from the intended send; every delivery checked through a sink.
    Exit 0 pass, 1 a threshold failed, 3 invalid (the generator itself was the limit)."""
    from notifyctl import loadgen as role
    from notifyctl.loadgen.plan import Thresholds, build_plan

    limits = Thresholds(max_mean_ms, max_p95_ms, max_p99_ms, max_error_rate, max_duplicates,
                        max_lost, min_achieved)  # fmt: skip
    try:
        plan = build_plan(
            target, rate, "30" if calibrate and duration is None else duration, ramp, batch,
            channel, sink_host, users=users, api_key=api_key, timeout_s=timeout, seed=seed,
            sink_port=sink_port, drain_timeout_s=drain_timeout, progress_s=progress,
            max_lag_ms=max_lag_ms, thresholds=limits,
        )  # fmt: skip
        if calibrate:
            code = role.calibrate(plan, plan.schedule.duration_s, json_path, Console())
        else:
            code = role.run(plan, json_path, Console(), err)
    except NotifyError as exc:
        fail(exc)
    raise typer.Exit(code)


def main() -> None:
    app()
