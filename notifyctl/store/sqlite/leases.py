"""The SQLite store's claims, renewals and fenced outcomes: the rules of ``notifyctl.lease`` in SQL.

Plain functions on a connection, like ``ops``: ``SqliteStore`` decides which transaction
each runs in (a claim's candidates are found and leased inside one write transaction, so no
other process can take the same row in between). What a worker writes under its lease (renew,
finish) is fenced on ``(locked_by, lock_version)``, so a worker whose lease was taken over writes
nothing.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from notifyctl.claim_order import claim_levels
from notifyctl.model import Claim, FinishReport, Notification, Outcome, Priority, Verdict
from notifyctl.store.sqlite.schema import COLUMNS, row_to_notification

#: one band of ``claim_order``: (priority, due_by, due_after, limit); one index range scan
CLAIM_CANDIDATES = (
    "SELECT id, attempts, max_attempts, locked_by IS NOT NULL, available_at FROM notifications"
    " WHERE status IN ('pending', 'scheduled') AND priority = ? AND available_at <= ?"
    " AND available_at > ? ORDER BY available_at LIMIT ?"
)
#: ``due_after`` of a band with no lower bound
EVER = -(1 << 62)
FENCE = " WHERE id = ? AND locked_by = ? AND lock_version = ?"
NAMED_FENCE = " WHERE id = :id AND locked_by = :worker AND lock_version = :version"
RELEASE_LEASE = "locked_by = NULL, locked_at = NULL, lock_expiry = NULL"


def history_entry(outcome: str, at: str, error: str) -> str:
    """SQL appending one entry about the attempt the row's current lease stands for."""
    return (
        f"history = json_insert(history, '$[#]', json_object('outcome', {outcome}, 'at', {at},"
        f" 'attempt', attempts, 'worker', locked_by, 'started_at', locked_at, 'error', {error}))"
    )


EXPIRED_ENTRY = history_entry("'lease_expired'", "lock_expiry", "NULL")
#: a lease that expired is history; a row with no lease (nothing expired) gets no entry
EXPIRED_ONLY_IF_LEASED = (
    f"history = CASE WHEN locked_by IS NULL THEN history"
    f" ELSE {EXPIRED_ENTRY.removeprefix('history = ')} END"
)
SENT_ENTRY = history_entry("'sent'", ":now", "NULL")
RETRY_ENTRY = history_entry("'retry'", ":now", ":error")
DEAD_ENTRY = history_entry("'dead'", ":now", ":error")
INTERRUPTED_ENTRY = history_entry("'interrupted'", ":now", ":error")
SUPPRESSED_ENTRY = history_entry("'suppressed'", ":now", ":error")
DEFERRED_ENTRY = history_entry("'deferred'", ":now", ":error")
EXPIRED_AT_CLAIM_ENTRY = history_entry("'expired'", ":now", ":error")
PAUSED_ENTRY = history_entry("'paused'", ":now", ":error")
FINISH_SQL = {
    Verdict.SENT: f"UPDATE notifications SET status = 'sent', sent_at = :now, {SENT_ENTRY},"
    f" {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    Verdict.RETRY: "UPDATE notifications SET status = CASE WHEN :retry_at > :now THEN 'scheduled'"
    f" ELSE 'pending' END, available_at = :retry_at, last_error = :error, {RETRY_ENTRY},"
    f" {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    Verdict.DEAD: f"UPDATE notifications SET status = 'dead', last_error = :error, {DEAD_ENTRY},"
    f" {RELEASE_LEASE}, updated_at = :now, dead_letter_at = CASE WHEN :outbox THEN :now END"
    + NAMED_FENCE,
    # given back unstarted: due again at :retry_at (at once unless the worker said later)
    Verdict.RELEASE: "UPDATE notifications SET status = CASE WHEN :retry_at > :now"
    " THEN 'scheduled' ELSE 'pending' END, available_at = :retry_at,"
    f" attempts = attempts - 1, {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    # the history entry is written before the attempt is given back (SET reads the old row)
    Verdict.INTERRUPTED: "UPDATE notifications SET status = 'pending', available_at = :now,"
    f" attempts = attempts - 1, {INTERRUPTED_ENTRY}, {RELEASE_LEASE}, updated_at = :now"
    + NAMED_FENCE,
    # a notification to a person the recipient's say stopped: nothing was attempted
    Verdict.SUPPRESSED: f"UPDATE notifications SET status = 'suppressed', last_error = :error,"
    f" {SUPPRESSED_ENTRY}, attempts = attempts - 1, {RELEASE_LEASE}, updated_at = :now"
    + NAMED_FENCE,
    # quiet hours: due again at their end, not an attempt
    Verdict.DEFERRED: "UPDATE notifications SET status = CASE WHEN :retry_at > :now"
    " THEN 'scheduled' ELSE 'pending' END, available_at = :retry_at,"
    f" {DEFERRED_ENTRY}, attempts = attempts - 1, {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
    # claimed past its expiry: never sent, the claim was no attempt
    Verdict.EXPIRED: "UPDATE notifications SET status = 'expired', last_error = :error,"
    f" {EXPIRED_AT_CLAIM_ENTRY}, attempts = attempts - 1, {RELEASE_LEASE}, updated_at = :now"
    + NAMED_FENCE,
    # claimed while a pause holds it back: waits for the resume, the claim was no attempt
    # (due at once on the resume: while leased, ``available_at`` was the lease's end)
    Verdict.PAUSED: f"UPDATE notifications SET status = 'paused', available_at = :now,"
    f" {PAUSED_ENTRY},"
    f" attempts = attempts - 1, {RELEASE_LEASE}, updated_at = :now" + NAMED_FENCE,
}


