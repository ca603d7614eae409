"""Mapping: an authentication line (its template and groups) and its session to an :class:`AuthEvent`.

The field meanings are the schema's (``events.AuthEvent``); how each template
fills them is documented with the template in docs/log-formats.md.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Dict, NamedTuple, Optional

from . import patterns as P
from .correlate import Correlator
from .events import AuthEvent
from .sessions import INBOUND, OUTBOUND
from .text import is_ip, unmapped

#: Roles that make an appliance login privileged (docs/log-formats.md#administrator-logins).
ADMIN_ROLES = frozenset({"admin", "administrator"})
#: The built-in account of every ESA.
DEFAULT_ACCOUNT = "admin"
#: SASL mechanisms that carry the password itself (RFC 4616 PLAIN; LOGIN).
CLEARTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})

_REPLY_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
# An SMTP reply code is 2yz-5yz (RFC 5321 section 4.2.1); anything else is kept as text.
_REPLY = re.compile(r"^\(\s*'(?P<code>[2-5]\d\d)'\s*,\s*\[(?P<items>.*)\]\s*\)\s*$")
_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")


class Line(NamedTuple):
    """An authentication line as the reader hands it to :func:`make_event`.

    A named tuple: the reader makes one per event, and a frozen dataclass of
    thirteen fields costs several times as much to build.

    Attributes:
        pattern: the template it matched.
        groups: the template's named groups.
        raw: the whole line as text (wrapped lines joined by a space).
        epoch: its time (seconds since the epoch, UTC), or None.
        time: the same as RFC 3339 text, or None.
        appliance: the appliance that wrote it, when known.
        serial: the appliance serial of the file header, when known.
        version: the AsyncOS version of the file header, when known.
        offset: the byte offset of the line in the source (event ids).
        log_name: the log subscription its syslog envelope names.
        time_text: its time as the line writes it.
        utc_offset: the offset its time was read with, when a file header gave one, seconds (clock.py).
    """

    pattern: P.LinePattern
    groups: Dict[str, Optional[str]]
    raw: str
    epoch: Optional[float]
    time: Optional[str]
    appliance: Optional[str]
    serial: Optional[str]
    version: Optional[str]
    offset: int
    log_name: Optional[str]
    time_text: Optional[str]
    utc_offset: Optional[int]


def event_id(serial: Optional[str], offset: int, raw: str) -> str:
    """The event's deterministic id: BLAKE2b-128 of the appliance serial, the line's offset and text.

    Only what the file's own bytes say goes in (the serial of its header, where
    the line starts, the line), never its name, inode or when it was first
    seen: a line has the same id read live, after a lost checkpoint, from the
    rotated file, a copy or a compressed archive of it (docs/RELIABILITY.md,
    "Event ids"). A syslog line names its host in ``raw``.
    """
    text = f"{serial or ''}\x00{offset}\x00{raw}"
    return hashlib.blake2b(text.encode("utf-8", "replace"), digest_size=16).hexdigest()


def make_event(line: Line, sessions: Correlator) -> AuthEvent:
    """The event of an authentication line; SMTP AUTH lines take their session's fields."""
    pattern = line.pattern
    names = line.groups
    epoch = line.epoch
    appliance = line.appliance
    session_appliance = appliance or line.serial or ""
    values: Dict[str, Any]
    user = _clean(names.get("user"))
    if user == "-":
        user = None
    direction = pattern.direction
    dvc = appliance
    if direction == "inbound":
        icid = int(names["icid"])  # type: ignore[arg-type]  # every inbound template has it
        mechanism = _clean(names.get("mech"))
        values = {
            "icid": icid, "session_id": str(icid), "authentication_method": mechanism,
            "authentication_service": _clean(names.get("profile")),
        }  # fmt: skip
        session = sessions.session(session_appliance, INBOUND, icid, epoch)
        if session is not None:
            sbrs = float(session.sbrs) if session.sbrs is not None else None
            if sbrs is not None and not -10.0 <= sbrs <= 10.0:
                sbrs = None
            client, listener_ip = session.client_ip, session.listener_ip
            values["src"] = client
            values["src_ip"] = _ip(client)
            values["src_host"] = session.client_host
            values["dest"] = listener_ip
            values["dest_ip"] = _ip(listener_ip)
            # C1's "interface NAME" is the appliance's IP interface (docs/crosswalk.md), kept
            # in Session.listener (the checkpoint's field name).
            values["dest_interface"] = session.listener
            values["sender_group"] = session.sender_group
            values["src_country"] = session.country
            values["sbrs"] = sbrs
            values["tls"] = session.tls
            values["tls_protocol"] = session.tls_protocol
            values["tls_cipher"] = session.tls_cipher
            values["mid"] = session.mid
            if mechanism is not None:
                values["cleartext"] = mechanism.upper() in CLEARTEXT_MECHANISMS and not session.tls
        if values.get("dest") is None and dvc:
            values["dest"] = dvc
        if names.get("server"):
            detail = _clean(names.get("detail"))
            server = str(names["server"]).strip()
            values["reason"] = f"could not reach forwarding server {server}" + (f": {detail}" if detail else "")
    elif direction == "outbound":
        dcid = int(names["dcid"])  # type: ignore[arg-type]  # every outbound template has it
        ip = names["ip"]
        values = {
            "dcid": dcid, "session_id": str(dcid), "authentication_service": _clean(names.get("profile")),
            "dest": ip, "dest_ip": _ip(ip),
        }  # fmt: skip
        session = sessions.session(session_appliance, OUTBOUND, dcid, epoch)
        if session is not None:
            local = session.local_ip
            values["src"] = local
            values["src_ip"] = _ip(local)
            values["dest_port"] = session.remote_port
            values["tls"] = session.tls
            values["tls_protocol"] = session.tls_protocol
            values["tls_cipher"] = session.tls_cipher
            values["mid"] = session.mid
        if values.get("src") is None and dvc:
            values["src"] = dvc
        if names.get("tail"):
            values.update(_smtp_reply(str(names["tail"])))
    else:
        values = _admin(pattern, names, user)
        audit_appliance = _clean(names.get("appliance"))
        if dvc is None and audit_appliance:
            dvc = audit_appliance
        if values.get("dest") is None and dvc:
            values["dest"] = dvc
    if pattern.reason and values.get("reason") is None:
        values["reason"] = pattern.reason
    values["event_id"] = event_id(line.serial, line.offset, line.raw)
    values["action"] = pattern.action
    values["activity"] = pattern.activity
    values["app"] = values.get("app") or pattern.app
    values["signature"] = pattern.signature
    values["signature_id"] = pattern.signature_id
    values["raw"] = line.raw
    values["time"] = line.time
    values["direction"] = direction or None
    values["user"] = user
    values["dvc"] = dvc
    values["dvc_serial"] = line.serial
    values["product_version"] = line.version
    values["log_name"] = line.log_name
    values["original_time"] = line.time_text
    values["utc_offset"] = line.utc_offset
    for key in _ADDRESSES:
        value = values.get(key)
        if value:
            values[key] = unmapped(value)
    return AuthEvent.from_fields(values, line.epoch, line.offset)


