"""Broker adapters behind one port. ``open_broker`` picks one by URL; ``none`` means poll-only."""

from __future__ import annotations

from notifyctl.broker.base import Broker, Receipt, WakeUp, group_wakeups
from notifyctl.broker.none import POLL_ONLY, NoBroker
from notifyctl.config import Config

__all__ = ["POLL_ONLY", "Broker", "NoBroker", "Receipt", "WakeUp", "broker_state",
           "group_wakeups", "open_broker"]  # fmt: skip


def open_broker(config: Config) -> Broker:
    """The configured broker, not yet started; ``NoBroker`` in the poll-only mode."""
    if config.rabbitmq_url == "none":
        return POLL_ONLY
    from notifyctl.broker.rabbitmq import RabbitBroker

    return RabbitBroker(
        config.rabbitmq_url,
        group=config.rabbitmq_consumer_group,
        prefetch=config.prefetch_count,
        confirm_timeout_ms=config.publish_confirm_timeout_ms,
    )


def broker_state(broker: Broker) -> str:
    """What ``/health`` says of the broker: ``none``, ``connected`` or ``disconnected``."""
    if not broker.configured:
        return "none"
    return "connected" if broker.connected else "disconnected"
