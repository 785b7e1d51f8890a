"""Plain data: notifications, claims and outcomes. No I/O here.

Times are integer milliseconds since the Unix epoch (wall clock): leases are shared between
processes and hosts, so a monotonic clock would be meaningless across them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Status(StrEnum):
    #: accepted and due (or overdue); may carry a live lease while a worker delivers it
    PENDING = "pending"
    #: accepted but not due yet (a future ``scheduled_for`` or a retry waiting for its backoff)
    SCHEDULED = "scheduled"
    #: delivered; terminal
    SENT = "sent"
    #: given up after ``max_attempts`` or a permanent error; terminal, can be replayed
    DEAD = "dead"
    #: cancelled before delivery; terminal
    CANCELLED = "cancelled"
    #: never sent by the recipient's say or for want of an address (a notification to a person,
    #: ``personalize.py``): opted out, channel not allowed, no destination; terminal, the reason
    #: in ``last_error``
    SUPPRESSED = "suppressed"
    #: past its ``expires_at`` before it was sent: never sent; terminal (issue 17)
    EXPIRED = "expired"
    #: held back by an operator's pause (``notifyctl/pauses.py``): not claimable, not terminal;
    #: a resume makes it ``pending`` or ``scheduled`` again, due when it was due
    PAUSED = "paused"


TERMINAL = frozenset(
    {Status.SENT, Status.DEAD, Status.CANCELLED, Status.SUPPRESSED, Status.EXPIRED}
)
#: the tenant of every notification made before tenants existed, and of a deployment without keys
DEFAULT_TENANT = "default"
#: the channels a notification may name; a deployment offers those it has settings for
#: (``notifyctl.channels.configured``)
CHANNELS = ("webhook", "log", "email", "apns", "fcm", "sms")
CLAIMABLE = (Status.PENDING.value, Status.SCHEDULED.value)
#: what a cancel may stop (unless a live worker holds its lease)
CANCELLABLE = (*CLAIMABLE, Status.PAUSED.value)


class Priority(IntEnum):
    LOW = 0
    NORMAL = 1
    HIGH = 2

    @classmethod
    def parse(cls, name: str) -> Priority:
        return cls[name.upper()]

    @property
    def label(self) -> str:
        return self.name.lower()


def now_ms() -> int:
    """The wall clock in integer milliseconds: the time base of every lease."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A validated request to send one notification, before the store has it."""

    id: str
    user_id: str
    channel: str
    to: str | None
    title: str | None
    body: str | None
    data: dict[str, Any]
    priority: Priority
    scheduled_for: int
    max_attempts: int
    idempotency_key: str | None
    request_hash: str
    created_at: int
    #: whose it is: the caller's key decides, never the request body
    tenant_id: str = DEFAULT_TENANT
    #: an HTML version of ``body``; only the email channel uses it (the HTML part of the email)
    html: str | None = None
    #: the message this notification is one channel (or device) of, when it was sent to a person
    #: by template (``fanout.py``); its siblings share it
    message_id: str | None = None
    #: the template rendered at delivery with the recipient's locale; None: the texts are given
    template: str | None = None
    #: the template's category, whose preferences the recipient's opt-outs are checked against
    category: str | None = None
    #: past this (epoch ms) it is worthless: never sent, ``expired`` (a delivery already begun
    #: completes); None: it never expires
    expires_at: int | None = None
    #: why it is stored already ``suppressed`` (the recipient opted out of its category or
    #: channel, or has no address for it): kept for the message's report, never claimed
    suppressed: str | None = None
    #: an operator's pause holds it back (``pauses.py``): stored ``paused`` until the resume
    paused: bool = False
    #: the W3C trace context of the request that made it (tracing on), continued at delivery
    traceparent: str | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    """A notification as the store holds it."""

    id: str
    user_id: str
    channel: str
    to: str | None
    title: str | None
    body: str | None
    data: dict[str, Any]
    priority: Priority
    status: Status
    scheduled_for: int
    available_at: int
    attempts: int
    max_attempts: int
    last_error: str | None
    idempotency_key: str | None
    request_hash: str
    locked_by: str | None
    locked_at: int | None
    lock_expiry: int | None
    lock_version: int
    created_at: int
    updated_at: int
    sent_at: int | None = None
    #: times an operator put it back from dead (``notifyctl dlq replay``)
    replays: int = 0
    tenant_id: str = DEFAULT_TENANT
    #: an HTML version of ``body``; only the email channel uses it (the HTML part of the email)
    html: str | None = None
    #: the message this notification is one channel (or device) of, when it was sent to a person
    #: by template (``fanout.py``); its siblings share it
    message_id: str | None = None
    #: the template rendered at delivery with the recipient's locale; None: the texts are given
    template: str | None = None
    #: the template's category, whose preferences the recipient's opt-outs are checked against
    category: str | None = None
    #: past this (epoch ms) it is worthless: never sent, ``expired`` (a delivery already begun
    #: completes); None: it never expires
    expires_at: int | None = None
    #: the W3C trace context of the request that made it (``tracing.py``); None: not traced
    traceparent: str | None = None

    def is_locked(self, now: int) -> bool:
        return (
            self.locked_by is not None and self.lock_expiry is not None and self.lock_expiry > now
        )


#: ``(notification id, lock_version)``: one claim, as the worker's bookkeeping keys it
ClaimKey = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Claim:
    """A lease won by a worker. ``lock_version`` is the fencing token of every later write."""

    notification: Notification
    worker_id: str
    lock_version: int
    lock_expiry: int
    #: True when this claim took over a lease that had expired (its worker stopped mid-delivery)
    reclaimed: bool = False

    @property
    def id(self) -> str:
        return self.notification.id

    @property
    def key(self) -> ClaimKey:
        """Which claim this is: a worker can hold an id twice (its lease lapsed and it claimed it
        again), so what it keeps in memory about a claim is keyed by id and fencing token."""
        return self.notification.id, self.lock_version