#: stays well under SQLite's limit on bound parameters per statement
MAX_VARIABLES = 5_000
#: the names in ``FINISH_SQL``, in the order ``finish_row`` binds them: positional binding of a
#: tuple costs a third of binding seven names from a dict per row (finish 18.9 -> 15.4 µs a row)
FINISH_NAMES = ("now", "id", "worker", "version", "retry_at", "error", "outbox")


def numbered(sql: str) -> tuple[str, int]:
    """``sql`` with ``:name`` as ``?N`` (N its place in ``FINISH_NAMES``), and how many of the
    row's values it binds (SQLite counts up to the highest N used)."""
    used = 0
    for place, name in enumerate(FINISH_NAMES, 1):
        sql, found = re.subn(rf":{name}\b", f"?{place}", sql)
        used = place if found else used
    return sql, used


#: each verdict's statement with positional parameters, and how many of them it binds
FINISH_POSITIONAL = {verdict: numbered(sql) for verdict, sql in FINISH_SQL.items()}


def fence_of(claim: Claim) -> tuple[str | None, int]:
    return claim.worker_id, claim.lock_version


def finish_row(outcome: Outcome, now: int, outbox: bool = False) -> tuple[Any, ...]:
    """``outbox``: a death also marks its dead letter for publishing (see ``Store``)."""
    claim, retry_at = outcome.claim, outcome.retry_at
    return (now, claim.notification.id, claim.worker_id, claim.lock_version,
            now if retry_at is None else retry_at, outcome.error, outbox)  # fmt: skip


def anything_due(conn: sqlite3.Connection, now: int) -> bool:
    """Whether a claim would find anything: a read, so the caller needs no write lock for it."""
    return any(
        conn.execute(CLAIM_CANDIDATES, (int(priority), now, EVER, 1)).fetchone()
        for priority in (Priority.HIGH, Priority.NORMAL, Priority.LOW)
    )


def candidates(
    conn: sqlite3.Connection, limit: int, now: int, ageing_ms: int = 0
) -> tuple[dict[str, int], list[str]]:
    """Claimable ids in ``claim_order`` (each with whether it carries an expired lease), and the
    exhausted ids met on the way (they take no slot)."""
    claimable: dict[str, int] = {}
    exhausted: list[str] = []
    for bands in claim_levels(now, ageing_ms):
        wanted = limit - len(claimable)
        if wanted <= 0:
            break
        rows: list[tuple[str, int, int, int, int]] = []
        for band in bands:
            after = EVER if band.due_after is None else band.due_after
            rows += conn.execute(CLAIM_CANDIDATES, (int(band.priority), band.due_by, after, wanted))
        rows.sort(key=lambda row: row[4])  # within a level, the longest waiting first
        for nid, attempts, max_attempts, expired_lease, _ in rows:
            if attempts >= max_attempts:
                exhausted.append(nid)
            elif len(claimable) < limit:
                claimable[nid] = expired_lease
    return claimable, exhausted


