"""How one raw setting value becomes a checked, typed one: the parsers the settings table names.

A raw value is a string from a flag or the environment, or whatever type the TOML file gave. A
parser returns the value the Config holds or raises ValueError with the rest of a sentence
("must be an integer, got 'abc'"); ``config.resolve`` puts the flag, variable or file key in
front of it, so every message names where the bad value came from without each parser knowing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

Parser = Callable[[Any], Any]


def integer(low: int, high: int) -> Parser:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool | float):  # int(2.5) would silently truncate
            raise ValueError(f"must be an integer, got {raw!r}")
        try:
            value = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"must be an integer, got {raw!r}") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}, got {value}")
        return value

    return parse


def text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError(f"must be a string, got {raw!r}")
    return raw


def choice(*options: str) -> Parser:
    def parse(raw: Any) -> str:
        value = text(raw).lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {raw!r}")
        return value

    return parse


def without_password(value: str) -> str:
    """``value`` with the password of its ``user:password@`` replaced by ``***``.

    Unlike ``urlsplit``, this needs no well-formed URL: a message quoting a bad URL is most often
    about a mistyped one (``amqp//user:pw@host``), and a password holding ``/`` or ``#`` ends
    urlsplit's host part early. So everything up to the last ``@`` counts as user information;
    an ``@`` further on (in a query) hides a little more than needed, never less.
    """
    head, at, tail = value.rpartition("@")
    start = head.find("//") + 2 if "//" in head else 0
    user, colon, _ = head[start:].partition(":")
    if not at or not colon:
        return value
    return f"{head[:start]}{user}:***@{tail}"


def broker_url(raw: Any) -> str:
    value = text(raw).strip()
    if value.lower() == "none":
        return "none"
    if not value.startswith(("amqp://", "amqps://")):
        shown = without_password(value)
        raise ValueError(f"must be none or an amqp:// or amqps:// URL, got {shown!r}")
    return value


def boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = text(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"must be true or false, got {raw!r}")


def items(raw: Any) -> list[str]:
    return [item.strip() for item in text(raw).split(",") if item.strip()]


def networks(raw: Any) -> str:
    """Comma-separated IP networks (CIDRs or single addresses), normalised."""
    try:
        return ",".join(str(ipaddress.ip_network(item, strict=False)) for item in items(raw))
    except ValueError as exc:
        raise ValueError(f"must be comma-separated IP addresses or CIDRs: {exc}") from None


def networks_or_hosts(raw: Any) -> str:
    """Comma-separated CIDRs, addresses or host names (for the webhook allow list)."""
    normalised = []
    for item in items(raw):
        try:
            normalised.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            if not HOSTNAME.fullmatch(item):
                raise ValueError(
                    f"{item!r} is neither a CIDR, an address nor a host name"
                ) from None
            normalised.append(item.lower().rstrip("."))
    return ",".join(normalised)


HOSTNAME = re.compile(r"(?=.{1,253}\.?$)([a-zA-Z0-9_]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?\.?)+")


def path(raw: Any) -> Path:
    return Path(text(raw)).expanduser()


def mongodb_url(raw: Any) -> str:
    value = text(raw).strip()
    if value and not value.startswith(("mongodb://", "mongodb+srv://")):
        shown = without_password(value)
        raise ValueError(f"must start with mongodb:// or mongodb+srv://, got {shown!r}")
    return value


def store_url(raw: Any) -> str:
    """Empty (SQLite in the data dir), a sqlite:///, a MongoDB or a PostgreSQL URL: checked here
    rather than when the store opens, so a mistyped URL is refused with its password hidden."""
    value = text(raw).strip()
    schemes = ("sqlite:///", "mongodb://", "mongodb+srv://", "postgresql://", "postgres://")
    if value and not value.startswith(schemes):
        shown = without_password(value)
        raise ValueError(
            "must be sqlite:///path/to/notifyctl.db, mongodb://host/database or "
            f"postgresql://user@host/database, got {shown!r}"
        )
    return value


def path_text(raw: Any) -> str:
    """A file's path as given ("" for none); whether it can be read is checked where it is
    used, with a message naming the setting."""
    return text(raw).strip()


def provider_url(*names: str) -> Parser:
    """An http(s):// URL, or one of ``names`` (a provider's well-known endpoints), or "" for
    none."""

    def parse(raw: Any) -> str:
        value = text(raw).strip()
        if not value or value.lower() in names:
            return value.lower()
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            known = "".join(f"{name}, " for name in names)
            raise ValueError(f"must be {known}an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    return parse


def smtp_url(raw: Any) -> str:
    """smtp:// or smtps:// with a host, optionally ``?starttls=off``; "" for none. Errors never
    repeat the URL (it may hold a password)."""
    value = text(raw).strip()
    if not value:
        return ""
    from urllib.parse import parse_qs, urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ValueError("is not a valid URL (smtp://user:pass@host:587)") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be smtp://user:pass@host:port or smtps://... with a host")
    query = parse_qs(parts.query)
    if set(query) - {"starttls"} or query.get("starttls", ["on"]) not in (["on"], ["off"]):
        raise ValueError("takes only ?starttls=off (or on, the default) after the host")
    return value
