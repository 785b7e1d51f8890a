"""What ``notifyctl up`` runs, decided before anything starts: which webhook addresses it allows,
which monitoring ports its workers get, whether the API may start without keys, and the banner
that says all of it (loudly when the API is open to more than this machine).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from notifyctl import __version__, config
from notifyctl.config import Config
from notifyctl.exposure import keys_line, open_api_warning, require_api_keys, webhook_allow
from notifyctl.ports import check_api_port, free_monitor_base

log = logging.getLogger("notifyctl.up")


@dataclass(frozen=True)
class Plan:
    config: Config
    workers: int
    #: the configured monitoring base when its ports were taken and ``up`` moved them
    moved_from: int | None = None
    #: the store holds API keys (``notifyctl keys create``)
    store_keys: bool = False


def plan(built: Config, workers: int, store_keys: bool = False) -> Plan:
    """The configuration ``up`` hands its children, checked so that they can start;
    ``store_keys``: the store holds API keys."""
    require_api_keys(built, store_keys)
    check_api_port(built.api_host, built.api_port)
    built = dataclasses.replace(built, webhook_allow=webhook_allow(built))
    if not built.monitor_port_base:
        return Plan(built, workers, store_keys=store_keys)
    base = free_monitor_base(built.monitor_host, built.monitor_port_base, workers)
    if base == built.monitor_port_base:
        return Plan(built, workers, store_keys=store_keys)
    moved = dataclasses.replace(built, monitor_port_base=base)
    return Plan(moved, workers, moved_from=built.monitor_port_base, store_keys=store_keys)


def monitoring_line(p: Plan) -> str:
    base = p.config.monitor_port_base
    if not base:
        return "no monitoring (NOTIFYCTL_MONITOR_PORT_BASE=0)"
    line = f"monitoring on {p.config.monitor_host} ports {base + 1}-{base + p.workers}"
    if p.moved_from is not None:
        taken = f"{p.moved_from + 1}-{p.moved_from + p.workers}"
        line += f" ({taken} are taken; NOTIFYCTL_MONITOR_PORT_BASE={base} here)"
    return line


def webhooks_lines(built: Config) -> list[str]:
    if built.webhook_allow:
        allowed = f"public addresses and {built.webhook_allow}"
    else:
        allowed = "public addresses only"
    return [
        f"  webhooks   may reach {allowed} (NOTIFYCTL_WEBHOOK_ALLOW); other",
        "             private, loopback, link-local and metadata addresses are refused",
    ]


def banner(p: Plan) -> list[str]:
    """The lines ``up`` prints at start; the first is a warning when the API is open."""
    built = p.config
    lines = [f"notifyctl up {__version__}"]
    warning = open_api_warning(built, p.store_keys)
    if warning is not None:
        lines.append(f"  WARNING    {warning}")
    lines.append(f"  API        http://{built.api_host}:{built.api_port}  (POST /v1/notifications)")
    lines.append(f"  API keys   {keys_line(built, p.store_keys)}")
    lines.append(f"  workers    {p.workers} ({monitoring_line(p)})")
    lines.append(f"  store      {config.redacted(built.store_url)}")
    if built.rabbitmq_url == "none":
        lines.append("  broker     none (workers poll the store)")
    else:
        broker = config.redacted(built.rabbitmq_url)
        lines.append(f"  broker     {broker} queue {built.rabbitmq_consumer_group}")
    lines += webhooks_lines(built)
    lines.append("  Ctrl-C stops everything gracefully.")
    return lines


def log_warnings(p: Plan) -> None:
    """The same warnings in the log, which outlives the terminal (journald, docker logs)."""
    warning = open_api_warning(p.config, p.store_keys)
    if warning is not None:
        log.warning("%s", warning)
    if p.moved_from is not None:
        log.warning("monitoring moved: %s", monitoring_line(p))
