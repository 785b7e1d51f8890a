"""What OpenTelemetry tracing costs (issue 20 item 2): ``e2e.py``'s runs with tracing off and
with tracing on at 100 % sampling, run after run, exporting OTLP/HTTP to a sink this script
serves on 127.0.0.1 (it answers every export at once and only counts the bytes, so what is
measured is notifyctl's side: making, batching, encoding and sending the spans).

    .venv/bin/python benchmarks/tracing.py --count 10000 --runs 3 --channel webhook

Prints the CPU per delivered notification (service: supervisor, API, workers) and delivered/s
for each mode, medians of the runs, and their ratios (target: delivered/s on at least 90 % of
off). The service needs the extra: pip install -e '.[tracing]'.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cpu_figures
import e2e

MODES = {
    "off": {"NOTIFYCTL_TRACING": "off"},
    "on, 100 %": {"NOTIFYCTL_TRACING": "on", "OTEL_TRACES_SAMPLER": "always_on"},
}


class Sink:
    """An OTLP/HTTP endpoint that accepts every export and counts the bytes it received."""

    def __init__(self) -> None:
        self.received = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.received += len(self.rfile.read(int(self.headers["content-length"])))
                self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def parse_args(argv: list[str] | None) -> tuple[e2e.Options, str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="notifications per run")
    parser.add_argument("--runs", type=int, default=3, help="runs per mode (median reported)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--channel", default="webhook", help="webhook or log")
    parser.add_argument("--ratio", type=float, default=0.0,
                        help="also a mode sampling this share of traces (e.g. 0.1)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.ratio:
        MODES[f"on, {args.ratio:.0%}"] = {"NOTIFYCTL_TRACING": "on",
                                           "OTEL_TRACES_SAMPLER": "traceidratio",
                                           "OTEL_TRACES_SAMPLER_ARG": str(args.ratio)}  # fmt: skip
    opts = e2e.parse_args(["--count", str(args.count), "--workers", str(args.workers),
                           "--channel", args.channel, "--runs", str(args.runs)])  # fmt: skip
    return opts, args.channel


def run(opts: e2e.Options, channel: str, sink: Sink) -> dict[str, list[e2e.RunResult]]:
    """Mode after mode within each run index, so both modes share each stretch of noise."""
    rows: dict[str, list[e2e.RunResult]] = {mode: [] for mode in MODES}
    for index in range(1, opts.runs + 1):
        for mode, env in MODES.items():
            if mode != "off":
                env = {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url}
            print(f"tracing {mode}, run {index}/{opts.runs} ...", file=sys.stderr, flush=True)
            moded = dataclasses.replace(opts, env={**opts.env, **env})
            result = e2e.run_once(moded, channel, index)
            print(e2e.describe(result), file=sys.stderr, flush=True)
            rows[mode].append(result)
    return rows


def ratios(rows: dict[str, list[e2e.RunResult]]) -> str:
    """Each traced mode against off: delivered/s and CPU per notification, medians."""
    off = rows["off"]
    lines = []
    for mode, on in rows.items():
        if mode == "off":
            continue
        rate = statistics.median(r.delivered_per_s for r in on) / statistics.median(
            r.delivered_per_s for r in off
        )
        cpu = {role: cpu_figures.median_us(on, role) / cpu_figures.median_us(off, role)
               for role in ("service", "api", "workers")}  # fmt: skip
        lines.append(
            f"{mode} / off: delivered/s {rate:.2f}, service CPU per notification"
            f" {cpu['service']:.2f} (API {cpu['api']:.2f}, workers {cpu['workers']:.2f})"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    opts, channel = parse_args(argv)
    sink = Sink()
    rows = run(opts, channel, sink)
    print(cpu_figures.headline(rows, broker=False))
    print()
    print(e2e.table(rows, opts))
    print()
    print(ratios(rows))
    print(f"OTLP bytes exported to the sink: {sink.received:,}")


if __name__ == "__main__":
    main()
