"""The lease arithmetic workers use (``notifyctl.lease``): expiry, renewal interval, identity.

The claim rules themselves are checked where they are implemented, against every store adapter:
the contract suite and the claim state machine, whose oracle is ``tests/lease_model.py``.
"""

from __future__ import annotations

import os
import re
import socket

import pytest

from notifyctl.lease import lease_expiry, renew_every_ms, worker_identity

NOW = 1_700_000_000_000


def test_lease_expiry_is_now_plus_the_lease_length() -> None:
    assert lease_expiry(NOW, 30_000) == NOW + 30_000


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
