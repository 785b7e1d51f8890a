"""``notifyctl pause`` and ``notifyctl resume``: hold back a channel, a destination or a tenant
during an incident, and let it go again (``ops/pauses.py``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.text import Text

from notifyctl.cli.common import fail, open_existing_store
from notifyctl.errors import NotifyError
from notifyctl.model import now_ms
from notifyctl.ops import pauses

Channel = Annotated[
    str | None, typer.Option(help="A channel: webhook, email, apns, fcm, sms, log.")
]
Destination = Annotated[
    str | None,
    typer.Option(
        help="A destination: a webhook URL (its scheme, host and port) or a provider"
        " (smtp, apns, fcm, sms)."
    ),  # fmt: skip
]
Tenant = Annotated[str | None, typer.Option(help="A tenant: everything it sends.")]


def target(channel: str | None, destination: str | None, tenant: str | None) -> tuple[str, str]:
    given = [(kind, value) for kind, value in
             (("channel", channel), ("destination", destination), ("tenant", tenant))
             if value is not None]  # fmt: skip
    if len(given) != 1:
        fail(ValueError("name exactly one of --channel, --destination or --tenant"))
    return given[0]


def pause(
    ctx: typer.Context,
    channel: Channel = None,
    destination: Destination = None,
    tenant: Tenant = None,
    reason: Annotated[str, typer.Option(help="A note for the other operators.")] = "",
) -> None:
    """Hold back a channel, a destination or a tenant: workers stop delivering it within a
    second; what waits is kept (no attempt spent) until `notifyctl resume`."""
    kind, value = target(channel, destination, tenant)
    _, store = open_existing_store(ctx)
    data = run(lambda: pauses.pause(store, kind, value, reason, now_ms()))
    p = data["pause"]
    already = " (it was paused already)" if data["already_paused"] else ""
    say(f"paused {p['kind']} {p['value']}{already}; {data['parked']:,} waiting notifications"
        " parked")  # fmt: skip


def resume(
    ctx: typer.Context,
    channel: Channel = None,
    destination: Destination = None,
    tenant: Tenant = None,
) -> None:
    """Let a paused channel, destination or tenant go: what waited is due again as it was."""
    kind, value = target(channel, destination, tenant)
    _, store = open_existing_store(ctx)
    data = run(lambda: pauses.resume(store, kind, value, now_ms()))
    r = data["resumed"]
    say(f"resumed {r['kind']} {r['value']}; {data['moved_back']:,} notifications due again")


def run(action: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = action()
    except NotifyError as exc:
        fail(exc)
    return result


def say(line: str) -> None:
    # the value may be what a person typed: shown as written, never read as markup
    Console().print(Text(line), highlight=False, soft_wrap=True)
