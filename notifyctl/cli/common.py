"""What every command shares: the one Config (flag > environment > file > default), the one
error line a person can act on, opening the store, printing data, the event loop."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from notifyctl import config, logs
from notifyctl.errors import NotifyError

err = Console(stderr=True)

DataDir = Annotated[
    str | None,
    typer.Option(help="Where the embedded store lives (env NOTIFYCTL_DATA_DIR; ./notifyctl-data)."),
]


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
    logs.configure(built, role_of(ctx))
    return built


def role_of(ctx: typer.Context) -> str:
    """The command this process runs (``worker``, ``inspect``, ...), as its log lines name it."""
    command: Any = ctx
    while command.parent is not None and command.parent.parent is not None:
        command = command.parent  # the command under the root (``inspect`` for ``inspect stats``)
    return str(command.info_name or "notifyctl")


def fail(exc: Exception) -> typer.Exit:
    if logs.wants_json(os.environ):  # the log stream is JSON: the error line is one record
        logs.error_record(str(exc), event="cannot_start")
        raise typer.Exit(2)
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


def open_existing_store(ctx: typer.Context) -> tuple[config.Config, Any]:
    """The Config and the store it names; a SQLite file that does not exist is an error here."""
    built = settings(ctx)
    if built.store_url.startswith("sqlite:///"):
        file = Path(built.store_url.removeprefix("sqlite:///"))
        if not file.exists():
            fail(ValueError(f"no store at {file}; pass --data-dir or --store of a deployment"))
    return built, open_store_or_exit(built)


def show(data: Any, as_json: bool, render: Callable[[Any], Any]) -> None:
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        Console().print(render(data))


def fast_event_loop() -> dict[str, bool]:
    """uvloop where it is installed: Hypercorn and the thread hops of every request spend much of
    the API's CPU in the event loop, and uvloop's is in C (about 12 % fewer instructions a POST)."""
    import importlib.util

    return {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
