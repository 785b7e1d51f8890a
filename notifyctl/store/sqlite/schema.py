"""How the SQLite store lays out notifications and workers, and how a row becomes a Notification.

The tables, their indexes and the columns later releases added live here apart from the store's
statements, so a change of layout is made (and reviewed) in one place: ``COLUMNS`` and
``row_to_notification`` must agree column for column, as must ``INSERT`` and ``new_row``.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Sequence
from typing import Any

from notifyctl.flow import destination_of
from notifyctl.model import NewNotification, Notification, Priority, Status
from notifyctl.shapes import dumps, loads
from notifyctl.store.sqlite.retention import CREATE_TERMINAL_INDEX

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    dest TEXT,
    title TEXT,
    body TEXT,
    data TEXT NOT NULL,
    priority INTEGER NOT NULL,
    status TEXT NOT NULL,
    scheduled_for INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    last_error TEXT,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    locked_by TEXT,
    locked_at INTEGER,
    lock_expiry INTEGER,
    lock_version INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    sent_at INTEGER,
    history TEXT NOT NULL DEFAULT '[]',
    replays INTEGER NOT NULL DEFAULT 0,
    dead_letter_at INTEGER,
    tenant_id TEXT NOT NULL DEFAULT 'default',
    html TEXT,
    message_id TEXT,
    template TEXT,
    category TEXT,
    expires_at INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS notifications_claim
    ON notifications (priority, available_at) WHERE status IN ('pending', 'scheduled');
CREATE INDEX IF NOT EXISTS notifications_status ON notifications (status);
CREATE INDEX IF NOT EXISTS notifications_user ON notifications (user_id);
CREATE INDEX IF NOT EXISTS notifications_leased
    ON notifications (lock_expiry) WHERE locked_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS notifications_sent_at
    ON notifications (sent_at) WHERE sent_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS workers (
    id TEXT PRIMARY KEY,
    worker_number INTEGER NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    last_heartbeat INTEGER NOT NULL,
    in_flight INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS workers_heartbeat ON workers (last_heartbeat);
CREATE TABLE IF NOT EXISTS webhook_secrets (
    tenant_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    secret TEXT NOT NULL,
    PRIMARY KEY (tenant_id, created_at, secret)
);
"""
#: columns added after the first release: (name, declaration), added to older databases at open
ADDED_COLUMNS = (
    ("history", "TEXT NOT NULL DEFAULT '[]'"),
    ("replays", "INTEGER NOT NULL DEFAULT 0"),
    # the dead-letter outbox: when the dead letter is due to be published (the death, or the
    # end of a publisher's lease); NULL once published, or when there is none to publish
    ("dead_letter_at", "INTEGER"),
    # whose notification it is; rows of releases before tenants belong to tenant ``default``
    ("tenant_id", "TEXT NOT NULL DEFAULT 'default'"),
    # the HTML part of an email; NULL for every other notification
    ("html", "TEXT"),
    # a notification to a person (issue 16): its message, template and category; NULL otherwise
    ("message_id", "TEXT"),
    ("template", "TEXT"),
    ("category", "TEXT"),
    # past it a notification is never sent (issue 17); NULL: it never expires
    ("expires_at", "INTEGER"),
    # where it goes (``flow.destination_of``), for pauses by destination (issue 17)
    ("destination", "TEXT"),
    # the W3C trace context of the request that made it (issue 20); NULL: not traced
    ("traceparent", "TEXT"),
)
#: indexes on added columns, created after ``ADDED_COLUMNS`` (an older database lacks them
#: while ``SCHEMA`` runs). Partial: only rows with a dead letter to publish, so the publisher's
#: query is a seek whatever the number of notifications.
ADDED_INDEXES = (
    "CREATE INDEX IF NOT EXISTS notifications_dead_letters"
    " ON notifications (dead_letter_at) WHERE dead_letter_at IS NOT NULL",
    # idempotency keys are unique per tenant: the global index of earlier releases goes
    "DROP INDEX IF EXISTS notifications_idempotency",
    "CREATE UNIQUE INDEX IF NOT EXISTS notifications_tenant_idempotency"
    " ON notifications (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
    # a tenant's listing, newest first
    "CREATE INDEX IF NOT EXISTS notifications_tenant ON notifications (tenant_id, id)",
    # a message's notifications (GET /v1/messages/{id}, and an operator's search across every
    # tenant, which the earlier (tenant_id, message_id) index could not serve: a full scan);
    # partial: most rows have no message
    "DROP INDEX IF EXISTS notifications_message",
    "CREATE INDEX IF NOT EXISTS notifications_message_id"
    " ON notifications (message_id) WHERE message_id IS NOT NULL",
    # the dead letters by death, newest first (the listing, the console, "dead in the last
    # minutes"): a seek in a small index, where the status index needed a sort of every dead row
    "CREATE INDEX IF NOT EXISTS notifications_dead ON notifications (updated_at)"
    " WHERE status = 'dead'",
    # retention: the terminal rows by their last change, so a purge is a seek (``retention.py``)
    CREATE_TERMINAL_INDEX,
)

