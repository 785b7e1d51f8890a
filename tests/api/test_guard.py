"""Pure pieces of the API guard: the token bucket and the client address behind proxies."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from notifyctl.api.guard import client_address, parse_networks
from notifyctl.api.ratelimit import RateLimiter
from notifyctl.limits import Rate


def test_a_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    limiter, rate = RateLimiter(), Rate(100, 200)
    decisions = [limiter.take("c", 10.0, rate) for _ in range(201)]
    assert all(d.allowed for d in decisions[:200]) and not decisions[200].allowed
    assert decisions[200].retry_after_s == 1
    assert limiter.take("c", 10.005, rate).allowed is False  # half a token back: not enough
    assert limiter.take("c", 10.011, rate).allowed is True


def test_a_costly_request_takes_its_cost_or_nothing() -> None:
    limiter, rate = RateLimiter(), Rate(1, 15)
    assert limiter.take("c", 0.0, rate, cost=11).remaining == 4
    refused = limiter.take("c", 0.0, rate, cost=11)
    assert not refused.allowed and refused.remaining == 4 and refused.retry_after_s == 7
    assert limiter.take("c", 0.0, rate, cost=4).allowed  # the refusal took nothing


def test_a_cost_above_the_burst_is_payable_once_the_bucket_is_full() -> None:
    limiter, rate = RateLimiter(), Rate(1, 5)
    assert limiter.take("c", 0.0, rate, cost=50).allowed
    assert not limiter.take("c", 0.0, rate, cost=50).allowed


def test_clients_do_not_share_buckets() -> None:
    limiter, rate = RateLimiter(), Rate(1, 1)
    assert limiter.take("a", 0.0, rate).allowed and not limiter.take("a", 0.0, rate).allowed
    assert limiter.take("b", 0.0, rate).allowed


def test_clients_may_have_buckets_of_different_shapes() -> None:
    limiter = RateLimiter()
    small, large = Rate(1, 2), Rate(1, 5)
    assert sum(limiter.take("small", 0.0, small).allowed for _ in range(10)) == 2
    decisions = [limiter.take("large", 0.0, large) for _ in range(10)]
    assert sum(d.allowed for d in decisions) == 5 and decisions[0].limit == 5


def test_a_bucket_whose_rate_changes_keeps_its_tokens_up_to_the_new_burst() -> None:
    limiter = RateLimiter()
    for _ in range(8):
        limiter.take("c", 0.0, Rate(1, 10))  # 2 tokens left
    assert limiter.take("c", 0.0, Rate(1, 3)).remaining == 1
    assert limiter.take("c", 0.0, Rate(1, 3)).remaining == 0
    assert not limiter.take("c", 0.0, Rate(1, 3)).allowed


def test_idle_clients_are_forgotten_and_memory_is_bounded() -> None:
    limiter, rate = RateLimiter(max_clients=100), Rate(10, 10)
    for i in range(1_000):
        limiter.take(f"client-{i}", 0.0, rate)
    assert len(limiter) <= 100
    limiter.take("late", 5.0, rate)  # everyone else has been full again for a while
    assert len(limiter) == 1


@given(
    rate=st.integers(1, 1_000),
    burst=st.integers(1, 1_000),
    gaps=st.lists(st.floats(0, 2, allow_nan=False), min_size=1, max_size=60),
)
def test_never_more_than_burst_plus_rate_times_elapsed(
    rate: int, burst: int, gaps: list[float]
) -> None:
    limiter = RateLimiter()
    now, allowed = 0.0, 0
    for gap in gaps:
        now += gap
        allowed += limiter.take("c", now, Rate(rate, burst)).allowed
    assert allowed <= burst + rate * now + 1e-6


def scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 5000), "headers": headers}


def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    trusted = parse_networks("10.0.0.0/8")
    assert client_address(scope("203.0.113.9", "198.51.100.1"), trusted) == "203.0.113.9"
    assert client_address(scope("203.0.113.9", "198.51.100.1"), ()) == "203.0.113.9"


def test_the_client_is_the_right_most_untrusted_hop_behind_a_trusted_proxy() -> None:
    trusted = parse_networks("10.0.0.0/8,127.0.0.1/32")
    spoofed_then_real = "6.6.6.6, 198.51.100.7, 10.1.1.1"
    assert client_address(scope("127.0.0.1", spoofed_then_real), trusted) == "198.51.100.7"
    assert client_address(scope("127.0.0.1"), trusted) == "127.0.0.1"
    assert isinstance(ipaddress.ip_address(client_address(scope("10.0.0.2", "::1"), trusted)),
                      ipaddress.IPv6Address)  # fmt: skip
