"""Delivery channels. ``CHANNELS`` names what the API accepts; ``open_channels`` builds them."""

from __future__ import annotations

from notifyctl.channels.base import Channel
from notifyctl.config import Config
from notifyctl.model import CHANNELS

__all__ = ["CHANNELS", "Channel", "open_channels"]


def open_channels(config: Config) -> dict[str, Channel]:
    from notifyctl.channels.destinations import DestinationPolicy
    from notifyctl.channels.log import LogChannel
    from notifyctl.channels.webhook import WebhookChannel

    return {
        "webhook": WebhookChannel(
            config.webhook_timeout_ms,
            config.webhook_secret,
            config.worker_concurrency,
            DestinationPolicy.from_config(config.webhook_allow),
        ),
        "log": LogChannel(config.log_channel_path),
    }
