"""``notifyctl templates push DIR`` and ``notifyctl templates list``: a tenant's templates, kept
as files in the user's repository and pushed to the store (data in ``ops/templates.py``). An
invalid file prints every problem (file, field, line) and writes nothing: exit 2."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from notifyctl.cli.common import err, fail, open_existing_store, open_store_or_exit, settings, show
from notifyctl.errors import NotifyError
from notifyctl.model import DEFAULT_TENANT, now_ms
from notifyctl.ops import templates

templates_app = typer.Typer(
    help="A tenant's notification templates (docs/templates.md).", no_args_is_help=True
)
Tenant = Annotated[str, typer.Option("--tenant", help="The tenant whose templates these are.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@templates_app.command("push")
def templates_push(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(
        help="One template per *.yaml, *.yml or *.toml file, named by the file's stem.")],
    tenant: Tenant = DEFAULT_TENANT,
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="Check every file and show what would change; write nothing.")] = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Check every template file, then create or replace the ones that changed; nothing is
    written when any file is invalid."""
    try:
        name = templates.valid_tenant(tenant)
        files = templates.read_templates(directory)
    except templates.TemplatesInvalid as exc:
        for problem in exc.problems:
            err.print(Text(problem_line(problem)), highlight=False, soft_wrap=True)
        fail(exc)
    except NotifyError as exc:
        fail(exc)
    store = open_store_or_exit(settings(ctx))  # templates may come before the first start
    try:
        pushed = templates.push(store, name, files, now_ms(), dry_run)
    except NotifyError as exc:
        fail(exc)
    show(templates.pushed_json(pushed), as_json, pushed_table)
    if dry_run:
        Console(stderr=True, highlight=False).print(Text("dry run: nothing was written"))


def problem_line(problem: templates.FileProblem) -> str:
    """``file: field, line N: message``; the line is the text's own for a field's problem."""
    where = [problem.file]
    if problem.field:
        where.append(problem.field)
    if problem.line is not None:
        where.append(f"line {problem.line}" + (" of the text" if problem.field else ""))
    return f"{', '.join(where)}: {problem.message}"


# Text, never a str: names and file paths are shown as written, never read as rich markup


def pushed_table(rows: list[dict[str, Any]]) -> Any:
    table = Table("template", "file", "outcome")
    for row in rows:
        table.add_row(Text(row["name"]), Text(row["file"]), Text(row["outcome"]))
    return table


@templates_app.command("list")
def templates_list(
    ctx: typer.Context, tenant: Tenant = DEFAULT_TENANT, as_json: AsJson = False
) -> None:
    """The tenant's templates by name (without their texts: GET /v1/templates/{name} has them)."""
    try:
        name = templates.valid_tenant(tenant)
    except NotifyError as exc:
        fail(exc)
    _, store = open_existing_store(ctx)
    show(templates.listing(store, name), as_json, listing_table)


def listing_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return Text("no templates (notifyctl templates push DIR)")
    table = Table("template", "version", "category", "channels", "locales", "updated")
    for row in rows:
        cells = (
            row["name"], str(row["version"]), row["category"] or "", ", ".join(row["channels"]),
            ", ".join(row["locales"]), row["updated_at"],
        )  # fmt: skip
        table.add_row(*(Text(cell) for cell in cells))
    return table
