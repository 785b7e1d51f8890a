"""OAuth2 access tokens for FCM HTTP v1, minted from a Google service account's JSON key file.

The key signs a short JWT assertion (RS256) which the account's ``token_uri`` exchanges for an
access token (RFC 7523, the jwt-bearer grant). The token is cached until shortly before it
expires, and only one exchange runs at a time: a burst of deliveries that all find the token
stale waits for one refresh instead of sending a request each (single-flight).

Neither the private key nor a token is ever logged or put in an error message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from notifyctl.errors import ChannelError

CREDENTIALS_SETTING = "NOTIFYCTL_FCM_CREDENTIALS_FILE"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REQUIRED_FIELDS = ("client_email", "private_key", "private_key_id", "token_uri", "project_id")
ASSERTION_LIFETIME_S = 3600
#: a token is renewed this long before Google says it expires, so none is sent as it lapses
EXPIRY_MARGIN_S = 300.0
MAX_TOKEN_RESPONSE = 64 * 1024


class TokenUnavailable(Exception):
    """The token endpoint did not hand out an access token (a delivery is retried later)."""


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key_id: str
    token_uri: str
    project_id: str
    #: kept out of repr so the key never reaches a log line or a traceback
    private_key: RSAPrivateKey = field(repr=False)


def _bad_file(path: str, problem: str) -> ChannelError:
    return ChannelError(f"{CREDENTIALS_SETTING}={path}: {problem}")


def _read_json(path: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        problem = f"cannot read the service account key file ({exc.strerror})"
        raise _bad_file(path, problem) from None
    try:
        document = json.loads(text)
    except ValueError:
        # the exception's text may quote the file, and the file holds a private key
        raise _bad_file(path, "not JSON: expected a service account key file") from None
    if not isinstance(document, dict):
        raise _bad_file(path, "not a JSON object: expected a service account key file")
    return document


def _private_key(path: str, pem: str) -> RSAPrivateKey:
    try:
        key = load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise _bad_file(path, "private_key is not a PEM private key without a password") from None
    if not isinstance(key, RSAPrivateKey):
        raise _bad_file(path, "private_key is not an RSA key (FCM assertions are RS256)")
    return key


def load_service_account(path: str) -> ServiceAccount:
    """Read and check the key file at start, so a bad one stops the worker with a clear error
    instead of failing every delivery."""
    document = _read_json(path)
    missing = [name for name in REQUIRED_FIELDS if not isinstance(document.get(name), str)
               or not document[name]]  # fmt: skip
    if missing:
        raise _bad_file(path, f"missing or empty fields: {', '.join(missing)}")
    if not document["token_uri"].startswith(("https://", "http://")):
        raise _bad_file(path, "token_uri is not an http(s) URL")
    return ServiceAccount(
        client_email=document["client_email"],
        private_key_id=document["private_key_id"],
        token_uri=document["token_uri"],
        project_id=document["project_id"],
        private_key=_private_key(path, document["private_key"]),
    )


def assertion(account: ServiceAccount, now_s: int) -> str:
    """The signed JWT the token endpoint exchanges for an access token."""
    claims = {
        "iss": account.client_email,
        "sub": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": now_s,
        "exp": now_s + ASSERTION_LIFETIME_S,
    }
    headers = {"kid": account.private_key_id}
    return jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: str = field(repr=False)
    #: on the monotonic clock: when to fetch a new one
    renew_at: float


def _describe_refusal(status: int, body: bytes) -> str:
    """The token endpoint's own words (OAuth2 ``error`` and ``error_description``), which say
    what to fix: a deleted key, a disabled account, a clock far off."""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and "error" in document:
        description = document.get("error_description") or ""
        return f"HTTP {status} {document['error']} {description}".rstrip()
    return f"HTTP {status}"


class TokenSource:
    """Hands out a valid access token, refreshing it when it is stale or refused.

    One exchange at a time, and its outcome serves every delivery that waited for it: when the
    token endpoint is down, a burst of deliveries fails together after one request instead of
    queueing up one timeout each behind the lock.
    """

    def __init__(
        self, account: ServiceAccount, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.account = account
        self._clock = clock
        self._current: AccessToken | None = None
        self._refresh = anyio.Lock()
        #: exchanges that ended with a token or a failure (a cancelled one has no outcome)
        self._outcomes = 0
        self._failure: str | None = None
        #: exchanges started (for the tests)
        self.refreshes = 0

    def _fresh(self) -> str | None:
        if self._current is not None and self._current.renew_at > self._clock():
            return self._current.value
        return None

    async def token(self, session: aiohttp.ClientSession) -> str:
        return self._fresh() or await self._single_flight(session, refused=None)

    async def renew(self, session: aiohttp.ClientSession, refused: str) -> str:
        """A new token after FCM refused ``refused``; when another delivery already renewed
        it meanwhile, that one."""
        return await self._single_flight(session, refused)

    async def _single_flight(self, session: aiohttp.ClientSession, refused: str | None) -> str:
        outcomes_before = self._outcomes
        async with self._refresh:
            if self._outcomes != outcomes_before and self._failure is not None:
                raise TokenUnavailable(self._failure)  # the exchange this one waited for failed
            current = self._fresh()
            if current is not None and current != refused:
                return current  # renewed by whoever held the lock before
            return await self._exchange(session)

    async def _exchange(self, session: aiohttp.ClientSession) -> str:
        self.refreshes += 1
        try:
            self._current = self._parse(await self._post_assertion(session))
        except TokenUnavailable as exc:
            self._failure = str(exc)
            self._outcomes += 1
            raise
        self._failure = None
        self._outcomes += 1
        return self._current.value

    async def _post_assertion(self, session: aiohttp.ClientSession) -> bytes:
        form = {"grant_type": GRANT_TYPE, "assertion": assertion(self.account, int(time.time()))}
        try:
            async with session.post(self.account.token_uri, data=form) as response:
                body = await response.content.read(MAX_TOKEN_RESPONSE)
                status = response.status
        except TimeoutError:
            raise TokenUnavailable("the token endpoint timed out") from None
        except aiohttp.ClientError as exc:
            raise TokenUnavailable(f"cannot reach the token endpoint: {exc!r}") from None
        if status != 200:
            raise TokenUnavailable(f"the token endpoint refused: {_describe_refusal(status, body)}")
        return body

    def _parse(self, body: bytes) -> AccessToken:
        try:
            document = json.loads(body)
            value = document["access_token"]
            lifetime = float(document.get("expires_in", ASSERTION_LIFETIME_S))
        except (ValueError, TypeError, KeyError):
            raise TokenUnavailable("the token endpoint's answer has no access_token") from None
        if not isinstance(value, str) or not value:
            raise TokenUnavailable("the token endpoint's answer has no access_token")
        # a short-lived token is renewed halfway through rather than never cached
        margin = min(EXPIRY_MARGIN_S, lifetime / 2)
        return AccessToken(value, self._clock() + lifetime - margin)
