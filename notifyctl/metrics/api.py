"""The API's Prometheus metrics: intake, beside what every process exports (``base.Metrics``)."""

from __future__ import annotations

from prometheus_client import Counter

from notifyctl.broker import Broker
from notifyctl.metrics.base import Metrics
from notifyctl.store import Store


class ApiMetrics(Metrics):
    """The API's metrics: the shared ones plus intake."""

    def __init__(self, store: Store, broker: Broker) -> None:
        super().__init__(store, broker)
        self.accepted = Counter(
            "api_notifications_accepted", "Notifications the API stored (answered 201 or stored"
            " in a batch).", registry=self.registry,
        )  # fmt: skip
        self.idempotent_replays = Counter(
            "api_idempotent_replays", "Requests that repeated an idempotency key and got the"
            " first notification back instead of a new one.", registry=self.registry,
        )  # fmt: skip

    def intake(self, created: int, replayed: int) -> None:
        try:
            if created:
                self.accepted.inc(created)
            if replayed:
                self.idempotent_replays.inc(replayed)
        except Exception as exc:
            self.monitoring_error("api intake counters", exc)
