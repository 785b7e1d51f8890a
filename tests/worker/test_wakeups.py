"""Wake-up messages and the worker's queue of the ids they name (no broker needed)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifyctl.broker import Receipt, WakeUp, group_wakeups
from notifyctl.broker.base import MAX_WAKEUP_IDS
from notifyctl.worker.wakeups import WakeUpQueue


def receipt(tag: int, *ids: str) -> Receipt:
    return Receipt(WakeUp(ids, 1), generation=1, delivery_tag=tag)


def test_wakeups_are_grouped_by_priority_highest_first_at_most_per_message_each() -> None:
    due = [(f"low{i}", 0) for i in range(3)] + [(f"high{i}", 2) for i in range(5)]
    assert group_wakeups(due, per_message=2) == [
        WakeUp(("high0", "high1"), 2),
        WakeUp(("high2", "high3"), 2),
        WakeUp(("high4",), 2),
        WakeUp(("low0", "low1"), 0),
        WakeUp(("low2",), 0),
    ]
    assert group_wakeups([]) == []


@given(st.lists(st.tuples(st.text(min_size=1, max_size=20), st.integers(0, 2)), max_size=300))
def test_grouping_keeps_every_id_once_and_round_trips_through_the_wire(
    due: list[tuple[str, int]],
) -> None:
    wakeups = group_wakeups(due)
    named = [(i, w.priority) for w in wakeups for i in w.ids]
    assert sorted(named) == sorted(due)
    assert all(0 < len(w.ids) <= 50 for w in wakeups)
    assert [WakeUp.decode(w.encode()) for w in wakeups] == wakeups


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"id": "a"}', WakeUp(("a",), 1)),
        (b'{"id": "a", "priority": 2}', WakeUp(("a",), 2)),
        (b'{"ids": ["a", "b"], "priority": 0}', WakeUp(("a", "b"), 0)),
    ],
)
def test_decode_reads_this_and_the_earlier_one_id_format(body: bytes, expected: WakeUp) -> None:
    assert WakeUp.decode(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        b"[]", b'"a"', b"{}", b'{"ids": []}', b'{"ids": "ab"}', b'{"ids": [1]}',
        b'{"ids": [""]}', b'{"ids": ["a"], "priority": 3}', b'{"ids": ["a"], "priority": true}',
        json.dumps({"ids": ["a"] * (MAX_WAKEUP_IDS + 1)}).encode(),
        json.dumps({"ids": ["x" * 257]}).encode(),
    ],
)  # fmt: skip
def test_decode_refuses_what_we_never_publish(body: bytes) -> None:
    with pytest.raises(ValueError):
        WakeUp.decode(body)


def test_ids_are_taken_a_slot_at_a_time_and_a_message_is_acked_once_all_are_decided() -> None:
    queue = WakeUpQueue()
    first, second = receipt(1, "a", "b", "c"), receipt(2, "d")
    queue.add(first)
    queue.add(second)
    taken = queue.take(2)
    assert WakeUpQueue.ids(taken) == ["a", "b"] and len(queue) == 2
    assert WakeUpQueue.decided(taken) == []  # "c" is still undecided
    taken = queue.take(10)
    assert WakeUpQueue.ids(taken) == ["c", "d"] and len(queue) == 0
    assert WakeUpQueue.decided(taken) == [first, second]


def test_ids_whose_claim_failed_go_back_to_the_front_in_order() -> None:
    queue = WakeUpQueue()
    only = receipt(1, "a", "b", "c")
    queue.add(only)
    taken = queue.take(2)
    queue.put_back(taken)
    again = queue.take(3)
    assert WakeUpQueue.ids(again) == ["a", "b", "c"]
    assert WakeUpQueue.decided(again) == [only]
