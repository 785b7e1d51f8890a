"""One frozen Config, built once at start-up: flag > environment > TOML file > default.

Every setting is declared once in ``settings.SETTINGS`` (its TOML key, environment variable,
parser, default and help), and the parsers live in ``parsers``. This package's face
holds what is built from them: the Config, reading the TOML file, picking each setting's value
from the most specific source that gives one, and the store URL with its ``MONGODB_URI`` alias.
Any invalid value or unknown key stops start-up with a ConfigError naming the setting.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from notifyctl.config.parsers import without_password
from notifyctl.config.setting import Setting
from notifyctl.config.settings import BY_NAME, SETTINGS
from notifyctl.errors import ConfigError

__all__ = ["Config", "load", "masked", "redacted"]


def redacted(url: str) -> str:
    """A URL without its password, for logs, messages and the console."""
    return without_password(url)


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
    header_timeout_ms: int
    body_timeout_ms: int
    rate_limit_per_s: int
    rate_limit_burst: int
    trusted_proxies: str
    api_keys: str
    api_keys_file: str
    require_api_keys: bool
    metrics_require_key: bool
    webhook_allow: str
    intake_dns_timeout_ms: int
    worker_batch_size: int
    worker_concurrency: int
    destination_concurrency: int
    breaker_failures: int
    breaker_failure_percent: int
    breaker_window_s: int
    breaker_min_requests: int
    breaker_cooldown_s: int
    breaker_max_cooldown_s: int
    lock_duration_ms: int
    poll_interval_ms: int
    idle_poll_ms: int
    heartbeat_interval_ms: int
    shutdown_grace_ms: int
    max_attempts: int
    priority_ageing_ms: int
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
    log_format: str
    tracing: str
    channel_timeout_ms: int
    channel_ca_file: str
    smtp_url: str
    email_from: str
    email_reply_to: str
    smtp_max_connections: int
    email_rate_per_s: int
    apns_key_file: str
    apns_key_id: str
    apns_team_id: str
    apns_topic: str
    apns_url: str
    apns_max_streams: int
    apns_rate_per_s: int
    fcm_credentials_file: str
    fcm_url: str
    fcm_max_connections: int
    fcm_rate_per_s: int
    sms_url: str
    sms_account_sid: str
    sms_auth_token: str
    sms_from: str
    sms_max_connections: int
    sms_rate_per_s: int
    console: bool
    console_secret: str
    console_session_minutes: int

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
    elif setting.secret and setting.env + "_FILE" in environ:
        origin, rank = setting.env + "_FILE", ENVIRONMENT
        raw = read_secret_file(environ[origin], origin)
    elif setting.name in from_file:
        raw, origin, rank = from_file[setting.name], f"{setting.name} in {config_file}", FILE
    else:
        raw, origin, rank = setting.default, f"{setting.name} default", DEFAULT
    try:
        return setting.parse(raw), rank
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


def read_secret_file(name: str, origin: str) -> str:
    """A credential from the file a ``*_FILE`` variable names, without its final newline (as
    ``echo secret > file`` leaves one)."""
    try:
        return Path(name).read_text(encoding="utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{origin}: cannot read {name} ({reason})") from None


def masked(setting: Setting, value: Any) -> str:
    """A setting's value as it may be shown: credentials masked (a URL keeps all but its
    password)."""
    if not setting.secret or value in ("", None):
        return str(value)
    if "://" in str(value):
        return redacted(str(value))
    return "********"


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
