"""Client addresses by network: ``src_net``, the network that holds ``src`` (by default its /24 or /64).

Rules that count sources count networks (#19): a spray rotated over the addresses of one IPv6 /64 (one customer
line or one host's privacy addresses) or of one IPv4 /24 is one source, not one per address. The rule is stated
once, as data (:data:`RULE`: the prefix lengths and what an IPv4-mapped address is). :func:`source_network`
follows it when ``esa-auth detect`` stores the events (:mod:`.store`), and ``detections/generate.py`` writes from
it the macro ``esa_auth_src_net`` of the shipped searches (``default/macros.conf``): changing :data:`RULE` changes
both. ``tests/test_detections.py`` runs the generated macro through the model of the searches over every form an
address takes (compressed, zero-padded, upper case, IPv4-mapped, with a zone) as a check of the SPL writer.

The network is written in one canonical form on both sides: ``a.b.c.0/24``; ``h1:h2:h3:h4::/64`` with the kept
groups in lower-case hexadecimal without leading zeros and without ``::`` compression (SPL has no address
functions for IPv6, and this form is reachable with its ``replace``). An IPv4-mapped IPv6 address
(``::ffff:a.b.c.d``, the form some listeners log) is its IPv4 network when the rule says so. Any other value (not
an address, or an IPv6 address with an embedded IPv4 part other than the mapped one) is its own network, in lower
case without its zone.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Optional

#: The field the rules count or group by.
FIELD = "src_net"
#: The macro of the shipped searches that sets ``src_net`` from ``src`` (written by ``detections/generate.py``).
MACRO = "esa_auth_src_net"


@dataclass(frozen=True)
class NetworkRule:
    """What network an address belongs to.

    Prefixes end on a boundary the searches can cut with text operations alone: whole octets (IPv4: 8, 16, 24 or
    32) and whole groups (IPv6: 16 to 112 in steps of 16; a /128 would leave no ``::`` to write).
    """

    #: Prefix length of an IPv4 address's network.
    ipv4_prefix: int = 24
    #: Prefix length of an IPv6 address's network.
    ipv6_prefix: int = 64
    #: An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is its IPv4 address's network; else its own text.
    mapped_as_ipv4: bool = True

    def __post_init__(self) -> None:
        if self.ipv4_prefix not in (8, 16, 24, 32):
            raise ValueError(f"ipv4_prefix must be 8, 16, 24 or 32, not {self.ipv4_prefix!r}")
        if self.ipv6_prefix not in range(16, 128, 16):
            raise ValueError(f"ipv6_prefix must be a multiple of 16 from 16 to 112, not {self.ipv6_prefix!r}")

    @property
    def ipv4_octets(self) -> int:
        """The octets of an IPv4 address that its network keeps."""
        return self.ipv4_prefix // 8

    @property
    def ipv6_groups(self) -> int:
        """The 16-bit groups of an IPv6 address that its network keeps."""
        return self.ipv6_prefix // 16


#: The rule of the shipped detections: a /24 is the usual unit of a hosting or carrier pool, a /64 what one IPv6
#: customer line or host holds (detections/README.md, "Sources by network").
RULE = NetworkRule()


def source_network(src: Any, rule: Optional[NetworkRule] = None) -> Optional[str]:
    """The network of a client address under ``rule`` (default: :data:`RULE`, read at each call; module
    docstring); None without an address."""
    if src is None or src == "":
        return None
    if rule is None:
        rule = RULE
    text = str(src).strip().lower()
    bare = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None and rule.mapped_as_ipv4:
            address = mapped
        elif "." in bare:
            # Another embedded-IPv4 form (NAT64 ...): the searches cannot expand it, so neither is it here.
            return bare
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.ip_network(f"{address}/{rule.ipv4_prefix}", strict=False))
    groups = address.exploded.split(":")[: rule.ipv6_groups]
    return ":".join(f"{int(group, 16):x}" for group in groups) + f"::/{rule.ipv6_prefix}"


__all__ = ["FIELD", "MACRO", "RULE", "NetworkRule", "source_network"]