class Verdict(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    DEAD = "dead"
    #: given back unstarted (shutdown, or no room for its destination): due again at
    #: ``retry_at`` (at once without one), and the claim's attempt is returned
    RELEASE = "release"
    #: begun, then cut short by our own shutdown: due again at once, the attempt returned (a
    #: deploy must never be what exhausts a notification), and an ``interrupted`` history entry
    INTERRUPTED = "interrupted"
    #: not sent, by the recipient's say or for want of an address: ``suppressed`` with the reason
    #: as ``error``, the claim's attempt given back (nothing was attempted)
    SUPPRESSED = "suppressed"
    #: inside the recipient's quiet hours: due again at ``retry_at`` (the window's end), the
    #: attempt given back, a ``deferred`` history entry saying until when
    DEFERRED = "deferred"
    #: claimed after its ``expires_at``: ``expired``, never sent, the claim's attempt given back
    EXPIRED = "expired"
    #: claimed while a pause holds it back: ``paused``, the attempt given back, a ``paused``
    #: history entry naming the pause (as ``error``)
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a worker decided about one claim; written fenced by (worker_id, lock_version)."""

    claim: Claim
    verdict: Verdict
    error: str | None = None
    retry_at: int | None = None


@dataclass(frozen=True, slots=True)
class FinishReport:
    applied: int = 0
    #: writes refused because the lease was taken over (the fencing token did not match)
    stale: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class InsertResult:
    notification: Notification
    #: True when this call created it; False on an idempotent replay of the same request
    created: bool
    #: True when the idempotency key exists with a different request body
    conflict: bool = False


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    id: str
    worker_number: int
    host: str
    pid: int
    started_at: int
    last_heartbeat: int
    in_flight: int
    processed: int
    #: the worker's CPU (percent of every core of its host) and resident memory, as of its last
    #: heartbeat (0 before the first)
    cpu_percent: float = 0.0
    rss_bytes: int = 0


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One entry of a notification's history: an attempt that ended, or a replay."""

    #: ``sent``, ``retry``, ``dead``, ``interrupted`` (its worker stopped gracefully mid-delivery;
    #: the attempt was given back), ``lease_expired`` (its worker died) or ``replayed``
    outcome: str
    #: when it ended (for ``lease_expired``, when the lease ran out)
    at: int
    #: the attempt number it was (for ``replayed``: the attempts used before the replay)
    attempt: int
    worker: str | None
    started_at: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class BacklogRow:
    """Undelivered notifications of one priority and channel, as ``Store.backlog`` counts them."""

    priority: Priority
    channel: str
    #: due now and not leased by a live worker (waiting for a worker)
    due: int
    #: due later: a future ``scheduled_for`` or a retry waiting for its backoff
    scheduled: int
    #: leased by a live worker (being delivered)
    locked: int


@dataclass
class WorkerStats:
    """A worker's counters since it started: the source of ``/stats`` and its metrics."""

    claimed: int = 0
    #: of ``claimed``, those a broker wake-up named (the rest the store sweep found)
    claimed_by_wakeup: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0
    #: deliveries begun and cut short by this worker's own stop (their attempts given back)
    interrupted: int = 0
    #: notifications to a person not sent by the recipient's say or for want of an address
    suppressed: int = 0
    #: deliveries put off to the end of the recipient's quiet hours (not attempts)
    deferred: int = 0
    #: notifications claimed past their ``expires_at``: never sent
    expired: int = 0
    stale_writes: int = 0
    leases_lost: int = 0
    #: claims that took over a lease another worker had let expire
    reclaimed: int = 0
    store_errors: int = 0
    #: notifications this worker's claims found out of attempts (their last worker died
    #: mid-delivery) and made dead
    buried: int = 0
    #: wake-ups whose claim was lost: already done, cancelled, not due or leased elsewhere
    wakeups_lost: int = 0
    watchdog_reconnects: int = 0
    #: how long the store sweep rests after its latest claim: POLL_INTERVAL_MS once a broker
    #: is connected, shorter (adaptive) without one
    sweep_rest_ms: int = 0
    #: outcomes recorded, by (channel, outcome) with outcome ``sent``, ``retried`` or ``dead``
    by_channel: dict[tuple[str, str], int] = field(default_factory=dict)
    #: deliveries a provider refused for the address itself (an unregistered device token,
    #: an invalid number), by channel: the recipients' addresses to clean up
    invalid_addresses: dict[str, int] = field(default_factory=dict)

    @property
    def processed(self) -> int:
        return self.sent + self.retried + self.dead

    def success_rate(self) -> float | None:
        """Percent of processed attempts that were delivered; None before the first."""
        if not self.processed:
            return None
        return round(100.0 * self.sent / self.processed, 2)


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """The queue as one read of the store saw it (``Store.counts`` and ``Store.oldest_due``)."""

    counts: dict[str, int]
    oldest_due_at: int | None
    taken_at: int

    @property
    def oldest_due_age_s(self) -> float:
        """How long the longest-waiting due notification had waited; 0 when none was due."""
        if self.oldest_due_at is None:
            return 0.0
        return max(self.taken_at - self.oldest_due_at, 0) / 1000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A dead notification whose dead letter a publisher has leased (``Store.take_dead_letters``)
    to send to the broker's dead-letter exchange; ``token`` names that lease, so clearing it
    after the broker confirmed cannot clear a later death's dead letter."""

    notification: Notification
    token: str

    @property
    def id(self) -> str:
        return self.notification.id