#: Fields that hold an address (dvc: or a name): an IPv4-mapped IPv6 one is written as its IPv4 address (text.unmapped).
_ADDRESSES = ("src", "src_ip", "dest", "dest_ip", "dvc")

#: Whether each value seen lately is an IP address: an appliance logs the same client and
#: listener addresses again and again, and each event asks two or three times.
_IP_SEEN: Dict[str, bool] = {}


def _ip(value: Optional[str]) -> Optional[str]:
    """The value if it is an IP address (IPv4, IPv6, IPv4-mapped IPv6), else None."""
    if not value:
        return None
    known = _IP_SEEN.get(value)
    if known is None:
        if len(_IP_SEEN) >= 4096:
            _IP_SEEN.clear()
        known = _IP_SEEN[value] = is_ip(value)
    return value if known else None


def _given(value: Optional[str]) -> Optional[str]:
    """A logged value, or None when the log wrote "-" for none (``Permission denied reason -``)."""
    value = _clean(value)
    return None if value == "-" else value


def _clean(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _smtp_reply(tail: str) -> Dict[str, Any]:
    """Read the Python-repr reply of an outbound failure (T11):
    ``('535', ['5.7.8 Error: authentication failed: ...'])``."""
    match = _REPLY.match(tail.strip())
    if not match:
        return {"reason": tail.strip() or None}
    items = [a if a else b for a, b in _REPLY_ITEM.findall(match["items"])]
    text = " ".join(item.strip() for item in items if item.strip())
    out: Dict[str, Any] = {"reply_code": match["code"], "reason": text or None}
    if items:
        status = _ENHANCED.match(items[0].strip())
        if status:
            out["enhanced_status"] = status.group(1)
    return out


_APP_BY_PROTOCOL = {"HTTPS": "esa:gui", "HTTP": "esa:gui", "SSH": "esa:ssh"}
_APP_BY_MODE = {"GUI": "esa:gui", "CLI": "esa:cli", "API": "esa:api"}


def _admin(pattern: P.LinePattern, names: Dict[str, Optional[str]], user: Optional[str]) -> Dict[str, Any]:
    src = _clean(names.get("src"))
    role = _clean(names.get("role"))
    proto = (names.get("proto") or "").upper()
    mode = (names.get("mode") or "").upper()
    app = pattern.app or _APP_BY_PROTOCOL.get(proto) or _APP_BY_MODE.get(mode) or "esa"
    method = _clean(names.get("method"))
    dest = _clean(names.get("dest_ip"))
    values: Dict[str, Any] = {
        "app": app,
        "src": src,
        "src_ip": _ip(src),
        "user_role": role,
        "session_id": _clean(names.get("session")),
        "authentication_method": " ".join(method.split()) if method else None,
        "dest": dest,
        "dest_ip": _ip(dest),
        "reason": _given(names.get("detail")),
    }
    is_default = None if user is None else user == DEFAULT_ACCOUNT
    values["default_account"] = is_default
    if is_default or (role is not None and role.lower() in ADMIN_ROLES):
        values["privileged"] = True
    elif role is not None:
        values["privileged"] = False
    # No role logged and not the built-in account: privilege unknown, left out.
    return values
