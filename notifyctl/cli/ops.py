"""``notifyctl inspect ...`` and ``notifyctl dlq replay``: thin commands that read (or replay)
through the store and print what ``ops/inspect.py`` and ``ops/dlq.py`` return, as tables
(``views.py``) or ``--json``; ``inspect recipient|message`` are ``people.py``'s. The CLI's
``__init__`` mounts these two groups."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from notifyctl.broker import open_broker
from notifyctl.channels import offered
from notifyctl.cli import people, views
from notifyctl.cli.common import fail, open_existing_store, show
from notifyctl.errors import NotifyError
from notifyctl.model import now_ms
from notifyctl.ops import destinations, dlq, inspect, pauses

inspect_app = typer.Typer(
    help="Operators' views of a deployment, read from its store; --json for scripts.",
    no_args_is_help=True,
)
dlq_app = typer.Typer(help="The dead letters: notifications given up on.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
Tenant = Annotated[str | None, typer.Option(help="Only this tenant's (default: every tenant's).")]


def since_of(text: str | None, now: int) -> int | None:
    try:
        return None if text is None else dlq.parse_since(text, now)
    except NotifyError as exc:
        fail(exc)
        raise


@inspect_app.command("stats")
def inspect_stats(ctx: typer.Context, as_json: AsJson = False, tenant: Tenant = None) -> None:
    """Counts by status, throughput over the last 1/5/15 minutes, success rate, oldest due."""
    built, store = open_existing_store(ctx)
    data = {**inspect.stats(store, now_ms(), tenant), "channels": list(offered(built))}
    show(data, as_json, views.format_stats)


@inspect_app.command("queue")
def inspect_queue(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The undelivered backlog by priority and channel: due, scheduled later, locked."""
    _, store = open_existing_store(ctx)
    show(inspect.queue(store, now_ms()), as_json, views.format_queue)


@inspect_app.command("workers")
def inspect_workers(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Every registered worker: host, pid, last heartbeat, alive or stale, in flight, processed."""
    built, store = open_existing_store(ctx)
    rows = inspect.workers(store, now_ms(), built.heartbeat_interval_ms)
    show(rows, as_json, views.format_workers)


@inspect_app.command("notification")
def inspect_notification(
    ctx: typer.Context, notification_id: str, as_json: AsJson = False, tenant: Tenant = None
) -> None:
    """One notification: the full record and its history of attempts."""
    _, store = open_existing_store(ctx)
    found = inspect.notification(store, notification_id, tenant)
    if found is None:
        message = f"notifyctl: no notification has the id {notification_id!r}"
        Console(stderr=True).print(message, markup=False, highlight=False)
        raise typer.Exit(1)
    show(found, as_json, views.format_notification)


inspect_app.command("recipient")(people.inspect_recipient)


@inspect_app.command("destinations")
def inspect_destinations(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Destinations whose circuit breaker is open or half-open (closed ones are not listed)."""
    _, store = open_existing_store(ctx)
    show(destinations.destinations(store, now_ms()), as_json, views.format_destinations)


inspect_app.command("message")(people.inspect_message)


@inspect_app.command("pauses")
def inspect_pauses(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """What is paused (notifyctl pause), since when, why, and how many notifications wait."""
    _, store = open_existing_store(ctx)
    show(pauses.pauses(store), as_json, views.format_pauses)


Since = Annotated[
    str | None, typer.Option(help="Only those that died since: RFC 3339, or an age like 6h, 2d.")
]
Channel = Annotated[str | None, typer.Option(help="Only this channel (webhook, log, ...).")]


@inspect_app.command("dead")
def inspect_dead(
    ctx: typer.Context,
    as_json: AsJson = False,
    since: Since = None,
    channel: Channel = None,
    tenant: Tenant = None,
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
) -> None:
    """The dead letters, newest first, with their last errors."""
    _, store = open_existing_store(ctx)
    start = since_of(since, now_ms())
    show(inspect.dead(store, start, channel, limit, tenant), as_json, views.format_dead)


@inspect_app.command("top")
def inspect_top(
    ctx: typer.Context,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between refreshes.")] = 2.0,
    iterations: Annotated[
        int, typer.Option("--iterations", "-n", min=0, help="Stop after N refreshes (0: never).")
    ] = 0,
) -> None:
    """A live view of stats, queue and workers, refreshed until Ctrl-C."""
    import time

    from rich.live import Live

    built, store = open_existing_store(ctx)

    def view() -> Any:
        now = now_ms()
        workers = inspect.workers(store, now, built.heartbeat_interval_ms)
        return views.format_top(inspect.stats(store, now), inspect.queue(store, now), workers)

    shown = 1
    try:
        with Live(view(), auto_refresh=False) as live:
            while not iterations or shown < iterations:
                time.sleep(interval)
                live.update(view(), refresh=True)
                shown += 1
    except KeyboardInterrupt:
        pass


@dlq_app.command("replay")
def dlq_replay(
    ctx: typer.Context,
    ids: Annotated[list[str] | None, typer.Option("--id", help="A dead letter to replay.")] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every dead letter matching.")] = False,
    since: Since = None,
    channel: Channel = None,
    tenant: Tenant = None,
    error: Annotated[
        str | None, typer.Option(help="With --all: only those whose last error contains this.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would move; change nothing.")] = False,
    as_json: AsJson = False,
) -> None:  # fmt: skip
    """Put dead notifications back as due with attempts reset, keeping their ids."""
    if bool(ids) == replay_all or (ids and (since or channel or error)):
        fail(ValueError(
            "give either --id ID (repeatable) or --all [--since T] [--channel C] [--error TEXT]"
        ))  # fmt: skip
    built, store = open_existing_store(ctx)
    now = now_ms()
    selection = dlq.Selection(tuple(ids or ()), since_of(since, now), channel, tenant, error)
    report = dlq.replay(store, selection, now, dry_run)
    broker = open_broker(built)
    if broker.configured and report.replayed:
        dlq.wake_workers(broker, report)
    show(report.as_json(), as_json, views.format_replay)
