"""APNs provider tokens: ES256 JWTs signed with the team's .p8 key, cached and renewed.

Apple rejects a token older than an hour (ExpiredProviderToken) and answers
TooManyProviderTokenUpdates to tokens renewed more often than every 20 minutes, so a token is
kept for 50 minutes and renewed early only when APNs refuses it: once for all the streams that
saw the refusal, and not when the token is under a minute old (then the key, its ids or the
clock are wrong, and a new token would be refused alike). Neither the key nor a token is ever
logged or put in an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from notifyctl.errors import ChannelError

#: a token is renewed after this long: Apple refuses one older than 60 minutes
TOKEN_LIFETIME_S = 50 * 60
#: a token refused younger than this is not renewed: a new one would be refused alike
MIN_AGE_TO_RENEW_S = 60
KEY_SETTING = "NOTIFYCTL_APNS_KEY_FILE"


def load_signing_key(path: str) -> ec.EllipticCurvePrivateKey:
    """The EC P-256 private key of a .p8 file, or a ChannelError naming the setting."""
    try:
        pem = Path(path).read_bytes()
    except FileNotFoundError:
        raise ChannelError(f"{KEY_SETTING}: no such file {path!r}") from None
    except OSError as exc:
        raise ChannelError(f"{KEY_SETTING}: cannot read {path!r}: {exc.strerror}") from None
    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        # the exception's text could quote the file; only say what it is not
        raise ChannelError(
            f"{KEY_SETTING}: {path!r} is not an unencrypted PEM private key (the .p8 file"
            " downloaded from Apple's developer site)"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ChannelError(f"{KEY_SETTING}: {path!r} is not an EC P-256 key, as APNs keys are")
    return key


@dataclass(frozen=True, slots=True)
class ProviderToken:
    jwt: str
    issued_at: float


class ProviderTokens:
    """The current provider token of one key, team and key id."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        key_id: str,
        team_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._key_id = key_id
        self._team_id = team_id
        self._clock = clock
        self._token: ProviderToken | None = None
        #: tokens made so far (the first included)
        self.issued = 0

    def current(self) -> str:
        """The token to send now, made anew when there is none or it is 50 minutes old."""
        token = self._token
        if token is None or self._clock() - token.issued_at >= TOKEN_LIFETIME_S:
            token = self._issue()
        return token.jwt

    def refused(self, stale: str) -> str | None:
        """APNs refused ``stale`` as expired or invalid: the token to try again with, or None
        when trying again is pointless. Another stream may have replaced ``stale`` already
        (many streams see one refusal; renewing for each would trip
        TooManyProviderTokenUpdates)."""
        token = self._token
        if token is None or token.jwt != stale:
            return self.current()
        if self._clock() - token.issued_at < MIN_AGE_TO_RENEW_S:
            return None
        return self._issue().jwt

    def _issue(self) -> ProviderToken:
        issued_at = self._clock()
        signed = jwt.encode(
            {"iss": self._team_id, "iat": int(issued_at)},
            self._key,
            algorithm="ES256",
            headers={"kid": self._key_id},
        )
        self._token = ProviderToken(signed, issued_at)
        self.issued += 1
        return self._token
