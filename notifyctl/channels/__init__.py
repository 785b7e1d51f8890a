"""Delivery channels. ``CHANNELS`` names every channel there is; ``offered`` those a deployment
has the settings for (the API refuses the others with 422); ``open_channels`` builds them.

Each channel is one module here with a ``from_config(config)`` that builds it; ``BUILDERS``
names them. A provider channel (email, APNs, FCM, SMS) is offered only when every setting it
needs is set (``REQUIRED``), so a notification that could only die is never accepted.
"""

from __future__ import annotations

import importlib

from notifyctl.channels.base import Channel
from notifyctl.channels.secrets import Fetch, SigningSecrets
from notifyctl.config import Config
from notifyctl.model import CHANNELS

__all__ = ["CHANNELS", "Channel", "offered", "open_channels"]

#: channel -> the module whose ``from_config(config) -> Channel`` builds it
BUILDERS: dict[str, str] = {
    "email": "notifyctl.channels.email",
    "apns": "notifyctl.channels.apns",
    "fcm": "notifyctl.channels.fcm",
    "sms": "notifyctl.channels.sms",
}
#: channel -> the settings it cannot work without (the rest have defaults)
REQUIRED: dict[str, tuple[str, ...]] = {
    "email": ("smtp_url", "email_from"),
    "apns": ("apns_key_file", "apns_key_id", "apns_team_id", "apns_topic"),
    "fcm": ("fcm_credentials_file",),
    "sms": ("sms_url", "sms_account_sid", "sms_auth_token", "sms_from"),
}


def offered(config: Config) -> tuple[str, ...]:
    """The channels this deployment delivers: webhook and log always, a provider channel when
    it is built here and every setting it needs is set."""
    return tuple(
        name for name in CHANNELS
        if name not in REQUIRED
        or (name in BUILDERS and all(getattr(config, s) for s in REQUIRED[name]))
    )  # fmt: skip


def missing_settings(config: Config, channel: str) -> list[str]:
    """The settings a provider channel still needs, as environment variables."""
    from notifyctl.config.settings import BY_NAME

    return [BY_NAME[s].env for s in REQUIRED.get(channel, ()) if not getattr(config, s)]


def open_channels(config: Config, fetch_secrets: Fetch | None = None) -> dict[str, Channel]:
    """Every offered channel, built. ``fetch_secrets(tenant)``: the store's webhook signing
    secrets of a tenant (the worker passes ``store.webhook_secrets``)."""
    from notifyctl.channels.destinations import DestinationPolicy
    from notifyctl.channels.log import LogChannel
    from notifyctl.channels.webhook import WebhookChannel

    channels: dict[str, Channel] = {
        "webhook": WebhookChannel(
            config.webhook_timeout_ms,
            SigningSecrets(fetch_secrets, config.webhook_secret),
            config.worker_concurrency,
            DestinationPolicy.from_config(config.webhook_allow),
        ),
        "log": LogChannel(config.log_channel_path),
    }
    for name in offered(config):
        if name in BUILDERS:
            channels[name] = importlib.import_module(BUILDERS[name]).from_config(config)
    return channels
