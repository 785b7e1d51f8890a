"""Delivery channels. ``CHANNELS`` names what the API accepts; ``open_channels`` builds them."""

from __future__ import annotations

from notifyctl.channels.base import Channel
from notifyctl.channels.secrets import Fetch, SigningSecrets
from notifyctl.config import Config
from notifyctl.model import CHANNELS

__all__ = ["CHANNELS", "Channel", "open_channels"]


def open_channels(config: Config, fetch_secrets: Fetch | None = None) -> dict[str, Channel]:
    """``fetch_secrets(tenant)``: the store's webhook signing secrets of a tenant (the worker
    passes ``store.webhook_secrets``)."""
    from notifyctl.channels.destinations import DestinationPolicy
    from notifyctl.channels.log import LogChannel
    from notifyctl.channels.webhook import WebhookChannel

    return {
        "webhook": WebhookChannel(
            config.webhook_timeout_ms,
            SigningSecrets(fetch_secrets, config.webhook_secret),
            config.worker_concurrency,
            DestinationPolicy.from_config(config.webhook_allow),
        ),
        "log": LogChannel(config.log_channel_path),
    }