def bury(
    conn: sqlite3.Connection, ids: Sequence[str], now: int, outbox: bool = False
) -> list[Notification]:
    """Make due notifications out of attempts ``dead`` (their last worker died); ``outbox``:
    mark their dead letters for publishing."""
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "UPDATE notifications SET status = 'dead', updated_at = ?, last_error ="
        " 'lease expired on the final attempt: its worker stopped mid-delivery',"
        f" {EXPIRED_ONLY_IF_LEASED}, {RELEASE_LEASE}, dead_letter_at = CASE WHEN ? THEN ? END"
        f" WHERE id IN ({marks}) RETURNING {COLUMNS}",
        (now, outbox, now, *ids),
    ).fetchall()
    return [row_to_notification(row) for row in rows]


def claimable_among(conn: sqlite3.Connection, ids: Sequence[str], now: int) -> dict[str, int]:
    """Which of ``ids`` are due and unleased (or leased expired: mapped to 1)."""
    marks = ",".join("?" * len(ids))
    return dict(
        conn.execute(
            f"SELECT id, locked_by IS NOT NULL FROM notifications WHERE id IN ({marks})"
            " AND status IN ('pending', 'scheduled') AND available_at <= ?"
            " AND attempts < max_attempts",
            (*ids, now),
        ).fetchall()
    )


def lease(
    conn: sqlite3.Connection, ids: dict[str, int], worker_id: str, now: int, expiry: int
) -> list[Claim]:
    """Lease rows already known to be claimable, inside the caller's write transaction.

    ``ids`` maps each id to whether it still carries an expired lease (a takeover).
    """
    if not ids:
        return []
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "UPDATE notifications SET status = 'pending', locked_by = ?, locked_at = ?,"
        " lock_expiry = ?, available_at = ?, lock_version = lock_version + 1,"
        f" attempts = attempts + 1, updated_at = ?, {EXPIRED_ONLY_IF_LEASED}"
        f" WHERE id IN ({marks}) RETURNING {COLUMNS}",
        (worker_id, now, expiry, expiry, now, *ids),
    ).fetchall()
    claims = []
    for row in rows:
        n = row_to_notification(row)
        claims.append(Claim(n, worker_id, n.lock_version, expiry, bool(ids[n.id])))
    return claims


def renew(conn: sqlite3.Connection, claims: Sequence[Claim], now: int, expiry: int) -> list[str]:
    """Extend the leases still held; the ids of those lost (fenced out) are returned."""
    lost: list[str] = []
    for claim in claims:
        changed = conn.execute(
            "UPDATE notifications SET lock_expiry = ?, available_at = ?, updated_at = ?" + FENCE,
            (expiry, expiry, now, claim.id, claim.worker_id, claim.lock_version),
        ).rowcount
        if not changed:
            lost.append(claim.id)
    return lost


def finish(
    conn: sqlite3.Connection, outcomes: Sequence[Outcome], now: int, outbox: bool = False
) -> FinishReport:
    """Apply each outcome whose claim still holds its lease; report the others as stale.
    ``outbox``: a death also marks its dead letter for publishing."""
    by_verdict: dict[Verdict, list[tuple[Any, ...]]] = {}
    stale: list[str] = []
    holders = lease_holders(conn, [o.claim.id for o in outcomes])
    for outcome in outcomes:  # in order, as if each were written on its own
        if holders.get(outcome.claim.id) != fence_of(outcome.claim):
            stale.append(outcome.claim.id)
            continue
        holders[outcome.claim.id] = (None, outcome.claim.lock_version)  # lease cleared
        by_verdict.setdefault(outcome.verdict, []).append(finish_row(outcome, now, outbox))
    for verdict, rows in by_verdict.items():
        # The SQL is fenced too: the check above only spares us a statement per row.
        sql, used = FINISH_POSITIONAL[verdict]
        conn.executemany(sql, [row[:used] for row in rows] if used < len(FINISH_NAMES) else rows)
    return FinishReport(applied=len(outcomes) - len(stale), stale=tuple(stale))


def lease_holders(
    conn: sqlite3.Connection, ids: Sequence[str]
) -> dict[str, tuple[str | None, int]]:
    """``(locked_by, lock_version)`` of each of ``ids`` that exists; absent ids are left out."""
    holders: dict[str, tuple[str | None, int]] = {}
    for start in range(0, len(ids), MAX_VARIABLES):
        chunk = ids[start : start + MAX_VARIABLES]
        marks = ",".join("?" * len(chunk))
        for nid, locked_by, version in conn.execute(
            f"SELECT id, locked_by, lock_version FROM notifications WHERE id IN ({marks})",
            chunk,
        ):
            holders[nid] = (locked_by, version)
    return holders
