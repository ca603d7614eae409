"""ECS rendering: Elastic Common Schema 9.4.

The mapping of every field is documented in ``docs/crosswalk.md`` (a test reads
that table and checks it against this module); a test also checks every field
against ECS's own definitions (``@elastic/ecs`` 9.4.0, ``ecs_flat``). ESA
fields that ECS has no place for go under the custom namespace ``cisco.esa``
(ECS "Custom fields": a namespace that is not an ECS field set).

Choices worth knowing:

- ``event.category`` is ``["authentication"]``, with ``session`` added when
  the event ends an appliance session (a logoff, an expiry) or starts one the
  log names (a GUI session token); ``event.type`` is ``start`` for a logon,
  ``end`` for a logoff and ``info`` for one SMTP AUTH check, the types ECS
  expects with those categories.
- CIM ``action=error`` (no credential was checked: T3, T4, T5, T7) is
  ``event.outcome: unknown`` with the reason in ``event.reason``: never
  ``failure``, so that a fault on the appliance's side never counts as a
  failed logon (Elastic's ``auth_high_count_logon_fails`` job reads
  ``event.outcome:failure``).
- ``message`` is the log line (ECS: the log message); the template's name is
  ``cisco.esa.signature``, and its id ``cisco.esa.signature_id``: the ids are
  the project's, not codes of the product (``event.code``).
- The client of the authentication is ``source`` (not ``host``, which
  describes the machine the event is about).
- ``network.direction`` is seen from the appliance, a host: an inbound SMTP
  connection (ICID) is ``ingress``, a delivery connection (DCID) ``egress``
  (ECS: host-based monitoring uses ingress/egress). The appliance's interface
  that received an inbound connection is ``observer.ingress.interface.name``.
- An event without a time (a body pasted without its envelope, E10) has no
  ``@timestamp``: a time is never invented. The file header's offset from UTC
  is ``event.timezone`` (``+01:00``, the form ECS takes), the time as logged
  ``cisco.esa.original_time``, and a syslog envelope's log name
  ``log.syslog.appname``.

Speed: the document is built in one pass of dict literals over the event's
values; the address and user splits are cached (:mod:`.parts`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from ..events import AuthEvent
from .parts import CACHE, split_address, user_parts

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
#: case). The web interface, the Spam Quarantine and the REST API are served
#: over HTTP ("using an HTTPS connection": HTTP over TLS). Appliance logins
#: whose channel is not logged (``esa``, ``esa:cli``) get none.
PROTOCOLS: Dict[str, str] = {
    "smtp": "smtp", "esa:ssh": "ssh", "esa:gui": "http", "esa:quarantine": "http", "esa:api": "http",
}  # fmt: skip

#: ESA fields with no ECS field, kept under ``cisco.esa`` by their CIM name.
CUSTOM = (
    "app", "authentication_method", "authentication_service", "session_id", "icid", "dcid",
    "reply_code", "enhanced_status", "signature", "signature_id", "sender_group", "sbrs", "tls_protocol",
    "mid", "cleartext", "privileged", "default_account", "original_time", "utc_offset",
)  # fmt: skip

# TLS protocol as the ESA logs it (C4 ``TLS success protocol TLSv1.2 cipher ...``).
_TLS_PROTOCOL = re.compile(r"(TLS|SSL)v?(\d+)(?:\.(\d+))?\Z", re.IGNORECASE)


@lru_cache(maxsize=CACHE)
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


@lru_cache(maxsize=CACHE)
def timezone(offset: int) -> str:
    """ECS ``event.timezone`` of an offset from UTC in seconds: the ``+HH:MM`` differential."""
    sign = "-" if offset < 0 else "+"
    minutes = abs(offset) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _side(address: Optional[str], ip: Optional[str], host: Optional[str]) -> Dict[str, Any]:
    """ECS ``source``/``destination``: the address as logged, split into ip or domain."""
    ip, host = split_address(address, ip, host)
    out: Dict[str, Any] = {}
    if address is not None:
        out["address"] = address
    if ip is not None:
        out["ip"] = ip
    if host is not None:
        out["domain"] = host
    return out


def _unique(*values: Optional[str]) -> List[str]:
    seen: List[str] = []
    for value in values:
        if value is not None and value not in seen:
            seen.append(value)
    return seen


def render_ecs(event: AuthEvent) -> Dict[str, Any]:
    """Render an event as an ECS 9.4 document (nested objects).

    Args:
        event: the normalized event.

    Returns:
        A JSON-able dict; unknown values are left out, as in the CIM form.
    """
    v = event.__dict__
    activity, app = v["activity"], v["app"]
    out: Dict[str, Any] = {} if v["time"] is None else {"@timestamp": v["time"]}
    out["ecs"] = {"version": ECS_VERSION}
    session_id = v["session_id"]
    category = ["authentication"]
    if activity == "logoff" or (activity == "logon" and session_id is not None and app != "smtp"):
        category.append("session")
    ev: Dict[str, Any] = {"kind": "event", "category": category}
    event_type = EVENT_TYPES.get(activity)
    if event_type is not None:
        ev["type"] = [event_type]
    ev["action"] = activity
    ev["outcome"] = OUTCOMES.get(v["action"], "unknown")
    if v["utc_offset"] is not None:
        ev["timezone"] = timezone(v["utc_offset"])
    if v["reason"] is not None:
        ev["reason"] = v["reason"]
    ev["id"] = v["event_id"]
    ev["original"] = v["raw"]
    if v["log_name"] is not None:
        out["log"] = {"syslog": {"appname": v["log_name"]}}
    name = v["user"]
    if name is not None or v["user_role"] is not None:
        user: Dict[str, Any] = {}
        if name is not None:
            user["name"] = name
            email, domain = user_parts(name)
            if email is not None:
                user["email"] = email
            if domain is not None:
                user["domain"] = domain
        if v["user_role"] is not None:
            user["roles"] = [v["user_role"]]
        out["user"] = user
    source = _side(v["src"], v["src_ip"], v["src_host"])
    if v["src_country"] is not None:
        source["geo"] = {"country_name": v["src_country"]}
    if source:
        out["source"] = source
    destination = _side(v["dest"], v["dest_ip"], v["dest_host"])
    if v["dest_port"] is not None:
        destination["port"] = v["dest_port"]
    if destination:
        out["destination"] = destination
    network: Dict[str, Any] = {}
    protocol = PROTOCOLS.get(app)
    if protocol is not None:
        network["protocol"] = protocol
    direction = DIRECTIONS.get(v["direction"] or "")
    if direction is not None:
        network["direction"] = direction
    if network:
        out["network"] = network
    tls: Dict[str, Any] = {}
    if v["tls"] is not None:
        tls["established"] = v["tls"]
    version = tls_version(v["tls_protocol"])
    if version is not None:
        tls["version_protocol"], tls["version"] = version
    if v["tls_cipher"] is not None:
        tls["cipher"] = v["tls_cipher"]
    if tls:
        out["tls"] = tls
    observer: Dict[str, Any] = {"vendor": v["vendor"], "product": v["vendor_product"]}
    if v["product_version"] is not None:
        observer["version"] = v["product_version"]
    if v["dvc_serial"] is not None:
        observer["serial_number"] = v["dvc_serial"]
    dvc = v["dvc"]
    dvc_ip = dvc is not None and split_address(dvc, None, None)[0] is not None
    if dvc is not None:
        if dvc_ip:
            observer["ip"] = [dvc]
        else:
            observer["hostname"] = dvc
    if v["dest_interface"] is not None:
        observer["ingress"] = {"interface": {"name": v["dest_interface"]}}
    out["observer"] = observer
    related: Dict[str, Any] = {}
    if name is not None:
        related["user"] = [name]
    ips = _unique(source.get("ip"), destination.get("ip"), dvc if dvc_ip else None)
    if ips:
        related["ip"] = ips
    hosts = _unique(source.get("domain"), destination.get("domain"), None if dvc_ip else dvc)
    if hosts:
        related["hosts"] = hosts
    if related:
        out["related"] = related
    custom = {key: v[key] for key in CUSTOM if v[key] is not None}
    if custom:
        out["cisco"] = {"esa": custom}
    # The line itself last (event.original ends the event object, message ends the document):
    # Splunk's KV_MODE = json reads only the first 5,000 bytes of an event ([spath]
    # extraction_cutoff), so every short field, event.id above all, comes before it.
    out["event"] = ev
    out["message"] = v["raw"]
    return out
