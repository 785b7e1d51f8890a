"""``notifyctl loadgen``: open-model load against the API, checked end to end through a sink.

The parts, in the order a run uses them:

- ``plan``: the options, the schedule (when each request is due) and the thresholds;
- ``run``: the dispatcher and sender (``LoadRun``), with the webhook sink of ``sink``;
- ``stats``: outcome counts and HdrHistograms;
- ``report``: the JSON summary, thresholds and verdict; ``view``: the same for
  people;
- ``calibrate``: the generator's own ceiling against an in-process null API.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from rich.console import Console

from notifyctl.loadgen.plan import Plan
from notifyctl.loadgen.view import render

ABORTED = 130  # as a shell reports a process ended by Ctrl-C


def write_json(path: Path, document: dict[str, Any]) -> None:
    """Written to a temporary name then renamed: a reader never sees half a report."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)


def run(plan: Plan, json_path: Path | None, out: Console, err: Console) -> int:
    """Run the plan, print the report, write the JSON; the exit code is the verdict's."""
    from notifyctl.loadgen.run import run_load

    try:
        summary = asyncio.run(run_load(plan, err))
    except KeyboardInterrupt:
        err.print("loadgen: aborted; no report")
        return ABORTED
    render(summary, out)
    if json_path is not None:
        write_json(json_path, summary)
    return int(summary["exit_code"])


def calibrate(plan: Plan, step_s: float, json_path: Path | None, out: Console) -> int:
    from notifyctl.loadgen.calibrate import calibrate as run_steps
    from notifyctl.loadgen.calibrate import render_ceiling

    try:
        result = asyncio.run(run_steps(plan, step_s, out))
    except KeyboardInterrupt:
        out.print("loadgen: calibration aborted")
        return ABORTED
    render_ceiling(result, out)
    if json_path is not None:
        write_json(json_path, result)
    return 0 if result["ceiling"] else 3
