"""``notifyctl pause``, ``notifyctl resume`` and ``notifyctl inspect pauses``: an operator's
pauses of a channel, a destination or a tenant (``notifyctl/pauses.py``). Data only; never
prints."""

from __future__ import annotations

from typing import Any

from notifyctl.errors import NotifyError
from notifyctl.pauses import Pause, pause_of
from notifyctl.shapes import iso_ms
from notifyctl.store import Store

#: notifications moved per write: the write lock is held for a moment at a time
BATCH = 1_000


def pause(store: Store, kind: str, value: str, reason: str, now: int) -> dict[str, Any]:
    """Store the pause (the workers stop delivering what it holds within a second), then park
    what waits for it. Pausing what is paused already parks again what slipped through."""
    wanted = pause_of(kind, value, now, reason)
    added = store.add_pause(wanted)
    parked = store.park(wanted, now, BATCH)
    return {"pause": pause_json(wanted), "already_paused": not added, "parked": parked}


def resume(store: Store, kind: str, value: str, now: int) -> dict[str, Any]:
    """Remove the pause, then move back every paused notification no other pause holds, due
    when it was due. Raises NotifyError when it was not paused, naming what is."""
    wanted = pause_of(kind, value)
    if not store.remove_pause(wanted):
        paused = ", ".join(str(p) for p in store.pauses()) or "nothing"
        raise NotifyError(f"{wanted} is not paused (paused now: {paused})")
    moved = store.unpark(now, store.pauses(), BATCH)
    return {"resumed": {"kind": wanted.kind.value, "value": wanted.value}, "moved_back": moved}


def pauses(store: Store) -> list[dict[str, Any]]:
    """Every pause in force, with how many notifications wait for it."""
    return [{**pause_json(p), "waiting": store.count_paused(p)} for p in store.pauses()]


def pause_json(p: Pause) -> dict[str, Any]:
    return {
        "kind": p.kind.value, "value": p.value, "since": iso_ms(p.created_at),
        "reason": p.reason or None,
    }  # fmt: skip
