"""Retry policy: which delivery results retry, and when. Pure; randomness and time are passed in."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from notifyctl.model import Verdict


class ResultKind(StrEnum):
    OK = "ok"
    #: may succeed later: timeouts, connection errors, 408, 429, 5xx
    RETRYABLE = "retryable"
    #: will not succeed by trying again: other 4xx, a malformed destination
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    kind: ResultKind
    error: str | None = None
    #: the receiver's ``Retry-After``, when it sent one
    retry_after_ms: int | None = None
    #: the provider said the address itself is no good (an APNs token Unregistered, an FCM
    #: token UNREGISTERED, an invalid number): worth telling whoever keeps the addresses
    invalid_address: bool = False


OK = DeliveryResult(ResultKind.OK)


def classify_http_status(status: int) -> ResultKind:
    if 200 <= status < 300:
        return ResultKind.OK
    if status in (408, 429) or status >= 500:
        return ResultKind.RETRYABLE
    return ResultKind.PERMANENT


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_ms: int = 1_000
    max_ms: int = 300_000
    #: a receiver's Retry-After is honoured up to this long
    retry_after_cap_ms: int = 3_600_000

    def backoff_ms(self, attempt: int, rand: float) -> int:
        """Exponential backoff with "equal jitter": half fixed, half random.

        ``attempt`` is the attempt that just failed (1 for the first); ``rand`` is uniform
        in [0, 1).
        Half of the delay stays fixed so a retry never comes back at once; the random half spreads
        a burst of failures so they do not return together.
        """
        ceiling: int = min(self.max_ms, self.base_ms * 2 ** max(attempt - 1, 0))
        return ceiling // 2 + int(rand * (ceiling - ceiling // 2))

    def next_attempt_at(
        self, attempt: int, now: int, rand: float, retry_after_ms: int | None = None
    ) -> int:
        delay = self.backoff_ms(attempt, rand)
        if retry_after_ms is not None:
            delay = max(delay, min(retry_after_ms, self.retry_after_cap_ms))
        return now + delay


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    error: str | None = None
    retry_at: int | None = None


def decide(
    result: DeliveryResult,
    attempts: int,
    max_attempts: int,
    now: int,
    policy: RetryPolicy,
    rand: float,
) -> Decision:
    """What becomes of a notification after a delivery attempt.

    ``attempts`` already counts this attempt (the claim incremented it).
    """
    if result.kind is ResultKind.OK:
        return Decision(Verdict.SENT)
    if result.kind is ResultKind.PERMANENT:
        return Decision(Verdict.DEAD, f"permanent: {result.error}")
    if attempts >= max_attempts:
        return Decision(Verdict.DEAD, f"gave up after {attempts} attempts: {result.error}")
    retry_at = policy.next_attempt_at(attempts, now, rand, result.retry_after_ms)
    return Decision(Verdict.RETRY, result.error, retry_at)


@dataclass
class StoreBackoff:
    """How long a worker waits before calling a failing store again: doubling from ``first_s``
    to ``max_s``, with equal jitter, so a store that comes back is not met by every worker of a
    fleet at the same instant, and a store that stays down is not called twice a second by each.
    ``succeeded`` starts the next outage from ``first_s`` again."""

    first_s: float = 0.1
    max_s: float = 5.0
    rand: Callable[[], float] = random.random
    failures: int = field(default=0, init=False)

    def next_delay_s(self) -> float:
        ceiling = min(self.max_s, self.first_s * 2.0**self.failures)
        self.failures += 1
        return ceiling / 2 + self.rand() * ceiling / 2

    def succeeded(self) -> None:
        self.failures = 0
