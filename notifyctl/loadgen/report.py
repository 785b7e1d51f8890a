"""The outcome of a load run: the JSON summary, the thresholds, the verdict and exit code.

Verdicts: ``pass`` (exit 0); ``fail`` (exit 1), a threshold failed; ``invalid`` (exit 3), the
generator itself was the limit (it fell behind its schedule) or the run was interrupted, so its
latency figures say nothing about the service. Lost or duplicated notifications are facts however
the run went: they fail it even when it is also invalid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from notifyctl.loadgen.plan import Plan
from notifyctl.loadgen.sink import Ledger, not_checked
from notifyctl.loadgen.stats import SUCCESS, Stats, label

SCHEMA = "notifyctl-loadgen/1"
EXIT_CODES = {"pass": 0, "fail": 1, "invalid": 3}
CORRECTNESS = ("duplicates", "lost")


@dataclass
class Timing:
    """Monotonic marks of a run's phases, and the process CPU time spent in it."""

    t0: float = 0.0  # when request 0 is due
    started_at: float = 0.0  # the same instant on the wall clock, for the report
    clock0: float = 0.0  # when the run began (a little before t0)
    cpu0: float = 0.0
    marks: dict[str, float] = field(default_factory=dict)
    interrupted_at: int | None = None  # the first request not sent, when stopped early

    def start(self, delay_s: float) -> None:
        self.clock0, self.cpu0 = time.monotonic(), time.process_time()
        self.t0 = self.clock0 + delay_s
        self.started_at = time.time() + delay_s

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def _mark(self, name: str) -> None:
        self.marks[name] = self.elapsed()
        self.marks[f"cpu_{name}"] = time.process_time() - self.cpu0
        self.marks[f"clock_{name}"] = time.monotonic() - self.clock0

    def dispatched(self) -> None:
        self._mark("dispatched")

    def answered(self) -> None:
        self._mark("answered")

    def drained(self) -> None:
        self._mark("drained")

    def interrupted(self, request: int) -> None:
        self.interrupted_at = request


def planned(plan: Plan, timing: Timing) -> tuple[int, float]:
    """Notifications and seconds the schedule asked for (up to the stop, if interrupted)."""
    schedule = plan.schedule
    if timing.interrupted_at is None:
        return schedule.notifications, schedule.duration_s
    stop = timing.interrupted_at
    return min(stop * schedule.batch, schedule.notifications), max(schedule.due(stop), 1e-3)


def summarize(
    plan: Plan, stats: Stats, ledger: Ledger | None, timing: Timing,
    intervals: list[dict[str, Any]],
) -> dict[str, Any]:  # fmt: skip
    """Everything the run measured, as plain JSON-ready data, with its verdict."""
    notifications, duration = planned(plan, timing)
    summary: dict[str, Any] = {
        "schema": SCHEMA,
        "run_id": plan.run_id,
        "target": plan.target,
        "started_at": datetime.fromtimestamp(timing.started_at, UTC).isoformat(),
        "plan": plan_json(plan),
        "duration_s": durations(duration, timing),
        "rates": rates(plan, stats, notifications, duration),
        "counts": counts(stats, notifications),
        "outcomes": dict(sorted(stats.outcomes.items())),
        "errors": [
            {"kind": kind, "label": label(kind), "count": n}
            for kind, n in sorted(stats.outcomes.items(), key=lambda kv: -kv[1])
            if kind not in SUCCESS
        ],
        "latency_ms": {name: h.summary_ms() for name, h in stats.histograms().items()},
        "delivery": delivery_json(plan, ledger),
        "generator": generator_json(plan, stats, timing),
        "histograms": {name: h.encode() for name, h in stats.histograms().items()},
        "intervals": intervals,
    }
    summary["thresholds"] = evaluate(plan, summary)
    summary.update(verdict(summary))
    return summary


def rates(plan: Plan, stats: Stats, notifications: int, duration: float) -> dict[str, float]:
    """Per second over the planned duration: what was planned, sent, and accepted."""
    return {
        "target": round(plan.target_rate, 3),
        "offered": round(stats.notifications_sent / duration, 3),
        "achieved": round(stats.succeeded / duration, 3),
        "achieved_ratio": round(stats.succeeded / notifications, 5) if notifications else 0.0,
    }


def plan_json(plan: Plan) -> dict[str, Any]:
    schedule = plan.schedule
    return {
        "rate": round(plan.target_rate, 3),
        "stages": [
            {"duration_s": s.duration_s, "start_rate": s.start_rate, "end_rate": s.end_rate}
            for s in schedule.stages
        ],
        "duration_s": schedule.duration_s,
        "notifications": schedule.notifications,
        "requests": schedule.requests,
        "batch": schedule.batch,
        "users": plan.users,
        "channel": plan.channel,
        "timeout_s": plan.timeout_s,
        "seed": plan.seed,
        "in_flight_cap": plan.in_flight_cap,
        "max_backlog_s": plan.max_backlog_s,
        "max_lag_ms": plan.max_lag_ms,
        "drain_timeout_s": plan.drain_timeout_s,
    }


