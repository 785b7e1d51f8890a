"""One frozen Config, built once at start-up: flag > environment > TOML file > default.

Every setting is declared once in ``SETTINGS``: its TOML key (the field name), its environment
variable (the spec's name where the spec has one, ``NOTIFYCTL_*`` otherwise), its type and bounds
(a parser from ``config_parsers``), its default and its help text.
Any invalid value or unknown key stops start-up with a ConfigError naming the setting.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from notifyctl.config_parsers import (
    Parser,
    boolean,
    broker_url,
    choice,
    integer,
    mongodb_url,
    networks,
    networks_or_hosts,
    path,
    text,
)
from notifyctl.errors import ConfigError


def redacted(url: str) -> str:
    """A URL without its password, for logs, messages and the console."""
    password = urlsplit(url).password
    return url if password is None else url.replace(f":{password}@", ":***@", 1)


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    parse: Parser
    default: Any
    help: str


S = Setting
SETTINGS: tuple[Setting, ...] = (
    S("data_dir", "NOTIFYCTL_DATA_DIR", path, "./notifyctl-data", "where the embedded store lives"),
    S(
        "store_url",
        "NOTIFYCTL_STORE_URL",
        text,
        "",
        "store URL; default sqlite:///<data_dir>/notifyctl.db",
    ),
    S(
        "rabbitmq_url",
        "RABBITMQ_URL",
        broker_url,
        "none",
        "broker URL (amqp://user:pass@host:5672/vhost); none: workers poll the store",
    ),
    S(
        "rabbitmq_consumer_group",
        "RABBITMQ_CONSUMER_GROUP",
        text,
        "notification-workers",
        "the shared queue every worker consumes",
    ),
    S(
        "prefetch_count",
        "PREFETCH_COUNT",
        integer(1, 10_000),
        10,
        "unacknowledged wake-ups a worker may hold",
    ),
    S(
        "publish_confirm_timeout_ms",
        "NOTIFYCTL_PUBLISH_CONFIRM_TIMEOUT_MS",
        integer(100, 600_000),
        10_000,
        "how long a publish waits for its confirm before it counts as lost",
    ),
    S(
        "mongodb_uri",
        "MONGODB_URI",
        mongodb_url,
        "",
        "the MongoDB store; used when no store URL is given with the same or higher precedence",
    ),
    S(
        "mongodb_max_pool_size",
        "MONGODB_MAX_POOL_SIZE",
        integer(0, 10_000),
        0,
        "MongoDB connections per process; 0: (NUM_WORKERS + NUM_API_INSTANCES) * 5, within 10..50",
    ),
    S(
        "mongodb_min_pool_size",
        "MONGODB_MIN_POOL_SIZE",
        integer(0, 10_000),
        0,
        "MongoDB connections each process keeps open while idle",
    ),
    S("num_workers", "NUM_WORKERS", integer(1, 10_000), 5, "worker processes in the deployment"),
    S(
        "num_api_instances",
        "NUM_API_INSTANCES",
        integer(0, 10_000),
        2,
        "API processes in the deployment",
    ),
    S(
        "retention_days",
        "NOTIFYCTL_RETENTION_DAYS",
        integer(0, 36_500),
        0,
        "MongoDB deletes sent, dead and cancelled notifications this long after; 0: never",
    ),
    S("api_host", "NOTIFYCTL_API_HOST", text, "127.0.0.1", "address the API binds"),
    S("api_port", "NOTIFYCTL_API_PORT", integer(1, 65535), 3000, "port the API binds"),
    S(
        "max_body_bytes",
        "NOTIFYCTL_MAX_BODY_BYTES",
        integer(1024, 64 * 1024 * 1024),
        1024 * 1024,
        "largest request body the API reads (413 beyond)",
    ),
    S(
        "rate_limit_per_s",
        "NOTIFYCTL_RATE_LIMIT_PER_S",
        integer(0, 1_000_000),
        100,
        "requests per second per client (API key, or IP); 0 turns rate limiting off",
    ),
    S(
        "rate_limit_burst",
        "NOTIFYCTL_RATE_LIMIT_BURST",
        integer(1, 1_000_000),
        200,
        "requests a client may send at once above the rate",
    ),
    S(
        "trusted_proxies",
        "NOTIFYCTL_TRUSTED_PROXIES",
        networks,
        "",
        "proxies (CIDRs) whose X-Forwarded-For names the client, e.g. the nginx in front",
    ),
    S(
        "api_keys",
        "NOTIFYCTL_API_KEYS",
        text,
        "",
        "comma-separated API keys (or sha256:<hex> of a key); set: /v1 needs Bearer <key>",
    ),
    S(
        "api_keys_file",
        "NOTIFYCTL_API_KEYS_FILE",
        text,
        "",
        "file with one API key (or sha256:<hex>) per line",
    ),
    S(
        "metrics_require_key",
        "NOTIFYCTL_METRICS_REQUIRE_KEY",
        boolean,
        False,
        "when API keys are set, /metrics needs one too",
    ),
    S(
        "webhook_allow",
        "NOTIFYCTL_WEBHOOK_ALLOW",
        networks_or_hosts,
        "",
        "CIDRs or host names webhooks may reach although private, loopback, link-local, ...",
    ),
    S("worker_batch_size", "WORKER_BATCH_SIZE", integer(1, 1000), 50, "notifications per claim"),
    S(
        "worker_concurrency",
        "NOTIFYCTL_WORKER_CONCURRENCY",
        integer(1, 10_000),
        100,
        "deliveries in flight per worker",
    ),
    S(
        "lock_duration_ms",
        "LOCK_DURATION_MS",
        integer(100, 86_400_000),
        30_000,
        "lease length; renewed while a delivery runs",
    ),
    S(
        "poll_interval_ms",
        "POLL_INTERVAL_MS",
        integer(10, 3_600_000),
        5_000,
        "store sweep interval when a broker wakes the workers",
    ),
    S(
        "idle_poll_ms",
        "NOTIFYCTL_IDLE_POLL_MS",
        integer(1, 60_000),
        250,
        "longest idle wait between store polls when there is no broker",
    ),
    S(
        "heartbeat_interval_ms",
        "NOTIFYCTL_HEARTBEAT_INTERVAL_MS",
        integer(100, 3_600_000),
        5_000,
        "how often a worker records that it is alive",
    ),
    S(
        "shutdown_grace_ms",
        "NOTIFYCTL_SHUTDOWN_GRACE_MS",
        integer(0, 3_600_000),
        10_000,
        "how long a stopping worker lets deliveries in flight finish",
    ),
    S(
        "max_attempts",
        "NOTIFYCTL_MAX_ATTEMPTS",
        integer(1, 100),
        3,
        "default attempts per notification",
    ),
    S(
        "retry_base_ms",
        "NOTIFYCTL_RETRY_BASE_MS",
        integer(1, 86_400_000),
        1_000,
        "backoff after the first failed attempt",
    ),
    S(
        "retry_max_ms",
        "NOTIFYCTL_RETRY_MAX_MS",
        integer(1, 86_400_000),
        300_000,
        "longest backoff between attempts",
    ),
    S(
        "webhook_timeout_ms",
        "NOTIFYCTL_WEBHOOK_TIMEOUT_MS",
        integer(1, 600_000),
        10_000,
        "timeout of one webhook delivery",
    ),
    S(
        "webhook_secret",
        "NOTIFYCTL_WEBHOOK_SECRET",
        text,
        "",
        "Standard Webhooks signing secret (whsec_... or raw); empty: unsigned",
    ),
    S(
        "log_channel_path",
        "NOTIFYCTL_LOG_CHANNEL_PATH",
        text,
        "-",
        "file the log channel appends to; - for stdout",
    ),
    S(
        "monitor_host",
        "NOTIFYCTL_MONITOR_HOST",
        text,
        "127.0.0.1",
        "address of the worker monitoring server",
    ),
    S(
        "monitor_port_base",
        "NOTIFYCTL_MONITOR_PORT_BASE",
        integer(0, 65_000),
        9090,
        "worker N serves /health, /metrics, /resources, /stats on this port + N; 0: off",
    ),
    S(
        "queue_metrics_interval_ms",
        "NOTIFYCTL_QUEUE_METRICS_INTERVAL_MS",
        integer(100, 3_600_000),
        15_000,
        "how often the reporting worker reads the queue depth from the store for its metrics",
    ),
    S(
        "sqlite_synchronous",
        "NOTIFYCTL_SQLITE_SYNCHRONOUS",
        choice("full", "normal"),
        "full",
        "full: an accepted notification survives power loss; normal: faster, survives crashes",
    ),
    S(
        "log_level",
        "NOTIFYCTL_LOG_LEVEL",
        choice("debug", "info", "warning", "error"),
        "info",
        "logging level",
    ),
)
BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path
    store_url: str
    rabbitmq_url: str
    rabbitmq_consumer_group: str
    prefetch_count: int
    publish_confirm_timeout_ms: int
    mongodb_uri: str
    mongodb_max_pool_size: int
    mongodb_min_pool_size: int
    num_workers: int
    num_api_instances: int
    retention_days: int
    api_host: str
    api_port: int
    max_body_bytes: int
    rate_limit_per_s: int
    rate_limit_burst: int
    trusted_proxies: str
    api_keys: str
    api_keys_file: str
    metrics_require_key: bool
    webhook_allow: str
    worker_batch_size: int
    worker_concurrency: int
    lock_duration_ms: int
    poll_interval_ms: int
    idle_poll_ms: int
    heartbeat_interval_ms: int
    shutdown_grace_ms: int
    max_attempts: int
    retry_base_ms: int
    retry_max_ms: int
    webhook_timeout_ms: int
    webhook_secret: str
    log_channel_path: str
    monitor_host: str
    monitor_port_base: int
    queue_metrics_interval_ms: int
    sqlite_synchronous: str
    log_level: str

    def to_environ(self) -> dict[str, str]:
        """The resolved settings as environment variables, to hand to child processes."""
        return {s.env: str(getattr(self, s.name)) for s in SETTINGS}


assert {f.name for f in fields(Config)} == set(BY_NAME), "Config and SETTINGS must list the same"


def read_toml(file: Path) -> dict[str, Any]:
    try:
        with file.open("rb") as handle:
            values = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"--config {file}: cannot read it ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"--config {file}: not valid TOML ({exc})") from exc
    unknown = sorted(set(values) - set(BY_NAME))
    if unknown:
        raise ConfigError(
            f"--config {file}: unknown setting {unknown[0]!r}; known: {', '.join(sorted(BY_NAME))}"
        )
    return values


#: where a value came from, most specific first: a flag beats the environment, and so on
FLAG, ENVIRONMENT, FILE, DEFAULT = range(4)


def load(
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    flag_names: Mapping[str, str] | None = None,
) -> Config:
    """Build the Config. ``flags`` holds only the options given on the command line;
    ``flag_names`` maps a setting to the flag as the user typed it, for error messages."""
    sources = (
        {k: v for k, v in (flags or {}).items() if v is not None},
        environ or {},
        read_toml(config_file) if config_file else {},
    )
    values: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    for setting in SETTINGS:
        values[setting.name], ranks[setting.name] = resolve(
            setting, sources, config_file, flag_names or {}
        )
    values["data_dir"] = values["data_dir"].resolve()
    values["store_url"] = store_url_of(values, ranks)
    return Config(**values)


def resolve(
    setting: Setting,
    sources: tuple[Mapping[str, Any], Mapping[str, str], Mapping[str, Any]],
    config_file: Path | None,
    flag_names: Mapping[str, str],
) -> tuple[Any, int]:
    """The parsed value of one setting and the rank of the source it came from."""
    flags, environ, from_file = sources
    if setting.name in flags:
        default_flag = f"--{setting.name.replace('_', '-')}"
        raw, origin = flags[setting.name], flag_names.get(setting.name, default_flag)
        rank = FLAG
    elif setting.env in environ:
        raw, origin, rank = environ[setting.env], setting.env, ENVIRONMENT
    elif setting.name in from_file:
        raw, origin, rank = from_file[setting.name], f"{setting.name} in {config_file}", FILE
    else:
        raw, origin, rank = setting.default, f"{setting.name} default", DEFAULT
    try:
        return setting.parse(raw), rank
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def store_url_of(values: Mapping[str, Any], ranks: Mapping[str, int]) -> str:
    """The store: --store > NOTIFYCTL_STORE_URL > MONGODB_URI > store_url in the file >
    mongodb_uri in the file > SQLite in the data dir. MONGODB_URI is the spec's name for the
    store URL, so it is an alias that loses only to a store URL given at least as specifically."""
    store_url, mongodb_uri = values["store_url"], values["mongodb_uri"]
    if mongodb_uri and (not store_url or ranks["mongodb_uri"] < ranks["store_url"]):
        return str(mongodb_uri)
    if store_url:
        return str(store_url)
    return f"sqlite:///{values['data_dir'] / 'notifyctl.db'}"
