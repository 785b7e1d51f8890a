"""The IANA special-purpose address blocks, and what an IPv6 address that embeds an IPv4 one
really reaches: the tables the SSRF guard (``destinations``) refuses by.

Python's ``ipaddress.is_global`` is not enough: depending on the Python version it calls
64:ff9b::7f00:1 (loopback through NAT64), ::7f00:1, 2002:7f00:1:: (6to4) or 192.0.0.100 global.
So the guard refuses every block of the IANA IPv4 and IPv6 Special-Purpose Address Registries
(RFC 6890 and the RFCs that added entries since), the few the registry calls globally reachable
included: no webhook receiver lives in an anycast relay, AS112 or ORCHID block, and one rule is
easier to check than the registry's per-entry flags. Multicast (its own registry) is refused too.

Two IPv6 forms are judged by the IPv4 address they carry instead, because they are how an
IPv6-only host reaches an ordinary IPv4 receiver: IPv4-mapped (::ffff:a.b.c.d) and the NAT64
well-known prefix (64:ff9b::a.b.c.d, what DNS64 answers). 64:ff9b::7f00:1 is loopback.
"""

from __future__ import annotations

import ipaddress

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: the IANA IPv4 Special-Purpose Address Registry, and multicast
IPV4_BLOCKS = (
    ("0.0.0.0/32", "this host on this network"),
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/29", "IPv4 service continuity prefix"),
    ("192.0.0.8/32", "IPv4 dummy address"),
    ("192.0.0.9/32", "port control protocol anycast"),
    ("192.0.0.10/32", "TURN anycast"),
    ("192.0.0.170/31", "NAT64/DNS64 discovery"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private-use"),
    ("192.175.48.0/24", "direct delegation AS112 service"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "limited broadcast"),
    ("240.0.0.0/4", "reserved"),
)
#: the IANA IPv6 Special-Purpose Address Registry, multicast and the deprecated IPv4-compatible
IPV6_BLOCKS = (
    ("::1/128", "loopback"),
    ("::/128", "unspecified"),
    ("::/96", "IPv4-compatible (deprecated)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy IPv6 prefix"),
    ("2001:1::1/128", "port control protocol anycast"),
    ("2001:1::2/128", "TURN anycast"),
    ("2001:1::3/128", "DNS-SD service registration protocol anycast"),
    ("2001:2::/48", "benchmarking"),
    ("2001::/32", "Teredo"),
    ("2001:3::/32", "AMT"),
    ("2001:4:112::/48", "AS112-v6"),
    ("2001:10::/28", "deprecated ORCHID"),
    ("2001:20::/28", "ORCHIDv2"),
    ("2001:30::/28", "drone remote ID entity tags"),
    ("2001::/23", "IETF protocol assignments"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112 service"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique-local"),
    ("fe80::/10", "link-local"),
    ("ff00::/8", "multicast"),
)
BLOCKS: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(block), name) for block, name in (*IPV4_BLOCKS, *IPV6_BLOCKS)
)
NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def translated(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped or NAT64 well-known-prefix address reaches, else None."""
    if isinstance(address, ipaddress.IPv6Address) and (address in MAPPED or address in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def embedded(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a refused transition form carries (6to4, Teredo's client, IPv4-compatible),
    to say in the message what it would have reached."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in IPV4_COMPATIBLE and int(address) > 1:
        return ipaddress.IPv4Address(int(address))
    return None


def special_purpose(address: Address) -> str | None:
    """The registry name of the most specific special-purpose block holding ``address``, with
    the IPv4 address it embeds if any; None for an ordinary unicast address."""
    holding = [(n, name) for n, name in BLOCKS if n.version == address.version and address in n]
    if holding:
        _, name = max(holding, key=lambda block: block[0].prefixlen)
        inner = embedded(address)
        return name if inner is None else f"{name}, embedding {inner}"
    if not address.is_global:  # a block this table lacks but Python knows
        return "not globally routable"
    return None
