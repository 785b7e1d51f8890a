"""Retry policy: which results retry, how long to wait, and when to give up. Pure."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifyctl.model import Verdict
from notifyctl.retry import (
    OK,
    DeliveryResult,
    ResultKind,
    RetryPolicy,
    StoreBackoff,
    classify_http_status,
    decide,
)

NOW = 1_700_000_000_000
#: the largest float below 1: the top of rand's range
RAND_MAX = math.nextafter(1.0, 0.0)


# --- classifying HTTP statuses ---------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_ok(status: int) -> None:
    assert classify_http_status(status) is ResultKind.OK


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504, 599])
def test_408_429_and_5xx_are_retryable(status: int) -> None:
    assert classify_http_status(status) is ResultKind.RETRYABLE


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 413, 422, 451])
def test_other_4xx_are_permanent(status: int) -> None:
    assert classify_http_status(status) is ResultKind.PERMANENT


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
def test_3xx_is_permanent_because_redirects_are_not_followed(status: int) -> None:
    assert classify_http_status(status) is ResultKind.PERMANENT


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_ceiling_doubles_with_each_attempt() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=1_000_000)
    assert [policy.backoff_ms(attempt, 0.0) for attempt in range(1, 6)] == [
        500,
        1_000,
        2_000,
        4_000,
        8_000,
    ]
    assert [policy.backoff_ms(attempt, RAND_MAX) for attempt in range(1, 6)] == [
        999,
        1_999,
        3_999,
        7_999,
        15_999,
    ]


def test_backoff_with_rand_zero_is_half_the_ceiling() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    assert policy.backoff_ms(1, 0.0) == 500
    assert policy.backoff_ms(3, 0.0) == 2_000


def test_backoff_with_rand_near_one_stays_below_or_at_the_ceiling() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    assert 1_000 * 0.99 < policy.backoff_ms(1, RAND_MAX) <= 1_000
    assert 4_000 * 0.99 < policy.backoff_ms(3, RAND_MAX) <= 4_000


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.5, 0.75, RAND_MAX])
@pytest.mark.parametrize("attempt", [1, 2, 5, 9])
def test_backoff_stays_between_half_the_ceiling_and_the_ceiling(attempt: int, rand: float) -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    ceiling = min(300_000, 1_000 * 2 ** (attempt - 1))
    assert ceiling / 2 <= policy.backoff_ms(attempt, rand) <= ceiling


def test_backoff_is_capped_at_max_ms() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=10_000)
    assert policy.backoff_ms(10, 0.0) == 5_000
    assert policy.backoff_ms(10, RAND_MAX) <= 10_000
    assert policy.backoff_ms(50, RAND_MAX) <= 10_000
    assert policy.backoff_ms(1_000, RAND_MAX) <= 10_000


def test_backoff_never_returns_at_once() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    assert all(policy.backoff_ms(attempt, 0.0) > 0 for attempt in range(1, 60))


def test_backoff_spreads_retries_with_the_random_half() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    delays = {policy.backoff_ms(4, rand / 10) for rand in range(10)}
    assert len(delays) == 10


def test_next_attempt_is_now_plus_backoff() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    assert policy.next_attempt_at(2, NOW, 0.0) == NOW + 1_000


def test_retry_after_longer_than_the_backoff_is_honoured() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    assert policy.next_attempt_at(1, NOW, 0.0, retry_after_ms=7_000) == NOW + 7_000


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    assert policy.next_attempt_at(5, NOW, 0.0, retry_after_ms=10) == NOW + 8_000


def test_retry_after_is_capped() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000, retry_after_cap_ms=60_000)
    at = policy.next_attempt_at(1, NOW, 0.0, retry_after_ms=10 * 24 * 3600 * 1000)
    assert at == NOW + 60_000


@settings(max_examples=300, derandomize=True)
@given(
    attempt=st.integers(min_value=1, max_value=50),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base_ms=st.integers(min_value=1, max_value=86_400_000),
    max_ms=st.integers(min_value=1, max_value=86_400_000),
)
def test_backoff_is_bounded_and_never_decreases_with_attempts(
    attempt: int, rand: float, base_ms: int, max_ms: int
) -> None:
    policy = RetryPolicy(base_ms=base_ms, max_ms=max_ms)
    delay = policy.backoff_ms(attempt, rand)
    assert 0 <= delay <= max_ms
    ceiling = min(max_ms, base_ms * 2 ** (attempt - 1))
    assert ceiling // 2 <= delay <= ceiling
    next_ceiling = min(max_ms, base_ms * 2**attempt)
    assert next_ceiling >= ceiling
    assert policy.backoff_ms(attempt + 1, rand) >= delay
    assert policy.backoff_ms(attempt + 1, 0.0) >= policy.backoff_ms(attempt, 0.0)


# --- deciding after an attempt ---------------------------------------------------------------


def retryable(error: str = "HTTP 503", retry_after_ms: int | None = None) -> DeliveryResult:
    return DeliveryResult(ResultKind.RETRYABLE, error, retry_after_ms)


def test_ok_becomes_sent() -> None:
    decision = decide(OK, attempts=1, max_attempts=3, now=NOW, policy=RetryPolicy(), rand=0.5)
    assert decision.verdict is Verdict.SENT
    assert decision.retry_at is None
    assert decision.error is None


def test_ok_on_the_last_attempt_is_still_sent() -> None:
    decision = decide(OK, attempts=3, max_attempts=3, now=NOW, policy=RetryPolicy(), rand=0.5)
    assert decision.verdict is Verdict.SENT


def test_permanent_failure_is_dead_at_once_with_its_error() -> None:
    result = DeliveryResult(ResultKind.PERMANENT, "HTTP 404 Not Found")
    decision = decide(result, attempts=1, max_attempts=5, now=NOW, policy=RetryPolicy(), rand=0.5)
    assert decision.verdict is Verdict.DEAD
    assert decision.retry_at is None
    assert decision.error is not None
    assert "HTTP 404 Not Found" in decision.error
    assert "permanent" in decision.error


@pytest.mark.parametrize("attempts", [1, 2, 3, 4])
def test_retryable_failure_retries_in_the_future_while_attempts_remain(attempts: int) -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    decision = decide(retryable(), attempts, max_attempts=5, now=NOW, policy=policy, rand=0.0)
    assert decision.verdict is Verdict.RETRY
    assert decision.error == "HTTP 503"
    assert decision.retry_at == NOW + policy.backoff_ms(attempts, 0.0)
    assert decision.retry_at > NOW


def test_retries_wait_longer_after_each_attempt() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    decisions = [decide(retryable(), attempts, 10, NOW, policy, rand=0.5) for attempts in (1, 2, 3)]
    waits = [d.retry_at for d in decisions if d.retry_at is not None]
    assert len(waits) == 3
    assert waits[0] < waits[1] < waits[2]


def test_retryable_failure_on_the_last_attempt_is_dead_keeping_the_error() -> None:
    decision = decide(retryable("timed out after 10000 ms"), 3, 3, NOW, RetryPolicy(), rand=0.5)
    assert decision.verdict is Verdict.DEAD
    assert decision.retry_at is None
    assert decision.error is not None
    assert "timed out after 10000 ms" in decision.error
    assert "3 attempts" in decision.error


def test_attempts_beyond_max_are_dead() -> None:
    decision = decide(retryable(), 7, 3, NOW, RetryPolicy(), rand=0.5)
    assert decision.verdict is Verdict.DEAD


def test_a_single_attempt_notification_is_dead_after_one_retryable_failure() -> None:
    decision = decide(retryable(), 1, 1, NOW, RetryPolicy(), rand=0.5)
    assert decision.verdict is Verdict.DEAD


def test_retry_honours_the_receivers_retry_after() -> None:
    policy = RetryPolicy(base_ms=1_000, max_ms=300_000)
    decision = decide(retryable("HTTP 429", retry_after_ms=7_000), 1, 3, NOW, policy, rand=0.0)
    assert decision.verdict is Verdict.RETRY
    assert decision.retry_at == NOW + 7_000


def test_store_backoff_doubles_with_jitter_up_to_its_cap_and_starts_over_after_a_success() -> None:
    draws = iter([0.0, 1.0, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    backoff = StoreBackoff(first_s=0.1, max_s=1.0, rand=lambda: next(draws))
    delays = [backoff.next_delay_s() for _ in range(7)]
    assert delays == pytest.approx([0.05, 0.2, 0.3, 0.4, 0.5, 0.5, 0.5])
    backoff.succeeded()
    assert backoff.next_delay_s() == pytest.approx(0.05)


@given(st.integers(min_value=0, max_value=60), st.floats(min_value=0, max_value=0.999))
def test_store_backoff_stays_between_half_its_ceiling_and_its_ceiling(
    failures: int, rand: float
) -> None:
    backoff = StoreBackoff(first_s=0.1, max_s=5.0, rand=lambda: rand)
    for _ in range(failures):
        backoff.next_delay_s()
    ceiling = min(5.0, 0.1 * 2**failures)
    assert ceiling / 2 <= backoff.next_delay_s() <= ceiling
