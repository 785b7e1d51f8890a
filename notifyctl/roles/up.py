"""What ``notifyctl up`` runs, decided before anything starts: which webhook addresses it allows,
which monitoring ports its workers get, whether the API may start without keys, and the banner
that says all of it (loudly when the API is open to more than this machine).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from dataclasses import dataclass

from notifyctl import __version__, config
from notifyctl.apikeys import ApiKeys
from notifyctl.config import Config
from notifyctl.destinations import LOOPBACK_ONLY
from notifyctl.errors import ConfigError
from notifyctl.roles.ports import check_api_port, free_monitor_base

log = logging.getLogger("notifyctl.up")


def loopback_only(host: str) -> bool:
    """True when an API bound to ``host`` is reachable from this machine alone."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name or a wildcard such as 0.0.0.0: assume others can reach it
        return False


def has_api_keys(built: Config) -> bool:
    return ApiKeys.from_config(built.api_keys, built.api_keys_file).enabled


def require_api_keys(built: Config) -> None:
    """NOTIFYCTL_REQUIRE_API_KEYS (set in the Docker image): no keys, no API."""
    if built.require_api_keys and not has_api_keys(built):
        raise ConfigError(
            "NOTIFYCTL_REQUIRE_API_KEYS is set and there are no API keys: set NOTIFYCTL_API_KEYS"
            " (or NOTIFYCTL_API_KEYS_FILE), or NOTIFYCTL_REQUIRE_API_KEYS=false to run an API"
            " that anyone who reaches it may use"
        )


def check_api_keys(built: Config) -> None:
    """For ``notifyctl api``: refuse to start without keys when they are required, and warn in
    the log when the API is open to others (``up`` says it in its banner too)."""
    require_api_keys(built)
    warning = open_api_warning(built)
    if warning is not None:
        logging.getLogger("notifyctl.api").warning("%s", warning)


def open_api_warning(built: Config) -> str | None:
    """The warning for an API that others can reach and that asks for no key, else None."""
    if loopback_only(built.api_host) or has_api_keys(built):
        return None
    return (
        f"the API on {built.api_host}:{built.api_port} has no API keys: anyone who can reach it"
        " can send notifications to any public webhook; set NOTIFYCTL_API_KEYS"
    )


def webhook_allow(built: Config) -> str:
    """Loopback receivers are fair game only when nobody else can reach the API: otherwise a
    client could make the workers POST to this machine's own services (SSRF)."""
    if built.webhook_allow or not loopback_only(built.api_host):
        return built.webhook_allow
    return LOOPBACK_ONLY


@dataclass(frozen=True)
class Plan:
    config: Config
    workers: int
    #: the configured monitoring base when its ports were taken and ``up`` moved them
    moved_from: int | None = None


def plan(built: Config, workers: int) -> Plan:
    """The configuration ``up`` hands its children, checked so that they can start."""
    require_api_keys(built)
    check_api_port(built.api_host, built.api_port)
    built = dataclasses.replace(built, webhook_allow=webhook_allow(built))
    if not built.monitor_port_base:
        return Plan(built, workers)
    base = free_monitor_base(built.monitor_host, built.monitor_port_base, workers)
    if base == built.monitor_port_base:
        return Plan(built, workers)
    moved = dataclasses.replace(built, monitor_port_base=base)
    return Plan(moved, workers, moved_from=built.monitor_port_base)


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
    warning = open_api_warning(built)
    if warning is not None:
        lines.append(f"  WARNING    {warning}")
    lines.append(f"  API        http://{built.api_host}:{built.api_port}  (POST /v1/notifications)")
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
    warning = open_api_warning(p.config)
    if warning is not None:
        log.warning("%s", warning)
    if p.moved_from is not None:
        log.warning("monitoring moved: %s", monitoring_line(p))
