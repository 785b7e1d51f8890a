"""``notifyctl dlq replay``: put dead notifications back as due, keeping their ids.

Receivers still deduplicate by ``webhook-id`` (the notification id). The replay is recorded on
each notification (``replays``, a ``replayed`` history entry, a note in ``last_error``). With a
broker configured, the replayed notifications are announced to the workers (wake-ups, confirmed
within a few seconds); otherwise, or if that fails, workers find them on their next store sweep.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from notifyctl.broker import Broker, group_wakeups
from notifyctl.errors import NotifyError
from notifyctl.model import Notification, Priority, Status
from notifyctl.ops.inspect import dead_letter_json
from notifyctl.store import Store
from notifyctl.validation import parse_timestamp

#: dead letters replayed per store transaction with --all
PAGE = 1_000
#: most dead letters a --dry-run of --all lists
DRY_RUN_LIMIT = 100_000
UNITS_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


class ReplayRequestError(NotifyError):
    """The command line asked for something that cannot be replayed as stated."""


@dataclass(frozen=True)
class Selection:
    """Which dead letters to replay: explicit ids, or every one matching the filters."""

    ids: tuple[str, ...] = ()
    since: int | None = None
    channel: str | None = None
    #: only this tenant's dead letters (``None``: every tenant's)
    tenant: str | None = None
    #: only those whose last error contains this, in any case
    error: str | None = None

    def matches(self, n: Notification) -> bool:
        return self.error is None or self.error.casefold() in (n.last_error or "").casefold()

    @property
    def everything(self) -> bool:
        return not self.ids


@dataclass
class ReplayReport:
    dry_run: bool
    #: the dead letters selected (all of them, or those listed by id)
    selected: list[dict[str, Any]] = field(default_factory=list)
    replayed: list[str] = field(default_factory=list)
    #: ids given that are not dead letters: id -> their status, or "unknown"
    skipped: dict[str, str] = field(default_factory=dict)
    #: wake-up messages the broker confirmed for the replayed ones (None: no broker)
    woken: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "selected": self.selected, "replayed": self.replayed,
                "skipped": self.skipped, "wakeups_confirmed": self.woken}  # fmt: skip


def wake_workers(broker: Broker, report: ReplayReport, timeout_s: float = 5.0) -> None:
    """Announce the replayed notifications, so workers deliver them now rather than at their next
    sweep; waits up to ``timeout_s`` for the broker's confirms (what is not confirmed, the sweep
    still finds)."""
    priorities = {d["id"]: Priority.parse(d["priority"]) for d in report.selected}
    wakeups = group_wakeups((i, int(priorities[i])) for i in report.replayed)
    report.woken = 0
    if not wakeups:
        return
    broker.start()
    try:
        broker.publish(wakeups)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            settled = broker.counters()
            if sum(settled.get(k, 0) for k in SETTLED) >= len(wakeups):
                break
            time.sleep(0.05)
        report.woken = broker.counters().get("publish_confirmed", 0)
    finally:
        broker.close()


#: broker counters of publishes that will not be confirmed any more, one way or the other
SETTLED = ("publish_confirmed", "publish_nacked", "publish_timeouts", "publish_dropped")


def parse_since(text: str, now: int) -> int:
    """RFC 3339 (``2026-11-28T10:00:00Z``) or an age such as ``90s``, ``30m``, ``6h``, ``2d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", text)
    if match:
        return now - int(match.group(1)) * UNITS_MS[match.group(2)]
    try:
        return parse_timestamp(text)
    except (ValueError, OverflowError, OSError) as exc:
        raise ReplayRequestError(
            f"--since {text!r}: not an RFC 3339 time or an age like 30m, 6h, 2d ({exc})"
        ) from None


def replay(store: Store, selection: Selection, now: int, dry_run: bool) -> ReplayReport:
    if selection.everything:
        return replay_matching(store, selection, now, dry_run)
    return replay_ids(store, selection.ids, now, dry_run, selection.tenant)


def replay_ids(
    store: Store, ids: Sequence[str], now: int, dry_run: bool, tenant: str | None = None
) -> ReplayReport:
    report = ReplayReport(dry_run)
    for notification_id in dict.fromkeys(ids):  # each once, in the order given
        found = store.get(notification_id, tenant)  # another tenant's reads as unknown
        if found is None:
            report.skipped[notification_id] = "unknown"
        elif found.status is not Status.DEAD:
            report.skipped[notification_id] = found.status.value
        else:
            report.selected.append(dead_letter_json(found))
    if not dry_run:
        report.replayed = store.replay([d["id"] for d in report.selected], now)
        for lost in {d["id"] for d in report.selected} - set(report.replayed):
            report.skipped[lost] = "no longer dead"  # replayed by someone else meanwhile
    return report


def replay_matching(store: Store, selection: Selection, now: int, dry_run: bool) -> ReplayReport:
    """Every dead letter matching the filters that died by ``now``, a page at a time. Each is
    replayed at most once per command, even if it dies again meanwhile (a worker whose clock is
    behind could date that death before ``now``)."""
    report = ReplayReport(dry_run)
    if dry_run:
        found = store.dead_letters(
            selection.since, now, selection.channel, DRY_RUN_LIMIT, selection.tenant
        )
        report.selected = [dead_letter_json(n) for n in found if selection.matches(n)]
        return report
    seen: set[str] = set()
    until = now
    while True:
        page = store.dead_letters(selection.since, until, selection.channel, PAGE, selection.tenant)
        fresh = [n for n in page if n.id not in seen]
        if not fresh:
            if len(page) < PAGE:
                return report
            # a whole page of dead letters the error filter keeps: go on past them
            until = min(n.updated_at for n in page) - 1
            continue
        seen.update(n.id for n in fresh)
        fresh = [n for n in fresh if selection.matches(n)]
        report.selected += [dead_letter_json(n) for n in fresh]
        report.replayed += store.replay([n.id for n in fresh], now)
