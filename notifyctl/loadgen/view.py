"""How a load run looks to a person: a progress line per interval, and the final report."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from notifyctl.loadgen.plan import Plan
from notifyctl.loadgen.sink import Ledger
from notifyctl.loadgen.stats import Stats

ROWS = {
    "latency": "answered",
    "error_latency": "failed",
    "service_time": "service time",
    "delivery": "delivery",
    "lag": "generator lag",
    "hiccup": "loop hiccups",
}
LEGEND = (
    "[dim]answered/failed: from the intended send time (what a user waits); service time: "
    "from the actual send; delivery: API answer → webhook received; generator lag: actual − "
    "intended send; loop hiccups: lateness of a 10 ms tick[/]"
)
COLUMNS = ("mean", "p50", "p90", "p95", "p99", "p99_9", "max")
VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "invalid": "bold yellow"}


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def banner(plan: Plan) -> str:
    schedule = plan.schedule
    return (
        f"loadgen run {plan.run_id}: {schedule.notifications:,} notifications over "
        f"{schedule.duration_s:g} s ({plan.target_rate:,.2f}/s, batch {plan.batch}) → {plan.target}"
    )


def progress_line(plan: Plan, stats: Stats, ledger: Ledger | None, entry: dict[str, Any]) -> str:
    elapsed = max(entry["t_s"], 1e-3)
    sent = stats.notifications_sent
    line = (
        f"{elapsed:7.1f} s  sent {sent:,} ({sent / elapsed:,.1f}/s of {plan.target_rate:,.1f}/s)"
        f"  ok {stats.succeeded:,}  [{'red' if stats.failed else 'dim'}]errors {stats.failed:,}"
        f"[/]  in flight {stats.in_flight}  p99 {ms(stats.latency.percentile_ms(99))} ms"
        f"  lag p99 {ms(stats.lag.percentile_ms(99))} ms  cpu {entry['cpu_percent']:.0f}%"
    )
    if stats.not_sent:
        line += f"  [yellow]not sent {stats.not_sent:,}[/]"
    if ledger is not None:
        delivered = len(ledger.accepted) - ledger.outstanding
        line += f"  delivered {delivered:,}/{len(ledger.accepted):,}"
    return line


def render(summary: dict[str, Any], console: Console) -> None:
    console.print()
    target = escape(str(summary["target"]))
    console.print(f"[bold]Load test results[/bold]  run {summary['run_id']} → {target}")
    console.print(overview(summary))
    console.print(latency_table(summary["latency_ms"]))
    console.print(LEGEND)
    if summary["errors"]:
        console.print(errors_table(summary["errors"]))
    console.print(generator_line(summary["generator"]))
    console.print(thresholds_table(summary["thresholds"]))
    style = VERDICT_STYLE[summary["verdict"]]
    console.print(f"[{style}]{summary['verdict'].upper()}[/]  (exit {summary['exit_code']})")
    for reason in summary["reasons"]:
        console.print(f"  - {reason}", highlight=False, markup=False)


def overview(summary: dict[str, Any]) -> Table:
    rates, counts, took = summary["rates"], summary["counts"], summary["duration_s"]
    sent = max(counts["notifications_sent"], 1)
    table = Table.grid(padding=(0, 3))
    table.add_row(
        "Duration",
        f"{took['sending']:,.1f} s sending (planned {took['planned']:,.0f} s), "
        f"+{took['waiting_for_answers']:,.1f} s for the last answers, "
        f"+{took['drain']:,.1f} s drain",
    )
    table.add_row("Target Rate", f"{rates['target']:,.2f} notifications/s")
    table.add_row(
        "Actual Throughput",
        f"{rates['achieved']:,.2f} notifications/s ({rates['achieved_ratio']:.2%} of planned)",
    )
    table.add_row(
        "Total Sent", f"{counts['notifications_sent']:,} ({counts['requests_sent']:,} requests)"
    )
    table.add_row("Total Success", f"{counts['success']:,} ({counts['success'] / sent:.2%})")
    table.add_row("Total Failed", f"{counts['failed']:,} ({counts['failed'] / sent:.2%})")
    for row in delivery_rows(summary["delivery"]):
        table.add_row(*row)
    return table


def delivery_rows(delivery: dict[str, Any]) -> list[tuple[str, str]]:
    if not delivery["checked"]:
        return [("Delivery", f"not checked: {delivery['reason']}")]

    def mark(n: int) -> str:
        return "[green]✓[/]" if n == 0 else "[red]✗[/]"

    rows = [
        ("Total Duplicates", f"{delivery['duplicates']:,} {mark(delivery['duplicates'])}"),
        (
            "Lost",
            f"{delivery['lost']:,} {mark(delivery['lost'])}  (accepted {delivery['accepted']:,}, "
            f"delivered {delivery['delivered']:,})",
        ),
    ]
    if delivery["ambiguous"]:
        rows.append((
            "Ambiguous",
            f"{delivery['ambiguous']:,} (answer unknown; {delivery['ambiguous_delivered']:,} "
            "arrived anyway, never counted lost)",
        ))  # fmt: skip
    if delivery["unacknowledged"]:
        rows.append(("Delivered, not accepted", f"{delivery['unacknowledged']:,} [red]✗[/]"))
    return rows


def latency_table(latency: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Latency (ms)", title_justify="left", box=None, pad_edge=False)
    table.add_column("")
    for column in COLUMNS:
        table.add_column(column.replace("_", "."), justify="right")
    table.add_column("count", justify="right")
    for name, title in ROWS.items():
        row = latency[name]
        if row["count"]:
            table.add_row(title, *(ms(row[c]) for c in COLUMNS), f"{row['count']:,}")
    return table


def errors_table(errors: list[dict[str, Any]]) -> Table:
    table = Table(title="Errors", title_justify="left", box=None, pad_edge=False)
    table.add_column("kind")
    table.add_column("notifications", justify="right")
    for error in errors:
        table.add_row(Text(error["label"]), f"{error['count']:,}")  # may quote a receiver
    return table


def generator_line(generator: dict[str, Any]) -> str:
    return (
        f"Generator: CPU {generator['cpu_percent']:.0f}% of one core, "
        f"peak {generator['peak_in_flight']:,} in flight (cap {generator['in_flight_cap']:,}), "
        f"lag p99 {ms(generator['lag_p99_ms'])} ms, "
        f"worst event-loop hiccup {ms(generator['hiccup_max_ms'])} ms"
    )


def amount(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.2%}"
    return f"{ms(value)} ms" if unit == "ms" else f"{value:,g}"


def thresholds_table(thresholds: list[dict[str, Any]]) -> Table:
    table = Table(title="Thresholds", title_justify="left", box=None, pad_edge=False)
    for column in ("", "check", "value", "limit"):
        table.add_column(column)
    for t in thresholds:
        mark = {True: "[green]✓[/]", False: "[red]✗[/]", None: "[dim]–[/]"}[t["passed"]]
        table.add_row(mark, t["name"], amount(t["value"], t["unit"]), 
                      f"{t['op']} {amount(t['limit'], t['unit'])}")  # fmt: skip
    return table
