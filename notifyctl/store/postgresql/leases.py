"""The PostgreSQL store's claims, renewals and fenced outcomes: the lease rules in one statement
each, whatever the batch size.

- A claim is one ``UPDATE notifications FROM (<picked rows>) RETURNING``. The picked rows are,
  per band of the claim order (``notifyctl.claim_order``), ``SELECT ... ORDER BY available_at
  LIMIT n FOR UPDATE SKIP LOCKED``: a range of the partial claim index, in its order (no sort of
  the table), skipping rows another claim is taking, so claimers running together each get
  different rows rather than racing for the head of the queue. The bands are merged by level and
  due time, and ``limit`` claimable plus up to ``limit`` exhausted rows (which take no slot) are
  kept. The same UPDATE leases the claimable ones (attempts and ``lock_version`` + 1) and buries
  the exhausted ones (``dead``). A claim by ids (a wake-up's) is the same UPDATE over the named
  rows that are due.
- Renewals and outcomes: one UPDATE per batch, joined to the batch's rows (``unnest`` of
  arrays), fenced on ``(locked_by, lock_version)``; RETURNING says which were applied.

Every "now" is the server's clock (``clock``); ``{at}`` in the statements is where it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from notifyctl.claim_order import Band, claim_levels
from notifyctl.model import Claim, FinishReport, Notification, Outcome, Status, Verdict
from notifyctl.store.postgresql.schema import N_COLUMNS
from notifyctl.store.sqlite.schema import row_to_notification

CLAIMABLE = "status IN ('pending', 'scheduled')"
RELEASE_LEASE = "locked_by = NULL, locked_at = NULL, lock_expiry = NULL"


def history_entry(outcome: str, at: str, error: str) -> str:
    """SQL of a one-entry jsonb array about the attempt the row's current lease stands for."""
    return (
        f"jsonb_build_array(jsonb_build_object('outcome', {outcome}, 'at', {at}, 'attempt',"
        f" n.attempts, 'worker', n.locked_by, 'started_at', n.locked_at, 'error', {error}))"
    )


#: a lease that expired is history; a row with no lease (nothing expired) gets no entry
EXPIRED_ENTRY = history_entry("'lease_expired'", "n.lock_expiry", "NULL")
EXPIRED_IF_LEASED = (
    f"CASE WHEN n.locked_by IS NULL THEN n.history ELSE n.history || {EXPIRED_ENTRY} END"
)
#: leases the picked rows ``c`` that have attempts left, buries (``dead``) the exhausted ones
LEASE_OR_BURY = (
    "status = CASE WHEN c.exhausted THEN 'dead' ELSE 'pending' END,"
    " locked_by = CASE WHEN c.exhausted THEN NULL ELSE %(worker)s END,"
    " locked_at = CASE WHEN c.exhausted THEN NULL ELSE {at} END,"
    " lock_expiry = CASE WHEN c.exhausted THEN NULL ELSE {at} + %(lease)s END,"
    " available_at = CASE WHEN c.exhausted THEN n.available_at ELSE {at} + %(lease)s END,"
    " lock_version = n.lock_version + CASE WHEN c.exhausted THEN 0 ELSE 1 END,"
    " attempts = n.attempts + CASE WHEN c.exhausted THEN 0 ELSE 1 END,"
    " last_error = CASE WHEN c.exhausted THEN 'lease expired on the final attempt:"
    " its worker stopped mid-delivery' ELSE n.last_error END,"
    " dead_letter_at = CASE WHEN c.exhausted AND %(outbox)s THEN {at} ELSE n.dead_letter_at END,"
    f" updated_at = {{at}}, history = {EXPIRED_IF_LEASED}"
)
PICKED = "id, attempts >= max_attempts AS exhausted, locked_by IS NOT NULL AS reclaimed"
#: one band of the claim order: due in (after, by] relative to the server's now, locked as read
BAND = (
    "SELECT {level} AS level, available_at, "
    + PICKED
    + " FROM notifications WHERE "
    + CLAIMABLE
    + " AND priority = %(priority{i})s AND available_at <= {{at}} + %(by{i})s"
    "{after} ORDER BY available_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
)
CLAIM = (
    "UPDATE notifications AS n SET " + LEASE_OR_BURY + " FROM (SELECT id, exhausted, reclaimed"
    " FROM (SELECT *, row_number() OVER (PARTITION BY exhausted ORDER BY level, available_at)"
    " AS place FROM ({bands}) AS bands) AS ranked WHERE place <= %(limit)s) AS c"
    f" WHERE n.id = c.id RETURNING {N_COLUMNS}, c.reclaimed"
)
CLAIM_IDS = (
    "UPDATE notifications AS n SET " + LEASE_OR_BURY + f" FROM (SELECT {PICKED}"
    f" FROM notifications WHERE id = ANY(%(ids)s) AND {CLAIMABLE} AND available_at <= {{at}}"
    f" FOR UPDATE SKIP LOCKED) AS c WHERE n.id = c.id RETURNING {N_COLUMNS}, c.reclaimed"
)


