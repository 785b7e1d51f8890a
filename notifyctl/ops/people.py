"""``notifyctl inspect recipient|message``: a tenant's recipient as the store holds it, and a
message (a send to a person by template: the notifications sharing a ``message_id``), for
operators (issue 16). Data only: the CLI renders it (``cli/people.py``) or prints it as JSON.

Device tokens are as good as credentials (whoever holds one can push to the device): they are
shortened here, a recipient's devices and a push notification's ``to`` alike, before anything
can print them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from notifyctl.errors import NotifyError
from notifyctl.model import Notification
from notifyctl.recipient_json import recipient_json
from notifyctl.recipients import PLATFORMS, Device
from notifyctl.store import Store
from notifyctl.tenants import tenant_name

#: the characters of a device token shown at its start and at its end
TOKEN_HEAD = 8
TOKEN_TAIL = 4
#: a token must hide at least this many characters to show its start
TOKEN_HIDDEN_MIN = 8


class PeopleRequestError(NotifyError):
    """The command line named something that cannot be looked up as stated."""


def valid_tenant(text: str | None) -> str | None:
    """``text`` when it is a tenant name (None stays None: any tenant)."""
    if text is None:
        return None
    try:
        return tenant_name(text)
    except ValueError as exc:
        raise PeopleRequestError(str(exc)) from None


def short_token(token: str) -> str:
    """The token's first 8 and last 4 characters; fewer of them when it is too short to hide at
    least 8 (stored tokens are longer: APNs 64 hex digits or more, FCM 20 characters or more)."""
    if len(token) >= TOKEN_HEAD + TOKEN_TAIL + TOKEN_HIDDEN_MIN:
        return f"{token[:TOKEN_HEAD]}...{token[-TOKEN_TAIL:]}"
    if len(token) >= TOKEN_TAIL + TOKEN_HIDDEN_MIN:
        return f"...{token[-TOKEN_TAIL:]}"
    return "..."


def device_json(device: Device) -> dict[str, Any]:
    return {"platform": device.platform, "app": device.app, "token": short_token(device.token)}


def recipient(store: Store, tenant: str, user_id: str) -> dict[str, Any] | None:
    """The tenant's recipient as the API shows it, with its tenant and revision, and device
    tokens shortened; None when the tenant has no recipient of that user id."""
    found = store.get_recipient(tenant, user_id)
    if found is None:
        return None
    return {
        **recipient_json(found),
        "tenant_id": found.tenant,
        "devices": [device_json(device) for device in found.devices],
        "revision": found.revision,
    }


def message(store: Store, message_id: str, tenant: str | None = None) -> list[Notification]:
    """The message's notifications, oldest first, a push's ``to`` (its device token)
    shortened: of any tenant, or only of ``tenant``; none for an unknown id.
    ``api/messages.py``'s ``message_json`` shapes them (the CLI may import another role; this
    role may not)."""
    found = store.message_notifications(message_id, tenant)
    return [shortened(n) if n.channel in PLATFORMS else n for n in found]


def shortened(n: Notification) -> Notification:
    return n if n.to is None else replace(n, to=short_token(n.to))


def shown_to(n: Notification) -> str | None:
    """``to`` as operators see it: a push's device token shortened (a token lets anyone with the
    provider credentials reach the device), every other address whole."""
    return short_token(n.to) if n.to is not None and n.channel in PLATFORMS else n.to
