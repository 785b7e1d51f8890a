"""What a load run will do, decided before it starts: the plan, the schedule and the thresholds.

Pure: no I/O, no clock. The schedule is an open model: notification ``m`` is due at a fixed offset
from the start, whatever the service does, so a slow service cannot lower the offered load.
"""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass, field

from notifyctl.addresses import is_http_url
from notifyctl.errors import NotifyError

MAX_BATCH = 1_000  # the API's own limit per POST /v1/notifications/batch
MIN_IN_FLIGHT_CAP = 64
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class PlanError(NotifyError):
    """A load-generator option is invalid. The message names the flag."""


@dataclass(frozen=True, slots=True)
class Stage:
    """The rate moves linearly from ``start_rate`` to ``end_rate`` over ``duration_s``."""

    duration_s: float
    start_rate: float
    end_rate: float

    @property
    def count(self) -> float:
        return (self.start_rate + self.end_rate) / 2 * self.duration_s

    def offset_of(self, m: float) -> float:
        """Seconds into the stage at which ``m`` notifications have come due."""
        r0, r1, d = self.start_rate, self.end_rate, self.duration_s
        if m <= 0:
            return 0.0
        a = (r1 - r0) / (2 * d)
        if a == 0:
            return m / r0
        # a t^2 + r0 t - m = 0, in the form that stays exact when a is tiny or negative
        return min(2 * m / (r0 + math.sqrt(max(r0 * r0 + 4 * a * m, 0.0))), d)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Due times of every request, as offsets in seconds from the start of the run."""

    stages: tuple[Stage, ...]
    batch: int
    notifications: int = field(init=False)
    requests: int = field(init=False)

    def __post_init__(self) -> None:
        total = math.floor(sum(s.count for s in self.stages) + 1e-9)
        object.__setattr__(self, "notifications", total)
        object.__setattr__(self, "requests", math.ceil(total / self.batch))

    @property
    def duration_s(self) -> float:
        return sum(s.duration_s for s in self.stages)

    def due(self, request: int) -> float:
        """Offset of request ``request``: when its first notification comes due."""
        m = float(request * self.batch)
        elapsed = 0.0
        for stage in self.stages:
            if m < stage.count:
                return elapsed + stage.offset_of(m)
            m -= stage.count
            elapsed += stage.duration_s
        return elapsed

    def size(self, request: int) -> int:
        """Notifications in request ``request`` (the last batch may be short)."""
        return min(self.batch, self.notifications - request * self.batch)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Pass/fail limits; defaults are the spec's Performance Targets."""

    max_mean_ms: float = 200.0
    max_p95_ms: float = 300.0
    max_p99_ms: float = 500.0
    max_error_rate: float = 0.01
    max_duplicates: int = 0
    max_lost: int = 0
    min_achieved: float = 0.99


@dataclass(frozen=True, slots=True)
class Plan:
    target: str
    schedule: Schedule
    users: int = 10_000
    channel: str = "webhook"
    api_key: str | None = None
    timeout_s: float = 10.0
    seed: int = 0
    sink_host: str = "127.0.0.1"
    sink_port: int = 0
    drain_timeout_s: float = 60.0
    progress_s: float = 5.0
    max_lag_ms: float = 10.0
    max_backlog_s: float = 1.0
    thresholds: Thresholds = Thresholds()
    verify: bool = True
    run_id: str = field(default_factory=lambda: secrets.token_hex(6))

    @property
    def batch(self) -> int:
        return self.schedule.batch

    @property
    def target_rate(self) -> float:
        """Planned notifications per second, averaged over the whole run."""
        return self.schedule.notifications / self.schedule.duration_s

    @property
    def peak_request_rate(self) -> float:
        rates = [r for s in self.schedule.stages for r in (s.start_rate, s.end_rate)]
        return max(rates) / self.batch

    @property
    def in_flight_cap(self) -> int:
        """Little's law with room to spare: rate x timeout x 2, at least 64."""
        return max(MIN_IN_FLIGHT_CAP, math.ceil(self.peak_request_rate * self.timeout_s * 2))

    @property
    def checks_delivery(self) -> bool:
        """Only webhooks come back to the sink; the log channel cannot be verified from here."""
        return self.verify and self.channel == "webhook"


