"""ECS rendering: Elastic Common Schema 9.4.

The mapping of every field is documented in ``docs/crosswalk.md`` (a test reads
that table and checks it against this module); a test also checks every field
against ECS's own definitions (``@elastic/ecs`` 9.4.0, ``ecs_flat``). ESA
fields that ECS has no place for go under the custom namespace ``cisco.esa``
(ECS "Custom fields": a namespace that is not an ECS field set).

Choices worth knowing:

- ``event.category`` is always ``["authentication"]``; ``event.type`` is
  ``start`` for a logon, ``end`` for a logoff and ``info`` for one SMTP AUTH
  check, the types ECS expects with that category.
- CIM ``action=error`` is ``event.outcome: unknown`` (ECS allows only
  success, failure and unknown).
- The client of the authentication is ``source`` (not ``host``, which
  describes the machine the event is about).
- ``network.direction`` is seen from the appliance, a host: an inbound SMTP
  connection (ICID) is ``ingress``, a delivery connection (DCID) ``egress``
  (ECS: host-based monitoring uses ingress/egress).
- An event without a time (a body pasted without its envelope, E10) has no
  ``@timestamp``: a time is never invented.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

from ..events import AuthEvent
from ..text import is_ip

#: The ECS version the output conforms to (``ecs.version``).
ECS_VERSION = "9.4.0"

#: The custom field set for ESA fields ECS has no place for.
NAMESPACE = "cisco.esa"

#: activity -> event.type (ECS: expected types of category authentication).
EVENT_TYPES: Dict[str, str] = {"logon": "start", "logoff": "end", "authenticate": "info"}

#: CIM action -> event.outcome.
OUTCOMES: Dict[str, str] = {"success": "success", "failure": "failure", "error": "unknown"}

#: direction -> network.direction, from the appliance's point of view.
DIRECTIONS: Dict[str, str] = {"inbound": "ingress", "outbound": "egress"}

#: app -> network.protocol (ECS: the OSI application-layer protocol, lower
#: case). Appliance logins whose channel is not logged get none.
PROTOCOLS: Dict[str, str] = {"smtp": "smtp", "esa:ssh": "ssh"}

#: ESA fields with no ECS field, kept under ``cisco.esa`` by their CIM name.
CUSTOM = (
    "app", "authentication_method", "authentication_service", "session_id", "icid", "dcid",
    "reply_code", "enhanced_status", "signature", "listener", "sender_group", "sbrs", "tls_protocol",
    "mid", "cleartext", "privileged", "default_account",
)  # fmt: skip

# TLS protocol as the ESA logs it (C4 ``TLS success protocol TLSv1.2 cipher ...``).
_TLS_PROTOCOL = re.compile(r"(TLS|SSL)v?(\d+)(?:\.(\d+))?\Z", re.IGNORECASE)


def tls_version(protocol: Optional[str]) -> Optional[Tuple[str, str]]:
    """ECS ``tls.version_protocol`` and ``tls.version`` of a logged protocol name.

    Args:
        protocol: the protocol as logged (``TLSv1.2``, ``TLSv1``, ``SSLv3``).

    Returns:
        (``tls``, ``1.2``), (``tls``, ``1.0``), (``ssl``, ``3.0``); None when the
        name is not of that form.
    """
    if protocol is None:
        return None
    match = _TLS_PROTOCOL.match(protocol.strip())
    if match is None:
        return None
    return match.group(1).lower(), f"{int(match.group(2))}.{int(match.group(3) or 0)}"


def _put(out: Dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted ECS field in nested objects, unless the value is None."""
    if value is None:
        return
    *parents, leaf = path.split(".")
    node = out
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value


def _side(out: Dict[str, Any], prefix: str, address: Optional[str], ip: Optional[str], host: Optional[str]) -> None:
    """ECS ``source``/``destination``: the address as logged, split into ip or domain."""
    _put(out, prefix + ".address", address)
    if ip is None and address is not None and is_ip(address):
        ip = address
    if host is None and address is not None and address != ip:
        host = address
    _put(out, prefix + ".ip", ip)
    _put(out, prefix + ".domain", host)


def _unique(*values: Optional[str]) -> Optional[List[str]]:
    seen: List[str] = []
    for value in values:
        if value is not None and value not in seen:
            seen.append(value)
    return seen or None


def render_ecs(event: AuthEvent) -> Dict[str, Any]:
    """Render an event as an ECS 9.4 document (nested objects).

    Args:
        event: the normalized event.

    Returns:
        A JSON-able dict; unknown values are left out, as in the CIM form.
    """
    out: Dict[str, Any] = {}
    _put(out, "@timestamp", event.time)
    _put(out, "ecs.version", ECS_VERSION)
    _put(out, "message", event.signature)
    _put(out, "event.kind", "event")
    _put(out, "event.category", ["authentication"])
    event_type = EVENT_TYPES.get(event.activity)
    _put(out, "event.type", [event_type] if event_type else None)
    _put(out, "event.action", event.activity)
    _put(out, "event.outcome", OUTCOMES.get(event.action, "unknown"))
    _put(out, "event.code", event.signature_id)
    _put(out, "event.reason", event.reason)
    _put(out, "event.id", event.event_id)
    _put(out, "event.original", event.raw)
    _put(out, "user.name", event.user)
    _put(out, "user.roles", [event.user_role] if event.user_role is not None else None)
    _side(out, "source", event.src, event.src_ip, event.src_host)
    _side(out, "destination", event.dest, event.dest_ip, event.dest_host)
    _put(out, "destination.port", event.dest_port)
    _put(out, "network.protocol", PROTOCOLS.get(event.app))
    _put(out, "network.direction", DIRECTIONS.get(event.direction or ""))
    _put(out, "tls.established", event.tls)
    version = tls_version(event.tls_protocol)
    if version is not None:
        _put(out, "tls.version_protocol", version[0])
        _put(out, "tls.version", version[1])
    _put(out, "tls.cipher", event.tls_cipher)
    _put(out, "observer.vendor", event.vendor)
    _put(out, "observer.product", event.vendor_product)
    _put(out, "observer.version", event.product_version)
    _put(out, "observer.serial_number", event.dvc_serial)
    dvc_ip = event.dvc is not None and is_ip(event.dvc)
    if event.dvc is not None:
        _put(out, "observer.ip" if dvc_ip else "observer.hostname", [event.dvc] if dvc_ip else event.dvc)
    source, destination = out.get("source", {}), out.get("destination", {})
    _put(out, "related.user", _unique(event.user))
    _put(out, "related.ip", _unique(source.get("ip"), destination.get("ip"), event.dvc if dvc_ip else None))
    _put(out, "related.hosts", _unique(source.get("domain"), destination.get("domain"), None if dvc_ip else event.dvc))
    for name in CUSTOM:
        _put(out, f"{NAMESPACE}.{name}", getattr(event, name))
    return out
