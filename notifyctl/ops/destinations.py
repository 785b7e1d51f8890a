"""``notifyctl inspect destinations``: every destination whose circuit breaker is not closed, as
the store shares it between the workers (``store/breakers.py``). Data only; never prints."""

from __future__ import annotations

from typing import Any

from notifyctl.flow import Breaker
from notifyctl.shapes import iso_ms
from notifyctl.store import Store


def destinations(store: Store, now: int) -> list[dict[str, Any]]:
    """Each open or half-open circuit, by destination: its state now, when it reopens (or since
    when a probe may go), how many times it opened, the failure ratio that opened it, the
    worker probing it, and how many notifications wait for it (deferred while it is open)."""
    return [
        {**breaker_json(breaker, now), "waiting": store.count_waiting(breaker.destination)}
        for breaker in store.breakers()
    ]


def breaker_json(breaker: Breaker, now: int) -> dict[str, Any]:
    probing = breaker.probe_by if (breaker.probe_until or 0) > now else None
    return {
        "destination": breaker.destination, "state": breaker.state(now).value,
        "reopens_at": iso_ms(breaker.open_until),
        "reopens_in_s": max(breaker.open_until - now, 0) / 1000,
        "openings": breaker.reopenings, "failure_ratio": round(breaker.failure_ratio, 3),
        "probe_by": probing, "updated_at": iso_ms(breaker.updated_at),
    }  # fmt: skip
