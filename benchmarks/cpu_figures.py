"""CPU per delivered notification: the headline figure of ``e2e.py`` (issue 21 item 2).

On a shared 2-core machine delivered/s swings by 2x with other sessions' load, while the CPU
each notification costs stays within a few per cent: it is the figure to compare commits by.
The service is every process ``notifyctl up`` runs (the supervisor, the API, the workers); the
broker (RabbitMQ's ``beam.smp``, by PID) is added beside it when one is on. The receiver and the
driver (the load itself) are shown but never counted as the service's.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Protocol

#: roles in the headline, in order; "workers" sums every ``worker-N``
SERVICE_ROLES = ("up", "api", "workers")
OTHER_ROLES = ("rabbitmq", "receiver", "driver")


class Run(Protocol):
    """What the figures need of one run (``e2e.RunResult``)."""

    delivered: int
    delivered_per_s: float
    cpu_s: dict[str, float]
    window_s: float


def per_notification_us(cpu_s: Mapping[str, float], delivered: int) -> dict[str, float]:
    """CPU µs per delivered notification by role, plus ``service`` (supervisor + API + workers)
    and ``service+broker``; each worker keeps its own ``worker-N`` entry too."""
    n = max(delivered, 1)
    us = {role: 1e6 * s / n for role, s in cpu_s.items() if role != "others"}
    us["workers"] = sum(v for role, v in us.items() if role.startswith("worker-"))
    for role in (*SERVICE_ROLES, *OTHER_ROLES):
        us.setdefault(role, 0.0)
    us["service"] = sum(us[role] for role in SERVICE_ROLES)
    us["service+broker"] = us["service"] + us["rabbitmq"]
    return us


def median_us(runs: Sequence[Run], role: str) -> float:
    return statistics.median(per_notification_us(r.cpu_s, r.delivered)[role] for r in runs)


def headline(rows: Mapping[str, Sequence[Run]], broker: bool) -> str:
    """One line per mode: service CPU µs per notification (median over the runs, each figure its
    own median), its parts, and every run's service figure so the spread shows."""
    total = "service+broker" if broker else "service"
    head = (
        f"| mode | runs | **{total} CPU µs/notification** | per run | API | workers"
        " | each worker | supervisor |"
        + (" RabbitMQ |" if broker else "")
        + " receiver | driver | delivered/s | other load, cores |"
    )
    lines = [head, "|---|---:|---:|---|---:|---:|---|---:|" + ("---:|" if broker else "")
             + "---:|---:|---:|---|"]  # fmt: skip
    for mode, runs in rows.items():
        us = [per_notification_us(r.cpu_s, r.delivered) for r in runs]
        workers = sorted({k for u in us for k in u if k.startswith("worker-")})
        each = " / ".join(f"{statistics.median(u.get(w, 0.0) for u in us):,.0f}" for w in workers)
        per_run = ", ".join(f"{u[total]:,.0f}" for u in us)
        noise = ", ".join(f"{max(0.0, r.cpu_s.get('others', 0.0) / r.window_s):.1f}" for r in runs)
        rate = statistics.median(r.delivered_per_s for r in runs)
        cells = [f"**{median_us(runs, total):,.0f}**", per_run]
        cells += [f"{median_us(runs, 'api'):,.0f}", f"{median_us(runs, 'workers'):,.0f}", each]
        cells.append(f"{median_us(runs, 'up'):,.0f}")
        if broker:
            cells.append(f"{median_us(runs, 'rabbitmq'):,.0f}")
        cells += [f"{median_us(runs, 'receiver'):,.0f}", f"{median_us(runs, 'driver'):,.0f}",
                  f"{rate:,.0f}", noise]  # fmt: skip
        lines.append(f"| {mode} | {len(runs)} | " + " | ".join(cells) + " |")
    note = (
        "\nCPU (user + system, psutil, each process sampled every 0.2 s and at both ends of the"
        " window) from the first POST to the last delivery, over the notifications delivered;"
        " the median over the runs, each column its own. service = supervisor (`notifyctl up`)"
        " + API + workers"
        + (
            " ; + RabbitMQ's beam.smp (shared node: other traffic on it counts as ours)"
            if broker
            else ""
        )
        + ". The receiver and the driver are the load,"
        " not the service. delivered/s: median over the runs."
    )
    return "\n".join(lines) + note
