"""``notifyctl loadgen``: its option table, then the plan handed to the load generator."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from notifyctl.cli.common import err, fail
from notifyctl.errors import NotifyError

LOADGEN_HELP = "Open-model load with every delivery checked (see docs/loadgen.md)."


def option(help: str, *flags: str, **limits: Any) -> Any:
    return typer.Option(*flags, help=help, **limits)


Target = Annotated[str, option("Base URL of the API, or of the proxy in front of it.")]
Rate = Annotated[float, option("Notifications per second (with --ramp: the first rate).", min=0)]
Duration = Annotated[
    str | None,
    option("How long to send: 90, 90s, 5m, 1h (default 60 s; with --calibrate: per step, 30 s)."),
]
Users = Annotated[int, option("Size of the user_id pool (not a concurrency).", min=1)]
Batch = Annotated[
    int, option("Notifications per request; above 1: POST /v1/notifications/batch.", min=1)
]
Channel = Annotated[str, option("webhook (checked through the sink) or log (not checked).")]
Ramp = Annotated[
    str | None,
    option("Stages DURATION:RATE,... moving the rate linearly, e.g. 1m:100,5m:100,1m:0."),
]
ApiKey = Annotated[
    str | None, option("Sent as Authorization: Bearer KEY.", envvar="NOTIFYCTL_API_KEY")
]
Timeout = Annotated[float, option("Hard timeout of one request, in seconds.", min=0.001)]
Seed = Annotated[int, option("Seed of the user_id draws.")]
SinkHost = Annotated[str, option("Address the sink listens on, as the workers reach it.")]
SinkPort = Annotated[int, option("Port of the sink (0: any free port).", min=0, max=65535)]
Drain = Annotated[float, option("Seconds to wait for deliveries after the last answer.", min=0)]
Progress = Annotated[float, option("Seconds between progress lines.", min=0.1)]
JsonPath = Annotated[Path | None, option("Write the full report here, as JSON.", "--json")]
MaxMs = Annotated[float, option("Threshold, ms (see docs/loadgen.md).", min=0)]
Ratio = Annotated[float, option("Threshold, a fraction (see docs/loadgen.md).", min=0, max=1)]
Count = Annotated[int, option("Threshold, a count (see docs/loadgen.md).", min=0)]
MaxLag = Annotated[float, option("Generator lag p99 (ms) above which a run is INVALID.", min=0)]
Calibrate = Annotated[
    bool, option("Measure the generator's own ceiling, against a null API.", "--calibrate")
]


def loadgen(
    target: Target = "http://127.0.0.1:3000",
    rate: Rate = 12,
    duration: Duration = None,
    users: Users = 10_000,
    batch: Batch = 1,
    channel: Channel = "webhook",
    ramp: Ramp = None,
    api_key: ApiKey = None,
    timeout: Timeout = 10.0,
    seed: Seed = 0,
    sink_host: SinkHost = "127.0.0.1",
    sink_port: SinkPort = 0,
    drain_timeout: Drain = 60.0,
    progress: Progress = 5.0,
    json_path: JsonPath = None,
    max_mean_ms: MaxMs = 200,
    max_p95_ms: MaxMs = 300,
    max_p99_ms: MaxMs = 500,
    max_error_rate: Ratio = 0.01,
    max_duplicates: Count = 0,
    max_lost: Count = 0,
    min_achieved: Ratio = 0.99,
    max_lag_ms: MaxLag = 10.0,
    calibrate: Calibrate = False,
) -> None:
    """Open-model load; latency from the intended send; every delivery checked through a sink.
    Exit 0 pass, 1 a threshold failed, 3 invalid (the generator itself was the limit)."""
    from notifyctl import loadgen as role
    from notifyctl.loadgen.plan import Thresholds, build_plan

    limits = Thresholds(max_mean_ms, max_p95_ms, max_p99_ms, max_error_rate, max_duplicates,
                        max_lost, min_achieved)  # fmt: skip
    try:
        plan = build_plan(
            target, rate, "30" if calibrate and duration is None else duration, ramp, batch,
            channel, sink_host, users=users, api_key=api_key, timeout_s=timeout, seed=seed,
            sink_port=sink_port, drain_timeout_s=drain_timeout, progress_s=progress,
            max_lag_ms=max_lag_ms, thresholds=limits,
        )  # fmt: skip
        if calibrate:
            code = role.calibrate(plan, plan.schedule.duration_s, json_path, Console())
        else:
            code = role.run(plan, json_path, Console(), err)
    except NotifyError as exc:
        fail(exc)
    raise typer.Exit(code)
