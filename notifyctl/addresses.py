"""What each channel's ``to`` must look like, and what a notification on it must carry. Pure.

Checked at intake (``validation``), so a notification that can only die is refused with 422
instead of being accepted: a webhook needs an http(s) URL, an email an address, an APNs push a
device token, an FCM push a registration token, an SMS a number in E.164 form and a text that
fits in ten SMS segments.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

#: an SMS body longer than this is refused (Twilio's limit: ten concatenated segments)
MAX_SMS_BODY = 1_600
MAX_EMAIL_ADDRESS = 254
#: RFC 5322's dot-atom addr-spec, as mail providers accept it: no quoted local parts, no
#: comments, no IP-literal domains; the domain has a dot and labels of letters, digits, hyphens
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)
#: an APNs device token: hex, 32 bytes today and possibly longer later (Apple says not to assume)
_APNS_TOKEN = re.compile(r"([0-9A-Fa-f]{2}){32,100}")
#: an FCM registration token: URL-safe base64 characters and ':' (about 150-200 today)
_FCM_TOKEN = re.compile(r"[A-Za-z0-9_:\-]{20,4096}")
#: E.164: '+', a country code not starting with 0, at most 15 digits in all
_E164 = re.compile(r"\+[1-9][0-9]{1,14}")


def is_http_url(url: str) -> bool:
    """An http:// or https:// URL with a host and, if any, a valid port."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def address_problem(channel: str, to: str | None) -> str | None:
    """Why ``to`` cannot be an address on ``channel``, or None when it can."""
    rule = _RULES.get(channel)
    if rule is None:  # the log channel takes any address, or none
        return None
    if to is None:
        return f"is required for the {channel} channel ({rule[1]})"
    if not rule[0](to):
        return f"must be {rule[1]} for the {channel} channel"
    return None


def content_problem(
    channel: str, title: str | None, body: str | None, html: str | None = None
) -> tuple[str, str] | None:
    """(field, why) when the notification cannot be sent on ``channel`` as it is, else None."""
    if channel == "sms":
        if not body:
            return "body", "is required for the sms channel (the text sent)"
        if len(body) > MAX_SMS_BODY:
            return "body", f"must be at most {MAX_SMS_BODY} characters for the sms channel"
    if channel == "email" and not (title or body or html):
        return "body", "an email needs a title (its subject), a body or an html part"
    return None


def _email(to: str) -> bool:
    return len(to) <= MAX_EMAIL_ADDRESS and _EMAIL.fullmatch(to) is not None


_RULES = {
    "webhook": (is_http_url, "an http:// or https:// URL with a host"),
    "email": (_email, "an email address such as ada@example.com"),
    "apns": (lambda to: _APNS_TOKEN.fullmatch(to) is not None, "an APNs device token (hex)"),
    "fcm": (lambda to: _FCM_TOKEN.fullmatch(to) is not None, "an FCM registration token"),
    "sms": (
        lambda to: _E164.fullmatch(to) is not None,
        "a phone number in E.164 form (+15551234567)",
    ),
}
