"""Tables for people: each ``format_*`` turns the data of ``ops/inspect.py`` or
``ops/dlq.py`` into a rich renderable. Nothing here reads a store or prints.

Every value that comes from data (titles, bodies, errors, ids, host names: text a client or a
receiver controls) goes into a table as ``Text``, never as a string, which rich would parse as
markup: ``[/bold]`` in a title must show as itself, not crash the view.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_ORDER = (
    "pending",
    "scheduled",
    "locked",
    "sent",
    "dead",
    "cancelled",
    "suppressed",
    "expired",
    "paused",
)
NUMERIC = {*STATUS_ORDER, "sent/s", "due", "attempt", "attempts", "replays", "pid",
           "heartbeat age s", "in flight", "processed", "waiting"}  # fmt: skip


def table(title: str, *columns: str) -> Table:
    view = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        if column == "id":  # whole, to be copied into the next command
            view.add_column(column, no_wrap=True, min_width=26)
        elif column in NUMERIC:
            view.add_column(column, justify="right", overflow="fold")
        else:
            view.add_column(column, overflow="fold")
    return view


def plain(value: Any) -> Text:
    """Data as literal text: no markup, no emoji codes."""
    return Text("-" if value is None else str(value))


def number(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def format_stats(data: dict[str, Any]) -> RenderableType:
    counts = table("Notifications by status", *STATUS_ORDER)
    counts.add_row(*(number(data["counts"].get(status, 0)) for status in STATUS_ORDER))
    rates = table("Finished", "window", "sent", "dead", "sent/s")
    for window, figures in data["throughput"].items():
        rates.add_row(f"last {window}", number(figures["sent"]), number(figures["dead"]),
                      number(figures["sent_per_second"]))  # fmt: skip
    rate = data["success_rate"]
    summary = Text.assemble(
        ("success rate ", "bold"), f"{number(rate)}%" if rate is not None else "- (none finished)",
        ("   oldest due ", "bold"), f"{data['oldest_due_age_seconds']:,.1f} s",
        ("   at ", "bold"), str(data["at"]),
    )  # fmt: skip
    if "channels" not in data:
        return Group(counts, rates, summary)
    # this command's settings: the channels a worker started with the same ones delivers
    channels = Text.assemble(("channels ", "bold"), ", ".join(data["channels"]))
    return Group(counts, rates, summary, channels)


def format_queue(data: dict[str, Any]) -> RenderableType:
    backlog = table("Undelivered, by priority and channel", "priority", "channel", "due",
                    "scheduled", "locked")  # fmt: skip
    for row in data["rows"]:
        backlog.add_row(plain(row["priority"]), plain(row["channel"]), number(row["due"]),
                        number(row["scheduled"]), number(row["locked"]))  # fmt: skip
    totals = data["totals"]
    backlog.add_row(Text("total", style="bold"), "", number(totals["due"]),
                    number(totals["scheduled"]), number(totals["locked"]))  # fmt: skip
    oldest = Text.assemble(("oldest due ", "bold"), f"{data['oldest_due_age_seconds']:,.1f} s")
    return Group(backlog, oldest)


def format_workers(rows: list[dict[str, Any]]) -> RenderableType:
    view = table("Workers", "number", "id", "host", "pid", "state", "heartbeat age s",
                 "in flight", "processed")  # fmt: skip
    for w in rows:
        state = Text(w["state"], style="green" if w["state"] == "alive" else "red")
        view.add_row(str(w["number"]), plain(w["id"]), plain(w["host"]), str(w["pid"]), state,
                     number(w["heartbeat_age_seconds"]), number(w["in_flight"]),
                     number(w["processed"]))  # fmt: skip
    if not rows:
        return Text("no workers registered")
    return view


def format_notification(data: dict[str, Any]) -> RenderableType:
    record = Table(title=Text(f"Notification {data['id']}"), title_justify="left",
                   title_style="bold", show_header=False)  # fmt: skip
    record.add_column("field", style="bold")
    record.add_column("value")
    for key, value in data.items():
        if key != "history":
            record.add_row(key, plain(value))
    history = table("History", "outcome", "attempt", "worker", "started_at", "at", "error")
    for entry in data["history"]:
        history.add_row(plain(entry["outcome"]), plain(entry["attempt"]), plain(entry["worker"]),
                        plain(entry["started_at"]), plain(entry["at"]),
                        Text(entry["error"] or ""))  # fmt: skip
    return Group(record, history)


def format_dead(rows: list[dict[str, Any]]) -> RenderableType:
    if not rows:
        return Text("no dead letters")
    view = table("Dead letters (newest first)", "id", "channel", "attempts", "replays",
                 "died_at", "error")  # fmt: skip
    for row in rows:
        view.add_row(plain(row["id"]), plain(row["channel"]), plain(row["attempts"]),
                     plain(row["replays"]), plain(row["died_at"]),
                     Text(row["last_error"] or ""))  # fmt: skip
    return view


def format_replay(report: dict[str, Any]) -> RenderableType:
    parts: list[RenderableType] = []
    if report["selected"]:
        verb = "Would replay" if report["dry_run"] else "Selected"
        parts.append(format_dead(report["selected"]))
        parts.append(Text(f"{verb} {len(report['selected']):,} dead letter(s)."))
    else:
        parts.append(Text("No dead letters match."))
    if not report["dry_run"]:
        parts.append(Text(f"Replayed {len(report['replayed']):,}: due now, attempts reset."))
        woken = report.get("wakeups_confirmed")
        if woken is not None and report["replayed"]:
            note = f"Workers woken through the broker: {woken:,} wake-up message(s) confirmed;"
            parts.append(Text(note + " anything else waits for their next store sweep."))
    for notification_id, status in report["skipped"].items():
        parts.append(Text(f"skipped {notification_id}: {status}", style="yellow"))  # literal
    return Group(*parts)


def format_top(stats: dict[str, Any], queue: dict[str, Any], workers: Any) -> RenderableType:
    return Group(format_stats(stats), format_queue(queue), format_workers(workers))


def format_destinations(rows: list[dict[str, Any]]) -> RenderableType:
    if not rows:
        return Text("every destination's circuit is closed")
    view = table("Circuit breakers", "destination", "state", "reopens_at", "reopens_in_s",
                 "openings", "failure_ratio", "probe_by", "waiting")  # fmt: skip
    for row in rows:
        view.add_row(
            plain(row["destination"]), plain(row["state"]), plain(row["reopens_at"]),
            f"{row['reopens_in_s']:.1f}", number(row["openings"]),
            f"{row['failure_ratio']:.0%}", plain(row["probe_by"]), number(row["waiting"]),
        )  # fmt: skip
    return view


def format_pauses(rows: list[dict[str, Any]]) -> RenderableType:
    if not rows:
        return Text("nothing is paused")
    view = table("Paused", "kind", "value", "since", "waiting", "reason")
    for row in rows:
        view.add_row(plain(row["kind"]), plain(row["value"]), plain(row["since"]),
                     number(row["waiting"]), plain(row["reason"]))  # fmt: skip
    return view
