"""Notification ids: ULIDs, unique however they are made (threads, forked children), sortable by
creation time. The random parts are drawn from the OS in batches, so these are the ways a batch
could be shared by mistake."""

from __future__ import annotations

import os
import threading

from notifyctl.ids import _CROCKFORD, new_id


def test_an_id_is_26_crockford_digits_and_sorts_by_its_millisecond() -> None:
    ids = [new_id(ms) for ms in (1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000)]
    assert all(len(i) == 26 and set(i) <= set(_CROCKFORD) for i in ids)
    assert ids == sorted(ids)


def test_ids_made_by_many_threads_at_once_are_all_different() -> None:
    made: list[list[str]] = [[] for _ in range(8)]

    def make(into: list[str]) -> None:
        into.extend(new_id(1) for _ in range(5_000))  # one millisecond: only randomness differs

    threads = [threading.Thread(target=make, args=(out,)) for out in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [i for out in made for i in out]
    assert len(every) == 40_000 and len(set(every)) == 40_000


def test_a_forked_child_does_not_repeat_its_parents_next_ids() -> None:
    new_id(1)  # the parent now holds a batch of random parts
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: write its next ids and leave at once
        os.close(read_end)
        os.write(write_end, ",".join(new_id(1) for _ in range(100)).encode())
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        child = set(pipe.read().split(","))
    os.waitpid(pid, 0)
    parent = {new_id(1) for _ in range(100)}
    assert len(child) == 100 and not child & parent
