"""``notifyctl inspect``: operators' views of a deployment, read from its store.

Data only: each function returns plain JSON-ready values (what ``--json`` prints);
``notifyctl/cli/views.py`` turns them into tables. Any host that reaches the store can run these.
"""

from __future__ import annotations

from typing import Any

from notifyctl.lease import worker_is_alive
from notifyctl.model import AttemptRecord, Notification
from notifyctl.ops.people import shown_to
from notifyctl.shapes import iso_ms, notification_json
from notifyctl.store import Store

#: throughput windows of ``inspect stats``, in minutes
WINDOWS_MIN = (1, 5, 15)


def age_s(since: int | None, now: int) -> float:
    return 0.0 if since is None else round(max(now - since, 0) / 1000, 3)


def stats(store: Store, now: int, tenant: str | None = None) -> dict[str, Any]:
    """Counts by status, throughput over the last minutes, success rate, oldest due age: of one
    tenant, or of every one."""
    throughput = {}
    for minutes in WINDOWS_MIN:
        finished = store.finished_since(now - minutes * 60_000, tenant)
        throughput[f"{minutes}m"] = {
            **finished,
            "sent_per_second": round(finished["sent"] / (minutes * 60), 2),
        }
    last = throughput[f"{WINDOWS_MIN[-1]}m"]
    done = last["sent"] + last["dead"]
    return {
        "at": iso_ms(now),
        "counts": store.counts(now, tenant),
        "throughput": throughput,
        # of the notifications that reached a final outcome in the longest window
        "success_rate": round(100 * last["sent"] / done, 2) if done else None,
        "oldest_due_age_seconds": age_s(store.oldest_due(now, tenant), now),
    }


def queue(store: Store, now: int) -> dict[str, Any]:
    """The undelivered backlog by priority and channel: due now, scheduled later, locked."""
    rows: list[dict[str, Any]] = [
        {"priority": r.priority.label, "channel": r.channel, "due": r.due,
         "scheduled": r.scheduled, "locked": r.locked}
        for r in store.backlog(now)
    ]  # fmt: skip
    totals = {k: sum(row[k] for row in rows) for k in ("due", "scheduled", "locked")}
    return {
        "at": iso_ms(now),
        "rows": rows,
        "totals": totals,
        "due_by_priority": grouped(rows, "priority"),
        "due_by_channel": grouped(rows, "channel"),
        "oldest_due_age_seconds": age_s(store.oldest_due(now), now),
    }


def grouped(rows: list[dict[str, Any]], key: str) -> dict[str, int]:
    due: dict[str, int] = {}
    for row in rows:
        due[row[key]] = due.get(row[key], 0) + row["due"]
    return due


def workers(store: Store, now: int, heartbeat_interval_ms: int) -> list[dict[str, Any]]:
    """Every registered worker; ``stale`` once its heartbeats have lapsed (it died uncleanly)."""
    return [
        {
            "number": w.worker_number, "id": w.id, "host": w.host, "pid": w.pid,
            "started_at": iso_ms(w.started_at), "last_heartbeat": iso_ms(w.last_heartbeat),
            "heartbeat_age_seconds": age_s(w.last_heartbeat, now),
            "state": "alive" if worker_is_alive(w.last_heartbeat, now, heartbeat_interval_ms)
            else "stale",
            "in_flight": w.in_flight, "processed": w.processed,
            "cpu_percent": w.cpu_percent, "rss_bytes": w.rss_bytes,
        }
        for w in store.workers()
    ]  # fmt: skip


def notification(
    store: Store, notification_id: str, tenant: str | None = None
) -> dict[str, Any] | None:
    """The full record and its history; None for an unknown id (or, given ``tenant``, another
    tenant's)."""
    found = store.get(notification_id, tenant)
    history = store.history(notification_id)
    if found is None or history is None:
        return None
    return {
        **notification_json(found),
        "to": shown_to(found),
        "tenant_id": found.tenant_id,
        "available_at": iso_ms(found.available_at),
        "locked_at": iso_ms(found.locked_at),
        "lock_version": found.lock_version,
        "replays": found.replays,
        "history": [history_json(entry) for entry in history],
    }


def history_json(entry: AttemptRecord) -> dict[str, Any]:
    return {
        "outcome": entry.outcome, "attempt": entry.attempt, "worker": entry.worker,
        "started_at": iso_ms(entry.started_at), "at": iso_ms(entry.at), "error": entry.error,
    }  # fmt: skip


def dead_letter_json(n: Notification) -> dict[str, Any]:
    return {
        "id": n.id, "tenant_id": n.tenant_id, "channel": n.channel, "to": shown_to(n),
        "user_id": n.user_id,
        "priority": n.priority.label, "attempts": n.attempts, "max_attempts": n.max_attempts,
        "replays": n.replays, "created_at": iso_ms(n.created_at), "died_at": iso_ms(n.updated_at),
        "last_error": n.last_error,
    }  # fmt: skip


def dead(
    store: Store, since: int | None, channel: str | None, limit: int, tenant: str | None = None
) -> list[dict[str, Any]]:
    """The dead letters, newest first, with their last errors (of one tenant, or every one)."""
    return [dead_letter_json(n) for n in store.dead_letters(since, None, channel, limit, tenant)]
