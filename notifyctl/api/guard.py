"""The API's front door, as ASGI middleware: API keys first, then the rate limit, then the
key's scopes.

Who is asking (an ``Identity``): a NOTIFYCTL_API_KEYS key (tenant ``default``, every scope), else
a key from the store (``keyring.StoreKeys``: its tenant and scopes), else, when no keys are
configured anywhere, the one open tenant ``default`` with every scope. The identity is left in the
ASGI scope's ``state`` (``request.state.tenant``, ``.scopes``, ``.key_id``) for the handlers. A key
without the scope an endpoint needs (``required_scope``) gets 403 ``insufficient_scope``.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it runs on every request, so it stays a
dictionary lookup and a token-bucket update, with no extra task or body buffering.

The rate limit is a token bucket per tenant, shared by all of the tenant's keys (per client
address on an API without keys), in each API process (``docs/tenants.md``): the tenant's own rate
where ``notifyctl tenants limits`` set one (``api/limits.py``), else the deployment's. The
tenant's limits are left in the state too (``request.state.limits``), for its daily quota.

Every request costs one token, taken here before its body is read. A request that turns out to
ask for more (a batch: see ``ratelimit.BATCH_ITEMS_PER_TOKEN``) takes the rest through the function
this guard leaves in its scope under ``CHARGE``, once its size is known and before any work;
the rate-limit headers of the answer then show the bucket after both.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifyctl.api.keyring import StoreKeys
from notifyctl.api.limits import TenantLimitsCache
from notifyctl.api.problems import HTTPProblem, problem_json
from notifyctl.api.ratelimit import Decision, RateLimiter
from notifyctl.apikeys import ApiKeys, bearer_token
from notifyctl.errors import StoreError
from notifyctl.limits import Rate, TenantLimits
from notifyctl.tenants import OPEN, Identity
from notifyctl.tenants import Scope as KeyScope  # Scope is ASGI's here

log = logging.getLogger("notifyctl.api")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
OPEN_PATHS = frozenset({"/health", "/openapi.json"})
CONSOLE = "/console"
NOTIFICATIONS = "/v1/notifications"
#: method -> scope, of /v1/notifications and of /v1/notifications/{id} (HEAD is GET's)
COLLECTION_SCOPES = {"POST": KeyScope.SEND, "GET": KeyScope.READ, "HEAD": KeyScope.READ}
ITEM_SCOPES = {"GET": KeyScope.READ, "HEAD": KeyScope.READ, "DELETE": KeyScope.CANCEL}
READING = {"GET": KeyScope.READ, "HEAD": KeyScope.READ}
#: collection path -> (its methods' scopes, its items' methods' scopes, the scope of POST
#: {collection}/batch or None). Recipients are kept by whoever sends to them (``send``);
#: templates are the tenant's settings (``admin``), read with ``read``.
RESOURCES: dict[str, tuple[dict[str, KeyScope], dict[str, KeyScope], KeyScope | None]] = {
    NOTIFICATIONS: (COLLECTION_SCOPES, ITEM_SCOPES, KeyScope.SEND),
    "/v1/recipients": (
        READING,
        {**READING, "PUT": KeyScope.SEND, "PATCH": KeyScope.SEND, "DELETE": KeyScope.SEND},
        KeyScope.SEND,
    ),
    "/v1/templates": (READING, {**READING, "PUT": KeyScope.ADMIN, "DELETE": KeyScope.ADMIN}, None),
    "/v1/messages": ({}, READING, None),
}
#: the scope key of the function that takes more tokens from the client's bucket
CHARGE = "notifyctl.charge"
Charge = Callable[[int], Decision]


def parse_networks(value: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item) for item in value.split(",") if item)


def client_address(scope: Scope, trusted: tuple[Network, ...]) -> str:
    """The client's IP: the peer, or — when the peer is a trusted proxy — the right-most
    X-Forwarded-For entry that is not itself a trusted proxy."""
    peer = (scope.get("client") or ("unknown", 0))[0]
    if not trusted or not is_in(peer, trusted):
        return str(peer)
    forwarded = b",".join(v for k, v in scope["headers"] if k == b"x-forwarded-for").decode(
        "latin-1"
    )
    for hop in reversed([h.strip() for h in forwarded.split(",") if h.strip()]):
        if not is_in(hop, trusted):
            return hop
    return str(peer)


def is_in(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def required_scope(method: str, path: str) -> KeyScope | None:
    """The scope a request needs; None where any accepted key will do (``/metrics``, and paths
    or methods that only get a 404 or 405)."""
    for collection, (on_collection, on_item, batch) in RESOURCES.items():
        if path == collection:
            return on_collection.get(method)
        rest = path.removeprefix(collection + "/")
        if rest == path or not rest or "/" in rest:
            continue
        if batch is not None and rest == "batch" and method == "POST":
            return batch
        return on_item.get(method)  # GET /v1/notifications/batch is a get of the id "batch"
    return None


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        keys: ApiKeys,
        default_rate: Rate | None,
        trusted_proxies: tuple[Network, ...] = (),
        metrics_need_key: bool = False,
        clock: Callable[[], float] = time.monotonic,
        store_keys: StoreKeys | None = None,
        tenant_limits: TenantLimitsCache | None = None,
    ) -> None:
        """``default_rate``: the deployment's rate limit (None: none, but where a tenant has
        its own); ``tenant_limits``: the tenants' own limits (None: no tenant has any)."""
        self.app = app
        self.keys = keys
        self.default_rate = default_rate
        self.buckets = RateLimiter()
        self.trusted = trusted_proxies
        self.metrics_need_key = metrics_need_key
        self.clock = clock
        self.store_keys = store_keys
        self.tenant_limits = tenant_limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or self._open(path):
            await self.app(scope, receive, send)
            return
        identity = await self._authenticate(scope, send)
        if identity is None:  # answered already
            return
        tenant_limits = self._cached_limits(identity.tenant)
        if tenant_limits is None:
            tenant_limits = await self._limits_of(identity.tenant, send)
        if tenant_limits is None:  # answered already
            return
        state = scope.setdefault("state", {})
        state["tenant"], state["scopes"], state["key_id"], state["limits"] = (
            identity.tenant, identity.scopes, identity.key_id, tenant_limits,
        )  # fmt: skip
        rate = None if path == "/metrics" else tenant_limits.rate(self.default_rate)
        limits, refusal = self._rate_limit(scope, identity, rate)
        needed = required_scope(scope.get("method", ""), path)
        if refusal is None and needed is not None and needed not in identity.scopes:
            refusal = insufficient_scope(needed, limits)
        if refusal is not None:
            await respond(send, refusal)
            return
        await self.app(scope, receive, with_headers(send, limits) if limits else send)

    def _open(self, path: str) -> bool:
        """Paths without a bearer key: health, the API's description, /metrics unless it needs
        a key, and the console, which checks a session of its own (``api/console/access.py``)."""
        if path in OPEN_PATHS or (path == "/metrics" and not self.metrics_need_key):
            return True
        return path == CONSOLE or path.startswith(CONSOLE + "/")

    async def _authenticate(self, scope: Scope, send: Send) -> Identity | None:
        """The caller's identity; else answer 401 (or 429, or 503) and return None."""
        try:
            identity = await self._identity(scope)
        except StoreError as exc:  # the store's keys cannot be read: no one can be trusted
            log.error("store failed reading API keys: %s", exc)
            await respond(
                send, HTTPProblem(503, "store_unavailable", "the store is unavailable; retry")
            )
            return None
        if identity is None:
            await self._unauthorized(scope, send)
        return identity

    def _cached_limits(self, tenant: str) -> TenantLimits | None:
        if self.tenant_limits is None:
            return no_limits(tenant)
        return self.tenant_limits.cached(tenant)

    async def _limits_of(self, tenant: str, send: Send) -> TenantLimits | None:
        """The tenant's own limits (cached); else answer 503 and return None."""
        assert self.tenant_limits is not None  # else _cached_limits answered
        try:
            return await self.tenant_limits.of(tenant)
        except StoreError as exc:
            log.error("store failed reading the limits of tenant %s: %s", tenant, exc)
            await respond(
                send, HTTPProblem(503, "store_unavailable", "the store is unavailable; retry")
            )
            return None

    def _rate_limit(
        self, scope: Scope, identity: Identity, rate: Rate | None
    ) -> tuple[dict[str, str], HTTPProblem | None]:
        """Take the request's token: the rate-limit headers, and a 429 when the bucket is empty.
        The bucket is the tenant's, shared by its keys, or the client address's without keys."""
        if rate is None:
            return {}, None
        if identity.key_id is None:
            bucket = "ip:" + client_address(scope, self.trusted)
        else:
            bucket = "tenant:" + identity.tenant
        decision = self.buckets.take(bucket, self.clock(), rate)
        limits = rate_headers(decision)
        if not decision.allowed:
            return limits, too_many(decision, limits)
        scope[CHARGE] = self._charger(bucket, rate, limits)  # in place: RequestTimer reads it
        return limits, None

    def _charger(self, bucket: str, rate: Rate, limits: dict[str, str]) -> Charge:
        def charge(tokens: int) -> Decision:
            # one token is gone already: asking for more than burst - 1 could never succeed
            cost = min(tokens, rate.burst - 1)
            decision = self.buckets.take(bucket, self.clock(), rate, cost)
            limits.clear()
            limits.update(rate_headers(decision))
            return decision

        return charge

    async def _unauthorized(self, scope: Scope, send: Send) -> None:
        """401, or 429 once the client's address has failed too often: guessing keys, or a
        client with a stale key, costs a bucket of its own per IP like any other traffic."""
        if self.default_rate is not None:
            client = "unauthenticated ip:" + client_address(scope, self.trusted)
            decision = self.buckets.take(client, self.clock(), self.default_rate)
            if not decision.allowed:
                await respond(send, too_many(decision, rate_headers(decision)))
                return
        problem = HTTPProblem(401, "unauthorized", "send Authorization: Bearer <API key>",
                              headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        await respond(send, problem)

    async def _identity(self, scope: Scope) -> Identity | None:
        """Who is asking: a configured key's identity, a store key's, OPEN when no keys are
        configured anywhere, or None (a missing, wrong, revoked or expired key)."""
        token = bearer_token(header(scope, b"authorization"))
        configured = self.keys.identify(token)  # in memory, in constant time
        if configured is not None:
            return configured
        if self.store_keys is None or not await self.store_keys.any():
            return None if self.keys.enabled else OPEN
        return None if token is None else await self.store_keys.identify(token)


@functools.lru_cache(maxsize=1024)
def no_limits(tenant: str) -> TenantLimits:
    """A tenant's limits where no tenant has any of its own (one object per tenant, not one per
    request)."""
    return TenantLimits(tenant)


def insufficient_scope(needed: KeyScope, limits: dict[str, str]) -> HTTPProblem:
    """403: the key is good but may not do this (RFC 6750's ``insufficient_scope``)."""
    challenge = f'Bearer error="insufficient_scope", scope="{needed.value}"'
    message = f"this API key lacks the {needed.value!r} scope that this request needs"
    headers = {**limits, "WWW-Authenticate": challenge}
    return HTTPProblem(403, "insufficient_scope", message, [{"scope": needed.value}], headers)


def too_many(decision: Decision, limits: dict[str, str]) -> HTTPProblem:
    message = f"rate limit exceeded: retry in {decision.retry_after_s} s"
    return HTTPProblem(429, "rate_limited", message, headers=limits)


def rate_headers(decision: Decision) -> dict[str, str]:
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_s),
    }
    if not decision.allowed:
        headers["Retry-After"] = str(decision.retry_after_s)
    return headers


def with_headers(send: Send, extra: dict[str, str]) -> Send:
    """``send`` adding ``extra`` to the response's headers, as they are when it starts."""

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            encoded = [(k.lower().encode(), v.encode()) for k, v in extra.items()]
            message = {**message, "headers": [*message.get("headers", []), *encoded]}
        await send(message)

    return sender


async def respond(send: Send, problem: HTTPProblem) -> None:
    body = json.dumps(problem_json(problem)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in problem.headers.items()]
    await send({"type": "http.response.start", "status": problem.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
