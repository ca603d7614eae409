"""The normalized authentication event.

:class:`AuthEvent` is the schema contract of the project (DESIGN, "The common
authentication schema"): field names follow Splunk CIM Authentication, the
rest are documented extensions. A field that is not known is None and is left
out of the rendered event, never written as ``""``, ``-`` or ``unknown``.
The JSON Schema in ``schemas/auth_event.schema.json`` describes the rendered
form; a test keeps its properties and this class's fields in step.
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields
from typing import Any, Callable, ClassVar, Dict, Optional, Tuple

VENDOR = "Cisco"
PRODUCT = "Cisco Secure Email Gateway"


@dataclass(frozen=True)
class AuthEvent:
    """One authentication event.

    Attributes:
        time (str): event time, RFC 3339 UTC; None when the line has no time.
        action (str): ``success``, ``failure`` or ``error`` (CIM).
        activity (str): ``authenticate`` (one SMTP AUTH check), ``logon`` or ``logoff``.
        app (str): ``smtp``, or ``esa:gui``, ``esa:ssh``, ``esa:cli``, ``esa:api``,
            ``esa:quarantine``, ``esa`` (appliance login over an unlogged channel).
        direction (str): ``inbound`` (ICID) or ``outbound`` (DCID); SMTP only.
        user (str): account name exactly as logged.
        src (str): the side that presented credentials (address, else name).
        src_ip (str): its IP address.
        src_host (str): its verified reverse-DNS name.
        dest (str): the side that checked them (address, else name).
        dest_ip (str): its IP address.
        dest_host (str): its name.
        dest_port (int): its TCP port.
        dvc (str): the appliance that wrote the line.
        dvc_serial (str): the appliance serial number (file header ``SN:``).
        authentication_method (str): SASL mechanism or login method.
        authentication_service (str): SMTP AUTH profile, or directory for admin logins.
        session_id (str): ICID, DCID or GUI session token.
        icid (int): inbound connection id.
        dcid (int): delivery connection id.
        reason (str): why it failed, as logged; on a logoff, why the session ended:
            ``logout``, ``inactivity timeout`` or ``session expired`` (patterns.LOGOUT ...).
        reply_code (str): SMTP reply code of an outbound failure (``535``).
        enhanced_status (str): SMTP enhanced status code (``5.7.8``).
        signature (str): readable name of the template.
        signature_id (str): stable id of the template (``ESA-T1``).
        dest_interface (str): the appliance's IP interface that received an inbound
            connection, as logged (``New SMTP ICID n interface NAME``: "Management",
            "Data 1" or a name the administrator chose); CIM Network Traffic's name.
        sender_group (str): inbound HAT sender group.
        sbrs (float): SenderBase reputation score of the client.
        src_country (str): the client's country, as the appliance's verdict line (C2) names it.
        tls (bool): TLS was established on the session before this line.
        tls_protocol (str): its protocol.
        tls_cipher (str): its cipher.
        mid (int): message in progress on the session.
        cleartext (bool): credentials crossed the network unencrypted.
        privileged (bool): an administrator-class account or role.
        default_account (bool): the built-in ``admin`` account.
        user_role (str): the role the appliance gave the user.
        vendor (str): ``Cisco``.
        vendor_product (str): ``Cisco Secure Email Gateway``.
        product_version (str): AsyncOS version from the file header.
        log_name (str): the log subscription that wrote the line, as a syslog
            envelope names it (``mail_logs``).
        original_time (str): the time as the line writes it, the text ``time`` was
            read from (``Wed Apr 22 11:44:48 2009``, ``Jan  6 10:00:03``).
        utc_offset (int): seconds the appliance's clock was ahead of UTC when the
            line was written, as ``time`` was read, in a file with a header (``Time
            offset from UTC``): the header's, the configured zone's at that time, or
            the header's less an hour after the clock went back (README, "Time").
        raw (str): the original line (wrapped lines joined by a space).
        event_id (str): deterministic id of (appliance serial, position, line): the same
            whichever file, copy or archive the line is read from (docs/RELIABILITY.md).

    Not a field: ``epoch``, the event's time in seconds since the epoch (the
    number ``time`` was written from), or None. The reader sets it where it
    makes the event, so that a consumer that needs the number (the modular
    input's ``<time>``) does not parse the text back. It is no part of the
    schema: ``to_dict``, equality and ``repr`` leave it out. An event made
    otherwise (``AuthEvent(...)``, ``dataclasses.replace``) has None.

    Not a field either, kept the same way: ``offset``, the byte offset of the
    event's line in the source it was read from (what ``event_id`` hashes), or
    None. A consumer that feeds many lines at once tells by it which line an
    event came from (the ``esaauth`` command: each input record's ``_time``).
    """

    # ``epoch`` and ``offset`` live in slots, outside the instance dict that to_dict() and
    # the generated __eq__ read; "__dict__" keeps the fields where they are.
    __slots__ = ("__dict__", "epoch", "offset")
    epoch: ClassVar[Optional[float]]  # declared for type checkers; a slot, not a dataclass field
    offset: ClassVar[Optional[int]]  # the same

    action: str
    activity: str
    app: str
    signature: str
    signature_id: str
    raw: str
    event_id: str
    time: Optional[str] = None
    direction: Optional[str] = None
    user: Optional[str] = None
    src: Optional[str] = None
    src_ip: Optional[str] = None
    src_host: Optional[str] = None
    dest: Optional[str] = None
    dest_ip: Optional[str] = None
    dest_host: Optional[str] = None
    dest_port: Optional[int] = None
    dvc: Optional[str] = None
    dvc_serial: Optional[str] = None
    authentication_method: Optional[str] = None
    authentication_service: Optional[str] = None
    session_id: Optional[str] = None
    icid: Optional[int] = None
    dcid: Optional[int] = None
    reason: Optional[str] = None
    reply_code: Optional[str] = None
    enhanced_status: Optional[str] = None
    dest_interface: Optional[str] = None
    sender_group: Optional[str] = None
    sbrs: Optional[float] = None
    src_country: Optional[str] = None
    tls: Optional[bool] = None
    tls_protocol: Optional[str] = None
    tls_cipher: Optional[str] = None
    mid: Optional[int] = None
    cleartext: Optional[bool] = None
    privileged: Optional[bool] = None
    default_account: Optional[bool] = None
    user_role: Optional[str] = None
    vendor: str = VENDOR
    vendor_product: str = PRODUCT
    product_version: Optional[str] = None
    log_name: Optional[str] = None
    original_time: Optional[str] = None
    utc_offset: Optional[int] = None

    def __post_init__(self) -> None:
        # Keep the instance dict in FIELD_ORDER (the generated __init__ fills it
        # in declaration order), so that to_dict() is one pass over it.
        object.__setattr__(self, "epoch", None)
        object.__setattr__(self, "offset", None)
        values = self.__dict__
        ordered = {name: values[name] for name in FIELD_ORDER}
        values.clear()
        values.update(ordered)

    def __setstate__(self, state: Tuple[Dict[str, Any], Dict[str, Any]]) -> None:
        # pickle and copy hand back (instance dict, slots); the frozen __setattr__ would refuse the slot.
        values, slots = state
        self.__dict__.update(values)
        object.__setattr__(self, "epoch", slots.get("epoch"))
        object.__setattr__(self, "offset", slots.get("offset"))

    @classmethod
    def from_fields(
        cls, values: Dict[str, Any], epoch: Optional[float] = None, offset: Optional[int] = None
    ) -> AuthEvent:
        """Build an event from field values; fields not given take their defaults.

        The same event as ``AuthEvent(**values)``, built without the generated
        ``__init__`` (one frozen-attribute assignment per field): the pipeline
        builds one event per authentication line. The caller gives field names
        only, and every required field; ``epoch`` is the number ``time`` was
        written from, ``offset`` where the line is in its source (see the class).

        Raises:
            TypeError: a name is no field, or a required field is missing.
        """
        event = object.__new__(cls)
        fields_ = event.__dict__
        fields_.update(_DEFAULTS)
        fields_.update(values)
        object.__setattr__(event, "epoch", epoch)
        object.__setattr__(event, "offset", offset)
        if len(fields_) != len(_DEFAULTS) or not values.keys() >= _REQUIRED:
            cls(**values)  # raises the TypeError that names the culprit
            raise TypeError("invalid AuthEvent fields")  # pragma: no cover - __init__ raised
        return event

    def to_dict(self) -> Dict[str, Any]:
        """The event in the schema's field order, unknown fields left out."""
        # The instance dict is in FIELD_ORDER (__post_init__, from_fields).
        return {name: value for name, value in self.__dict__.items() if value is not None}


#: Rendering order: time and outcome first, the id, then the raw line last: Splunk's KV_MODE = json reads only
#: the first 5,000 bytes of an event ([spath] extraction_cutoff), so a long line must not hide a short field.
FIELD_ORDER = (
    "time", "action", "activity", "app", "direction", "user",
    "src", "src_ip", "src_host", "dest", "dest_ip", "dest_host", "dest_port",
    "dvc", "dvc_serial", "authentication_method", "authentication_service",
    "session_id", "icid", "dcid", "reason", "reply_code", "enhanced_status",
    "signature", "signature_id", "dest_interface", "sender_group", "sbrs", "src_country",
    "tls", "tls_protocol", "tls_cipher", "mid",
    "cleartext", "privileged", "default_account", "user_role",
    "vendor", "vendor_product", "product_version", "log_name", "original_time", "utc_offset",
    "event_id", "raw",
)  # fmt: skip

assert set(FIELD_ORDER) == {f.name for f in fields(AuthEvent)}, "FIELD_ORDER must list every field"

#: Every field with its default, in FIELD_ORDER (None for the required ones).
_DEFAULTS: Dict[str, Any] = {
    f.name: None if f.default is MISSING else f.default
    for f in sorted(fields(AuthEvent), key=lambda f: FIELD_ORDER.index(f.name))
}
#: The fields that have no default.
_REQUIRED = frozenset(f.name for f in fields(AuthEvent) if f.default is MISSING)


def _json_writer() -> Callable[[Any], str]:
    """``json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode``, its C encoder made once.

    ``encode`` makes a new C encoder and a dictionary of the containers it has seen (the check for
    circular references) for every document; an event is a flat dictionary made here, never circular,
    so the standard library's C encoder is made once, without that check. The text is the same
    (tests/test_events.py compares them); without the C encoder, ``encode`` itself is used.
    """
    encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the _json module
        return encoder.encode
    chunks = make(None, encoder.default, json.encoder.encode_basestring, None, ":", ",", False, False, True)
    join = "".join

    def json_text(document: Any) -> str:
        return join(chunks(document, 0))

    return json_text


#: A rendered event (or any JSON-able document) as one line of JSON text, the way the
#: command line and the modular input write it: UTF-8 kept as is (``ensure_ascii``
#: off), no spaces.
json_text: Callable[[Any], str] = _json_writer()


def cim_text(event: AuthEvent) -> str:
    """The CIM JSON text of an event: its ``to_dict()`` as :data:`json_text`."""
    return json_text(event.to_dict())