def parse_duration(text: str, flag: str) -> float:
    match = DURATION.match(text)
    if not match:
        raise PlanError(f"{flag}: {text!r} is not a duration (e.g. 90, 90s, 5m, 1h)")
    seconds = float(match.group(1)) * UNIT_S[match.group(2) or "s"]
    if seconds <= 0:
        raise PlanError(f"{flag}: the duration must be above zero, got {text!r}")
    return seconds


def parse_ramp(text: str, start_rate: float) -> tuple[Stage, ...]:
    """``"30s:100,5m:100,30s:0"``: each stage moves the rate linearly to RATE over DURATION."""
    stages: list[Stage] = []
    rate = start_rate
    for part in text.split(","):
        duration, sep, target = part.partition(":")
        if not sep:
            raise PlanError(f"--ramp: stage {part.strip()!r} must be DURATION:RATE, e.g. 30s:100")
        end = parse_rate(target, f"--ramp stage {part.strip()!r}")
        stages.append(Stage(parse_duration(duration, f"--ramp stage {part.strip()!r}"), rate, end))
        rate = end
    return tuple(stages)


def parse_rate(text: str, flag: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        raise PlanError(
            f"{flag}: {text.strip()!r} is not a rate (notifications per second)"
        ) from None
    if not 0 <= rate < math.inf:
        raise PlanError(f"{flag}: the rate must be zero or more, got {text.strip()!r}")
    return rate


def check_target(target: str, flag: str = "--target") -> str:
    if not is_http_url(target):
        raise PlanError(f"{flag}: {target!r} must be an http:// or https:// URL with a host")
    return target.rstrip("/")


def build_schedule(
    rate: float, duration: str | None, ramp: str | None, batch: int
) -> Schedule:  # fmt: skip
    """The schedule from --rate, --duration or --ramp, and --batch."""
    if not 1 <= batch <= MAX_BATCH:
        raise PlanError(f"--batch: must be between 1 and {MAX_BATCH}, got {batch}")
    if ramp is not None and duration is not None:
        raise PlanError("--ramp and --duration: give one or the other (the stages set the length)")
    if ramp is not None:
        stages = parse_ramp(ramp, rate)
    else:
        if rate <= 0:
            raise PlanError(f"--rate: must be above zero, got {rate:g}")
        stages = (Stage(parse_duration(duration or "60", "--duration"), rate, rate),)
    schedule = Schedule(stages, batch)
    if schedule.notifications < 1:
        raise PlanError("--rate/--duration/--ramp: the plan sends no notification at all")
    return schedule


#: the channels whose deliveries the load generator can see arrive: webhooks to its own sink,
#: and the log channel (counted from the store); provider channels need a provider
LOADGEN_CHANNELS = ("webhook", "log")


def build_plan(
    target: str, rate: float, duration: str | None, ramp: str | None, batch: int,
    channel: str, sink_host: str, **options: object,
) -> Plan:  # fmt: skip
    """The Plan from command-line options; PlanError names the flag at fault."""
    if channel not in LOADGEN_CHANNELS:
        raise PlanError(f"--channel: must be one of {', '.join(LOADGEN_CHANNELS)}, got {channel!r}")
    if sink_host in ("0.0.0.0", "::", ""):
        raise PlanError(
            f"--sink-host: {sink_host!r} cannot be the address in a webhook URL; give an address "
            "of this machine that the workers can reach"
        )
    schedule = build_schedule(rate, duration, ramp, batch)
    return Plan(
        target=check_target(target), schedule=schedule, channel=channel, sink_host=sink_host,
        **options,  # type: ignore[arg-type]
    )  # fmt: skip