COLUMNS = (
    "id, user_id, channel, dest, title, body, data, priority, status, scheduled_for, available_at,"
    " attempts, max_attempts, last_error, idempotency_key, request_hash, locked_by, locked_at,"
    " lock_expiry, lock_version, created_at, updated_at, sent_at, replays, tenant_id, html,"
    " message_id, template, category, expires_at, traceparent"
)
INSERT = (
    "INSERT INTO notifications (id, user_id, channel, dest, title, body, data, priority, status,"
    " scheduled_for, available_at, max_attempts, idempotency_key, request_hash, created_at,"
    " updated_at, tenant_id, html, message_id, template, category, last_error, expires_at,"
    " destination, traceparent) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    # only a tenant's repeated idempotency key is a replay; a repeated id (a collision) raises
    " ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
)


#: by value, for the row conversion: a dict lookup costs a tenth of calling the enum
PRIORITIES = {int(p): p for p in Priority}
STATUSES = {s.value: s for s in Status}


#: how many of a row's values are the notification's (queries may return more after them)
NOTIFICATION_FIELDS = len(COLUMNS.split(","))


def row_to_notification(row: Sequence[Any]) -> Notification:
    """Positional (``COLUMNS`` is in ``Notification``'s field order, checked below): a claim
    converts every row it leases, and keywords cost twice as much (3.8 against 6.5 µs a row)."""
    return Notification(
        row[0], row[1], row[2], row[3], row[4], row[5], loads(row[6]), PRIORITIES[row[7]],
        STATUSES[row[8]], *row[9:NOTIFICATION_FIELDS],
    )  # fmt: skip


def _check_column_order() -> None:
    """``row_to_notification`` relies on it; a field added to one and not the other fails here."""
    names = [c.strip() for c in COLUMNS.split(",")]
    fields_ = [f.name for f in dataclasses.fields(Notification)]
    if ["to" if n == "dest" else n for n in names] != fields_:
        raise RuntimeError(f"COLUMNS {names} are not in Notification's order {fields_}")


_check_column_order()


def initial_status(item: NewNotification, now: int) -> Status:
    """Suppressed at intake (the recipient's say), paused (an operator's), else due now or
    later."""
    if item.suppressed is not None:
        return Status.SUPPRESSED
    if item.paused:
        return Status.PAUSED
    return Status.SCHEDULED if item.scheduled_for > now else Status.PENDING


def new_row(item: NewNotification, now: int) -> tuple[Any, ...]:
    status = initial_status(item, now)
    return (
        item.id, item.user_id, item.channel, item.to, item.title, item.body,
        dumps(item.data).decode(), int(item.priority), status.value,
        item.scheduled_for, item.scheduled_for, item.max_attempts, item.idempotency_key,
        item.request_hash, item.created_at, now, item.tenant_id, item.html, item.message_id,
        item.template, item.category, item.suppressed, item.expires_at,
        destination_of(item.channel, item.to), item.traceparent,
    )  # fmt: skip


