"""Flow control's rules (issue 17): what a destination is. Pure.

A destination is the unit of flow control: where a delivery goes, as far as one slow or dead
receiver is concerned. A webhook's is its scheme, host and port (every path on one server shares
its capacity and its outages); a provider channel's is the provider itself (``smtp``, ``apns``,
``fcm``, ``sms``), since every notification on it goes to the same service.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: the destination of each provider channel; a webhook's depends on its URL
PROVIDER_DESTINATIONS = {"email": "smtp", "apns": "apns", "fcm": "fcm", "sms": "sms", "log": "log"}
DEFAULT_PORTS = {"http": 80, "https": 443}


def destination_of(channel: str, to: str | None) -> str:
    """The destination a notification on ``channel`` to ``to`` is delivered to."""
    if channel != "webhook":
        return PROVIDER_DESTINATIONS.get(channel, channel)
    if not to:
        return "webhook"
    try:
        parts = urlsplit(to)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 0)
    except ValueError:  # a malformed URL: it fails on its own, apart from the others
        return "webhook"
    host = (parts.hostname or "").lower()
    return f"{parts.scheme.lower()}://{host}:{port}"
