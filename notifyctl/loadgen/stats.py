"""What a load run records while it runs: outcome counts and HdrHistograms of every timing.

Timings go into HdrHistograms in integer microseconds, 1 us to 1 h, 3 significant digits; a
value beyond that range is clamped and counted, never silently dropped (``record_value`` returns
False for it). Recording costs about 1 us; percentiles are read once per progress interval.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

HIGHEST_US = 3_600_000_000
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}

#: outcomes that mean the service accepted the notification
SUCCESS = frozenset({"created", "replayed"})
#: outcomes after which the service may or may not have the notification: the sink settles them
AMBIGUOUS = frozenset({"timeout", "reset", "bad_response", "client_error"})
LABELS = {
    "created": "HTTP 201 created",
    "replayed": "HTTP 200 idempotent replay",
    "connect_timeout": "Connection timeout (not sent)",
    "refused": "Connection refused (not sent)",
    "connect_error": "Connection failed (not sent)",
    "timeout": "Timeout after sending (ambiguous)",
    "reset": "Connection reset (ambiguous)",
    "bad_response": "Unreadable response (ambiguous)",
    "client_error": "Client error (ambiguous)",
    "not_sent": "Not sent: the generator fell behind",
}


def label(outcome: str) -> str:
    if outcome.startswith("http_"):
        return f"HTTP {outcome.removeprefix('http_')}"
    return LABELS.get(outcome, outcome)


class Histogram:
    """An HdrHistogram of durations, fed in seconds, kept in microseconds."""

    def __init__(self) -> None:
        self._hdr = HdrHistogram(1, HIGHEST_US, 3)
        self.clamped = 0
        self._total_us = 0  # hdrh's own mean walks every bucket: slow

    def record(self, seconds: float) -> None:
        micros = int(seconds * 1_000_000)
        if micros > HIGHEST_US:
            micros = HIGHEST_US
            self.clamped += 1
        micros = max(micros, 0)
        self._hdr.record_value(micros)
        self._total_us += micros

    @property
    def count(self) -> int:
        return int(self._hdr.get_total_count())

    def percentile_ms(self, percentile: float) -> float | None:
        if not self.count:
            return None
        return round(int(self._hdr.get_value_at_percentile(percentile)) / 1000, 3)

    def summary_ms(self) -> dict[str, Any]:
        """count, mean, p50 ... p99.9 and max, in milliseconds (None when empty)."""
        summary: dict[str, Any] = {"count": self.count, "clamped": self.clamped}
        empty = not self.count
        summary["mean"] = None if empty else round(self._total_us / self.count / 1000, 3)
        for name, percentile in PERCENTILES.items():
            summary[name] = self.percentile_ms(percentile)
        summary["max"] = None if empty else round(self._hdr.get_max_value() / 1000, 3)
        return summary

    def encode(self) -> str:
        """The compressed HdrHistogram "histoblob" (base64), readable by every HdrHistogram."""
        return str(self._hdr.encode().decode("ascii"))

    @classmethod
    def decode(cls, blob: str) -> Histogram:
        histogram = cls()
        decoded = HdrHistogram.decode(blob.encode("ascii"))
        histogram._hdr.add(decoded)
        histogram._total_us = int(decoded.get_mean_value() * decoded.get_total_count())
        return histogram


@dataclass
class Stats:
    """Counters and histograms of one run. Single-threaded: touched only from the event loop."""

    outcomes: Counter[str] = field(default_factory=Counter)
    latency: Histogram = field(default_factory=Histogram)  # answered requests, from the due time
    error_latency: Histogram = field(default_factory=Histogram)  # failed requests, likewise
    service_time: Histogram = field(default_factory=Histogram)  # from the actual send
    lag: Histogram = field(default_factory=Histogram)  # actual send minus due time
    delivery: Histogram = field(default_factory=Histogram)  # accepted -> received by the sink
    hiccup: Histogram = field(default_factory=Histogram)  # the event loop's own stalls
    interval: Histogram = field(default_factory=Histogram)  # latency since the last progress tick
    requests_sent: int = 0
    notifications_sent: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    in_flight_cap: int = 0  # set by the run: the plan's cap, within the open-files limit

    def started(self, notifications: int, lag_s: float) -> None:
        self.requests_sent += 1
        self.notifications_sent += notifications
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.lag.record(lag_s)

    def finished(self, answered: bool, latency_s: float, service_s: float) -> None:
        self.in_flight -= 1
        self.service_time.record(service_s)
        if answered:
            self.latency.record(latency_s)
            self.interval.record(latency_s)
        else:
            self.error_latency.record(latency_s)

    def count(self, outcome: str, notifications: int = 1) -> None:
        self.outcomes[outcome] += notifications

    def next_interval(self) -> Histogram:
        """The latency histogram of the interval just ended; a fresh one starts."""
        ended, self.interval = self.interval, Histogram()
        return ended

    @property
    def succeeded(self) -> int:
        return sum(self.outcomes[o] for o in SUCCESS)

    @property
    def failed(self) -> int:
        return sum(n for o, n in self.outcomes.items() if o not in SUCCESS and o != "not_sent")

    @property
    def not_sent(self) -> int:
        return self.outcomes["not_sent"]

    def histograms(self) -> dict[str, Histogram]:
        return {
            "latency": self.latency,
            "error_latency": self.error_latency,
            "service_time": self.service_time,
            "lag": self.lag,
            "delivery": self.delivery,
            "hiccup": self.hiccup,
        }
