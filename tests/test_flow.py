"""What a destination is (issue 17): a webhook's scheme, host and port (default ports filled in,
case folded, paths and queries ignored), a provider channel's provider; and when a destination's
circuit breaker trips and for how long."""

from __future__ import annotations

import pytest

from notifyctl.flow import Breaker, BreakerPolicy, BreakerState, FailureWindow, destination_of


@pytest.mark.parametrize(
    ("channel", "to", "destination"),
    [
        ("webhook", "https://Hooks.Example.com/a?x=1", "https://hooks.example.com:443"),
        ("webhook", "https://hooks.example.com:443/b", "https://hooks.example.com:443"),
        ("webhook", "http://hooks.example.com/a", "http://hooks.example.com:80"),
        ("webhook", "http://127.0.0.1:8080/hook", "http://127.0.0.1:8080"),
        ("webhook", "http://[::1]:9/h", "http://::1:9"),
        ("webhook", "http://h:99999/", "webhook"),  # a malformed port: on its own
        ("webhook", None, "webhook"),
        ("email", "ada@example.com", "smtp"),
        ("apns", "ab" * 32, "apns"),
        ("fcm", "token", "fcm"),
        ("sms", "+15551234567", "sms"),
        ("log", None, "log"),
    ],
)
def test_destination_of(channel: str, to: str | None, destination: str) -> None:
    assert destination_of(channel, to) == destination


# -- the circuit breaker's rules ------------------------------------------------------------------

POLICY = BreakerPolicy(consecutive_failures=3, failure_ratio=0.5, window_ms=10_000,
                       min_requests=6, cooldown_ms=1_000, max_cooldown_ms=5_000)  # fmt: skip


def test_consecutive_failures_trip_and_a_success_resets_them() -> None:
    window = FailureWindow()
    for failed in (True, True, False, True, True):
        window.record(failed, 1_000, POLICY.window_ms)
        assert not window.trips(POLICY)
    window.record(True, 1_000, POLICY.window_ms)
    assert window.trips(POLICY)


def test_a_failure_ratio_trips_once_the_window_holds_enough_requests() -> None:
    window = FailureWindow()
    for i, failed in enumerate((True, False, True, False, True)):
        window.record(failed, 1_000 + i, POLICY.window_ms)
    assert window.ratio() == (0.6, 5) and not window.trips(POLICY)
    window.record(False, 1_010, POLICY.window_ms)
    assert window.ratio() == (0.5, 6) and window.trips(POLICY)


def test_the_window_forgets_what_is_older_than_it_and_stays_bounded() -> None:
    window = FailureWindow()
    for second in range(100):
        window.record(True, second * 1_000, POLICY.window_ms)
        window.record(False, second * 1_000, POLICY.window_ms)
    assert len(window.buckets) <= POLICY.window_ms // 1000
    assert window.ratio() == (0.5, 20)


def test_the_cooldown_doubles_with_each_reopening_up_to_its_cap() -> None:
    assert [POLICY.cooldown(n) for n in (1, 2, 3, 4, 5, 60)] == [
        1_000, 2_000, 4_000, 5_000, 5_000, 5_000,
    ]  # fmt: skip


def test_a_breaker_is_open_until_its_time_then_half_open() -> None:
    breaker = Breaker("https://h:443", 5_000, 1, 1.0, None, None, 1_000)
    assert breaker.state(4_999) is BreakerState.OPEN
    assert breaker.state(5_000) is BreakerState.HALF_OPEN
