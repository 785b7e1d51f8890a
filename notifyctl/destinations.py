"""Which webhook destinations may be reached (the SSRF guard).

A destination is refused when its address is not globally routable — loopback, private,
link-local (which holds the cloud metadata address 169.254.169.254), carrier-grade NAT,
multicast, reserved — unless ``NOTIFYCTL_WEBHOOK_ALLOW`` names its network or its host name.
The check runs when a notification is accepted and again on every address the name resolves to
when it is delivered, so a name that is re-pointed afterwards (DNS rebinding) gains nothing.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})
LOOPBACK_ONLY = "127.0.0.0/8,::1/128"


class ForbiddenDestination(OSError):
    """A destination the guard refuses: an OSError so HTTP clients treat it as unreachable."""


def describe(address: Address) -> str:
    for label, test in (
        ("loopback", address.is_loopback), ("link-local", address.is_link_local),
        ("multicast", address.is_multicast), ("unspecified", address.is_unspecified),
        ("private", address.is_private), ("reserved", address.is_reserved),
    ):  # fmt: skip
        if test:
            return label
    return "not globally routable"


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
        """Why this address may not be reached, or None when it may."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.networks):
            return None
        if address.is_global and not address.is_multicast:
            return None
        return f"{address} is {describe(address)}"

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


async def resolution_problem(policy: DestinationPolicy, url: str, resolver: Any) -> str | None:
    """At intake: the URL's host must not resolve to a forbidden address.

    A name that does not resolve now is accepted: DNS trouble is no reason to refuse a
    notification, and the guard runs again when it is delivered.
    """
    problem = policy.literal_problem(url)
    host = urlsplit(url).hostname or ""
    if problem or policy.host_allowed(host):
        return problem
    try:
        ipaddress.ip_address(host)
        return None  # a literal, already checked
    except ValueError:
        pass
    try:
        await GuardedResolver(policy, resolver).resolve(host, 0, socket.AF_UNSPEC)
    except ForbiddenDestination as exc:
        return str(exc)
    except OSError:
        return None
    return None
