"""The spec's run as its commands write it: ``notifyctl loadgen --rate 12 --duration 3600`` plans
the hour at 12/s (43,200 notifications, the spec's 1M/day rate), and benchmarks/spec_run.py's
ramp (12/s, a spike at 200/s, 12/s again) is a valid plan of the expected size."""

from __future__ import annotations

import pytest

from notifyctl.loadgen.plan import build_schedule


def test_the_spec_command_plans_an_hour_at_12_per_second() -> None:
    schedule = build_schedule(12, "3600", None, 1)
    assert schedule.duration_s == 3600
    assert schedule.notifications == 43_200


def test_the_bounded_run_ramps_to_the_spike_and_back() -> None:
    schedule = build_schedule(12, None, "10m:12,1s:200,2m:200,1s:12,1m:12", 1)
    assert schedule.duration_s == pytest.approx(10 * 60 + 1 + 120 + 1 + 60)
    expected = 12 * 600 + 106 + 200 * 120 + 106 + 12 * 60  # each 1 s step averages its ends
    assert abs(schedule.notifications - expected) <= 2
