"""The claim order's ageing (notifyctl.claim_order): every due notification falls in exactly one
band, at the level its priority and its wait give it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from notifyctl.claim_order import LEVELS, Band, claim_levels
from notifyctl.model import Priority

NOW = 1_800_000_000_000


def holds(band: Band, priority: Priority, due_at: int) -> bool:
    after = band.due_after
    return band.priority == priority and due_at <= band.due_by and (after is None or due_at > after)


@given(
    st.sampled_from(list(Priority)),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=1, max_value=10**7),
)
def test_each_due_notification_is_in_one_band_at_its_aged_level(
    priority: Priority, waited: int, ageing_ms: int
) -> None:
    levels = claim_levels(NOW, ageing_ms)
    found = [
        LEVELS[index]
        for index, bands in enumerate(levels)
        for band in bands
        if holds(band, priority, NOW - waited)
    ]
    assert found == [Priority(min(Priority.HIGH, priority + waited // ageing_ms))]


def test_nothing_not_yet_due_is_in_any_band() -> None:
    bands = [band for level in claim_levels(NOW, 60_000) for band in level]
    assert not any(holds(band, p, NOW + 1) for band in bands for p in Priority)


def test_ageing_zero_is_strict_priority_order() -> None:
    assert claim_levels(NOW, 0) == [[Band(p, NOW, None)] for p in LEVELS]
