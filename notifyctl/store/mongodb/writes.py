"""The MongoDB store's write documents: the claim pipeline, the fenced outcomes, insert results.

Pure functions of their arguments (no I/O), so each lease rule is visible here in the form the
server executes it. Times the server compares later are expressions of its own clock (``at``, see
``clock``), never the caller's ``now``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from notifyctl.errors import StoreError
from notifyctl.model import (
    Claim,
    FinishReport,
    InsertResult,
    NewNotification,
    Notification,
    Outcome,
    Status,
    Verdict,
)
from notifyctl.store.mongodb import schema
from notifyctl.store.mongodb.clock import later

#: an aggregation expression evaluated by the server (a time: see ``clock``)
Expression = dict[str, Any]
EXHAUSTED_ERROR = "lease expired on the final attempt: its worker stopped mid-delivery"
HISTORY = {"$ifNull": ["$history", []]}
#: the history entry of a lease that expired under its worker, from the document's lease fields;
#: ``lock_version`` (not shown by ``Store.history``) tells the claim that took it over
EXPIRED_ENTRY = {
    "outcome": "lease_expired", "at": "$lock_expiry", "attempt": "$attempts",
    "worker": "$locked_by", "started_at": "$locked_at", "error": None,
    "lock_version": "$lock_version",
}  # fmt: skip


def claim_order(claim: Claim) -> tuple[int, int]:
    """Highest priority first, then earliest due: the order a worker delivers a batch in."""
    return -claim.notification.priority, claim.notification.scheduled_for


def fence(claim: Claim) -> dict[str, Any]:
    """The filter every write by a claim carries: it matches only while the claim holds."""
    return {"_id": claim.id, "locked_by": claim.worker_id, "lock_version": claim.lock_version}


def holds(doc: dict[str, Any] | None, claim: Claim) -> bool:
    return (
        doc is not None
        and doc.get("locked_by") == claim.worker_id
        and doc.get("lock_version") == claim.lock_version
    )


def claim_update(
    worker_id: str, at: Expression, lease_ms: int, outbox: bool = False
) -> list[dict[str, Any]]:
    """One atomic pipeline update for a due notification: a claim when it has attempts left
    (status pending, a lease from ``at`` (the server's now) for ``lease_ms``, ``attempts`` and
    ``lock_version`` + 1); otherwise, its last worker having died mid-delivery, ``dead`` with the
    lease cleared (and, with ``outbox``, its dead letter marked for publishing)."""
    exhausted = "$_exhausted"
    leased = {"$ne": [{"$type": "$locked_by"}, "missing"]}  # a due lease is an expired one
    expiry = later(at, lease_ms)

    def either(when_exhausted: Any, when_claimed: Any) -> dict[str, Any]:
        return {"$cond": [exhausted, when_exhausted, when_claimed]}

    dead_letter = {"dead_letter_at": either(at, "$$REMOVE")} if outbox else {}
    return [
        {"$set": {"_exhausted": {"$gte": ["$attempts", "$max_attempts"]}}},
        {
            "$set": {
                **dead_letter,
                "status": either(Status.DEAD.value, Status.PENDING.value),
                "last_error": either(EXHAUSTED_ERROR, "$last_error"),
                "locked_by": either("$$REMOVE", {"$literal": worker_id}),
                "locked_at": either("$$REMOVE", at),
                "lock_expiry": either("$$REMOVE", expiry),
                "available_at": either("$available_at", expiry),
                "attempts": either("$attempts", {"$add": ["$attempts", 1]}),
                "lock_version": either("$lock_version", {"$add": ["$lock_version", 1]}),
                "history": {
                    "$cond": [leased, {"$concatArrays": [HISTORY, [EXPIRED_ENTRY]]}, HISTORY]
                },
                "updated_at": at,
            }
        },
        {"$unset": "_exhausted"},
    ]


def reclaimed(doc: dict[str, Any]) -> bool:
    """Whether the claim that produced ``doc`` took over an expired lease: its history then ends
    with that lease, one fencing token before the claim's."""
    history = doc.get("history") or []
    last = history[-1] if history else {}
    return bool(
        last.get("outcome") == "lease_expired"
        and last.get("lock_version") == doc["lock_version"] - 1
    )


def history_entry(outcome: Outcome, at: Expression) -> dict[str, Any] | None:
    """The history entry an applied outcome appends (the claim holds, so its fields are the
    document's); none for a release, which gives back an attempt that never began. Text is
    ``$literal``: an error quoting a receiver could start with ``$`` and would be read as a field
    path."""
    names = {Verdict.SENT: "sent", Verdict.RETRY: "retry", Verdict.DEAD: "dead",
             Verdict.INTERRUPTED: "interrupted", Verdict.SUPPRESSED: "suppressed",
             Verdict.DEFERRED: "deferred", Verdict.EXPIRED: "expired",
             Verdict.PAUSED: "paused"}  # fmt: skip
    if outcome.verdict not in names:
        return None
    n = outcome.claim.notification
    return {
        "outcome": names[outcome.verdict], "at": at, "attempt": n.attempts,
        "worker": {"$literal": outcome.claim.worker_id}, "error": {"$literal": outcome.error},
        "started_at": None if n.locked_at is None else schema.to_date(n.locked_at),
    }  # fmt: skip


def finish_update(
    outcome: Outcome, now: int, at: Expression, token: str, outbox: bool = False
) -> list[dict[str, Any]]:
    """The pipeline update recording one outcome at ``at`` (the server's now); the caller makes it
    conditional on the claim's fence. A retry is due ``retry_at - now`` (the backoff the worker
    chose, on its own clock) after ``at``. ``finish_token`` marks the notifications this call
    changed, to tell them from stale ones. With ``outbox``, a death marks its dead letter for
    publishing in the same update."""
    changes: dict[str, Any] = {"updated_at": at, "finish_token": token}
    entry = history_entry(outcome, at)
    if entry is not None:
        changes["history"] = {"$concatArrays": [HISTORY, [entry]]}
    if outcome.verdict == Verdict.SENT:
        changes.update(status=Status.SENT.value, sent_at=at)
    elif outcome.verdict == Verdict.RETRY:
        delay = (outcome.retry_at if outcome.retry_at is not None else now) - now
        status = Status.SCHEDULED if delay > 0 else Status.PENDING
        changes.update(
            status=status.value,
            available_at=later(at, delay),
            last_error={"$literal": outcome.error},
        )
    elif outcome.verdict == Verdict.DEAD:
        changes.update(status=Status.DEAD.value, last_error={"$literal": outcome.error})
        if outbox:
            changes["dead_letter_at"] = at
    elif outcome.verdict in (Verdict.SUPPRESSED, Verdict.EXPIRED):  # nothing attempted
        status = Status.SUPPRESSED if outcome.verdict == Verdict.SUPPRESSED else Status.EXPIRED
        changes.update(
            status=status.value,
            last_error={"$literal": outcome.error},
            attempts={"$add": ["$attempts", -1]},
        )
    elif outcome.verdict == Verdict.PAUSED:  # waits for the resume; the claim was no attempt
        # due at once on the resume (while leased, ``available_at`` was the lease's end)
        changes.update(
            status=Status.PAUSED.value, available_at=at, attempts={"$add": ["$attempts", -1]}
        )
    elif outcome.verdict in (Verdict.DEFERRED, Verdict.RELEASE):
        # quiet hours' end, or unstarted for want of room: due at retry_at, not an attempt
        delay = (outcome.retry_at if outcome.retry_at is not None else now) - now
        status = Status.SCHEDULED if delay > 0 else Status.PENDING
        changes.update(
            status=status.value,
            available_at=later(at, delay),
            attempts={"$add": ["$attempts", -1]},
        )
    else:  # INTERRUPTED: due at once, and the claim's attempt returned
        changes.update(
            status=Status.PENDING.value, available_at=at, attempts={"$add": ["$attempts", -1]}
        )
    return [{"$set": changes}, {"$unset": list(schema.LEASE_FIELDS)}]


def first_of_each_key(items: Sequence[NewNotification]) -> list[NewNotification]:
    """The items to send to the server: a repeat of a key seen earlier in the call is a replay."""
    seen: set[tuple[str, str]] = set()
    fresh = []
    for item in items:
        key = item.idempotency_key
        if key is None or (item.tenant_id, key) not in seen:
            fresh.append(item)
            if key is not None:
                seen.add((item.tenant_id, key))
    return fresh


def finish_report(outcomes: Sequence[Outcome], finished: Mapping[str, int]) -> FinishReport:
    """Which outcomes a finish applied. ``finished`` maps each notification this call changed to
    its ``lock_version``, which names the one claim whose outcome got through (a finish never
    changes it); every other outcome, including a repeat of the applied one, was stale."""
    credited: set[str] = set()
    stale: list[str] = []
    for outcome in outcomes:
        claim = outcome.claim
        if finished.get(claim.id) == claim.lock_version and claim.id not in credited:
            credited.add(claim.id)
        else:
            stale.append(claim.id)
    return FinishReport(applied=len(credited), stale=tuple(stale))


def insert_results(
    items: Sequence[NewNotification],
    refused: Collection[str],
    holders: Mapping[tuple[str, str | None], Notification],
    now: int,
) -> list[InsertResult]:
    """Results in order. ``refused``: ids the server turned away for an existing idempotency key;
    ``holders``: the stored notification of each such (tenant, key). An item repeating a key
    seen earlier in the same call is a replay of that earlier item."""
    holder_of = dict(holders)
    results = []
    for item in items:
        key = item.idempotency_key
        holder = holder_of.get((item.tenant_id, key)) if key is not None else None
        if holder is None:
            if item.id in refused:  # the holder vanished (retention) between insert and read
                raise StoreError(f"idempotency key {key!r} changed hands during insert; retry")
            notification = schema.to_notification(schema.new_document(item, now))
            if key is not None:
                holder_of[item.tenant_id, key] = notification
            results.append(InsertResult(notification, created=True))
        else:
            conflict = holder.request_hash != item.request_hash
            results.append(InsertResult(holder, created=False, conflict=conflict))
    return results


def refused_for_their_key(details: Mapping[str, Any]) -> list[int]:
    """The positions an unordered insert refused because their idempotency key exists.
    Any other failure (a write concern error, an id collision) is an error: nothing is guessed."""
    refused = []
    for error in details.get("writeErrors", []):
        if error.get("code") != 11000 or "idempotency_key" not in error.get("keyPattern", {}):
            raise StoreError(f"mongodb insert: {error.get('errmsg')}")
        refused.append(int(error["index"]))
    if details.get("writeConcernErrors"):
        raise StoreError(f"mongodb insert: write concern not met: {details['writeConcernErrors']}")
    return refused
