"""Every setting notifyctl has, declared once, in the table that loading and the Config follow.

Each row gives a setting's TOML key (its name, also the Config field), its environment variable
(the spec's name where the spec has one, ``NOTIFYCTL_*`` otherwise), the parser that checks its
type and bounds, its default and a line of help. A new setting is a row here and a field on
``config.Config``; config.py asserts when it is imported that the two list the same names.
docs/configuration.md's settings table documents these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifyctl.config.parsers import (
    Parser,
    boolean,
    broker_url,
    choice,
    integer,
    mongodb_url,
    networks,
    networks_or_hosts,
    path,
    store_url,
    text,
)


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
        store_url,
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
        "header_timeout_ms",
        "NOTIFYCTL_HEADER_TIMEOUT_MS",
        integer(100, 600_000),
        10_000,
        "how long a request's line and headers may take from their first byte (408 beyond)",
    ),
    S(
        "body_timeout_ms",
        "NOTIFYCTL_BODY_TIMEOUT_MS",
        integer(100, 3_600_000),
        30_000,
        "how long a request body may take to arrive once the API starts reading it (408 beyond)",
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
        "require_api_keys",
        "NOTIFYCTL_REQUIRE_API_KEYS",
        boolean,
        False,
        "the API refuses to start without API keys (the Docker image sets it)",
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
    S(
        "intake_dns_timeout_ms",
        "NOTIFYCTL_INTAKE_DNS_TIMEOUT_MS",
        integer(1, 60_000),
        2_000,
        "how long a request waits for its webhook hosts to resolve; later ones are checked"
        " only at delivery",
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
        "priority_ageing_ms",
        "NOTIFYCTL_PRIORITY_AGEING_MS",
        integer(0, 86_400_000),
        60_000,
        "a due notification rises one priority level per this long waited (0: strict order)",
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
        "tenant default's webhook signing secret (whsec_... or raw) unless it has one in the store",
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
