"""The SSRF guard against every entry of the IANA special-purpose address registries.

The tables below are copied from the registries themselves (iana-ipv4-special-registry and
iana-ipv6-special-registry, RFC 6890 and the RFCs that added entries since), not from the code
under test, with the registry's "globally reachable" flag: the guard refuses every entry, the
globally reachable ones included (no webhook receiver lives there), and what embeds an IPv4
address is refused like that address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from notifyctl.channels.destinations import DestinationPolicy, ForbiddenDestination, GuardedResolver

# (block, registry name, globally reachable per the registry: True, False or None for N/A)
IPV4_REGISTRY = [
    ("0.0.0.0/8", "This network", False),
    ("0.0.0.0/32", "This host on this network", False),
    ("10.0.0.0/8", "Private-Use", False),
    ("100.64.0.0/10", "Shared Address Space", False),
    ("127.0.0.0/8", "Loopback", False),
    ("169.254.0.0/16", "Link Local", False),
    ("172.16.0.0/12", "Private-Use", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", False),
    ("192.0.0.8/32", "IPv4 dummy address", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", True),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", False),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", False),
    ("192.31.196.0/24", "AS112-v4", True),
    ("192.52.193.0/24", "AMT", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", None),
    ("192.88.99.2/32", "6a44-relay anycast address", False),
    ("192.168.0.0/16", "Private-Use", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", True),
    ("198.18.0.0/15", "Benchmarking", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", False),
    ("240.0.0.0/4", "Reserved", False),
    ("255.255.255.255/32", "Limited Broadcast", False),
]
IPV6_REGISTRY = [
    ("::1/128", "Loopback Address", False),
    ("::/128", "Unspecified Address", False),
    ("::ffff:0:0/96", "IPv4-mapped Address", False),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", True),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat.", False),
    ("100::/64", "Discard-Only Address Block", False),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", False),
    ("2001::/23", "IETF Protocol Assignments", False),
    ("2001::/32", "TEREDO", None),
    ("2001:1::1/128", "Port Control Protocol Anycast", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", True),
    ("2001:2::/48", "Benchmarking", False),
    ("2001:3::/32", "AMT", True),
    ("2001:4:112::/48", "AS112-v6", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", None),
    ("2001:20::/28", "ORCHIDv2", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", True),
    ("2001:db8::/32", "Documentation", False),
    ("2002::/16", "6to4", None),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", True),
    ("3fff::/20", "Documentation", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", False),
    ("fc00::/7", "Unique-Local", False),
    ("fe80::/10", "Link-Local Unicast", False),
]
# Not in those registries but refused all the same: multicast and IPv4-compatible (deprecated).
OTHERS = [("224.0.0.0/4", "Multicast", None), ("ff00::/8", "Multicast", None),
          ("::/96", "IPv4-compatible (deprecated)", None)]  # fmt: skip
# The embedded 0.0.0.0/8 and the blocks whose embedded IPv4 address is public are their own
# rows below; these samples are the transition forms of loopback.
EMBEDDING = {
    "64:ff9b::7f00:1": "127.0.0.1",  # NAT64 well-known prefix
    "::ffff:127.0.0.1": "127.0.0.1",  # IPv4-mapped
    "::127.0.0.1": "127.0.0.1",  # IPv4-compatible
    "2002:7f00:1::1": "127.0.0.1",  # 6to4
    "2001:0:4136:e378:8000:63bf:80ff:fffe": "127.0.0.1",  # Teredo: client bits inverted
}
PUBLIC = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:2800:220:1:248:1893:25c8:1946",
          "2001:4860:4860::8888", "64:ff9b::5db8:d822", "::ffff:93.184.216.34"]  # fmt: skip
GUARD = DestinationPolicy()


def samples(block: str) -> list[str]:
    """The first, second and last address of a block, and one from its middle."""
    network = ipaddress.ip_network(block)
    picks = {0, 1, network.num_addresses // 2, network.num_addresses - 1}
    return [str(network[i]) for i in sorted(p for p in picks if p < network.num_addresses)]


ENTRIES = IPV4_REGISTRY + IPV6_REGISTRY + OTHERS


@pytest.mark.parametrize(("block", "name", "reachable"), ENTRIES, ids=[e[0] for e in ENTRIES])
def test_every_special_purpose_address_is_refused(
    block: str, name: str, reachable: bool | None
) -> None:
    for address in samples(block):
        if block in ("::ffff:0:0/96", "64:ff9b::/96"):  # judged as the IPv4 address they reach
            inner = ipaddress.IPv4Address(int(ipaddress.ip_address(address)) & 0xFFFF_FFFF)
            if GUARD.address_problem(inner) is None:
                continue
        problem = GUARD.address_problem(ipaddress.ip_address(address))
        assert problem is not None, f"{address} ({name}) was allowed"
        assert problem.startswith(address)


@pytest.mark.parametrize("address", list(EMBEDDING), ids=list(EMBEDDING))
def test_an_ipv6_form_of_loopback_is_refused_as_loopback(address: str) -> None:
    problem = GUARD.address_problem(ipaddress.ip_address(address))
    assert problem is not None and EMBEDDING[address] in problem


def test_nat64_and_mapped_loopback_say_loopback() -> None:
    for address in ("64:ff9b::7f00:1", "::ffff:7f00:1"):
        problem = GUARD.address_problem(ipaddress.ip_address(address))
        assert problem is not None and "loopback" in problem


# 6to4, Teredo (client bits inverted) and IPv4-compatible forms of the public 93.184.216.34
AROUND_PUBLIC = ["2002:5db8:d822::1", "2001:0:4136:e378:8000:63bf:a247:27dd", "::93.184.216.34"]


@pytest.mark.parametrize("address", AROUND_PUBLIC)
def test_transition_forms_are_refused_even_around_a_public_address(address: str) -> None:
    assert GUARD.address_problem(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_ordinary_public_addresses_stay_allowed(address: str) -> None:
    assert GUARD.address_problem(ipaddress.ip_address(address)) is None


def test_an_allowed_network_still_allows_and_covers_its_nat64_and_mapped_forms() -> None:
    policy = DestinationPolicy.from_config("127.0.0.0/8,2001:db8::/32,192.0.0.0/24")
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2001:db8::1",
                    "192.0.0.9"):  # fmt: skip
        assert policy.address_problem(ipaddress.ip_address(address)) is None, address
    for address in ("10.0.0.1", "::1", "2002:7f00:1::1", "64:ff9b::a00:1"):
        assert policy.address_problem(ipaddress.ip_address(address)) is not None, address


class FixedResolver(AbstractResolver):
    def __init__(self, address: str) -> None:
        self.address = address

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [{"hostname": host, "host": self.address, "port": port,
                 "family": socket.AF_INET6, "proto": 0, "flags": 0}]  # fmt: skip

    async def close(self) -> None:
        return None


def test_a_name_resolving_to_nat64_loopback_is_refused_when_delivering() -> None:
    resolver = GuardedResolver(GUARD, FixedResolver("64:ff9b::7f00:1"))
    with pytest.raises(ForbiddenDestination, match="127.0.0.1, which is loopback"):
        asyncio.run(resolver.resolve("rebound.example", 443))
