"""``notifyctl tenants secret rotate|retire|show``: each tenant's webhook signing secrets (data in
``ops/tenants.py``). A new secret is printed once, by ``rotate``; nothing else prints a secret."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from notifyctl.channels.secrets import SECRETS_TTL_S
from notifyctl.cli.common import fail, open_store_or_exit, settings
from notifyctl.errors import NotifyError
from notifyctl.model import now_ms
from notifyctl.ops import tenants
from notifyctl.store import Store

tenants_app = typer.Typer(help="Tenants' settings kept in the store.", no_args_is_help=True)
secret_app = typer.Typer(
    help="A tenant's webhook signing secrets (docs/tenants.md).", no_args_is_help=True
)
tenants_app.add_typer(secret_app, name="secret")
Tenant = Annotated[str, typer.Argument(help="The tenant's name.")]


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
