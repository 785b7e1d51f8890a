"""Console sessions: a signed cookie, and the CSRF token that goes with it.

The cookie holds who signed in (the digest of the API key they gave, never the key; or ``open``
on a console without keys), when the session ends, and a random nonce. It is signed with
HMAC-SHA256 under the console secret (``NOTIFYCTL_CONSOLE_SECRET``, else a random one per
process), so it cannot be made or altered without the secret; it is not encrypted, and needs not
be: it names a key only by its digest. Every request re-checks the key itself (``access.py``),
so revoking the key ends its sessions within the key cache's few seconds.

The CSRF token is an HMAC of the session's nonce under the same secret: each state-changing form
carries it, and a request without it (another site's form, which cannot read the page) is
refused. The cookie is also ``SameSite=Strict`` and ``HttpOnly``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

COOKIE = "notifyctl_console"
#: a cookie longer than this is not ours (bounded before any work is done on it)
MAX_COOKIE_CHARS = 1_024
OPEN = "open"


@dataclass(frozen=True, slots=True)
class Session:
    #: ``store:<digest>`` or ``env:<digest>`` of the key signed in with, or ``open``
    credential: str
    #: epoch milliseconds
    expires_at: int
    nonce: str


class Signer:
    def __init__(self, secret: str) -> None:
        # an empty secret (unset) means a random one: sessions then last as long as the process
        self._key = hashlib.sha256((secret or secrets.token_hex(32)).encode()).digest()

    def new_session(self, credential: str, now: int, minutes: int) -> Session:
        return Session(credential, now + minutes * 60_000, secrets.token_urlsafe(16))

    def dumps(self, session: Session) -> str:
        payload = json.dumps(
            {"c": session.credential, "e": session.expires_at, "n": session.nonce},
            separators=(",", ":"),
        ).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._mac(body)}"

    def loads(self, value: str | None, now: int) -> Session | None:
        """The session the cookie holds, or None: absent, altered, malformed or ended."""
        if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(str(data["c"]), int(data["e"]), str(data["n"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        return session if session.expires_at > now else None

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf:" + session.nonce)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token, self.csrf_token(session))

    def _mac(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()
