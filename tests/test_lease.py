"""The claim/lease rules, against notifications built here. Pure: time is passed in."""

from __future__ import annotations

import dataclasses
import os
import re
import socket
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifyctl.lease import (
    is_claimable,
    is_exhausted,
    lease_expiry,
    lease_is_live,
    renew_every_ms,
    worker_identity,
    write_is_fenced_out,
)
from notifyctl.model import Notification, Priority, Status

NOW = 1_700_000_000_000
WORKER = "host-a-123-0badcafe"
OTHER = "host-b-456-deadbeef"


def notification(**changes: Any) -> Notification:
    """A pending, due, unleased notification with attempts left; ``changes`` override fields."""
    base = Notification(
        id="01HZX0000000000000000000AA",
        user_id="user-1",
        channel="log",
        to=None,
        title="hello",
        body="world",
        data={},
        priority=Priority.NORMAL,
        status=Status.PENDING,
        scheduled_for=NOW - 1_000,
        available_at=NOW - 1_000,
        attempts=0,
        max_attempts=3,
        last_error=None,
        idempotency_key=None,
        request_hash="0" * 64,
        locked_by=None,
        locked_at=None,
        lock_expiry=None,
        lock_version=0,
        created_at=NOW - 1_000,
        updated_at=NOW - 1_000,
    )
    return dataclasses.replace(base, **changes)


def leased(
    by: str = WORKER, expiry: int = NOW + 30_000, version: int = 1, **changes: Any
) -> Notification:
    lease = {
        "locked_by": by,
        "locked_at": expiry - 30_000,
        "lock_expiry": expiry,
        "lock_version": version,
        "available_at": expiry,
        "attempts": 1,
    }
    return notification(**{**lease, **changes})


# --- claimable -------------------------------------------------------------------------------


def test_a_due_pending_unleased_notification_is_claimable() -> None:
    assert is_claimable(notification(), NOW)


def test_a_notification_due_exactly_now_is_claimable() -> None:
    assert is_claimable(notification(available_at=NOW), NOW)


def test_a_notification_not_yet_due_is_not_claimable() -> None:
    assert not is_claimable(notification(available_at=NOW + 1), NOW)


def test_a_scheduled_notification_whose_time_has_come_is_claimable() -> None:
    assert is_claimable(notification(status=Status.SCHEDULED, available_at=NOW - 1), NOW)


def test_a_scheduled_notification_in_the_future_is_not_claimable() -> None:
    future = NOW + 60_000
    assert not is_claimable(
        notification(status=Status.SCHEDULED, scheduled_for=future, available_at=future), NOW
    )


@pytest.mark.parametrize("status", [Status.SENT, Status.DEAD, Status.CANCELLED])
def test_a_terminal_notification_is_never_claimable(status: Status) -> None:
    assert not is_claimable(notification(status=status), NOW)


def test_a_notification_under_a_live_lease_is_not_claimable() -> None:
    assert not is_claimable(leased(expiry=NOW + 1), NOW)


def test_a_notification_whose_lease_expired_is_claimable_by_another_worker() -> None:
    assert is_claimable(leased(expiry=NOW - 1), NOW)


def test_a_lease_expiring_exactly_now_no_longer_holds() -> None:
    assert not lease_is_live(leased(expiry=NOW), NOW)
    assert is_claimable(leased(expiry=NOW), NOW)


def test_a_notification_out_of_attempts_is_not_claimable() -> None:
    assert not is_claimable(notification(attempts=3, max_attempts=3), NOW)
    assert is_claimable(notification(attempts=2, max_attempts=3), NOW)


# --- exhausted -------------------------------------------------------------------------------


def test_a_due_unleased_notification_out_of_attempts_is_exhausted() -> None:
    assert is_exhausted(notification(attempts=3, max_attempts=3), NOW)


def test_a_crashed_workers_last_attempt_is_exhausted_once_its_lease_expires() -> None:
    last = leased(expiry=NOW + 5_000, attempts=3)
    assert not is_exhausted(last, NOW)
    assert is_exhausted(last, NOW + 5_000)


def test_a_notification_with_attempts_left_is_not_exhausted() -> None:
    assert not is_exhausted(notification(attempts=2, max_attempts=3), NOW)


@pytest.mark.parametrize("status", [Status.SENT, Status.DEAD, Status.CANCELLED])
def test_a_terminal_notification_is_never_exhausted(status: Status) -> None:
    assert not is_exhausted(notification(status=status, attempts=3, max_attempts=3), NOW)


def test_a_notification_out_of_attempts_but_not_due_is_not_exhausted_yet() -> None:
    assert not is_exhausted(notification(attempts=3, max_attempts=3, available_at=NOW + 1), NOW)


