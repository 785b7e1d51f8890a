"""Who can reach the API, and with what: API keys, a loopback-only bind, the webhook reach that
follows from it. Shared by ``notifyctl api`` and ``notifyctl up`` (an API that others can reach
and that asks for no key is an open relay for webhooks; ``up`` says so in its banner too).
"""

from __future__ import annotations

import ipaddress
import logging

from notifyctl.apikeys import ApiKeys
from notifyctl.channels.destinations import LOOPBACK_ONLY
from notifyctl.config import Config
from notifyctl.errors import ConfigError


def loopback_only(host: str) -> bool:
    """True when an API bound to ``host`` is reachable from this machine alone."""
    name = host.strip("[]").lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name or a wildcard such as 0.0.0.0: assume others can reach it
        return False


def has_api_keys(built: Config, store_keys: bool = False) -> bool:
    """Keys from NOTIFYCTL_API_KEYS / _FILE, or ``store_keys``: the store holds keys made with
    ``notifyctl keys create`` (the caller asked it: ``Store.has_keys``)."""
    return store_keys or ApiKeys.from_config(built.api_keys, built.api_keys_file).enabled


def require_api_keys(built: Config, store_keys: bool = False) -> None:
    """NOTIFYCTL_REQUIRE_API_KEYS (set in the Docker image): no keys, no API."""
    if built.require_api_keys and not has_api_keys(built, store_keys):
        raise ConfigError(
            "NOTIFYCTL_REQUIRE_API_KEYS is set and there are no API keys: set NOTIFYCTL_API_KEYS"
            " (or NOTIFYCTL_API_KEYS_FILE, or create one with notifyctl keys create), or"
            " NOTIFYCTL_REQUIRE_API_KEYS=false to run an API that anyone who reaches it may use"
        )


def check_api_keys(built: Config, store_keys: bool = False) -> None:
    """For ``notifyctl api``: refuse to start without keys when they are required, and warn in
    the log when the API is open to others (``up`` says it in its banner too)."""
    require_api_keys(built, store_keys)
    warning = open_api_warning(built, store_keys)
    if warning is not None:
        logging.getLogger("notifyctl.api").warning("%s", warning)


def open_api_warning(built: Config, store_keys: bool = False) -> str | None:
    """The warning for an API that others can reach and that asks for no key, else None."""
    if loopback_only(built.api_host) or has_api_keys(built, store_keys):
        return None
    return (
        f"the API on {built.api_host}:{built.api_port} has no API keys: anyone who can reach it"
        " can send notifications to any public webhook; set NOTIFYCTL_API_KEYS or create one"
        " with notifyctl keys create"
    )


def keys_line(built: Config, store_keys: bool = False) -> str:
    """What ``up`` says at start about the keys a request needs."""
    if has_api_keys(built, store_keys):
        return "required (NOTIFYCTL_API_KEYS and/or the store's: notifyctl keys list)"
    return "none: one open tenant 'default' with every scope (notifyctl keys create adds one)"


def webhook_allow(built: Config) -> str:
    """Loopback receivers are fair game only when nobody else can reach the API: otherwise a
    client could make the workers POST to this machine's own services (SSRF)."""
    if built.webhook_allow or not loopback_only(built.api_host):
        return built.webhook_allow
    return LOOPBACK_ONLY
