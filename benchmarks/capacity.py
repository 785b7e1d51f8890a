"""Scale-out on paper (issue 21 item 5): what 1 M, 100 M and 1 B notifications a day need.

From measured CPU per notification of each role and the store work each notification costs, it
prints for each store and broker combination how many API processes, worker processes and
cores, and how many store row writes and transactions per second, each daily volume needs.

Inputs (defaults: this machine's medians in benchmarks/RESULTS.md, issue 21 section; pass your
own, e.g. from ``e2e.py``'s CPU headline):

- ``--api-us`` API CPU µs per notification (batch intake of 1,000), ``--worker-us`` a worker's
  (the channel's: log or webhook), ``--broker-us`` RabbitMQ's per notification (one wake-up).
- ``--lock-us``: µs the SQLite write lock is held per notification (insert + claim + finish,
  ``hot_path.py``): SQLite has one writer per host, so this bounds the host whatever its cores.

Assumptions, stated because they decide the answer:

- the load is spread evenly over the day (``--peak`` multiplies it: 3 = the busiest hour at three
  times the day's average), and a process is planned to ``--utilization`` of a core (0.7);
- one notification = 1 row insert (batched ``--intake-batch`` per transaction), 1 claim update
  and 1 finish update (batched ``--claim-batch`` per transaction): 3 row writes;
- CPU per notification stays flat with more processes (checked on this machine: 1 against 2
  workers, RESULTS.md); the store server's own CPU (PostgreSQL, MongoDB) is not measured here and
  is left out: size it from the row writes and transactions per second;
- SQLite: every process on one host and one writer at a time, so the write lock is the ceiling;
  PostgreSQL and MongoDB: processes on any number of hosts.

    .venv/bin/python benchmarks/capacity.py
    .venv/bin/python benchmarks/capacity.py --worker-us 270 --peak 3   # webhooks, busy hour
"""

from __future__ import annotations

import argparse
import math

DAY_S = 86_400
VOLUMES = {"1 M/day": 1e6, "100 M/day": 1e8, "1 B/day": 1e9}
STORES = ("sqlite", "postgresql", "mongodb")
BROKERS = ("none", "rabbitmq")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="notifyctl capacity on paper")
    p.add_argument("--api-us", type=float, default=56.0)
    p.add_argument("--worker-us", type=float, default=100.0)
    p.add_argument("--broker-us", type=float, default=8.0)
    p.add_argument("--lock-us", type=float, default=68.0)
    p.add_argument("--peak", type=float, default=1.0)
    p.add_argument("--utilization", type=float, default=0.7)
    p.add_argument("--intake-batch", type=int, default=1000)
    p.add_argument("--claim-batch", type=int, default=50)
    return p.parse_args(argv)


def plan(rate: float, store: str, broker: str, a: argparse.Namespace) -> dict[str, str]:
    """One row: processes, cores, store load for ``rate`` notifications/s."""
    api = math.ceil(rate * a.api_us / 1e6 / a.utilization)
    workers = math.ceil(rate * a.worker_us / 1e6 / a.utilization)
    broker_cores = rate * a.broker_us / 1e6 / a.utilization if broker == "rabbitmq" else 0.0
    cores = api + workers + math.ceil(broker_cores)
    transactions = rate * (1 / a.intake_batch + 2 / a.claim_batch)
    note = ""
    if store == "sqlite":
        lock = rate * a.lock_us / 1e6
        note = f"write lock {100 * lock:.0f} % busy" + (" - beyond one host" if lock > 1 else "")
    return {
        "store": store, "broker": broker, "api": str(api), "workers": str(workers),
        "cores": str(cores), "rows": f"{3 * rate:,.0f}",
        "tx": f"{transactions:,.{1 if transactions < 10 else 0}f}", "note": note,
    }  # fmt: skip


def table(a: argparse.Namespace) -> str:
    lines = []
    for label, per_day in VOLUMES.items():
        rate = per_day / DAY_S * a.peak
        lines += [f"\n{label}: {rate:,.0f} notifications/s" + (f" (peak x{a.peak:g})"
                  if a.peak != 1 else " sustained"), "",  # fmt: skip
                  "| store | broker | API processes | workers | cores | row writes/s"
                  " | store transactions/s | note |",
                  "|---|---|---:|---:|---:|---:|---:|---|"]  # fmt: skip
        for store in STORES:
            for broker in BROKERS:
                r = plan(rate, store, broker, a)
                lines.append("| " + " | ".join(r.values()) + " |")
    total_us = a.api_us + a.worker_us
    lines.append(
        f"\nInputs: API {a.api_us:g} µs, worker {a.worker_us:g} µs, RabbitMQ {a.broker_us:g} µs"
        f" per notification ({total_us:g} µs without the broker: {1e6 / total_us:,.0f}/s per"
        f" core), SQLite write lock {a.lock_us:g} µs per notification (at most"
        f" {1e6 / a.lock_us:,.0f}/s on one host), {a.utilization:.0%} of a core per process."
        " Store servers' own CPU not included."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    print(table(parse_args(argv)))


if __name__ == "__main__":
    main()