def durations(planned_s: float, timing: Timing) -> dict[str, float]:
    marks = timing.marks
    answered, dispatched = marks.get("answered", 0.0), marks.get("dispatched", 0.0)
    return {
        "planned": round(planned_s, 3),
        "sending": round(dispatched, 3),
        "waiting_for_answers": round(answered - dispatched, 3),
        "drain": round(marks.get("drained", answered) - answered, 3),
    }


def counts(stats: Stats, planned_notifications: int) -> dict[str, Any]:
    sent = stats.notifications_sent
    return {
        "planned_notifications": planned_notifications,
        "requests_sent": stats.requests_sent,
        "notifications_sent": sent,
        "success": stats.succeeded,
        "failed": stats.failed,
        "not_sent": stats.not_sent,
        "error_rate": round(stats.failed / sent, 6) if sent else 0.0,
    }


def delivery_json(plan: Plan, ledger: Ledger | None) -> dict[str, Any]:
    if ledger is not None:
        return ledger.summary()
    if plan.channel != "webhook":
        return not_checked(f"the {plan.channel} channel does not deliver to the sink")
    return not_checked("delivery checks are off")


def generator_json(plan: Plan, stats: Stats, timing: Timing) -> dict[str, Any]:
    cpu, wall = timing.marks.get("cpu_answered", 0.0), timing.marks.get("clock_answered", 0.0)
    lag_p99 = stats.lag.percentile_ms(99.0)
    reasons = []
    if stats.not_sent:
        reasons.append(
            f"{stats.not_sent} notifications not sent: the generator fell more than "
            f"{plan.max_backlog_s:g} s behind its schedule"
        )
    if lag_p99 is not None and lag_p99 > plan.max_lag_ms:
        reasons.append(
            f"generator lag p99 {lag_p99:g} ms > {plan.max_lag_ms:g} ms: "
            "the generator, not the service, was the limit"
        )
    if timing.interrupted_at is not None:
        reasons.append("interrupted before the end of the schedule")
    return {
        "cpu_percent": round(cpu / wall * 100, 1) if wall > 0 else 0.0,  # of one core
        "peak_in_flight": stats.peak_in_flight,
        "in_flight_cap": stats.in_flight_cap,
        "lag_p99_ms": lag_p99,
        "hiccup_max_ms": stats.hiccup.summary_ms()["max"],
        "interrupted": timing.interrupted_at is not None,
        "invalid_reasons": reasons,
    }


def check(name: str, value: float | None, limit: float, below: bool, unit: str) -> dict[str, Any]:
    """``below``: the value must stay strictly under the limit; else at least the limit."""
    passed = None if value is None else (value < limit if below else value >= limit)
    op = "<" if below else ">="
    return {"name": name, "value": value, "op": op, "limit": limit, "passed": passed, "unit": unit}


def at_most(name: str, value: int | None, limit: int) -> dict[str, Any]:
    passed = None if value is None else value <= limit
    return {"name": name, "value": value, "op": "<=", "limit": limit, "passed": passed, "unit": ""}


def evaluate(plan: Plan, summary: dict[str, Any]) -> list[dict[str, Any]]:
    t, latency, delivery = plan.thresholds, summary["latency_ms"]["latency"], summary["delivery"]
    return [
        check("mean latency", latency["mean"], t.max_mean_ms, True, "ms"),
        check("p95 latency", latency["p95"], t.max_p95_ms, True, "ms"),
        check("p99 latency", latency["p99"], t.max_p99_ms, True, "ms"),
        check("error rate", summary["counts"]["error_rate"], t.max_error_rate, True, "ratio"),
        at_most("duplicates", delivery.get("duplicates"), t.max_duplicates),
        at_most("lost", delivery.get("lost"), t.max_lost),
        check("achieved rate", summary["rates"]["achieved_ratio"], t.min_achieved, False, "ratio"),
    ]


def verdict(summary: dict[str, Any]) -> dict[str, Any]:
    failed = [t for t in summary["thresholds"] if t["passed"] is False]
    invalid = summary["generator"]["invalid_reasons"]
    reasons = [
        f"{t['name']} {t['value']} {t['unit']}, limit {t['op']} {t['limit']}" for t in failed
    ]
    if any(t["name"] in CORRECTNESS for t in failed):
        result = "fail"
        reasons += invalid
    elif invalid:
        result, reasons = "invalid", invalid + reasons
    else:
        result = "fail" if failed else "pass"
    return {"verdict": result, "exit_code": EXIT_CODES[result], "reasons": reasons}
