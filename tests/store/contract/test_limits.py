"""The store contract, each tenant's limits and daily quota: limits replace and clear per tenant,
a quota is taken all or nothing, never past its number even from many processes at once, is
counted per tenant and per day, and can be given back down to zero."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from notifyctl.limits import QuotaTake, TenantLimits
from notifyctl.store import Store
from tests.store.conftest import open_adapter

DAY = "2027-01-15"


def test_a_tenant_without_limits_has_none(store: Store) -> None:
    assert store.tenant_limits("acme") is None
    assert store.list_tenant_limits() == []


def test_limits_are_stored_replaced_listed_and_cleared_per_tenant(store: Store) -> None:
    store.set_tenant_limits(TenantLimits("acme", rate_per_s=2.5, burst=10, daily_quota=1000))
    store.set_tenant_limits(TenantLimits("globex", daily_quota=5))
    assert store.tenant_limits("acme") == TenantLimits("acme", 2.5, 10, 1000)
    store.set_tenant_limits(TenantLimits("acme", rate_per_s=7.0))  # a replacement, not a merge
    assert store.tenant_limits("acme") == TenantLimits("acme", 7.0, None, None)
    assert store.list_tenant_limits() == [
        TenantLimits("acme", 7.0, None, None), TenantLimits("globex", None, None, 5),
    ]  # fmt: skip
    assert store.clear_tenant_limits("acme") is True
    assert store.clear_tenant_limits("acme") is False
    assert store.tenant_limits("acme") is None
    assert store.tenant_limits("globex") == TenantLimits("globex", None, None, 5)


def test_a_quota_is_taken_whole_or_not_at_all(store: Store) -> None:
    assert store.take_quota("acme", DAY, 3, 5) == QuotaTake(True, 3)
    assert store.take_quota("acme", DAY, 3, 5) == QuotaTake(False, 3)  # 6 > 5: none taken
    assert store.take_quota("acme", DAY, 2, 5) == QuotaTake(True, 5)
    assert store.take_quota("acme", DAY, 1, 5) == QuotaTake(False, 5)
    assert store.quota_used("acme", DAY) == 5


def test_a_count_larger_than_the_quota_is_refused_on_an_empty_day(store: Store) -> None:
    assert store.take_quota("acme", DAY, 6, 5) == QuotaTake(False, 0)
    assert store.quota_used("acme", DAY) == 0


def test_quota_usage_is_per_tenant_and_per_day(store: Store) -> None:
    store.take_quota("acme", DAY, 4, 5)
    assert store.take_quota("globex", DAY, 5, 5) == QuotaTake(True, 5)
    assert store.take_quota("acme", "2027-01-16", 5, 5) == QuotaTake(True, 5)
    assert store.quota_used("acme", DAY) == 4
    assert store.quota_used("nobody", DAY) == 0


def test_a_lowered_quota_refuses_until_the_usage_is_under_it(store: Store) -> None:
    store.take_quota("acme", DAY, 8, 10)
    assert store.take_quota("acme", DAY, 1, 5) == QuotaTake(False, 8)


def test_given_back_quota_can_be_taken_again_and_never_goes_below_zero(store: Store) -> None:
    store.take_quota("acme", DAY, 5, 5)
    store.give_back_quota("acme", DAY, 2)
    assert store.quota_used("acme", DAY) == 3
    assert store.take_quota("acme", DAY, 2, 5) == QuotaTake(True, 5)
    store.give_back_quota("acme", DAY, 50)
    assert store.quota_used("acme", DAY) == 0
    store.give_back_quota("acme", "2027-02-01", 1)  # a day never counted: nothing to do
    assert store.quota_used("acme", "2027-02-01") == 0


def test_days_before_yesterday_are_forgotten_when_a_new_day_starts(store: Store) -> None:
    store.take_quota("acme", "2027-01-13", 1, 5)
    store.take_quota("acme", "2027-01-14", 1, 5)
    store.take_quota("globex", "2027-01-13", 1, 5)
    store.take_quota("acme", DAY, 1, 5)
    assert store.quota_used("acme", "2027-01-13") == 0
    assert store.quota_used("acme", "2027-01-14") == 1  # yesterday: still shown
    assert store.quota_used("globex", "2027-01-13") == 1  # another tenant's: its own business


def test_concurrent_takes_from_many_connections_never_pass_the_quota(
    request: pytest.FixtureRequest, adapter: str, tmp_path: Path, store: Store
) -> None:
    # each API process has a store of its own: eight stores on one database stand for them
    stores = [open_adapter(request, adapter, tmp_path) for _ in range(8)]
    try:
        with ThreadPoolExecutor(8) as pool:
            takes = list(pool.map(
                lambda i: stores[i % 8].take_quota("acme", DAY, 3, 100), range(80)
            ))  # fmt: skip
    finally:
        for opened in stores:
            opened.close()
    assert sum(take.taken for take in takes) == 33  # 33 * 3 = 99; the 34th would make 102
    assert store.quota_used("acme", DAY) == 99
