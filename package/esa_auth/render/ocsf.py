"""OCSF rendering: class Authentication (3002), OCSF schema 1.7.0.

The mapping of every field is documented in ``docs/crosswalk.md`` (a test reads
that table and checks it against this module). Sources: the OCSF schema 1.7.0
(``events/iam/authentication.json``, ``events/iam/iam.json``,
``events/base_event.json``, ``dictionary.json``, ``profiles/host.json``), as
shipped by pydantic-ocsf 3.0; 1.8.0 leaves everything used here unchanged.

Choices worth knowing:

- One SMTP AUTH check is activity 99 "Other" (named ``Authenticate``): it is
  neither the start of a logon session (1) nor a Kerberos step (3-6).
- CIM ``action=error`` (the check could not be made, e.g. T4/T5 forwarding
  server unreachable) is ``status_id`` 99 with ``status`` "Error": OCSF has
  only Unknown, Success and Failure.
- ``time`` is epoch milliseconds (OCSF ``timestamp_t``). An event without a
  time (a body pasted without its envelope, E10) has no ``time``: a time is
  never invented.
- The ESA fields with no OCSF attribute keep their CIM names under
  ``unmapped``.
- The appliance is ``device`` (profile ``host``, declared in
  ``metadata.profiles``), when its name or serial number is known.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timezone
from typing import Any, Dict, Optional, Tuple

from ..events import AuthEvent
from ..text import is_ip

#: The OCSF schema version the output conforms to (``metadata.version``).
OCSF_VERSION = "1.7.0"

CLASS_UID = 3002
CLASS_NAME = "Authentication"
CATEGORY_UID = 3
CATEGORY_NAME = "Identity & Access Management"

#: activity -> (activity_id, activity_name). 99 is "Other": the name then
#: carries the source's own word (OCSF dictionary, ``activity_name``).
ACTIVITIES: Dict[str, Tuple[int, str]] = {
    "logon": (1, "Logon"),
    "logoff": (2, "Logoff"),
    "authenticate": (99, "Authenticate"),
}

#: type_name follows type_uid (class caption, then the activity_id caption),
#: so for 99 it is "Other" whatever ``activity_name`` says.
TYPE_CAPTIONS: Dict[int, str] = {99: "Other"}

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

#: auth_protocol_id 99 "Other": no OCSF value names a SASL mechanism or an
#: appliance login method, so ``auth_protocol`` carries it as logged.
AUTH_PROTOCOL_OTHER = 99

#: device.type_id 99 "Other": the OCSF device types (server, firewall, IDS ...)
#: have none for a mail gateway.
DEVICE_TYPE_ID, DEVICE_TYPE = 99, "Email Security Appliance"

#: ESA fields with no OCSF attribute, kept under ``unmapped`` by their CIM name.
UNMAPPED = (
    "direction", "authentication_service", "icid", "dcid", "enhanced_status",
    "listener", "sender_group", "sbrs", "tls", "tls_protocol", "tls_cipher", "mid",
    "privileged", "default_account", "user_role",
)  # fmt: skip

_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z\Z")


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


def _endpoint(
    address: Optional[str], ip: Optional[str], host: Optional[str], port: Optional[int] = None
) -> Dict[str, Any]:
    """An OCSF ``network_endpoint``: CIM keeps the address (IP, else name) apart."""
    out: Dict[str, Any] = {}
    if ip is None and address is not None and is_ip(address):
        ip = address
    if host is None and address is not None and address != ip:
        host = address
    if host is not None:
        out["hostname"] = host
    if ip is not None:
        out["ip"] = ip
    if port is not None:
        out["port"] = port
    return out


def _user(event: AuthEvent) -> Dict[str, Any]:
    user: Dict[str, Any] = {}
    if event.user is not None:
        user["name"] = event.user
    if event.privileged or (event.privileged is False and event.user_role is not None):
        # "Regular user" only when the appliance named a role that is not an
        # administrator's: an unknown role says nothing either way.
        user["type_id"], user["type"] = USER_TYPES[event.privileged]
    elif event.user is None:
        # OCSF requires ``user``; when the line names no account (T3-T5, T7, T9,
        # T10-T11, L7) all that can be said is that it is unknown.
        user["type_id"], user["type"] = 0, "Unknown"
    return user


def _device(event: AuthEvent) -> Optional[Dict[str, Any]]:
    """The appliance as an OCSF ``device``, or None when nothing identifies it."""
    if event.dvc is None and event.dvc_serial is None:
        return None
    device: Dict[str, Any] = {"type_id": DEVICE_TYPE_ID, "type": DEVICE_TYPE}
    if event.dvc is not None:
        device["ip" if is_ip(event.dvc) else "hostname"] = event.dvc
    if event.dvc_serial is not None:
        # The serial number (file header ``SN:``) is the appliance's unique id.
        device["uid"] = event.dvc_serial
        device["hw_info"] = {"serial_number": event.dvc_serial}
    return device


def render_ocsf(event: AuthEvent) -> Dict[str, Any]:
    """Render an event as an OCSF 1.7.0 Authentication (3002) event.

    Args:
        event: the normalized event.

    Returns:
        A JSON-able dict; unknown values are left out, as in the CIM form.
    """
    activity_id, activity_name = ACTIVITIES.get(event.activity, (0, "Unknown"))
    status_id, status = STATUSES.get(event.action, (0, "Unknown"))
    out: Dict[str, Any] = {}
    time = epoch_ms(event.time)
    if time is not None:
        out["time"] = time
    out.update(
        class_uid=CLASS_UID, class_name=CLASS_NAME, category_uid=CATEGORY_UID, category_name=CATEGORY_NAME,
        activity_id=activity_id, activity_name=activity_name,
        type_uid=CLASS_UID * 100 + activity_id,
        type_name=f"{CLASS_NAME}: {TYPE_CAPTIONS.get(activity_id, activity_name)}",
        severity_id=SEVERITY_ID, severity=SEVERITY, status_id=status_id, status=status,
    )  # fmt: skip
    if event.reply_code is not None:
        out["status_code"] = event.reply_code
    if event.reason is not None:
        out["status_detail"] = event.reason
    out["message"] = event.signature
    out["user"] = _user(event)
    src = _endpoint(event.src, event.src_ip, event.src_host)
    if src:
        out["src_endpoint"] = src
    dst = _endpoint(event.dest, event.dest_ip, event.dest_host, event.dest_port)
    if "ip" in dst or "hostname" in dst:
        out["dst_endpoint"] = dst
    # ``service`` also satisfies the class constraint at_least_one(service, dst_endpoint).
    out["service"] = {"name": event.app}
    if event.authentication_method is not None:
        out["auth_protocol_id"] = AUTH_PROTOCOL_OTHER
        out["auth_protocol"] = event.authentication_method
    if event.cleartext is not None:
        out["is_cleartext"] = event.cleartext
        out["logon_type_id"], out["logon_type"] = LOGON_TYPES[event.cleartext]
    if event.session_id is not None:
        out["session"] = {"uid": event.session_id}
    device = _device(event)
    if device is not None:
        out["device"] = device
    product: Dict[str, Any] = {"name": event.vendor_product, "vendor_name": event.vendor}
    if event.product_version is not None:
        product["version"] = event.product_version
    metadata: Dict[str, Any] = {"version": OCSF_VERSION, "product": product}
    if device is not None:
        metadata["profiles"] = ["host"]  # ``device`` comes from the host profile
    metadata["event_code"] = event.signature_id
    metadata["uid"] = event.event_id
    out["metadata"] = metadata
    unmapped = {name: getattr(event, name) for name in UNMAPPED if getattr(event, name) is not None}
    if event.dest_port is not None and "dst_endpoint" not in out:
        # A port alone is no endpoint (network_endpoint: at least an ip, a name ...).
        unmapped["dest_port"] = event.dest_port
    if unmapped:
        out["unmapped"] = unmapped
    out["raw_data"] = event.raw
    return out
