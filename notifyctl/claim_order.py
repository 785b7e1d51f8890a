"""Which due notifications a claim takes first: priority, aged so that none starves. Pure.

Strict priority order starves ``low`` forever while ``high`` keeps coming. So a due notification
rises one priority level for every ``ageing_ms`` it has waited past its due time (a ``low`` one
that waited two periods competes as ``high``), and within a level the longest-waiting goes
first. Under sustained ``high`` load a ``normal`` notification therefore waits at most about one
period longer than the ``high`` ones at the head of the queue, and a ``low`` one about two.
``ageing_ms`` 0 keeps strict priority order.

Each level is a few bands, one per priority, each a range of due times: stores run one index
range scan per band (priority, available_at), as they did per priority before.
"""

from __future__ import annotations

from typing import NamedTuple

from notifyctl.model import Priority

LEVELS = (Priority.HIGH, Priority.NORMAL, Priority.LOW)


class Band(NamedTuple):
    """Notifications of ``priority`` due in ``(due_after, due_by]`` (no lower bound if None)."""

    priority: Priority
    due_by: int
    due_after: int | None


def claim_levels(now: int, ageing_ms: int) -> list[list[Band]]:
    """The bands of each effective level, most urgent level first; within a level a store merges
    its bands by due time, oldest first."""
    if ageing_ms <= 0:
        return [[Band(priority, now, None)] for priority in LEVELS]
    levels = []
    for level in LEVELS:
        bands = []
        for priority in LEVELS:
            steps = level - priority  # periods of waiting that lift ``priority`` to ``level``
            if steps < 0:
                continue
            due_by = now - steps * ageing_ms
            top = level == Priority.HIGH  # the highest level has no upper bound on waiting
            bands.append(Band(priority, due_by, None if top else due_by - ageing_ms))
        levels.append(bands)
    return levels
