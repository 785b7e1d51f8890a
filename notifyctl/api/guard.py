"""The API's front door, as ASGI middleware: API keys first, then the rate limit.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: it runs on every request, so it stays a
dictionary lookup and a token-bucket update, with no extra task or body buffering.

Every request costs one token, taken here before its body is read. A request that turns out to
ask for more (a batch: see ``ratelimit.BATCH_ITEMS_PER_TOKEN``) takes the rest through the function
this guard leaves in its scope under ``CHARGE``, once its size is known and before any work;
the rate-limit headers of the answer then show the bucket after both.
"""

from __future__ import annotations

import ipaddress
import json
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifyctl.api.problems import HTTPProblem, problem_json
from notifyctl.api.ratelimit import Decision, RateLimiter
from notifyctl.apikeys import ApiKeys

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
OPEN_PATHS = frozenset({"/health", "/openapi.json"})
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


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        keys: ApiKeys,
        limiter: RateLimiter | None,
        trusted_proxies: tuple[Network, ...] = (),
        metrics_need_key: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.trusted = trusted_proxies
        self.metrics_need_key = metrics_need_key
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if path == "/metrics" and not self.metrics_need_key:
            await self.app(scope, receive, send)
            return
        identity = self._identity(scope)
        if identity is None:
            await self._unauthorized(scope, send)
            return
        if self.limiter is None or path == "/metrics":
            await self.app(scope, receive, send)
            return
        decision = self.limiter.take(identity, self.clock())
        limits = rate_headers(decision)
        if not decision.allowed:
            await respond(send, too_many(decision, limits))
            return
        scope[CHARGE] = self._charger(identity, limits)  # in place: RequestTimer reads the scope
        await self.app(scope, receive, with_headers(send, limits))

    def _charger(self, identity: str, limits: dict[str, str]) -> Charge:
        limiter = self.limiter
        assert limiter is not None

        def charge(tokens: int) -> Decision:
            # one token is gone already: asking for more than burst - 1 could never succeed
            decision = limiter.take(identity, self.clock(), min(tokens, limiter.burst - 1))
            limits.clear()
            limits.update(rate_headers(decision))
            return decision

        return charge

    async def _unauthorized(self, scope: Scope, send: Send) -> None:
        """401, or 429 once the client's address has failed too often: guessing keys, or a
        client with a stale key, costs a bucket of its own per IP like any other traffic."""
        if self.limiter is not None:
            client = "unauthenticated ip:" + client_address(scope, self.trusted)
            decision = self.limiter.take(client, self.clock())
            if not decision.allowed:
                await respond(send, too_many(decision, rate_headers(decision)))
                return
        problem = HTTPProblem(401, "unauthorized", "send Authorization: Bearer <API key>",
                              headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        await respond(send, problem)

    def _identity(self, scope: Scope) -> str | None:
        """Who is asking: the API key when keys are on (None if missing or wrong), else the IP."""
        if self.keys.enabled:
            return self.keys.identify(header(scope, b"authorization"))
        return "ip:" + client_address(scope, self.trusted)


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
