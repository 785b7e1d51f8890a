"""The TLS context every provider client (SMTP, APNs, FCM, SMS) verifies its provider with: the
system's CAs plus those of ``NOTIFYCTL_CHANNEL_CA_FILE`` (a private relay's, a test server's)."""

from __future__ import annotations

import ssl

from notifyctl.errors import ChannelError


def provider_ssl_context(ca_file: str) -> ssl.SSLContext:
    """A verifying client context; ChannelError naming the setting when the file cannot be
    read as PEM CAs."""
    context = ssl.create_default_context()
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ChannelError(
                f"NOTIFYCTL_CHANNEL_CA_FILE={ca_file}: not a readable PEM file of CAs ({exc})"
            ) from None
    return context
