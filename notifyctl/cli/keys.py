"""``notifyctl keys create|list|revoke``: the API keys kept in the store, each granting one tenant
some scopes (``ops/keys.py`` has the data; here only printing). The new key is printed once, by
``create``; nothing prints a digest.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Column, Table
from rich.text import Text

from notifyctl.api.keyring import TTL_S
from notifyctl.cli.common import fail, open_existing_store, open_store_or_exit, settings, show
from notifyctl.errors import NotifyError
from notifyctl.model import now_ms
from notifyctl.ops import keys
from notifyctl.tenants import SCOPE_NAMES

keys_app = typer.Typer(
    help="API keys kept in the store: each grants one tenant some scopes (docs/tenants.md).",
    no_args_is_help=True,
)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
Tenant = Annotated[str, typer.Option("--tenant", help="The tenant the key acts for.")]
Scopes = Annotated[str, typer.Option("--scope", help=f"Comma-separated, of: {SCOPE_NAMES}.")]
Name = Annotated[str, typer.Option("--name", help="A label for people, e.g. who holds it.")]
Expires = Annotated[
    str | None, typer.Option("--expires", help="Expire after an age (90d, 12h, 2w) or at a time.")
]


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    tenant: Tenant,
    scope: Scopes,
    name: Name = "",
    expires: Expires = None,
    as_json: AsJson = False,
) -> None:
    """Create a key for a tenant; the key is printed once, here, and never again."""
    try:
        new = keys.prepare(tenant, scope, name, expires, now_ms())
    except NotifyError as exc:
        fail(exc)
    store = open_store_or_exit(settings(ctx))  # a first key may come before the first start
    try:
        keys.save(store, new)
    except NotifyError as exc:
        fail(exc)
    shown = {**keys.key_json(new.record, new.record.created_at), "key": new.key}
    show(shown, as_json, created_text)


# Text, never a str: a key's name is shown as typed, never read as rich markup


def created_text(shown: dict[str, Any]) -> Text:
    expires = f", expires {shown['expires_at']}" if shown["expires_at"] else ""
    return Text(
        f"Created API key {shown['id']} for tenant {shown['tenant']}"
        f" (scopes: {', '.join(shown['scopes'])}{expires}).\n"
        "The key, shown only this once (send it as Authorization: Bearer <key>):\n"
        f"{shown['key']}"
    )


@keys_app.command("list")
def keys_list(
    ctx: typer.Context,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's.")] = None,
    as_json: AsJson = False,
) -> None:
    """Every key (or a tenant's), revoked and expired ones too; never a key or its digest."""
    try:
        keys.check_tenant(tenant)
    except NotifyError as exc:
        fail(exc)
    _, store = open_existing_store(ctx)
    show(keys.listing(store, tenant, now_ms()), as_json, keys_table)


def keys_table(rows: list[dict[str, Any]]) -> Any:
    if not rows:
        return Text("no API keys (notifyctl keys create --tenant T --scope send,read)")
    # the id in full: it is what ``keys revoke`` takes
    table = Table(Column("id", no_wrap=True, min_width=20), "tenant", "name", "scopes", "state",
                  "created", "last used", "expires")  # fmt: skip
    for row in rows:
        times = (row["created_at"], row["last_used_at"] or "-", row["expires_at"] or "-")
        cells = (row["id"], row["tenant"], row["name"], ",".join(row["scopes"]), row["state"])
        table.add_row(*(Text(cell) for cell in (*cells, *times)))
    return table


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (keys list).")],
    as_json: AsJson = False,
) -> None:
    """Revoke a key: every API process refuses it within a few seconds (its cache's TTL)."""
    _, store = open_existing_store(ctx)
    try:
        revoked = keys.revoke(store, key_id, now_ms())
    except NotifyError as exc:
        fail(exc)
    show(revoked, as_json, revoked_text)


def revoked_text(shown: dict[str, Any]) -> Text:
    return Text(
        f"Revoked API key {shown['id']} of tenant {shown['tenant']} at {shown['revoked_at']};"
        f" API processes refuse it within {TTL_S:g} s."
    )
