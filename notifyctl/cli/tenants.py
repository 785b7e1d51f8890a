"""``notifyctl tenants secret rotate|retire|show``: each tenant's webhook signing secrets; and
``notifyctl tenants limits set|show|clear``: each tenant's rate limit and daily quota (data in
``ops/tenants.py``). A new secret is printed once, by ``rotate``; nothing else prints a secret."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from notifyctl.api.limits import LIMITS_TTL_S
from notifyctl.channels.secrets import SECRETS_TTL_S
from notifyctl.cli.common import fail, open_existing_store, open_store_or_exit, settings, show
from notifyctl.errors import NotifyError
from notifyctl.model import now_ms
from notifyctl.ops import tenants
from notifyctl.store import Store

tenants_app = typer.Typer(help="Tenants' settings kept in the store.", no_args_is_help=True)
secret_app = typer.Typer(
    help="A tenant's webhook signing secrets (docs/tenants.md).", no_args_is_help=True
)
tenants_app.add_typer(secret_app, name="secret")
limits_app = typer.Typer(
    help="A tenant's rate limit and daily quota (docs/tenants.md).", no_args_is_help=True
)
tenants_app.add_typer(limits_app, name="limits")
Tenant = Annotated[str, typer.Argument(help="The tenant's name.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
UNSET_HELP = f"; {tenants.UNSET!r} removes it (the deployment's applies)"


def _checked(ctx: typer.Context, tenant: str) -> tuple[str, Store]:
    """The tenant name checked before the store is opened, and the store."""
    try:
        name = tenants.valid_tenant(tenant)
    except NotifyError as exc:
        fail(exc)
    return name, open_store_or_exit(settings(ctx))


@secret_app.command("rotate")
def secret_rotate(ctx: typer.Context, tenant: Tenant) -> None:
    """Add a new signing secret (printed once, here); the previous one keeps signing too."""
    name, store = _checked(ctx, tenant)
    try:
        secret, signing = tenants.rotate(store, name, now_ms())
    except NotifyError as exc:
        fail(exc)
    out = Console(highlight=False)
    out.print(Text(secret))
    note = (
        f"the new secret of {name}, shown once; workers sign with it within {SECRETS_TTL_S:.0f} s."
        + (" The previous secret signs too (two signatures) until `notifyctl tenants secret"
           f" retire {name}`." if signing > 1 else "")
    )  # fmt: skip
    Console(stderr=True, highlight=False).print(Text(note))


@secret_app.command("retire")
def secret_retire(ctx: typer.Context, tenant: Tenant) -> None:
    """End a rotation: only the newest secret signs from now on."""
    name, store = _checked(ctx, tenant)
    retired = tenants.retire(store, name)
    Console(highlight=False).print(Text(f"{name}: {retired} older secret(s) retired"))


@secret_app.command("show")
def secret_show(ctx: typer.Context, tenant: Tenant) -> None:
    """How many secrets sign the tenant's webhooks (never the secrets)."""
    name, store = _checked(ctx, tenant)
    count = tenants.active(store, name)
    Console(highlight=False).print(Text(f"{name}: {count} active signing secret(s)"))


@limits_app.command("set")
def limits_set(
    ctx: typer.Context,
    tenant: Tenant,
    rate: Annotated[str | None, typer.Option(
        "--rate", help="Requests a second, in each API process" + UNSET_HELP)] = None,
    burst: Annotated[str | None, typer.Option(
        "--burst", help="Requests at once above the rate" + UNSET_HELP)] = None,
    daily_quota: Annotated[str | None, typer.Option(
        "--daily-quota", help=f"Notifications a UTC day, across API processes; {tenants.UNSET!r}"
        " removes it")] = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Set some of a tenant's limits (the others keep theirs); API processes apply them within
    seconds."""
    try:
        name = tenants.valid_tenant(tenant)
        changes = {
            "rate_per_s": tenants.parse_limit("--rate", rate, float),
            "burst": tenants.parse_limit("--burst", burst, int),
            "daily_quota": tenants.parse_limit("--daily-quota", daily_quota, int),
        }
    except NotifyError as exc:
        fail(exc)
    if all(value is None for value in changes.values()):
        fail(tenants.TenantRequestError("name a limit to set: --rate, --burst or --daily-quota"))
    store = open_store_or_exit(settings(ctx))
    try:
        tenants.set_limits(store, name, changes)
    except NotifyError as exc:
        fail(exc)
    show(tenants.limits_listing(store, name, now_ms()), as_json, limits_table)
    note = f"API processes apply the new limits within {LIMITS_TTL_S:.0f} s."
    Console(stderr=True, highlight=False).print(Text(note))


@limits_app.command("show")
def limits_show(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Argument(help="One tenant (default: all with limits).")]
    = None,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Tenants' own limits and how much of each daily quota is used today (UTC)."""
    try:
        if tenant is not None:
            tenants.valid_tenant(tenant)
    except NotifyError as exc:
        fail(exc)
    _, store = open_existing_store(ctx)
    show(tenants.limits_listing(store, tenant, now_ms()), as_json, limits_table)


@limits_app.command("clear")
def limits_clear(ctx: typer.Context, tenant: Tenant) -> None:
    """Remove a tenant's own limits: the deployment's rate limit applies, and no quota."""
    try:
        name = tenants.valid_tenant(tenant)
    except NotifyError as exc:
        fail(exc)
    _, store = open_existing_store(ctx)
    cleared = tenants.clear_limits(store, name)
    text = f"{name}: limits removed" if cleared else f"{name} had no limits of its own"
    Console(highlight=False).print(Text(text))


def limits_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return Text("no tenant has limits of its own (notifyctl tenants limits set T --rate N)")
    default = "default"  # a field the tenant does not set: the deployment's value applies
    table = Table("tenant", "rate/s", "burst", "daily quota", "used today (UTC)")
    for row in rows:
        quota = row["daily_quota"]
        cells = (
            row["tenant"], default if row["rate_per_s"] is None else f"{row['rate_per_s']:g}",
            default if row["burst"] is None else str(row["burst"]),
            "none" if quota is None else str(quota), str(row["used_today"]),
        )  # fmt: skip
        table.add_row(*(Text(cell) for cell in cells))
    return table