@settings(max_examples=300, derandomize=True)
@given(
    status=st.sampled_from(list(Status)),
    available_offset=st.integers(min_value=-10_000, max_value=10_000),
    lease_offset=st.none() | st.integers(min_value=-10_000, max_value=10_000),
    attempts=st.integers(min_value=0, max_value=10),
    max_attempts=st.integers(min_value=1, max_value=10),
)
def test_claimable_and_exhausted_never_both_hold_and_cover_every_free_due_notification(
    status: Status,
    available_offset: int,
    lease_offset: int | None,
    attempts: int,
    max_attempts: int,
) -> None:
    lease = {} if lease_offset is None else {"locked_by": OTHER, "lock_expiry": NOW + lease_offset}
    subject = notification(
        status=status,
        available_at=NOW + available_offset,
        attempts=attempts,
        max_attempts=max_attempts,
        **lease,
    )
    claimable, exhausted = is_claimable(subject, NOW), is_exhausted(subject, NOW)
    assert not (claimable and exhausted)
    free_and_due = (
        status not in (Status.SENT, Status.DEAD, Status.CANCELLED)
        and available_offset <= 0
        and not lease_is_live(subject, NOW)
    )
    assert (claimable or exhausted) == free_and_due


# --- live leases -----------------------------------------------------------------------------


def test_an_unleased_notification_has_no_live_lease() -> None:
    assert not lease_is_live(notification(), NOW)


def test_a_lease_before_its_expiry_is_live() -> None:
    assert lease_is_live(leased(expiry=NOW + 1), NOW)


def test_a_lease_after_its_expiry_is_not_live() -> None:
    assert not lease_is_live(leased(expiry=NOW - 1), NOW)


def test_an_expiry_without_an_owner_is_not_a_lease() -> None:
    assert not lease_is_live(notification(lock_expiry=NOW + 10_000), NOW)


def test_lease_expiry_is_now_plus_the_lease_length() -> None:
    assert lease_expiry(NOW, 30_000) == NOW + 30_000


# --- fencing ---------------------------------------------------------------------------------


def test_the_current_owner_with_the_current_token_may_write() -> None:
    assert not write_is_fenced_out(leased(by=WORKER, version=4), WORKER, 4)


def test_a_write_from_another_worker_is_fenced_out() -> None:
    assert write_is_fenced_out(leased(by=OTHER, version=4), WORKER, 4)


def test_a_write_with_an_older_token_is_fenced_out_even_from_the_same_worker() -> None:
    # The same worker lost its lease, then claimed the notification again: its first claim's
    # late write must not land on the second claim.
    assert write_is_fenced_out(leased(by=WORKER, version=5), WORKER, 4)


def test_a_write_after_the_lease_was_cleared_is_fenced_out() -> None:
    cleared = notification(status=Status.SENT, lock_version=4)
    assert write_is_fenced_out(cleared, WORKER, 4)


# --- renewing --------------------------------------------------------------------------------


def test_a_lease_is_renewed_at_a_third_of_its_length() -> None:
    assert renew_every_ms(30_000) == 10_000
    assert renew_every_ms(300_000) == 100_000


@pytest.mark.parametrize("lease_ms", [100, 101, 999, 30_000, 86_400_000])
def test_two_renewals_can_fail_before_a_lease_lapses(lease_ms: int) -> None:
    every = renew_every_ms(lease_ms)
    assert every > 0
    assert 2 * every < lease_ms


def test_renewal_interval_has_a_floor() -> None:
    assert renew_every_ms(1) == 10


# --- worker identity -------------------------------------------------------------------------


def test_worker_identity_is_hostname_pid_and_random_hex() -> None:
    assert re.fullmatch(r"box-42-[0-9a-f]{8}", worker_identity("box", 42))


def test_worker_identity_defaults_to_this_host_and_process() -> None:
    identity = worker_identity()
    host, pid, suffix = identity.rsplit("-", 2)
    assert host == socket.gethostname()
    assert pid == str(os.getpid())
    assert re.fullmatch(r"[0-9a-f]{8}", suffix)


def test_worker_identity_keeps_a_hostname_with_dashes_whole() -> None:
    assert worker_identity("web-01.example", 7).rsplit("-", 2)[:2] == ["web-01.example", "7"]


def test_worker_identity_accepts_pid_zero() -> None:
    assert worker_identity("box", 0).startswith("box-0-")


def test_worker_identities_differ_across_restarts_with_the_same_pid() -> None:
    identities = {worker_identity("box", 42) for _ in range(100)}
    assert len(identities) == 100