#: the outcomes of a batch, one row each, to join on (``finish_params`` binds them)
OUTCOMES = (
    "unnest(%(ids)s::text[], %(workers)s::text[], %(versions)s::bigint[], %(verdicts)s::text[],"
    " %(errors)s::text[], %(delays)s::bigint[]) AS o(id, worker, version, verdict, error, delay)"
)
FENCED = "n.id = o.id AND n.locked_by = o.worker AND n.lock_version = o.version"


def verdicts(*chosen: Verdict) -> str:
    return "(" + ", ".join(f"'{verdict.value}'" for verdict in chosen) + ")"


#: verdicts whose status is their own name, and those due again after the outcome's delay
ENDS_AS_ITSELF = verdicts(
    Verdict.SENT, Verdict.DEAD, Verdict.SUPPRESSED, Verdict.EXPIRED, Verdict.PAUSED
)
DUE_AFTER_DELAY = verdicts(Verdict.RETRY, Verdict.RELEASE, Verdict.DEFERRED)
GIVES_BACK_ATTEMPT = verdicts(
    Verdict.RELEASE,
    Verdict.INTERRUPTED,
    Verdict.SUPPRESSED,
    Verdict.DEFERRED,
    Verdict.EXPIRED,
    Verdict.PAUSED,
)
#: due at once when they come back: interrupted ones, and parked ones on the resume (while
#: leased, ``available_at`` was the lease's end)
DUE_NOW = verdicts(Verdict.INTERRUPTED, Verdict.PAUSED)
KEEPS_ERROR = verdicts(Verdict.RETRY, Verdict.DEAD, Verdict.SUPPRESSED, Verdict.EXPIRED)
OUTCOME_ENTRY = history_entry(
    "o.verdict", "{at}", f"CASE WHEN o.verdict = '{Verdict.SENT.value}' THEN NULL ELSE o.error END"
)
#: each verdict's write (``sqlite/leases.py``'s ``FINISH_SQL``, one CASE per column), fenced
FINISH = (
    f"UPDATE notifications AS n SET status = CASE WHEN o.verdict IN {ENDS_AS_ITSELF} THEN o.verdict"
    f" WHEN o.verdict IN {DUE_AFTER_DELAY} AND o.delay > 0 THEN 'scheduled' ELSE 'pending' END,"
    f" available_at = CASE WHEN o.verdict IN {DUE_AFTER_DELAY} THEN {{at}} + o.delay"
    f" WHEN o.verdict IN {DUE_NOW} THEN {{at}} ELSE n.available_at END,"
    f" attempts = n.attempts - CASE WHEN o.verdict IN {GIVES_BACK_ATTEMPT} THEN 1 ELSE 0 END,"
    f" last_error = CASE WHEN o.verdict IN {KEEPS_ERROR} THEN o.error ELSE n.last_error END,"
    f" history = CASE WHEN o.verdict = 'release' THEN n.history ELSE n.history || {OUTCOME_ENTRY}"
    f" END, sent_at = CASE WHEN o.verdict = 'sent' THEN {{at}} ELSE n.sent_at END,"
    f" dead_letter_at = CASE WHEN o.verdict = 'dead' AND %(outbox)s THEN {{at}}"
    f" ELSE n.dead_letter_at END, {RELEASE_LEASE}, updated_at = {{at}}"
    f" FROM {OUTCOMES} WHERE {FENCED} RETURNING o.id, o.worker, o.version"
)
#: extends the leases still held, fenced
RENEW = (
    "UPDATE notifications AS n SET lock_expiry = {at} + %(lease)s,"
    " available_at = {at} + %(lease)s, updated_at = {at} FROM unnest(%(ids)s::text[],"
    " %(workers)s::text[], %(versions)s::bigint[]) AS o(id, worker, version)"
    f" WHERE {FENCED} RETURNING o.id, o.version"
)


