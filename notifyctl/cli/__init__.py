"""The command line: thin commands that build the Config once and hand it to a role.

``common.py`` is what every command shares (settings, the one error line, the store); ``serve.py``
holds ``api``, ``worker`` and ``up``; ``loadgen.py`` the load generator's command; ``ops.py`` the
``inspect`` and ``dlq`` groups, rendered by ``views.py``; ``keys.py`` the ``keys`` group;
``templates.py`` the ``templates`` group; ``pauses.py`` ``pause`` and ``resume``. This module
mounts them on one app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from notifyctl import __version__
from notifyctl.cli import loadgen, pauses, serve
from notifyctl.cli.common import DataDir
from notifyctl.cli.keys import keys_app
from notifyctl.cli.ops import dlq_app, inspect_app
from notifyctl.cli.templates import templates_app
from notifyctl.cli.tenants import tenants_app

app = typer.Typer(
    help="notifyctl: accept notifications over HTTP, keep them in a store, deliver each once.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(inspect_app, name="inspect")
app.add_typer(dlq_app, name="dlq")
app.add_typer(keys_app, name="keys")
app.add_typer(tenants_app, name="tenants")
app.add_typer(templates_app, name="templates")
app.command("pause")(pauses.pause)
app.command("resume")(pauses.resume)


def version_callback(value: bool) -> None:
    if value:
        print(f"notifyctl {__version__}")
        raise typer.Exit()


ConfigFile = Annotated[
    Path | None, typer.Option("--config", help="TOML file of settings (see docs/configuration.md).")
]
StoreUrl = Annotated[
    str | None,
    typer.Option(
        "--store", help="Store URL (env NOTIFYCTL_STORE_URL); default: SQLite in the data dir."
    ),
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


app.command()(serve.api)
app.command()(serve.worker)
app.command()(serve.up)
app.command(short_help=loadgen.LOADGEN_HELP)(loadgen.loadgen)


def main() -> None:
    app()
