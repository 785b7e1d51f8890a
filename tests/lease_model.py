"""The claim/lease rules as a reference model: what a store must do, as pure functions of a row.

No production code calls these: each store adapter implements the rules atomically in its own
language (SQL, MongoDB pipelines), stated in ``notifyctl.lease``'s docstring and the store port.
The claim state machine (tests/test_claim_state_machine.py) uses this model as its oracle after
each step, on every adapter: which rows a claim may take, which a claim must bury, which writes
are fenced out, and what an applied outcome or a replay leaves behind.
"""

from __future__ import annotations

from dataclasses import replace

from notifyctl.model import CLAIMABLE, TERMINAL, Claim, Notification, Outcome, Status, Verdict

#: what a worker's stop records for a delivery it interrupted mid-way (``interrupted`` in
#: ``worker/verdicts.py``): due again at once with its attempt given back, so a deploy never
#: exhausts a notification
INTERRUPTED_ERROR = "interrupted: the worker stopped before the delivery finished"


def interrupted(claim: Claim, now: int) -> Outcome:
    """The outcome a stopping worker writes for a delivery it cut short."""
    return Outcome(claim, Verdict.INTERRUPTED, INTERRUPTED_ERROR)


def lease_is_live(row: Notification, now: int) -> bool:
    """A lease holds until its expiry, exclusive: at the expiry another worker may take it."""
    return row.locked_by is not None and row.lock_expiry is not None and row.lock_expiry > now


def is_due_and_free(row: Notification, now: int) -> bool:
    return row.status in CLAIMABLE and row.available_at <= now and not lease_is_live(row, now)


def is_claimable(row: Notification, now: int) -> bool:
    """Pending or scheduled (not terminal, not paused), due, under no live lease, and with
    attempts left."""
    return is_due_and_free(row, now) and row.attempts < row.max_attempts


def is_exhausted(row: Notification, now: int) -> bool:
    """Due, unleased and out of attempts: its last claim's worker never recorded an outcome.
    A claim makes it ``dead`` rather than give a poison message one more try."""
    return is_due_and_free(row, now) and row.attempts >= row.max_attempts


def write_is_fenced_out(row: Notification, worker_id: str, lock_version: int) -> bool:
    """A write by a claim is refused unless the row still carries that claim's lease."""
    return row.locked_by != worker_id or row.lock_version != lock_version


def accepts(row: Notification, claim: Claim) -> bool:
    return not write_is_fenced_out(row, claim.worker_id, claim.lock_version)


def unleased(row: Notification) -> Notification:
    return replace(row, locked_by=None, locked_at=None, lock_expiry=None)


def after_outcome(row: Notification, outcome: Outcome, now: int) -> Notification:
    """The row once an accepted outcome is applied at ``now``."""
    row = unleased(row)
    verdict, error = outcome.verdict, outcome.error
    if verdict is Verdict.SENT:
        return replace(row, status=Status.SENT)
    if verdict is Verdict.DEAD:
        return replace(row, status=Status.DEAD, last_error=error)
    if verdict is Verdict.RETRY:
        due = now if outcome.retry_at is None else outcome.retry_at
        status = Status.SCHEDULED if due > now else Status.PENDING
        return replace(row, status=status, available_at=due, last_error=error)
    if verdict is Verdict.RELEASE:  # unstarted: due at retry_at (default at once), attempt back
        due = now if outcome.retry_at is None else outcome.retry_at
        status = Status.SCHEDULED if due > now else Status.PENDING
        return replace(row, status=status, available_at=due, attempts=row.attempts - 1)
    if verdict is Verdict.INTERRUPTED:  # due at once, the attempt returned
        return replace(row, status=Status.PENDING, available_at=now, attempts=row.attempts - 1)
    if verdict is Verdict.SUPPRESSED:  # the recipient's say: terminal, nothing attempted
        return replace(row, status=Status.SUPPRESSED, last_error=error, attempts=row.attempts - 1)
    if verdict is Verdict.EXPIRED:  # claimed too late: terminal, nothing attempted
        return replace(row, status=Status.EXPIRED, last_error=error, attempts=row.attempts - 1)
    if verdict is Verdict.DEFERRED:  # quiet hours: due at their end, not an attempt
        due = now if outcome.retry_at is None else outcome.retry_at
        status = Status.SCHEDULED if due > now else Status.PENDING
        return replace(row, status=status, available_at=due, attempts=row.attempts - 1)
    if verdict is Verdict.PAUSED:  # a pause holds it: waits for the resume, due at once then
        return replace(row, status=Status.PAUSED, available_at=now, attempts=row.attempts - 1)
    raise AssertionError(f"the model has no rule for a {verdict} outcome yet: add it here")


def after_replay(row: Notification, now: int) -> Notification:
    """A dead row put back: pending, due now, attempts reset, one more replay."""
    return replace(
        unleased(row), status=Status.PENDING, available_at=now, attempts=0, replays=row.replays + 1
    )


def after_resume(row: Notification, now: int) -> Notification:
    """A paused row let go: due when it was due."""
    return replace(row, status=Status.SCHEDULED if row.available_at > now else Status.PENDING)


def essentials(row: Notification) -> tuple[object, ...]:
    """What the rules decide about a row: compared between the model and a store.
    A terminal row's due time means nothing, so it is left out."""
    due = None if row.status in TERMINAL else row.available_at
    lease = (row.locked_by, row.lock_expiry, row.lock_version)
    return (row.status, due, row.attempts, lease, row.replays)
