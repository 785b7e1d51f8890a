"""``notifyctl inspect recipient USER_ID`` and ``notifyctl inspect message MESSAGE_ID``: a
recipient as the store holds it (device tokens shortened) and a send to a person as a whole, read
through ``ops/people.py``; ``cli/ops.py`` mounts them on the ``inspect`` group.

User ids, addresses, templates, categories and errors are a client's or a receiver's text: each
goes into a table as ``Text``, never as a string rich would read as markup.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from notifyctl.api.messages import message_json
from notifyctl.cli.common import fail, open_existing_store, show
from notifyctl.cli.views import STATUS_ORDER, number, plain, table
from notifyctl.errors import NotifyError
from notifyctl.model import DEFAULT_TENANT
from notifyctl.ops import people

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
UserId = Annotated[str, typer.Argument(help="The recipient's user id.")]
MessageId = Annotated[str, typer.Argument(help="The message id a send by template returned.")]
RecipientTenant = Annotated[str, typer.Option("--tenant", help="The tenant whose recipient it is.")]
MessageTenant = Annotated[
    str | None, typer.Option("--tenant", help="Only this tenant's (default: any tenant's).")
]


def checked(tenant: str | None) -> str | None:
    try:
        return people.valid_tenant(tenant)
    except NotifyError as exc:
        fail(exc)
        raise


def not_found(message: str) -> typer.Exit:
    Console(stderr=True).print(f"notifyctl: {message}", markup=False, highlight=False)
    raise typer.Exit(1)


def inspect_recipient(
    ctx: typer.Context, user_id: UserId, tenant: RecipientTenant = DEFAULT_TENANT,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """One recipient: addresses, devices (tokens shortened), preferences, quiet hours."""
    name = checked(tenant) or DEFAULT_TENANT
    _, store = open_existing_store(ctx)
    found = people.recipient(store, name, user_id)
    if found is None:
        not_found(f"tenant {name!r} has no recipient {user_id!r}")
    show(found, as_json, format_recipient)


def inspect_message(
    ctx: typer.Context, message_id: MessageId, tenant: MessageTenant = None, as_json: AsJson = False
) -> None:
    """One message (a send to a person by template): its status and each notification."""
    name = checked(tenant)
    _, store = open_existing_store(ctx)
    found = people.message(store, message_id, name)
    if not found:
        not_found(f"no message has the id {message_id!r}")
    show({**message_json(found), "tenant_id": found[0].tenant_id}, as_json, format_message)


def record(title: str, rows: dict[str, Any]) -> Table:
    """A two-column table of fields and their values, each value shown as written."""
    view = Table(title=Text(title), title_justify="left", title_style="bold", show_header=False)
    view.add_column("field", style="bold")
    view.add_column("value", overflow="fold")
    for key, value in rows.items():
        view.add_row(key, plain(value))
    return view


def joined(values: list[str]) -> str | None:
    return ", ".join(values) if values else None


def format_recipient(data: dict[str, Any]) -> RenderableType:
    quiet = data["quiet_hours"]
    fields = {
        "tenant_id": data["tenant_id"], "email": data["email"], "phone": data["phone"],
        "locale": data["locale"], "timezone": data["timezone"],
        "quiet_hours": None if quiet is None else f"{quiet['start']} to {quiet['end']}",
        "opted_out": joined(data["preferences"]["opted_out"]),
        "created_at": data["created_at"], "updated_at": data["updated_at"],
        "revision": data["revision"],
    }  # fmt: skip
    parts: list[RenderableType] = [record(f"Recipient {data['user_id']}", fields)]
    devices = table("Devices", "platform", "app", "token")
    for device in data["devices"]:
        devices.add_row(plain(device["platform"]), plain(device["app"]), plain(device["token"]))
    parts.append(devices if data["devices"] else Text("no devices"))
    hooks = table("Webhooks", "url")
    for url in data["webhooks"]:
        hooks.add_row(plain(url))
    parts.append(hooks if data["webhooks"] else Text("no webhooks"))
    channels = data["preferences"]["channels"]
    allowed = table("Channels by category", "category", "channels")
    for category, names in channels.items():
        allowed.add_row(plain(category), plain(", ".join(names)))
    parts.append(allowed if channels else Text("no category limited to some channels"))
    return Group(*parts)


def format_message(data: dict[str, Any]) -> RenderableType:
    fields = {key: data[key] for key in ("tenant_id", "user_id", "template", "category", "status")}
    header = record(f"Message {data['message_id']}", fields)
    shown = [status for status in STATUS_ORDER if status in data["counts"]]
    counts = table("Notifications by status", *shown)
    counts.add_row(*(number(data["counts"][status]) for status in shown))
    rows = table("Notifications (oldest first)", "id", "channel", "to", "status", "attempts",
                 "last_error")  # fmt: skip
    for n in data["notifications"]:
        rows.add_row(plain(n["id"]), plain(n["channel"]), destination(n), plain(n["status"]),
                     f"{n['attempts']}/{n['max_attempts']}",
                     Text(n["last_error"] or ""))  # fmt: skip
    return Group(header, counts, rows)


def destination(n: dict[str, Any]) -> Text:
    """``to``; without one, email and SMS go to the address the recipient has at delivery,
    while a push or webhook without one had nowhere to go (``fanout.py``: stored suppressed)."""
    if n["to"] is not None:
        return plain(n["to"])
    if n["channel"] in ("email", "sms"):
        return Text("(recipient's address)", "italic")
    return Text("(nowhere to send to)", "italic")
