"""The verdicts a worker reaches without a receiver's answer: a channel it lacks, a notification
claimed past its expiry, its own stop, and what a recipient's say makes of a notification to a
person. Pure functions of a claim (``worker.py`` records them)."""

from __future__ import annotations

from notifyctl.model import CHANNELS, Claim, Notification, Outcome, Verdict
from notifyctl.personalize import Defer, Fail, Personalized, Ready, Suppress
from notifyctl.retry import DeliveryResult, ResultKind
from notifyctl.shapes import iso_ms


def missing_channel(name: str, worker_id: str) -> DeliveryResult:
    """A channel this worker has not got: retried when it is a channel notifyctl knows (another
    worker, or this one after its settings are fixed, may have it), dead when it is none."""
    if name in CHANNELS:
        return DeliveryResult(
            ResultKind.RETRYABLE,
            f"the {name} channel is not configured on worker {worker_id}: set its settings"
            " (docs/channels.md) and restart the worker",
        )
    return DeliveryResult(ResultKind.PERMANENT, f"unknown channel {name!r}")


def expired(claim: Claim) -> Outcome:
    """Claimed past its ``expires_at``: never sent, and the claim was no attempt."""
    at = iso_ms(claim.notification.expires_at)
    return Outcome(claim, Verdict.EXPIRED, f"expired at {at} before it could be sent")


def before_expiry(n: Notification, due: int | None) -> int | None:
    """A retry or deferral is due no later than the notification's expiry: claimed then, it
    ends ``expired`` at once rather than waiting in the queue for a time it cannot use."""
    if due is None or n.expires_at is None:
        return due
    return min(due, n.expires_at)


def interrupted(claim: Claim, started: bool) -> Outcome:
    """Our own stop cut the delivery short (or it never began)."""
    if not started:
        return Outcome(claim, Verdict.RELEASE)
    # Our own stop is no verdict on the notification: the attempt is given back, so a deploy
    # never dead-letters anything, and the history says truthfully what happened.
    error = "interrupted: the worker stopped before the delivery finished"
    return Outcome(claim, Verdict.INTERRUPTED, error)


def person_outcome(
    claim: Claim, resolved: Personalized | None
) -> Notification | Outcome | DeliveryResult:
    """A notification to a person as its recipient and template make it now: the notification
    to deliver, an outcome that stands instead (suppressed, deferred to the quiet hours' end),
    or a result to decide as a delivery's (a render error is permanent; a recipient or template
    that could not be loaded, retried)."""
    if isinstance(resolved, Ready):
        return resolved.notification
    if isinstance(resolved, Suppress):
        return Outcome(claim, Verdict.SUPPRESSED, resolved.reason)
    if isinstance(resolved, Defer):
        error = f"quiet hours: deferred until {iso_ms(resolved.until)}"
        due = before_expiry(claim.notification, resolved.until)
        return Outcome(claim, Verdict.DEFERRED, error, due)
    if isinstance(resolved, Fail):
        return DeliveryResult(ResultKind.PERMANENT, resolved.error)
    unloaded = "its recipient and template could not be loaded (the store failed)"
    return DeliveryResult(ResultKind.RETRYABLE, unloaded)
