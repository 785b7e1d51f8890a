"""The store contract, each destination's circuit breaker: a closed circuit opens with the first
cooldown, an open one is left as another worker opened it, a half-open one reopens with the next
cooldown (the last one repeating), exactly one worker at a time holds a half-open circuit's probe,
and closing removes it. ``count_waiting`` counts what waits for a destination.

Every test takes ``store``: it runs on every adapter (``tests/store/conftest.py``), and both must
return equal ``Breaker`` values for the same calls.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from notifyctl.flow import Breaker, BreakerState
from notifyctl.model import Outcome, Verdict
from notifyctl.store import Store
from tests.store.conftest import open_adapter
from tests.store.contract.builders import (
    LEASE,
    NOW,
    WORKER_A,
    WORKER_B,
    claim_all,
    insert,
    make,
)

HOOKS = "https://hooks.example.com:443"
COOLDOWNS = [30_000, 60_000, 120_000]


def open_at(store: Store, now: int, ratio: float = 0.5, destination: str = HOOKS) -> Breaker:
    return store.open_breaker(destination, now, ratio, COOLDOWNS)


def test_a_closed_destination_opens_with_the_first_cooldown(store: Store) -> None:
    opened = open_at(store, NOW, ratio=0.75)
    assert opened == Breaker(HOOKS, NOW + 30_000, 1, 0.75, None, None, NOW)
    assert store.breakers() == [opened]


def test_opening_an_open_circuit_leaves_it_as_it_is(store: Store) -> None:
    first = open_at(store, NOW, ratio=0.75)
    # another worker saw failures too, a little later: the first opening's cooldown stands
    assert open_at(store, NOW + 1_000, ratio=1.0) == first
    assert open_at(store, NOW + 29_999, ratio=1.0) == first
    assert store.breakers() == [first]


def test_a_half_open_circuit_reopens_with_the_next_cooldown_and_its_probe_cleared(
    store: Store,
) -> None:
    open_at(store, NOW)
    later = NOW + 30_000  # the cooldown is over: half-open
    assert store.take_probe(HOOKS, WORKER_A, later, LEASE)
    reopened = open_at(store, later + 500, ratio=1.0)  # the probe failed
    assert reopened == Breaker(HOOKS, later + 500 + 60_000, 2, 1.0, None, None, later + 500)
    assert store.breakers() == [reopened]


def test_the_last_cooldown_repeats_once_the_list_runs_out(store: Store) -> None:
    now = NOW
    waits = []
    for _ in range(5):
        opened = open_at(store, now)
        waits.append(opened.open_until - now)
        now = opened.open_until  # half-open: each opening after the last one's cooldown
    assert waits == [30_000, 60_000, 120_000, 120_000, 120_000]
    assert store.breakers()[0].reopenings == 5


def test_one_probe_at_a_time_and_only_once_the_circuit_is_half_open(store: Store) -> None:
    assert not store.take_probe(HOOKS, WORKER_A, NOW, LEASE)  # closed
    opened = open_at(store, NOW)
    assert not store.take_probe(HOOKS, WORKER_A, opened.open_until - 1, LEASE)  # still open
    half_open = opened.open_until
    assert store.take_probe(HOOKS, WORKER_A, half_open, LEASE)
    (held,) = store.breakers()
    assert (held.probe_by, held.probe_until, held.updated_at) == (
        WORKER_A, half_open + LEASE, half_open,
    )  # fmt: skip
    assert held.open_until == opened.open_until and held.reopenings == 1  # only the probe moved
    assert not store.take_probe(HOOKS, WORKER_B, half_open + 1, LEASE)  # held by A
    assert not store.take_probe(HOOKS, WORKER_A, half_open + LEASE - 1, LEASE)  # A's, still held
    # A died holding it: once its lease has passed, another worker may probe
    assert store.take_probe(HOOKS, WORKER_B, half_open + LEASE, LEASE)
    assert store.breakers()[0].probe_by == WORKER_B


def test_closing_removes_the_circuit(store: Store) -> None:
    opened = open_at(store, NOW)
    assert store.take_probe(HOOKS, WORKER_A, opened.open_until, LEASE)
    assert store.close_breaker(HOOKS) is True  # the probe succeeded
    assert store.close_breaker(HOOKS) is False
    assert store.breakers() == []
    assert not store.take_probe(HOOKS, WORKER_A, opened.open_until, LEASE)  # closed: no probe
    # opened again later, it starts over from the first cooldown
    again = open_at(store, NOW + 100_000)
    assert (again.reopenings, again.open_until) == (1, NOW + 130_000)


def test_breakers_lists_the_open_and_half_open_ones_by_destination(store: Store) -> None:
    assert store.breakers() == []
    open_at(store, NOW, destination="smtp")
    open_at(store, NOW + 40_000, destination="apns")  # smtp is half-open by then
    open_at(store, NOW, destination="https://b.example:443")
    open_at(store, NOW, destination="sms")
    store.close_breaker("sms")
    listed = store.breakers()
    assert [b.destination for b in listed] == ["apns", "https://b.example:443", "smtp"]
    states = {b.destination: b.state(NOW + 40_000) for b in listed}
    assert states == {
        "apns": BreakerState.OPEN, "https://b.example:443": BreakerState.HALF_OPEN,
        "smtp": BreakerState.HALF_OPEN,
    }  # fmt: skip


def test_a_circuit_is_open_before_open_until_and_half_open_from_it(store: Store) -> None:
    opened = open_at(store, NOW)
    assert opened.state(NOW) is BreakerState.OPEN
    assert opened.state(opened.open_until - 1) is BreakerState.OPEN
    assert opened.state(opened.open_until) is BreakerState.HALF_OPEN


def test_destinations_are_independent(store: Store) -> None:
    hooks = open_at(store, NOW)
    smtp = open_at(store, NOW + 10_000, destination="smtp")
    assert smtp.reopenings == 1 and smtp.open_until == NOW + 40_000
    assert store.take_probe(HOOKS, WORKER_A, hooks.open_until, LEASE)
    assert not store.take_probe("smtp", WORKER_B, hooks.open_until, LEASE)  # smtp still open
    assert open_at(store, hooks.open_until + 1).reopenings == 2
    assert store.close_breaker(HOOKS)
    assert store.breakers() == [smtp]


@pytest.mark.parametrize("half_open", [False, True], ids=["closed", "half-open"])
def test_workers_opening_at_once_open_it_once(
    request: pytest.FixtureRequest, adapter: str, tmp_path: Path, store: Store, half_open: bool
) -> None:
    # each worker has a store of its own: four stores on one database stand for them
    now = NOW
    if half_open:
        now = open_at(store, NOW).open_until
    stores = [open_adapter(request, adapter, tmp_path) for _ in range(4)]
    start = threading.Barrier(4, timeout=10)

    def open_one(i: int) -> Breaker:
        start.wait()  # as close to at once as threads get
        return open_at(stores[i], now, ratio=i / 4)  # each worker's ratio tells who wrote

    try:
        with ThreadPoolExecutor(4) as pool:
            returned = list(pool.map(open_one, range(4)))
    finally:
        for opened in stores:
            opened.close()
    (stored,) = store.breakers()
    assert stored.reopenings == (2 if half_open else 1)
    assert returned == [stored] * 4  # one opened it; the others found it open


def test_count_waiting_counts_what_waits_for_the_destination(store: Store) -> None:
    here = "https://example.test:443"
    insert(store, make(), make(), replace(make(), scheduled_for=NOW + 60_000))
    # the log one is due later, so the one claim below is certainly the webhook's (equal due
    # times tie on the id, whose tail is random)
    insert(store, make(channel="log", scheduled_for=NOW + 60_000))
    (claim, *_) = claim_all(store, WORKER_A, NOW, limit=1)
    assert store.count_waiting(here) == 3  # a leased one waits too
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    assert store.count_waiting(here) == 2
    assert store.count_waiting("log") == 1
    assert store.count_waiting("https://elsewhere.test:443") == 0


def test_waiting_for_lists_what_waits_for_the_destination_longest_due_first(
    store: Store,
) -> None:
    here = "https://example.test:443"
    late, early = insert(
        store, replace(make(), scheduled_for=NOW + 60_000), replace(make(), tenant_id="acme")
    )
    insert(store, make(channel="log"))
    (sent,) = insert(store, replace(make(), scheduled_for=NOW - 10))
    (claim,) = claim_all(store, WORKER_A, NOW, limit=1)
    assert claim.id == sent.id
    store.finish([Outcome(claim, Verdict.SENT)], NOW + 1)
    assert [n.id for n in store.waiting_for(here, 10)] == [early.id, late.id]
    assert [n.id for n in store.waiting_for(here, 1)] == [early.id]
    assert [n.id for n in store.waiting_for(here, 10, tenant_id="acme")] == [early.id]
    assert store.waiting_for("https://elsewhere.test:443", 10) == []
