"""OCSF rendering: class Authentication (3002), OCSF schema 1.7.0.

The mapping of every field is documented in ``docs/crosswalk.md`` (a test reads
that table and checks it against this module). Sources: the OCSF schema 1.7.0
(``events/iam/authentication.json``, ``events/iam/iam.json``,
``events/base_event.json``, ``dictionary.json``, ``objects/*.json``,
``profiles/host.json``), as shipped by pydantic-ocsf 3.0; 1.8.0 leaves
everything used here unchanged.

Choices worth knowing:

- SMTP AUTH (inbound and outbound) is activity 1 Logon: it authenticates the
  rest of the SMTP session (RFC 4954 section 4: after a successful AUTH the
  server associates the identity with the session), so SOC queries for logons
  (``activity_id = 1``) find it. ``is_remote`` is true for it and for every
  appliance login over the network.
- CIM ``action=error`` (no credential was checked: the profile is
  misconfigured, T3; the forwarding server is unreachable, T4/T5; the client
  never started AUTH, T7) is ``status_id`` 99 with ``status`` "Error" and the
  reason in ``status_detail``: never 2 Failure, so that a fault on the
  appliance's side never counts as a failed logon.
- The SASL mechanism (PLAIN, LOGIN, CRAM-MD5) is ``auth_protocol`` (99
  "Other": OCSF names none); an appliance login method ("password based",
  "CLI based": both a password) is ``auth_factors`` (factor 11 "Password").
- ``time`` is epoch milliseconds (OCSF ``timestamp_t``). An event without a
  time (a body pasted without its envelope, E10) has no ``time``: a time is
  never invented. The time as logged is ``metadata.original_time``, and the
  file header's offset ``timezone_offset`` (minutes).
- The ESA fields with no OCSF attribute keep their CIM names under
  ``unmapped``; so does ``signature_id``: the template ids are the project's,
  not codes of the product (``metadata.event_code``).
- The appliance is ``device`` (profile ``host``, declared in
  ``metadata.profiles``), when its name or serial number is known.

Speed: the parts that depend only on the activity and the action are built
once per pair (:func:`_head`), the address and user splits are cached
(:mod:`.parts`), and the event's values are read once from its dict.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone
from functools import cache, lru_cache
from typing import Any, Dict, List, Optional, Tuple

from ..events import AuthEvent
from .parts import CACHE, is_remote, split_address, user_parts

#: The OCSF schema version the output conforms to (``metadata.version``).
OCSF_VERSION = "1.7.0"

CLASS_UID = 3002
CLASS_NAME = "Authentication"
CATEGORY_UID = 3
CATEGORY_NAME = "Identity & Access Management"

#: activity -> (activity_id, activity_name). One SMTP AUTH check is a Logon (see above).
ACTIVITIES: Dict[str, Tuple[int, str]] = {
    "logon": (1, "Logon"),
    "logoff": (2, "Logoff"),
    "authenticate": (1, "Logon"),
}

#: CIM action -> (status_id, status). OCSF status_id: 0 Unknown, 1 Success,
#: 2 Failure, 99 Other (``status`` then holds the source value).
STATUSES: Dict[str, Tuple[int, str]] = {
    "success": (1, "Success"),
    "failure": (2, "Failure"),
    "error": (99, "Error"),
}

#: The ESA logs every authentication line at level Info.
SEVERITY_ID, SEVERITY = 1, "Informational"

#: cleartext -> logon_type_id, logon_type (OCSF dictionary: 8 "Network
#: Cleartext": the password was not hashed; 3 "Network").
LOGON_TYPES: Dict[bool, Tuple[int, str]] = {True: (8, "Network Cleartext"), False: (3, "Network")}

#: privileged -> user.type_id, user.type (OCSF ``user`` object: 1 User, 2 Admin);
#: False counts only when the role is known.
USER_TYPES: Dict[bool, Tuple[int, str]] = {True: (2, "Admin"), False: (1, "User")}

#: auth_protocol_id 99 "Other": no OCSF value names a SASL mechanism, so
#: ``auth_protocol`` carries it as logged.
AUTH_PROTOCOL_OTHER = 99

#: auth_factor factor_type_id 11 "Password": what every appliance login method
#: the ESA logs ("password based", "CLI based") checks.
PASSWORD_FACTOR: Dict[str, Any] = {"factor_type_id": 11, "factor_type": "Password"}

#: device.type_id 99 "Other": the OCSF device types (server, firewall, IDS ...)
#: have none for a mail gateway.
DEVICE_TYPE_ID, DEVICE_TYPE = 99, "Email Security Appliance"

#: The observables of each object the renderer fills: (attribute, observable
#: name, type_id, type), the type_id being the ``observable`` number of the
#: attribute's type in the OCSF dictionary (hostname_t 1, ip_t 2, username_t 4,
#: email_t 5).
OBSERVABLES: Dict[str, Tuple[Tuple[str, str, int, str], ...]] = {
    parent: tuple(
        (key, f"{parent}.{key}", type_id, caption)
        for key, type_id, caption in (
            ("name", 4, "User Name"), ("email_addr", 5, "Email Address"), ("hostname", 1, "Hostname"),
            ("ip", 2, "IP Address"),
        )
    )
    for parent in ("user", "src_endpoint", "dst_endpoint", "device")
}  # fmt: skip

#: OCSF ``timezone_offset`` range, in minutes (dictionary: -1,080 to +1,080).
TIMEZONE_OFFSET_MINUTES = 1080

#: ESA fields with no OCSF attribute, kept under ``unmapped`` by their CIM name.
UNMAPPED = (
    "direction", "authentication_service", "icid", "dcid", "enhanced_status",
    "signature_id", "sender_group", "sbrs", "src_country", "tls", "tls_protocol", "tls_cipher", "mid",
    "privileged", "default_account", "user_role",
)  # fmt: skip

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z\Z")


@lru_cache(maxsize=CACHE)
def epoch_ms(time: Optional[str]) -> Optional[int]:
    """Milliseconds since the epoch of an RFC 3339 UTC time (``...Z``).

    Args:
        time: the event's ``time`` (schema pattern ``YYYY-MM-DDTHH:MM:SS[.f]Z``).

    Returns:
        The OCSF ``timestamp_t`` value (fractions below a millisecond dropped),
        or None when ``time`` is None or not in that form.
    """
    if time is None:
        return None
    match = _RFC3339.match(time)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(x) for x in match.groups()[:6])
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:  # an impossible date (2009-02-30)
        return None
    seconds = calendar.timegm(moment.utctimetuple())
    fraction = match.group(7) or ""
    return seconds * 1000 + int((fraction + "000")[:3])


@cache
def _head(activity: str, action: str) -> Dict[str, Any]:
    """The attributes that follow from the activity and the action alone, in output order (copied, never changed)."""
    activity_id, activity_name = ACTIVITIES.get(activity, (0, "Unknown"))
    status_id, status = STATUSES.get(action, (0, "Unknown"))
    return {
        "class_uid": CLASS_UID, "class_name": CLASS_NAME, "category_uid": CATEGORY_UID, "category_name": CATEGORY_NAME,
        "activity_id": activity_id, "activity_name": activity_name, "type_uid": CLASS_UID * 100 + activity_id,
        # type_name is the class caption, then the activity_id caption.
        "type_name": f"{CLASS_NAME}: {activity_name}",
        "severity_id": SEVERITY_ID, "severity": SEVERITY, "status_id": status_id, "status": status,
    }  # fmt: skip


def _endpoint(address: Optional[str], ip: Optional[str], host: Optional[str]) -> Dict[str, Any]:
    """An OCSF ``network_endpoint``: CIM keeps the address (IP, else name) apart."""
    ip, host = split_address(address, ip, host)
    out: Dict[str, Any] = {}
    if host is not None:
        out["hostname"] = host
    if ip is not None:
        out["ip"] = ip
    return out


def _observe(observables: List[Dict[str, Any]], parent: str, node: Dict[str, Any]) -> None:
    """Add the observables of one object of the document (its names, addresses, user names)."""
    for key, name, type_id, caption in OBSERVABLES[parent]:
        value = node.get(key)
        if value is not None:
            observables.append({"name": name, "type_id": type_id, "type": caption, "value": value})


def render_ocsf(event: AuthEvent) -> Dict[str, Any]:
    """Render an event as an OCSF 1.7.0 Authentication (3002) event.

    Args:
        event: the normalized event.

    Returns:
        A JSON-able dict; unknown values are left out, as in the CIM form.
    """
    v = event.__dict__
    time = epoch_ms(v["time"])
    out: Dict[str, Any] = {"time": time} if time is not None else {}
    utc_offset = v["utc_offset"]
    if utc_offset is not None:
        minutes = utc_offset // 60
        if -TIMEZONE_OFFSET_MINUTES <= minutes <= TIMEZONE_OFFSET_MINUTES:
            out["timezone_offset"] = minutes
    out.update(_head(v["activity"], v["action"]))
    if v["reply_code"] is not None:
        out["status_code"] = v["reply_code"]
    if v["reason"] is not None:
        out["status_detail"] = v["reason"]
    out["message"] = v["signature"]
    user: Dict[str, Any] = {}
    name, privileged = v["user"], v["privileged"]
    if name is not None:
        user["name"] = name
        email, domain = user_parts(name)
        if email is not None:
            user["email_addr"] = email
        if domain is not None:
            user["domain"] = domain
    if privileged or (privileged is False and v["user_role"] is not None):
        # "Regular user" only when the appliance named a role that is not an
        # administrator's: an unknown role says nothing either way.
        user["type_id"], user["type"] = USER_TYPES[privileged]
    elif name is None:
        # OCSF requires ``user``; when the line names no account (T3-T5, T7, T9,
        # T10-T11, L7) all that can be said is that it is unknown.
        user["type_id"], user["type"] = 0, "Unknown"
    out["user"] = user
    src = _endpoint(v["src"], v["src_ip"], v["src_host"])
    if src:
        out["src_endpoint"] = src
    dst = _endpoint(v["dest"], v["dest_ip"], v["dest_host"])
    interface, port = v["dest_interface"], v["dest_port"]
    if dst:
        # A port or an interface name alone is no endpoint of the server: they
        # then stay under ``unmapped`` (below).
        if interface is not None:
            dst["interface_name"] = interface
        if port is not None:
            dst["port"] = port
        out["dst_endpoint"] = dst
    app = v["app"]
    # ``service`` also satisfies the class constraint at_least_one(service, dst_endpoint).
    out["service"] = {"name": app}
    remote = is_remote(app, v["src"])
    if remote is not None:
        out["is_remote"] = remote
    method = v["authentication_method"]
    if method is not None:
        if app == "smtp":
            out["auth_protocol_id"] = AUTH_PROTOCOL_OTHER
            out["auth_protocol"] = method
        else:
            out["auth_factors"] = [dict(PASSWORD_FACTOR)]
    cleartext = v["cleartext"]
    if cleartext is not None:
        out["is_cleartext"] = cleartext
        out["logon_type_id"], out["logon_type"] = LOGON_TYPES[cleartext]
    if v["session_id"] is not None:
        out["session"] = {"uid": v["session_id"]}
    dvc, serial = v["dvc"], v["dvc_serial"]
    device: Optional[Dict[str, Any]] = None
    if dvc is not None or serial is not None:
        device = {"type_id": DEVICE_TYPE_ID, "type": DEVICE_TYPE}
        if dvc is not None:
            device["ip" if split_address(dvc, None, None)[0] is not None else "hostname"] = dvc
        if serial is not None:
            # The serial number (file header ``SN:``) is the appliance's unique id.
            device["uid"] = serial
            device["hw_info"] = {"serial_number": serial}
        out["device"] = device
    product: Dict[str, Any] = {"name": v["vendor_product"], "vendor_name": v["vendor"]}
    if v["product_version"] is not None:
        product["version"] = v["product_version"]
    metadata: Dict[str, Any] = {"version": OCSF_VERSION, "product": product}
    if device is not None:
        metadata["profiles"] = ["host"]  # ``device`` comes from the host profile
    if v["log_name"] is not None:
        metadata["log_name"] = v["log_name"]
    if v["original_time"] is not None:
        metadata["original_time"] = v["original_time"]
    metadata["uid"] = v["event_id"]
    out["metadata"] = metadata
    observables: List[Dict[str, Any]] = []
    _observe(observables, "user", user)
    _observe(observables, "src_endpoint", src)
    _observe(observables, "dst_endpoint", dst)
    if device is not None:
        _observe(observables, "device", device)
    if observables:
        out["observables"] = observables
    unmapped = {key: v[key] for key in UNMAPPED if v[key] is not None}
    if method is not None and app != "smtp":
        unmapped["authentication_method"] = method  # the method's words, beside its factor
    if not dst:
        if interface is not None:
            unmapped["dest_interface"] = interface
        if port is not None:
            unmapped["dest_port"] = port
    if unmapped:
        out["unmapped"] = unmapped
    out["raw_data"] = v["raw"]
    return out
