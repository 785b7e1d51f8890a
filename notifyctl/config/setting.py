"""One row of the settings table (``settings.SETTINGS``, ``channel_settings.CHANNEL_SETTINGS``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from notifyctl.config.parsers import Parser


@dataclass(frozen=True, slots=True)
class Setting:
    name: str
    env: str
    parse: Parser
    default: Any
    help: str
    #: a credential: may come from the file ``<env>_FILE`` names, and is masked when shown
    secret: bool = False
