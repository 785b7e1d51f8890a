"""The settings of the operators' web console (``notifyctl/api/console/``, docs/console.md)."""

from __future__ import annotations

from typing import Any

from notifyctl.config.parsers import boolean, integer
from notifyctl.config.setting import Setting

#: a signing secret shorter than this is refused: sessions must not be forgeable by guessing it
MIN_SECRET_CHARS = 32


def console_secret(raw: Any) -> str:
    value = str(raw).strip()
    if value and len(value) < MIN_SECRET_CHARS:
        raise ValueError(
            f"must be at least {MIN_SECRET_CHARS} characters (e.g. the output of"
            " `python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    return value


S = Setting
CONSOLE_SETTINGS: tuple[Setting, ...] = (
    S("console", "NOTIFYCTL_CONSOLE", boolean, True,
      "serve the operators' web console at /console on the API; off: no console"),
    S("console_secret", "NOTIFYCTL_CONSOLE_SECRET", console_secret, "",
      "signs console sessions (32+ characters); empty: a random one per API process, so set it"
      " where several API instances serve one console", secret=True),
    S("console_session_minutes", "NOTIFYCTL_CONSOLE_SESSION_MINUTES", integer(5, 10_080), 480,
      "how long a console sign-in lasts"),
)  # fmt: skip
