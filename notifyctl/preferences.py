"""A recipient's say in what reaches them: opt-outs and allowed channels per category, and quiet
hours in their own timezone. Pure: time is passed in (epoch milliseconds).

This is the rule book the recipients work builds on (issue 16): intake fans a message out to the
channels ``allowed_channels`` gives, and a delivery due inside the recipient's quiet hours waits
until ``quiet_until`` (not an attempt).

Quiet hours are local wall-clock times (``22:00`` to ``07:00`` crosses midnight). Around a
daylight-saving change they follow the wall clock: a window ending at a time the clock skips
(``02:30`` on a spring-forward night) ends when the clock jumps past it, and a window ending at a
time that happens twice ends the first time (the second time, for a delivery that is due during
the repeated hour's second pass).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: the logical push channel: a device's platform picks apns or fcm
PUSH_CHANNELS = frozenset({"apns", "fcm"})
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
#: BCP 47 as far as choosing texts needs: a language, then script, region or variant subtags
_LOCALE = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


def clock_time(text: str) -> dt.time:
    """``HH:MM`` (24-hour) as a time, else ValueError saying what is expected."""
    match = _CLOCK.fullmatch(text)
    if match is None:
        raise ValueError(f"{text!r} is not a time of day as HH:MM (00:00 to 23:59)")
    return dt.time(int(match.group(1)), int(match.group(2)))


def timezone(name: str) -> ZoneInfo:
    """An IANA timezone (``Europe/Berlin``), else ValueError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA timezone name such as Europe/Berlin") from None


def locale(tag: str) -> str:
    """A BCP 47 language tag (``de``, ``pt-BR``, ``zh-Hant-TW``), else ValueError."""
    if len(tag) > 35 or _LOCALE.fullmatch(tag) is None:
        raise ValueError(f"{tag!r} is not a BCP 47 language tag such as en or pt-BR")
    return tag


@dataclass(frozen=True, slots=True)
class QuietHours:
    """From ``start`` to ``end``, local time; ``start`` after ``end`` crosses midnight, and
    ``start`` equal to ``end`` is no window at all."""

    start: dt.time
    end: dt.time

    @classmethod
    def parse(cls, value: object) -> QuietHours:
        if not isinstance(value, dict) or set(value) != {"start", "end"}:
            raise ValueError('quiet hours must be {"start": "HH:MM", "end": "HH:MM"}')
        start, end = value["start"], value["end"]
        if not isinstance(start, str) or not isinstance(end, str):
            raise ValueError("quiet hours' start and end must be strings as HH:MM")
        return cls(clock_time(start), clock_time(end))

    def contains(self, wall: dt.time) -> bool:
        if self.start < self.end:
            return self.start <= wall < self.end
        if self.start > self.end:  # across midnight
            return wall >= self.start or wall < self.end
        return False


def quiet_until(quiet: QuietHours | None, zone: dt.tzinfo, now_ms: int) -> int | None:
    """When the recipient's quiet hours that hold ``now_ms`` end (epoch ms), or None when
    ``now_ms`` is outside them (deliver now)."""
    if quiet is None:
        return None
    local = dt.datetime.fromtimestamp(now_ms / 1000, zone)
    if not quiet.contains(local.time().replace(tzinfo=None)):
        return None
    end_day = local.date()
    if quiet.start > quiet.end and local.time() >= quiet.start:
        end_day += dt.timedelta(days=1)  # in the evening part: the window ends tomorrow
    end = dt.datetime.combine(end_day, quiet.end, zone)  # fold 0: the first of a repeated time
    end_ms = int(end.timestamp() * 1000)
    if end_ms <= now_ms:  # now is in the repeated hour's second pass: its end is the second too
        end_ms = int(end.replace(fold=1).timestamp() * 1000)
    # a skipped end time (spring forward) maps past the gap
    return max(end_ms, now_ms + 1)


@dataclass(frozen=True, slots=True)
class Preferences:
    """``opted_out``: categories the recipient wants nothing of; ``channels``: for a category,
    the only channels allowed (``push`` standing for apns and fcm). A category in neither is
    allowed everywhere."""

    opted_out: frozenset[str] = frozenset()
    channels: dict[str, frozenset[str]] = field(default_factory=dict)

    def allowed_channels(
        self, category: str | None, candidates: tuple[str, ...]
    ) -> tuple[str, ...]:
        """Of ``candidates`` (the template's channels, in its order), those this recipient
        accepts for ``category``."""
        if category is None:
            return candidates
        if category in self.opted_out:
            return ()
        allowed = self.channels.get(category)
        if allowed is None:
            return candidates
        if "push" in allowed:
            allowed = allowed | PUSH_CHANNELS
        return tuple(channel for channel in candidates if channel in allowed)