def claim_sql(levels: list[list[Band]]) -> tuple[str, dict[str, Any]]:
    """The claim statement for these levels (bands relative to now = 0, as offsets from the
    server's now) and the bands' parameters; ``{at}`` still to be filled in."""
    selects: list[str] = []
    params: dict[str, Any] = {}
    for level, bands in enumerate(levels):
        for band in bands:
            i = len(selects)
            after = "" if band.due_after is None else f" AND available_at > {{at}} + %(after{i})s"
            selects.append(f"({BAND.format(level=level, i=i, after=after)})")
            params |= {f"priority{i}": int(band.priority), f"by{i}": band.due_by}
            params[f"after{i}"] = band.due_after
    sql = CLAIM.replace("{bands}", " UNION ALL ".join(f"SELECT * FROM {s} AS b" for s in selects))
    return sql, params


class ClaimStatements:
    """The claim statements of one store: its clock and priority ageing filled in once."""

    def __init__(self, at: str, ageing_ms: int) -> None:
        sql, self.band_params = claim_sql(claim_levels(0, ageing_ms))
        self.claim = sql.replace("{at}", at)
        self.claim_ids = CLAIM_IDS.replace("{at}", at)
        self.finish = FINISH.replace("{at}", at)
        self.renew = RENEW.replace("{at}", at)


def claimed(
    rows: Sequence[Sequence[Any]], worker_id: str, buried: list[Notification] | None
) -> list[Claim]:
    """The rows a claim returned: the leased ones as claims (in claim order), the buried ones
    appended to ``buried``."""
    claims = []
    for row in rows:
        notification = row_to_notification(row)
        if notification.status == Status.DEAD:
            if buried is not None:
                buried.append(notification)
            continue
        assert notification.lock_expiry is not None
        version, expiry = notification.lock_version, notification.lock_expiry
        claims.append(Claim(notification, worker_id, version, expiry, bool(row[-1])))
    claims.sort(key=lambda c: (-c.notification.priority, c.notification.scheduled_for))
    return claims


def run_claim(
    conn: psycopg.Connection[Any], sql: str, params: dict[str, Any], worker_id: str,
    buried: list[Notification] | None,
) -> list[Claim]:  # fmt: skip
    rows = conn.execute(sql, params).fetchall()
    return claimed(rows, worker_id, buried)


def fences(claims: Sequence[Claim]) -> dict[str, Any]:
    return {
        "ids": [claim.id for claim in claims],
        "workers": [claim.worker_id for claim in claims],
        "versions": [claim.lock_version for claim in claims],
    }


def finish_params(outcomes: Sequence[Outcome], now: int, outbox: bool) -> dict[str, Any]:
    """The outcomes as arrays; a retry's delay is ``retry_at - now`` (the caller chose it)."""
    delays = [0 if o.retry_at is None else o.retry_at - now for o in outcomes]
    return {
        **fences([o.claim for o in outcomes]), "now": now, "outbox": outbox, "delays": delays,
        "verdicts": [o.verdict.value for o in outcomes], "errors": [o.error for o in outcomes],
    }  # fmt: skip


FenceKey = tuple[str, str, int]


def fence_key(claim: Claim) -> FenceKey:
    return claim.id, claim.worker_id, claim.lock_version


def finish(
    conn: psycopg.Connection[Any], sql: str, outcomes: Sequence[Outcome], now: int, outbox: bool
) -> FinishReport:
    """Apply each outcome whose claim still holds its lease, in one statement, as if written one
    by one: an outcome repeating a claim (its fence) before it is stale, as the first cleared the
    lease; of outcomes of one notification under different fences, at most one holds it."""
    first: dict[FenceKey, Outcome] = {}
    for outcome in outcomes:
        first.setdefault(fence_key(outcome.claim), outcome)
    if not first:
        return FinishReport()
    params = finish_params(list(first.values()), now, outbox)
    rows = conn.execute(sql, params).fetchall()
    applied = {(nid, worker, version) for nid, worker, version in rows}
    stale = [
        o.claim.id
        for o in outcomes
        if first[fence_key(o.claim)] is not o or fence_key(o.claim) not in applied
    ]
    return FinishReport(applied=len(outcomes) - len(stale), stale=tuple(stale))


def renew(
    conn: psycopg.Connection[Any], sql: str, claims: Sequence[Claim], now: int, lease_ms: int
) -> list[str]:
    """Extend the leases still held; the ids of those lost (fenced out) are returned."""
    if not claims:
        return []
    params = {**fences(claims), "now": now, "lease": lease_ms}
    rows = conn.execute(sql, params).fetchall()
    held = {(nid, version) for nid, version in rows}
    return [claim.id for claim in claims if (claim.id, claim.lock_version) not in held]
