"""Notification ids: ULIDs, 26 characters, sortable by creation time, with 80 random bits.

Made on the API's hot path (a batch request makes 1,000), hence the table look-ups and the
random bits drawn in batches below.
"""

from __future__ import annotations

import os

from notifyctl.model import now_ms

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: every pair of digits (10 bits): 13 table look-ups make an id, not 26 rounds of shift and mask
_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
_SHIFTS = tuple(range(120, -10, -10))
_ULID_BITS = (1 << 130) - 1  # 26 digits


#: random parts drawn at once: ``os.urandom`` releases the GIL, and an API thread that gives the
#: GIL away once per id of a 1,000-item batch waits for it behind the store thread each time
_RANDOM_BATCH = 512
_randoms: list[int] = []
os.register_at_fork(after_in_child=_randoms.clear)  # a forked child must not reuse its parent's


def _random_80_bits() -> int:
    try:
        return _randoms.pop()  # atomic: threads never share a value
    except IndexError:
        pool = os.urandom(10 * _RANDOM_BATCH)
        _randoms.extend(int.from_bytes(pool[i : i + 10], "big") for i in range(0, len(pool), 10))
        return _randoms.pop()


def new_id(at_ms: int | None = None) -> str:
    """A ULID: 26 characters, sortable by creation time, 80 random bits."""
    ms = now_ms() if at_ms is None else at_ms
    value = ((ms << 80) | _random_80_bits()) & _ULID_BITS
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])
