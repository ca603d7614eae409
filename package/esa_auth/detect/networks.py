"""Client addresses by network: ``src_net``, the /24 (IPv4) or /64 (IPv6) that holds ``src``.

Rules that count sources count networks (#19): a spray rotated over the addresses of one IPv6 /64 (one customer
line or one host's privacy addresses) or of one IPv4 /24 is one source, not one per address. The field is derived
from ``src`` when the events are stored (:mod:`.store`), and by the macro ``esa_auth_src_net`` in the shipped
searches (:data:`SPL_MACRO`, written to ``default/macros.conf`` by ``detections/generate.py``). The two are
defined here side by side; ``tests/test_detections.py`` runs the macro's SPL through the model of the searches
over every form an address takes (compressed, zero-padded, upper case, IPv4-mapped, with a zone) and requires the
same text as :func:`source_network`.

The network is written in one canonical form on both sides: ``a.b.c.0/24``; ``h1:h2:h3:h4::/64`` with the first
four groups in lower-case hexadecimal without leading zeros and without ``::`` compression (SPL has no address
functions for IPv6, and this form is reachable with its ``replace``). An IPv4-mapped IPv6 address
(``::ffff:a.b.c.d``, the form some listeners log) is its IPv4 network. Any other value (not an address, or an IPv6
address with an embedded IPv4 part other than the mapped one) is its own network, in lower case without its zone.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Optional

#: The field the rules count or group by.
FIELD = "src_net"
#: The macro of the shipped searches that sets ``src_net`` from ``src`` (one ``eval``, its steps in order).
MACRO = "esa_auth_src_net"
#: Its definition. Steps: lower case, zone (``%eth0``) dropped, ``::ffff:a.b.c.d`` to ``a.b.c.d``; a ``::`` at
#: either end given a ``0`` group beside it, so that it sits between two groups and the groups present are as many
#: as the colons; ``::`` expanded to the missing zero groups (8 less the colons); then the /24 of an IPv4 address,
#: or the first four groups of an IPv6 one with leading zeros dropped.
SPL_MACRO = (
    "eval "
    r'src_net=replace(replace(lower(src), "%.*$", ""), "^::ffff:(\d+\.\d+\.\d+\.\d+)$", "\1"), '
    r'src_net=if(match(src_net, "^[0-9a-f:]+$"), replace(replace(src_net, "^::", "0::"), "::$", "::0"), src_net), '
    r'src_net=if(match(src_net, "^[0-9a-f:]+$") AND match(src_net, "::"), '
    r'replace(src_net, "::", substr(":0:0:0:0:0:0:0:0:", 1, 17 - 2 * len(replace(src_net, "[^:]", "")))), src_net), '
    r'src_net=case(match(src_net, "^\d+\.\d+\.\d+\.\d+$"), replace(src_net, "\.\d+$", ".0/24"), '
    r'match(src_net, "^[0-9a-f]+(:[0-9a-f]+){7}$"), '
    r'replace(replace(src_net, "^(([0-9a-f]+:){4}).*$", "\1:/64"), "(^|:)0+([0-9a-f])", "\1\2"), '
    r"true(), src_net)"
)


def source_network(src: Any) -> Optional[str]:
    """The /24 or /64 of a client address (module docstring); None without an address."""
    if src is None or src == "":
        return None
    text = str(src).strip().lower()
    bare = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(bare)
    except ValueError:
        return bare
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is not None:
            address = mapped
        elif "." in bare:
            # Another embedded-IPv4 form (NAT64 ...): the searches cannot expand it, so neither is it here.
            return bare
    if isinstance(address, ipaddress.IPv4Address):
        return str(ipaddress.ip_network(f"{address}/24", strict=False))
    groups = address.exploded.split(":")[:4]
    return ":".join(f"{int(group, 16):x}" for group in groups) + "::/64"


__all__ = ["FIELD", "MACRO", "SPL_MACRO", "source_network"]
