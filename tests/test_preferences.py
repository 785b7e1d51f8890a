"""Preferences and quiet hours: opt-outs and allowed channels per category; quiet hours in the
recipient's timezone, around midnight and across daylight-saving changes, as properties."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from notifyctl.preferences import (
    Preferences,
    QuietHours,
    clock_time,
    locale,
    quiet_until,
    timezone,
)

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata",
         "Pacific/Chatham", "America/Sao_Paulo"]  # fmt: skip
#: 2020 to 2030: several DST rule changes (Sao Paulo dropped DST in 2019, so it has none)
INSTANTS = st.integers(min_value=1_577_836_800_000, max_value=1_893_456_000_000)
CLOCK = st.builds(dt.time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
TEMPLATE_CHANNELS = ("email", "apns", "fcm", "sms", "webhook")


def local(ms: int, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, zone)


@given(zone=st.sampled_from(ZONES), now=INSTANTS, start=CLOCK, end=CLOCK)
def test_a_delivery_waits_exactly_while_the_window_holds(
    zone: str, now: int, start: dt.time, end: dt.time
) -> None:
    tz, quiet = ZoneInfo(zone), QuietHours(start, end)
    until = quiet_until(quiet, tz, now)
    inside = quiet.contains(local(now, tz).time())
    assert (until is not None) == inside
    if until is None:
        return
    assert now < until <= now + 26 * 3_600_000  # at most a day (plus a DST hour) away
    # the window's end is outside it, and every moment before it (sampled) is inside it
    assert not quiet.contains(local(until, tz).time())
    for step in range(1, 8):
        probe = now + (until - now) * step // 8
        assert quiet.contains(local(probe, tz).time()), (local(probe, tz), quiet)


def at(zone: str, text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def test_a_window_across_midnight_ends_the_next_morning() -> None:
    quiet = QuietHours(dt.time(22), dt.time(7))
    berlin = ZoneInfo("Europe/Berlin")
    assert quiet_until(quiet, berlin, at("Europe/Berlin", "2027-01-15T23:30")) == at(
        "Europe/Berlin", "2027-01-16T07:00"
    )
    assert quiet_until(quiet, berlin, at("Europe/Berlin", "2027-01-16T03:00")) == at(
        "Europe/Berlin", "2027-01-16T07:00"
    )
    assert quiet_until(quiet, berlin, at("Europe/Berlin", "2027-01-16T07:00")) is None
    assert quiet_until(quiet, berlin, at("Europe/Berlin", "2027-01-16T21:59")) is None


def test_a_window_ending_in_the_spring_forward_gap_ends_when_the_clock_jumps() -> None:
    # New York, 2027-03-14: 02:00 jumps to 03:00; a window ending at 02:30 ends at 03:00 EDT
    quiet, ny = QuietHours(dt.time(1), dt.time(2, 30)), ZoneInfo("America/New_York")
    until = quiet_until(quiet, ny, at("America/New_York", "2027-03-14T01:30"))
    assert until is not None
    assert (
        local(until, ny).time() >= dt.time(3)
        and until - at("America/New_York", "2027-03-14T01:30") <= 3_600_000
    )


def test_a_window_ending_at_a_repeated_time_ends_the_first_time() -> None:
    # New York, 2027-11-07: 01:00-02:00 happens twice; the window ends at the first 01:30
    quiet, ny = QuietHours(dt.time(0), dt.time(1, 30)), ZoneInfo("America/New_York")
    start = at("America/New_York", "2027-11-07T00:30")
    assert quiet_until(quiet, ny, start) == start + 3_600_000


def test_in_the_second_pass_of_a_repeated_hour_the_window_ends_at_its_second_end() -> None:
    quiet, ny = QuietHours(dt.time(0), dt.time(1, 30)), ZoneInfo("America/New_York")
    second_pass = dt.datetime(2027, 11, 7, 1, 15, tzinfo=ny, fold=1)  # 01:15 EST
    now = int(second_pass.timestamp() * 1000)
    assert quiet_until(quiet, ny, now) == now + 15 * 60_000


def test_equal_start_and_end_is_no_window_and_none_is_no_window() -> None:
    utc = ZoneInfo("UTC")
    assert (
        quiet_until(QuietHours(dt.time(8), dt.time(8)), utc, at("UTC", "2027-01-01T08:00")) is None
    )
    assert quiet_until(None, utc, 0) is None


def test_opted_out_categories_get_nothing_and_allowed_channels_filter() -> None:
    prefs = Preferences(frozenset({"marketing"}), {"orders": frozenset({"email", "push"})})
    assert prefs.allowed_channels("marketing", TEMPLATE_CHANNELS) == ()
    assert prefs.allowed_channels("orders", TEMPLATE_CHANNELS) == ("email", "apns", "fcm")
    assert prefs.allowed_channels("security", TEMPLATE_CHANNELS) == TEMPLATE_CHANNELS
    assert prefs.allowed_channels(None, TEMPLATE_CHANNELS) == TEMPLATE_CHANNELS


@given(
    opted_out=st.frozensets(st.sampled_from(["a", "b", "c"])),
    allowed=st.dictionaries(st.sampled_from(["a", "b", "c"]),
                            st.frozensets(st.sampled_from([*TEMPLATE_CHANNELS, "push"]))),
    category=st.sampled_from(["a", "b", "c"]),
)  # fmt: skip
def test_allowed_channels_never_add_a_channel_and_keep_the_templates_order(
    opted_out: frozenset[str], allowed: dict[str, frozenset[str]], category: str
) -> None:
    chosen = Preferences(opted_out, allowed).allowed_channels(category, TEMPLATE_CHANNELS)
    assert list(chosen) == [c for c in TEMPLATE_CHANNELS if c in chosen]
    if category in opted_out:
        assert chosen == ()


@pytest.mark.parametrize(
    ("parse", "bad"),
    [
        (clock_time, "24:00"), (clock_time, "7:00"), (clock_time, "07:60"), (clock_time, ""),
        (timezone, "Mars/Olympus"), (timezone, "../etc/passwd"), (timezone, ""),
        (locale, "english"), (locale, "e"), (locale, "en_US"), (locale, "x" * 40),
        (QuietHours.parse, {"start": "22:00"}), (QuietHours.parse, {"start": 22, "end": 7}),
        (QuietHours.parse, "22:00-07:00"),
    ],
)  # fmt: skip
def test_bad_values_are_refused_with_a_reason(parse: object, bad: object) -> None:
    with pytest.raises(ValueError):
        parse(bad)  # type: ignore[operator]


def test_good_values_parse() -> None:
    assert clock_time("07:05") == dt.time(7, 5)
    assert timezone("Europe/Berlin") == ZoneInfo("Europe/Berlin")
    assert [locale(tag) for tag in ("de", "pt-BR", "zh-Hant-TW")] == ["de", "pt-BR", "zh-Hant-TW"]
    assert QuietHours.parse({"start": "22:00", "end": "07:00"}) == QuietHours(
        dt.time(22), dt.time(7)
    )
