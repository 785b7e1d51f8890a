"""The limits' rules: a tenant's rate against the deployment's default, the range checks, and
the UTC day a quota counts in."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifyctl.limits import (
    DAY_MS,
    Rate,
    TenantLimits,
    previous_day,
    quota_day,
    seconds_to_next_day,
)

DEFAULT = Rate(100.0, 200)


def ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp() * 1000)


def test_a_tenant_without_its_own_rate_takes_the_default() -> None:
    assert TenantLimits("acme").rate(DEFAULT) == DEFAULT
    assert TenantLimits("acme", daily_quota=5).rate(None) is None


def test_a_tenant_rate_replaces_the_default_field_by_field() -> None:
    assert TenantLimits("acme", rate_per_s=5.0).rate(DEFAULT) == Rate(5.0, 200)
    assert TenantLimits("acme", burst=20).rate(DEFAULT) == Rate(100.0, 20)
    assert TenantLimits("acme", 5.0, 20).rate(DEFAULT) == Rate(5.0, 20)


def test_a_tenant_rate_limits_even_where_the_deployment_limits_nothing() -> None:
    assert TenantLimits("acme", rate_per_s=50.0).rate(None) == Rate(50.0, 50)
    assert TenantLimits("acme", rate_per_s=0.5).rate(None) == Rate(0.5, 1)
    assert TenantLimits("acme", 2.0, 9).rate(None) == Rate(2.0, 9)
    assert TenantLimits("acme", burst=9).rate(None) is None  # a burst alone has no rate


@pytest.mark.parametrize(
    ("limits", "problem"),
    [
        (TenantLimits("a", rate_per_s=0.0), "rate"),
        (TenantLimits("a", rate_per_s=-1.0), "rate"),
        (TenantLimits("a", rate_per_s=float("nan")), "rate"),
        (TenantLimits("a", burst=0), "burst"),
        (TenantLimits("a", daily_quota=0), "daily quota"),
        (TenantLimits("a", daily_quota=10**13), "daily quota"),
    ],
)
def test_out_of_range_limits_are_named(limits: TenantLimits, problem: str) -> None:
    (found,) = limits.problems()
    assert problem in found


def test_sane_limits_have_no_problems() -> None:
    assert TenantLimits("a", 0.1, 1, 1).problems() == []
    assert TenantLimits("a").problems() == []


def test_the_quota_day_is_the_utc_calendar_day() -> None:
    assert quota_day(ms("2027-01-15T00:00:00")) == "2027-01-15"
    assert quota_day(ms("2027-01-15T23:59:59.999")) == "2027-01-15"
    assert quota_day(ms("2027-01-16T00:00:00")) == "2027-01-16"


def test_retry_after_runs_to_the_next_utc_midnight() -> None:
    assert seconds_to_next_day(ms("2027-01-15T23:59:00")) == 60
    assert seconds_to_next_day(ms("2027-01-15T23:59:59.500")) == 1
    assert seconds_to_next_day(ms("2027-01-15T00:00:00")) == 86_400


@given(st.integers(min_value=0, max_value=4_102_444_800_000))
def test_after_retry_after_seconds_it_is_the_next_day(now: int) -> None:
    wait = seconds_to_next_day(now)
    assert 1 <= wait <= 86_400
    assert quota_day(now + wait * 1000) == quota_day(now + DAY_MS - now % DAY_MS)
    assert quota_day(now + wait * 1000) != quota_day(now)


def test_previous_day_crosses_months_and_years() -> None:
    assert previous_day("2027-03-01") == "2027-02-28"
    assert previous_day("2027-01-01") == "2026-12-31"
