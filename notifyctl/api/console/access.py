"""Who may use the console, and as whom.

Signing in takes an API key, checked as the API checks a bearer key: a ``NOTIFYCTL_API_KEYS``
key (tenant ``default``, every scope) or a key from the store (its tenant and scopes). The
session then holds the key's digest, and every request checks that key again, so a revoked or
expired key ends its sessions. Viewing needs ``read``; replaying and cancelling need ``admin``.

Operators: a ``NOTIFYCTL_API_KEYS`` key is the deployment's own, so it sees every tenant and the
workers; a store key sees its own tenant's notifications only.

With no key configured anywhere, the API is open, and so would the console be: it then answers
loopback clients only (someone on the host itself), and says so on every page.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from starlette.requests import Request

from notifyctl.api.console.sessions import COOKIE, OPEN, Session, Signer
from notifyctl.api.guard import Network, client_address
from notifyctl.api.keyring import StoreKeys
from notifyctl.apikeys import ApiKeys
from notifyctl.apikeys import digest as env_digest
from notifyctl.tenants import OPEN as OPEN_IDENTITY
from notifyctl.tenants import Identity, Scope, key_digest


@dataclass(frozen=True, slots=True)
class Viewer:
    identity: Identity
    session: Session
    #: no keys are configured: the console is open to loopback clients
    open: bool = False
    #: a session begun by this request: its cookie goes with the answer
    new: bool = False

    @property
    def operator(self) -> bool:
        """The deployment's own key (or an open console): every tenant, and the workers."""
        key = self.identity.key_id
        return key is None or key.startswith("env:")

    @property
    def tenant(self) -> str | None:
        """Whose notifications it sees: None for every tenant's."""
        return None if self.operator else self.identity.tenant

    @property
    def can_view(self) -> bool:
        return Scope.READ in self.identity.scopes

    @property
    def can_act(self) -> bool:
        return Scope.ADMIN in self.identity.scopes


class Refused(Exception):
    """No viewer: where to send them (``login``), or why not at all (``forbidden``)."""

    def __init__(self, login: bool, message: str = "") -> None:
        super().__init__(message)
        self.login = login


class ConsoleAccess:
    def __init__(
        self,
        keys: ApiKeys,
        store_keys: StoreKeys,
        signer: Signer,
        session_minutes: int,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.keys = keys
        self.store_keys = store_keys
        self.signer = signer
        self.session_minutes = session_minutes
        self.trusted = trusted_proxies

    async def keys_configured(self) -> bool:
        return self.keys.enabled or await self.store_keys.any()

    async def sign_in(self, token: str, now: int) -> Viewer | None:
        """A new session for a usable key with the ``read`` scope, else None."""
        token = token.strip()
        if not token or len(token) > 512:
            return None
        identity = self.keys.identify(token)
        credential = "env:" + env_digest(token).hex()
        if identity is None:
            identity = await self.store_keys.identify(token)
            credential = "store:" + key_digest(token)
        if identity is None or Scope.READ not in identity.scopes:
            return None
        session = self.signer.new_session(credential, now, self.session_minutes)
        return Viewer(identity, session, new=True)

    async def viewer(self, request: Request, now: int) -> Viewer:
        """Who is asking, or Refused."""
        session = self.signer.loads(request.cookies.get(COOKIE), now)
        if not await self.keys_configured():
            if not self._loopback(request):
                raise Refused(False, "no API keys are configured: the console answers only"
                                     " clients on this host (127.0.0.1, ::1)")  # fmt: skip
            if session is None or session.credential != OPEN:
                fresh = self.signer.new_session(OPEN, now, self.session_minutes)
                return Viewer(OPEN_IDENTITY, fresh, open=True, new=True)
            return Viewer(OPEN_IDENTITY, session, open=True)
        identity = None if session is None else await self._identify(session.credential)
        if session is None or identity is None or Scope.READ not in identity.scopes:
            raise Refused(True)
        return Viewer(identity, session)

    async def _identify(self, credential: str) -> Identity | None:
        kind, _, digest = credential.partition(":")
        if kind == "env":
            try:
                return self.keys.identify_digest(bytes.fromhex(digest))
            except ValueError:
                return None
        if kind == "store":
            return await self.store_keys.identify_digest(digest)
        return None  # ``open``, from before keys were configured: sign in now

    def _loopback(self, request: Request) -> bool:
        address = client_address(request.scope, self.trusted)
        try:
            return ipaddress.ip_address(address).is_loopback
        except ValueError:
            return False
