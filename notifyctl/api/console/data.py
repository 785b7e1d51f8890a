"""What each console page shows, read through the store's operator queries (the same as
``notifyctl inspect``'s, ``ops/inspect.py``) and never by scanning. Plain functions on a store,
run on a worker thread by the pages; each returns template-ready values."""

from __future__ import annotations

from typing import Any

from notifyctl.errors import ConfigError
from notifyctl.model import CANCELLABLE, Notification, Status
from notifyctl.ops import inspect
from notifyctl.pauses import pause_of
from notifyctl.shapes import iso_ms
from notifyctl.store import Store

#: the overview's chart: delivered per second over the last 15 minutes, in 30 s steps
CHART_STEP_MS, CHART_STEPS = 30_000, 30
CHART_WIDTH, CHART_HEIGHT = 600, 100
STATUSES = [status.value for status in Status]


def overview(store: Store, now: int, tenant: str | None, operator: bool) -> dict[str, Any]:
    stats = inspect.stats(store, now, tenant)
    counts = stats.pop("counts")
    return {
        **stats,
        "counts": [(status, counts.get(status, 0)) for status in [*STATUSES, "locked"]],
        # the backlog by priority and channel is the whole deployment's: operators only
        "queue": inspect.queue(store, now) if operator else None,
        "chart": chart(store, now, tenant),
    }


def chart(store: Store, now: int, tenant: str | None) -> dict[str, Any]:
    """Delivered per second in each step of the last 15 minutes, and an SVG polyline of it."""
    since = now - CHART_STEP_MS * CHART_STEPS
    rates = [n / (CHART_STEP_MS / 1000) for n in store.delivered_series(
        since, CHART_STEP_MS, CHART_STEPS, tenant
    )]  # fmt: skip
    peak = max(rates) or 1.0
    step_x = CHART_WIDTH / (CHART_STEPS - 1)
    points = " ".join(
        f"{i * step_x:.1f},{CHART_HEIGHT - rate / peak * (CHART_HEIGHT - 10):.1f}"
        for i, rate in enumerate(rates)
    )
    return {"points": points, "peak": peak, "now": rates[-1], "width": CHART_WIDTH,
            "height": CHART_HEIGHT, "minutes": CHART_STEP_MS * CHART_STEPS // 60_000}  # fmt: skip


def notification(store: Store, notification_id: str, tenant: str | None) -> dict[str, Any] | None:
    found = inspect.notification(store, notification_id, tenant)
    if found is None:
        return None
    found["cancellable"] = found["status"] in CANCELLABLE
    return found


def dead_letters(
    store: Store, since: int | None, channel: str | None, error: str | None, limit: int,
    tenant: str | None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The newest dead letters matching the filters (``error``: a part of the last error, any
    case), at most ``limit``."""
    found = inspect.dead(store, since, channel, limit if not error else limit * 10, tenant)
    if error:
        wanted = error.casefold()
        found = [d for d in found if wanted in (d["last_error"] or "").casefold()][:limit]
    return found


def search(store: Store, text: str, tenant: str | None, operator: bool) -> dict[str, Any]:
    """What ``text`` names: a notification (by id), a message's notifications, a user's latest
    notifications, or (operators) a tenant's latest."""
    text = text.strip()[:200]
    if not text:
        return {"redirect": None, "results": [], "text": text}
    if store.get(text, tenant) is not None:
        return {"redirect": text, "results": [], "text": text}
    destination = destination_named(text)
    if destination is not None:
        results, kind = store.waiting_for(destination, 50, tenant), "destination"
        return {"redirect": None, "results": rows_of(results), "kind": kind,
                "text": destination}  # fmt: skip
    results = store.message_notifications(text, tenant)
    kind = "message"
    if not results:
        results, kind = store.list_notifications(None, text, 50, None, tenant), "user"
    if not results and operator:
        results, kind = store.list_notifications(None, None, 50, None, text), "tenant"
    rows = rows_of(results)
    return {"redirect": None, "results": rows, "kind": kind if rows else None, "text": text}


def destination_named(text: str) -> str | None:
    """The destination ``text`` names, if it names one: a webhook URL (any on the server) or a
    provider (``smtp``, ``apns``, ``fcm``, ``sms``)."""
    try:
        return pause_of("destination", text).value
    except ConfigError:
        return None


def rows_of(results: list[Notification]) -> list[dict[str, Any]]:
    return [
        {"id": n.id, "tenant_id": n.tenant_id, "user_id": n.user_id, "channel": n.channel,
         "status": n.status.value, "attempts": n.attempts, "created_at": iso_ms(n.created_at),
         "last_error": n.last_error}
        for n in results
    ]  # fmt: skip
