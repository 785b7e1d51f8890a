"""Every role's log stream, set up once: the readable text line, or one JSON object per line
(``NOTIFYCTL_LOG_FORMAT=json``) that a log pipeline can filter by notification, worker or attempt.

A JSON line holds ``time`` (RFC 3339, UTC), ``level``, ``logger``, the process's ``role`` and
worker (``worker``, ``worker_id``), ``pid``, ``message``, and whatever the call passed with
``extra=``: the stable ``event`` name and the notification's fields (``about``). Both formats
pass through ``Redactor``: a URL's password and every configured secret are masked, so a message
quoting a connection error cannot leak a credential. docs/operations.md, "Logs", lists the fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from notifyctl.config import Config
from notifyctl.config.settings import SETTINGS
from notifyctl.flow import destination_of
from notifyctl.model import Notification
from notifyctl.tracing import trace_id_of

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"
#: what this process is, on every JSON line; set at start-up (``configure``, ``identify``)
IDENTITY: dict[str, Any] = {"role": None, "worker": None, "worker_id": None}
#: a LogRecord's own attributes: everything else on a record came with ``extra=``
RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
#: ``scheme://user:password@``: the password is masked wherever a URL appears in a message
URL_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")
#: secrets shorter than this are not masked by value (they would mask ordinary words)
SHORTEST_MASKED = 6


class Redactor:
    """Masks URL passwords and the configured secrets' values in a finished log line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= SHORTEST_MASKED}, key=len)[::-1]

    def __call__(self, text: str) -> str:
        if "://" in text:
            text = URL_PASSWORD.sub(r"\1***@", text)
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "********")
        return text


def secrets_of(config: Config) -> list[str]:
    """Every credential the configuration holds: the secret settings, each API key, and the
    passwords inside the store's, broker's and SMTP server's URLs."""
    found = [str(getattr(config, s.name)) for s in SETTINGS if s.secret]
    found += [key.strip() for key in config.api_keys.split(",") if key.strip()]
    for url in (config.store_url, config.rabbitmq_url, config.smtp_url, config.mongodb_uri):
        match = re.match(r"[^:]+://[^\s:/@]*:([^\s@/]+)@", url)
        if match:
            found.append(match.group(1))
    return found


def rfc3339(created: float) -> str:
    """``2026-12-03T08:19:46.013Z``: a record's time in UTC, to the millisecond."""
    whole = int(created)
    millis = int((created - whole) * 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(whole))}.{millis:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": rfc3339(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            **{k: v for k, v in IDENTITY.items() if v is not None},
            "pid": record.process,
            "message": self.redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in RECORD_ATTRIBUTES and value is not None:
                entry[key] = self.redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = self.redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The readable line (time, level, logger, [pid], message), redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__(TEXT_FORMAT)
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class StreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``configure`` installs (told apart from a test harness's own)."""


def configure(config: Config, role: str | None) -> None:
    """Send every logger's records to stderr in the configured format. As ``basicConfig``, this
    leaves a root logger that has someone else's handlers alone (pytest's log capture)."""
    IDENTITY["role"] = role
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, StreamHandler)]
    if len(ours) != len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    redact = Redactor(secrets_of(config))
    handler = StreamHandler(sys.stderr)
    json_lines = config.log_format == "json"
    handler.setFormatter(JsonFormatter(redact) if json_lines else TextFormatter(redact))
    root.addHandler(handler)
    root.setLevel(config.log_level.upper())
    logging.getLogger("pika").setLevel(logging.WARNING)  # pika narrates every connection step
    # httpx logs every request at INFO, and an APNs request's URL holds the device token
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if json_lines:  # nothing else may reach stderr unformatted: warnings, uncaught exceptions
        logging.captureWarnings(True)
        sys.excepthook = log_uncaught
        threading.excepthook = log_uncaught_in_thread


def json_lines() -> bool:
    """Whether this process logs JSON (the CLI's own error line then becomes a record too)."""
    root = logging.getLogger()
    return any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)


def wants_json(environ: Mapping[str, str]) -> bool:
    """JSON lines configured, or asked for by an environment whose settings could not load."""
    return json_lines() or environ.get("NOTIFYCTL_LOG_FORMAT", "").strip().lower() == "json"


def error_record(message: str, **extra: Any) -> None:
    """One ERROR line in JSON, through the configured handler or, before there is one (a setting
    failed to load), written straight to stderr."""
    log = logging.getLogger("notifyctl")
    if json_lines():
        log.error("%s", message, extra=extra)
        return
    record = log.makeRecord(log.name, logging.ERROR, "", 0, "%s", (message,), None, extra=extra)
    print(JsonFormatter(Redactor()).format(record), file=sys.stderr, flush=True)


def identify(**fields: Any) -> None:
    """Add to what every line says about this process: ``worker=3``, ``worker_id=...``."""
    IDENTITY.update(fields)


def log_uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    logging.getLogger("notifyctl").critical("uncaught %s", kind.__name__,
                                            exc_info=(kind, error, trace))  # fmt: skip


def log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_value is not None:
        log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def about(notification: Notification, event: str, **more: Any) -> dict[str, Any]:
    """The ``extra=`` of a line about one notification: the event's stable name and the
    notification's id, attempt, channel, destination and tenant (a push token, an email address
    or a webhook's path never: the destination is a host or a provider)."""
    return {
        "event": event,
        "notification_id": notification.id,
        "attempt": notification.attempts,
        "channel": notification.channel,
        "destination": destination_of(notification.channel, notification.to),
        "tenant": notification.tenant_id,
        "trace_id": trace_id_of(notification.traceparent),
        **more,
    }
