"""Broker adapters behind one port. ``open_broker`` picks one by URL; ``none`` means poll-only."""

from __future__ import annotations

from notifyctl.broker.base import Broker, Receipt, WakeUp, group_wakeups
from notifyctl.config import Config

__all__ = ["Broker", "Receipt", "WakeUp", "broker_state", "group_wakeups", "open_broker"]


def open_broker(config: Config) -> Broker | None:
    """The configured broker, not yet started; None in the poll-only mode."""
    if config.rabbitmq_url == "none":
        return None
    from notifyctl.broker.rabbitmq import RabbitBroker

    return RabbitBroker(
        config.rabbitmq_url,
        group=config.rabbitmq_consumer_group,
        prefetch=config.prefetch_count,
        confirm_timeout_ms=config.publish_confirm_timeout_ms,
    )


def broker_state(broker: Broker | None) -> str:
    """What ``/health`` says of the broker: ``none``, ``connected`` or ``disconnected``."""
    if broker is None:
        return "none"
    return "connected" if broker.connected else "disconnected"
