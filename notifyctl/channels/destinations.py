"""Which webhook destinations may be reached (the SSRF guard).

A destination is refused when its address is in an IANA special-purpose block — loopback,
private, link-local (which holds the cloud metadata address 169.254.169.254), carrier-grade NAT,
documentation, 6to4, Teredo, ... (``special_addresses``) — or multicast, or reaches such an address
through NAT64 or IPv4 mapping, unless ``NOTIFYCTL_WEBHOOK_ALLOW`` names its network or host name.
The check runs when a notification is accepted and again on every address the name resolves to
when it is delivered, so a name that is re-pointed afterwards (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from notifyctl.channels.special_addresses import Address, Network, special_purpose, translated

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
LOOPBACK_ONLY = "127.0.0.0/8,::1/128"


class ForbiddenDestination(OSError):
    """A destination the guard refuses: an OSError so HTTP clients treat it as unreachable."""


@dataclass(frozen=True)
class DestinationPolicy:
    networks: tuple[Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def from_config(cls, allow: str) -> DestinationPolicy:
        networks: list[Network] = []
        hosts: set[str] = set()
        for item in filter(None, (part.strip() for part in allow.split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def address_problem(self, address: Address) -> str | None:
        """Why this address may not be reached, or None when it may. An IPv4-mapped or NAT64
        address is judged, and may be allowed, as the IPv4 address it reaches."""
        inner = translated(address)
        if self._allowed(address) or (inner is not None and self._allowed(inner)):
            return None
        if inner is not None:
            problem = special_purpose(inner)
            return None if problem is None else f"{address} reaches {inner}, which is {problem}"
        problem = special_purpose(address)
        return None if problem is None else f"{address} is {problem}"

    def _allowed(self, address: Address) -> bool:
        return any(address in network for network in self.networks)

    def literal_problem(self, url: str) -> str | None:
        """Checks that need no DNS: metadata names and IP-literal hosts."""
        host = (urlsplit(url).hostname or "").lower().rstrip(".")
        if self.host_allowed(host):
            return None
        if host in METADATA_HOSTS:
            return f"{host} is a cloud metadata service"
        try:
            return self.address_problem(ipaddress.ip_address(host))
        except ValueError:
            return None  # a name: checked against what it resolves to


class GuardedResolver(AbstractResolver):
    """aiohttp resolver that drops forbidden addresses; none left means the request fails."""

    def __init__(self, policy: DestinationPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner or aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if self._policy.host_allowed(host):
            return results
        allowed: list[ResolveResult] = []
        problems: list[str] = []
        for result in results:
            problem = self._policy.address_problem(ipaddress.ip_address(result["host"]))
            if problem:
                problems.append(problem)
            else:
                allowed.append(result)
        if not allowed:
            raise ForbiddenDestination(f"{host} resolves only to forbidden addresses: "
                                       + "; ".join(problems))  # fmt: skip
        return allowed

    async def close(self) -> None:
        await self._inner.close()