def stored(item: NewNotification, now: int) -> Notification:
    status = initial_status(item, now)
    return Notification(
        id=item.id, user_id=item.user_id, channel=item.channel, to=item.to, title=item.title,
        body=item.body, data=item.data, priority=item.priority, status=status,
        scheduled_for=item.scheduled_for, available_at=item.scheduled_for, attempts=0,
        max_attempts=item.max_attempts, last_error=item.suppressed,
        idempotency_key=item.idempotency_key,
        request_hash=item.request_hash, locked_by=None, locked_at=None, lock_expiry=None,
        lock_version=0, created_at=item.created_at, updated_at=now, tenant_id=item.tenant_id,
        html=item.html, message_id=item.message_id, template=item.template,
        category=item.category, expires_at=item.expires_at, traceparent=item.traceparent,
    )  # fmt: skip


#: the workers' columns added after the first release (their CPU and memory, issue 19)
ADDED_WORKER_COLUMNS = (
    ("cpu_percent", "REAL NOT NULL DEFAULT 0"),
    ("rss_bytes", "INTEGER NOT NULL DEFAULT 0"),
)


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a database made by an older release up to date, inside the caller's transaction."""
    known = {row[1] for row in conn.execute("PRAGMA table_info(workers)")}
    for name, declaration in ADDED_WORKER_COLUMNS:
        if name not in known:
            conn.execute(f"ALTER TABLE workers ADD COLUMN {name} {declaration}")
    present = {row[1] for row in conn.execute("PRAGMA table_info(notifications)")}
    for name, declaration in ADDED_COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE notifications ADD COLUMN {name} {declaration}")
    if "destination" not in present:
        fill_destinations(conn)


def fill_destinations(conn: sqlite3.Connection) -> None:
    """The destination of every notification still waiting in a database older than the column
    (terminal ones never move again), so a pause by destination finds them."""
    conn.create_function("destination_of", 2, destination_of, deterministic=True)
    conn.execute(
        "UPDATE notifications SET destination = destination_of(channel, dest)"
        " WHERE status IN ('pending', 'scheduled')"
    )


#: API keys (``store/sqlite/keys.py``): the digest of each key, never the key; ``scopes`` is
#: ``tenants.scopes_text``. Rows are never deleted: a revoked key keeps its row. Each tenant's
#: limits and its quota usage per UTC day (``store/sqlite/limits.py``). Each tenant's recipients,
#: their fields as JSON (``store/sqlite/recipients.py``); the primary key serves every query.
#: Each tenant's templates, the document as JSON text (``store/sqlite/templates.py``); the key
#: serves the listing by name. Each destination's circuit breaker, a row only while it is open
#: or half-open (``store/sqlite/breakers.py``); the key serves every query. The pauses in force
#: (``store/sqlite/pauses.py``).
TENANT_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    scopes TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    expires_at INTEGER,
    revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant_id, created_at);
CREATE TABLE IF NOT EXISTS tenant_limits (
    tenant_id TEXT PRIMARY KEY,
    rate_per_s REAL,
    burst INTEGER,
    daily_quota INTEGER
);
CREATE TABLE IF NOT EXISTS quota_usage (
    tenant_id TEXT NOT NULL,
    day TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recipients (
    tenant_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS templates (
    tenant_id TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS breakers (
    destination TEXT PRIMARY KEY,
    open_until INTEGER NOT NULL,
    reopenings INTEGER NOT NULL,
    failure_ratio REAL NOT NULL,
    probe_by TEXT,
    probe_until INTEGER,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pauses (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
"""


def create_tables(conn: sqlite3.Connection) -> None:
    """Create what is missing, inside the caller's transaction; an existing database is kept."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    add_missing_columns(conn)
    for statement in ADDED_INDEXES:
        conn.execute(statement)
    for statement in TENANT_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
