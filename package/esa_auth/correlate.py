"""Session correlation: what the session lines of a mail log say about each SMTP connection.

An SMTP AUTH line names its connection only by number (ICID inbound, DCID
outbound); the client address, the listener, the sender group and TLS are on
the session lines before it (docs/log-formats.md, "Session lines", C1-C9). The
:class:`Correlator` applies those lines to its :class:`~esa_auth.sessions.SessionTable`
and answers the reader's questions about a connection. Nothing else changes
the table.

Most connections never see an authentication line, so the open (C1, C7),
verdict (C2) and TLS (C4, C8t) lines keep only the values of the groups they
matched (one C call); those are read into the session's fields only when an
event or a checkpoint needs them (:meth:`Correlator.resolve`).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Match, Optional, Tuple

from .scan import Template
from .sessions import INBOUND, OUTBOUND, Raw, Session, SessionKey, SessionTable

_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")

#: What a session line does, by template: open, close, verdict, TLS result, message.
_OPEN = {"C1": INBOUND, "C7": OUTBOUND}
_CLOSE = {"C5": INBOUND, "C8c": OUTBOUND}
_VERDICT = {"C2": INBOUND}
_TLS = {"C4": INBOUND, "C8t": OUTBOUND}
_MESSAGE = {"C6": INBOUND, "C8": OUTBOUND, "C9": OUTBOUND}

_Values = Tuple[Tuple[str, Any], ...]

#: The groups each kept session line needs, by template (see _values_of).
_NEEDED = {
    "C1": ("client", "listener", "listener_ip", "rdns", "verified"),
    "C7": ("local_ip", "remote_ip", "port"),
    "C2": ("sg", "sbrs", "country"),
    "C4": ("proto", "cipher"),
    "C8t": ("proto", "cipher"),
}


class Correlator:
    """Owns the session table; applies session lines and resolves sessions for events.

    Args:
        max_sessions: open sessions kept at most (least recently active evicted).
        timeout: seconds of log time after which a silent session is dropped.
    """

    def __init__(self, max_sessions: int, timeout: float) -> None:
        self.table = SessionTable(max_sessions, timeout)
        self.table.resolve = self.resolve
        # The verb of each template name, for apply().
        self._verbs: Dict[str, Tuple[int, str]] = {}
        for verb, table in enumerate((_OPEN, _CLOSE, _VERDICT, _TLS, _MESSAGE)):
            for name, direction in table.items():
                self._verbs[name] = (verb, direction)
        #: The numbers of the groups a template's kept line needs, by template.
        self._groups: Dict[Template, Tuple[int, ...]] = {}

    def apply(self, template: Template, match: Match[str], appliance: str, when: Optional[float]) -> None:
        """Apply a session line (role CONTEXT) matched as ``template`` in ``match``."""
        name = template.pattern.name
        verb, direction = self._verbs[name]
        key: SessionKey = (appliance, direction, int(match.group(template.number)))
        table = self.table
        if verb == 0:  # open
            table.open(key, when).raw_open = self._kept(name, match, template)
        elif verb == 1:  # close
            table.close(key)
        else:
            found = table.get(key, when)
            if found is None:
                return
            if verb == 2:
                found.raw_verdict = self._kept(name, match, template)
            elif verb == 3:
                # A failed handshake says nothing (an earlier success stays).
                if match.group(template.result)[:1] in "sS":
                    found.raw_tls = self._kept(name, match, template)
            else:
                found.mid = int(match.group(template.mid))

    def _kept(self, name: str, match: Match[str], template: Template) -> Raw:
        """A session line kept unread: its template and the values of the groups _values_of reads."""
        groups = self._groups.get(template)
        if groups is None:
            at = dict(zip(template.names, template.indexes))
            groups = self._groups[template] = tuple(at[group] for group in _NEEDED[name])
        return name, match.group(*groups)

    def session(self, appliance: str, direction: str, number: int, when: Optional[float]) -> Optional[Session]:
        """The open session of a connection, its fields read; None if unknown or expired."""
        found = self.table.get((appliance, direction, number), when)
        if found is not None:
            self.resolve(found)
        return found

    def resolve(self, session: Session) -> None:
        """Read the session lines kept unread in ``session`` into its fields (open first, as they came)."""
        for raw in (session.raw_open, session.raw_verdict, session.raw_tls):
            if raw is not None:
                for attribute, value in _values_of(*raw):
                    setattr(session, attribute, value)
        session.raw_open = session.raw_verdict = session.raw_tls = None


def _values_of(name: str, groups: Tuple[Optional[str], ...]) -> _Values:
    """The session fields an open (C1, C7), verdict (C2) or TLS success (C4, C8t) line sets (groups: _NEEDED)."""
    if name == "C1":
        client, listener, listener_ip, rdns, verified = groups
        verified_host = verified and verified.lower() == "yes" and rdns and rdns.lower() != "unknown"
        return (
            ("client_ip", client),
            ("listener", (listener or "").strip() or None),
            ("listener_ip", listener_ip or None),
        ) + ((("client_host", rdns),) if verified_host else ())
    if name == "C7":
        local_ip, remote_ip, port_text = groups
        port = int(port_text) if port_text else 0
        return (("local_ip", local_ip), ("remote_ip", remote_ip), ("remote_port", port if 0 < port < 65536 else None))
    if name == "C2":
        sg, sbrs, country = groups
        group = (sg or "").strip()
        place = (country or "").strip()
        return (
            ("sender_group", group if group and group != "None" else None),
            ("sbrs", sbrs if sbrs and _NUMBER.match(sbrs) else None),
            # The connection's country as the appliance's geolocation named it (C2 "country Germany").
            ("country", place if place and place != "None" else None),
        )
    # C4, C8t: kept only when the handshake succeeded.
    proto, cipher = groups
    return (("tls", True), ("tls_protocol", proto), ("tls_cipher", cipher))
