"""How the PostgreSQL store lays out its tables (migration 1), and rows to notifications.

Times are epoch milliseconds (``bigint``), as the port passes them; ``data`` is the JSON text
the API gave (kept exactly as the SQLite store keeps it), ``history`` a ``jsonb`` array the
statements append to in place. The columns, their order and the row conversions are the SQLite
store's (``sqlite/schema.py``: ``COLUMNS``, ``new_row``, ``row_to_notification``), so both
adapters read and write a notification the same way.

Keys that listings order by are ``COLLATE "C"``: code-point order (as SQLite's BINARY), not the
server's locale. The claim index is partial: only claimable rows (``pending``/``scheduled``),
by (priority, available_at), where ``available_at`` is a free row's due time and a leased row's
lease expiry, so each band of the claim order is one index range scan, in its order (no sort).
"""

from __future__ import annotations

from notifyctl.store.postgresql.retention import CREATE_TERMINAL_INDEX
from notifyctl.store.sqlite.schema import COLUMNS

#: ``COLUMNS`` qualified by the alias ``n``, for statements that join (their RETURNING)
N_COLUMNS = ", ".join(f"n.{column}" for column in COLUMNS.split(", "))
INSERT = (
    "INSERT INTO notifications (id, user_id, channel, dest, title, body, data, priority, status,"
    " scheduled_for, available_at, max_attempts, idempotency_key, request_hash, created_at,"
    " updated_at, tenant_id, html, message_id, template, category, last_error, expires_at)"
    " VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
    " ON CONFLICT (tenant_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING"
    " RETURNING id"
)

NOTIFICATIONS = """
CREATE TABLE notifications (
    id text COLLATE "C" PRIMARY KEY,
    user_id text NOT NULL,
    channel text NOT NULL,
    dest text,
    title text,
    body text,
    data text NOT NULL,
    priority smallint NOT NULL,
    status text NOT NULL,
    scheduled_for bigint NOT NULL,
    available_at bigint NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    last_error text,
    idempotency_key text,
    request_hash text NOT NULL,
    locked_by text,
    locked_at bigint,
    lock_expiry bigint,
    lock_version bigint NOT NULL DEFAULT 0,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    sent_at bigint,
    history jsonb NOT NULL DEFAULT '[]',
    replays integer NOT NULL DEFAULT 0,
    dead_letter_at bigint,
    dead_letter_token text,
    tenant_id text NOT NULL DEFAULT 'default',
    html text,
    message_id text,
    template text,
    category text,
    expires_at bigint
);
CREATE INDEX notifications_claim ON notifications (priority, available_at)
    WHERE status IN ('pending', 'scheduled');
CREATE INDEX notifications_status ON notifications (status, id);
CREATE INDEX notifications_user ON notifications (user_id, id);
CREATE INDEX notifications_tenant ON notifications (tenant_id, id);
CREATE INDEX notifications_leased ON notifications (lock_expiry) WHERE locked_by IS NOT NULL;
CREATE INDEX notifications_sent_at ON notifications (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX notifications_dead ON notifications (updated_at) WHERE status = 'dead';
CREATE INDEX notifications_dead_letters ON notifications (dead_letter_at)
    WHERE dead_letter_at IS NOT NULL;
CREATE UNIQUE INDEX notifications_tenant_idempotency ON notifications (tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX notifications_message ON notifications (tenant_id, message_id)
    WHERE message_id IS NOT NULL;
"""

WORKERS = """
CREATE TABLE workers (
    id text PRIMARY KEY,
    worker_number integer NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    started_at bigint NOT NULL,
    last_heartbeat bigint NOT NULL,
    in_flight integer NOT NULL DEFAULT 0,
    processed bigint NOT NULL DEFAULT 0
);
CREATE INDEX workers_heartbeat ON workers (last_heartbeat);
"""

#: each tenant's settings and resources (the SQLite store's ``TENANT_SCHEMA``, in PostgreSQL)
TENANTS = """
CREATE TABLE webhook_secrets (
    serial bigserial PRIMARY KEY,
    tenant_id text NOT NULL,
    created_at bigint NOT NULL,
    secret text NOT NULL
);
CREATE INDEX webhook_secrets_tenant ON webhook_secrets (tenant_id, created_at, serial);
CREATE TABLE api_keys (
    id text COLLATE "C" PRIMARY KEY,
    tenant_id text NOT NULL,
    name text NOT NULL,
    scopes text NOT NULL,
    digest text NOT NULL UNIQUE,
    created_at bigint NOT NULL,
    last_used_at bigint,
    expires_at bigint,
    revoked_at bigint
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, created_at);
CREATE TABLE tenant_limits (
    tenant_id text COLLATE "C" PRIMARY KEY,
    rate_per_s double precision,
    burst integer,
    daily_quota integer
);
CREATE TABLE quota_usage (
    tenant_id text NOT NULL,
    day text NOT NULL,
    used integer NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
CREATE TABLE recipients (
    tenant_id text NOT NULL,
    user_id text COLLATE "C" NOT NULL,
    fields text NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    revision integer NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
CREATE TABLE templates (
    tenant_id text NOT NULL,
    name text COLLATE "C" NOT NULL,
    document text NOT NULL,
    version integer NOT NULL,
    created_at bigint NOT NULL,
    updated_at bigint NOT NULL,
    PRIMARY KEY (tenant_id, name)
);
CREATE TABLE breakers (
    destination text COLLATE "C" PRIMARY KEY,
    open_until bigint NOT NULL,
    reopenings integer NOT NULL,
    failure_ratio double precision NOT NULL,
    probe_by text,
    probe_until bigint,
    updated_at bigint NOT NULL
);
"""

#: the first version of the schema: every table and index of the first release
VERSION_1 = (NOTIFICATIONS, CREATE_TERMINAL_INDEX, WORKERS, TENANTS)
#: pauses (issue 17 item 4): where each notification goes (``flow.destination_of``), the pauses
#: in force. Rows of a version 1 schema have no destination: the workers park those they claim
#: under a pause, and count them nowhere else
VERSION_2 = (
    """
ALTER TABLE notifications ADD COLUMN destination text;
CREATE INDEX notifications_destination ON notifications (destination)
    WHERE status IN ('pending', 'scheduled', 'paused');
CREATE TABLE pauses (
    kind text NOT NULL,
    value text NOT NULL,
    created_at bigint NOT NULL,
    reason text NOT NULL,
    PRIMARY KEY (kind, value)
);
""",
)

#: each worker's CPU and memory, as of its last heartbeat (the console's workers page)
VERSION_3 = (
    """
ALTER TABLE workers ADD COLUMN cpu_percent double precision NOT NULL DEFAULT 0;
ALTER TABLE workers ADD COLUMN rss_bytes bigint NOT NULL DEFAULT 0;
""",
)

#: the W3C trace context of the request that made a notification (issue 20, tracing on), which
#: its deliveries continue; NULL for the rest
VERSION_4 = ("ALTER TABLE notifications ADD COLUMN traceparent text;",)
