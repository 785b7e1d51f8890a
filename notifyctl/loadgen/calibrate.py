"""``notifyctl loadgen --calibrate``: the generator's own ceiling on this machine.

The same code as a real run, against an in-process null API that answers at once, doubling the
rate each step. A step passes when the generator kept its schedule with room to spare: achieved
>= 99.5 % of planned, nothing skipped, lag p99 within the limit, CPU < 70 % of one core. The lag
limit is 2 ms, or twice the first (slowest) step's lag p99 when this machine's timers are that
jittery even at 12 requests/s: lag that is there at any rate is the machine's, not the
generator's limit. The ceiling is the last step that passed; measurements of a service are
trustworthy up to about half of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from typing import Any

import psutil
from rich.console import Console

from notifyctl.loadgen.plan import Plan, Schedule, Stage
from notifyctl.loadgen.run import LoadRun
from notifyctl.loadgen.sink import NullApi

SCHEMA = "notifyctl-loadgen-calibration/1"
MIN_ACHIEVED = 0.995
MAX_LAG_MS = 2.0
#: the first step's limit: the run-validity limit, since it also measures the timers' jitter
FIRST_STEP_LAG_MS = 10.0
JITTER_FACTOR = 2.0
MAX_CPU_PERCENT = 70.0
START_REQUESTS_PER_S = 12.0
MAX_STEPS = 16
PAUSE_S = 1.0  # between steps: closed sockets and garbage from the last step settle


def step_plan(plan: Plan, target: str, rate: float, step_s: float) -> Plan:
    schedule = Schedule((Stage(step_s, rate, rate),), plan.batch)
    return dataclasses.replace(
        plan, target=target, schedule=schedule, verify=False, run_id=secrets.token_hex(6)
    )


def judge(
    rate: float, batch: int, summary: dict[str, Any], max_lag_ms: float = MAX_LAG_MS
) -> dict[str, Any]:
    generator, counts = summary["generator"], summary["counts"]
    achieved = summary["rates"]["achieved_ratio"]
    lag_p99 = generator["lag_p99_ms"] or 0.0
    failures = []
    if achieved < MIN_ACHIEVED:
        failures.append(f"achieved {achieved:.2%} < {MIN_ACHIEVED:.1%}")
    if counts["not_sent"]:
        failures.append(f"{counts['not_sent']:,} not sent")
    if lag_p99 > max_lag_ms:
        failures.append(f"lag p99 {lag_p99:g} ms > {max_lag_ms:g} ms")
    if generator["interrupted"]:
        failures.append("interrupted")
    if generator["cpu_percent"] >= MAX_CPU_PERCENT:
        failures.append(f"CPU {generator['cpu_percent']:.0f}% >= {MAX_CPU_PERCENT:.0f}%")
    return {
        "notifications_per_s": rate,
        "requests_per_s": round(rate / batch, 3),
        "achieved_ratio": achieved,
        "not_sent": counts["not_sent"],
        "lag_p99_ms": generator["lag_p99_ms"],
        "cpu_percent": generator["cpu_percent"],
        "service_p99_ms": summary["latency_ms"]["service_time"]["p99"],
        "passed": not failures,
        "failures": failures,
    }


async def calibrate(plan: Plan, step_s: float, console: Console) -> dict[str, Any]:
    """Double the rate from max(--rate, 12 requests/s) until a step fails (confirmed once)."""
    rate = max(plan.target_rate, START_REQUESTS_PER_S * plan.batch)
    steps: list[dict[str, Any]] = []
    console.print(
        f"calibrating against an in-process null API, {step_s:g} s per step, batch {plan.batch}"
    )
    lag_limit = FIRST_STEP_LAG_MS
    async with NullApi() as null:
        while len(steps) < MAX_STEPS:
            step = await run_step(plan, null.url, rate, step_s, lag_limit)
            if not step["passed"] and "interrupted" not in step["failures"]:
                # a noisy neighbour can fail one step: try it again
                console.print(step_line(step) + "  [dim](retrying once)[/]", soft_wrap=True)
                step = await run_step(plan, null.url, rate, step_s, lag_limit)
            if not steps:
                lag_limit = max(MAX_LAG_MS, JITTER_FACTOR * (step["lag_p99_ms"] or 0.0))
            steps.append(step)
            console.print(step_line(step), soft_wrap=True)
            if not step["passed"]:
                break
            rate *= 2
    passed = [s for s in steps if s["passed"]]
    ceiling = passed[-1] if passed else None
    return {"schema": SCHEMA, "batch": plan.batch, "step_s": step_s, "steps": steps,
            "ceiling": ceiling}  # fmt: skip


async def run_step(
    plan: Plan, target: str, rate: float, step_s: float, max_lag_ms: float = MAX_LAG_MS
) -> dict[str, Any]:
    busy, own, wall = machine_busy_s(), time.process_time(), time.monotonic()
    summary = await LoadRun(step_plan(plan, target, rate, step_s)).run()
    others = machine_busy_s() - busy - (time.process_time() - own)
    step = judge(rate, plan.batch, summary, max_lag_ms)
    step["other_load_cores"] = round(max(others, 0.0) / (time.monotonic() - wall), 2)
    await asyncio.sleep(PAUSE_S)
    return step


def machine_busy_s() -> float:
    """CPU seconds every process on the machine has used: to tell a noisy neighbour."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def step_line(step: dict[str, Any]) -> str:
    mark = "[green]✓[/]" if step["passed"] else "[red]✗[/]"
    return (
        f"{mark} {step['notifications_per_s']:>9,.0f} notifications/s "
        f"({step['requests_per_s']:,.0f} requests/s): achieved {step['achieved_ratio']:.2%}, "
        f"lag p99 {step['lag_p99_ms']} ms, CPU {step['cpu_percent']:.0f}%, "
        f"service p99 {step['service_p99_ms']} ms, other load {step['other_load_cores']} cores"
        + (f"  [red]{'; '.join(step['failures'])}[/]" if step["failures"] else "")
    )


def render_ceiling(result: dict[str, Any], console: Console) -> None:
    ceiling = result["ceiling"]
    if ceiling is None:
        console.print("[red]no step passed[/]: the generator cannot keep even the first rate here")
        return
    rate, requests = ceiling["notifications_per_s"], ceiling["requests_per_s"]
    console.print(
        f"[bold]ceiling: {rate:,.0f} notifications/s ({requests:,.0f} requests/s, batch "
        f"{result['batch']})[/bold]; runs above {rate / 2:,.0f} notifications/s are close "
        "enough to it that the generator may colour the figures"
    )
