"""Session correlation: what the session lines of a mail log say about each SMTP connection.

An SMTP AUTH line names its connection only by number (ICID inbound, DCID
outbound); the client address, the listener, the sender group and TLS are on
the session lines before it (docs/log-formats.md#session-lines, C1-C9). The
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
from typing import Any, Callable, Dict, Match, Optional, Tuple

from .patterns import CONTEXT
from .scan import Template
from .sessions import INBOUND, OUTBOUND, Session, SessionTable

_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")

#: What a session line does, by template: open, close, verdict, TLS result, message.
_OPEN = {"C1": INBOUND, "C7": OUTBOUND}
_CLOSE = {"C5": INBOUND, "C8c": OUTBOUND}
_VERDICT = {"C2": INBOUND}
_TLS = {"C4": INBOUND, "C8t": OUTBOUND}
_MESSAGE = {"C6": INBOUND, "C8": OUTBOUND, "C9": OUTBOUND}

_Values = Tuple[Tuple[str, Any], ...]
#: A session line's effect on the table: (its match, the appliance, its log time).
Effect = Callable[[Match[str], str, Optional[float]], None]

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
        #: What each template does to the table (None: no session line), made when a line first needs it
        #: (effect); the reader looks effects up here before calling effect for one not made yet.
        self.effects: Dict[Template, Optional[Effect]] = {}

    def apply(self, template: Template, match: Match[str], appliance: str, when: Optional[float]) -> None:
        """Apply a session line (role CONTEXT) matched as ``template`` in ``match``."""
        effect = self.effect(template)
        if effect is None:
            raise ValueError(f"template {template.pattern.name} is no session line")
        effect(match, appliance, when)

    def effect(self, template: Template) -> Optional[Effect]:
        """What a line of ``template`` does to the table (None: it is no session line), made once.

        The reader keeps it by template and calls it for each such line, with no other step between.
        """
        try:
            return self.effects[template]
        except KeyError:
            made = self.effects[template] = self._handler(template) if template.pattern.role == CONTEXT else None
            return made

    def _handler(self, template: Template) -> Effect:
        """What a line of ``template`` does (open, close, verdict, TLS result, message), its groups looked up once.

        A kept line (open, verdict, TLS success) holds its template's name and the values of the
        groups :func:`_values_of` reads: one C call, and nothing more until an event needs them.
        """
        name = template.pattern.name
        number = template.number
        table = self.table
        if name in _NEEDED:
            at = dict(zip(template.names, template.indexes))
            groups = tuple(at[group] for group in _NEEDED[name])
        if name in _OPEN:
            direction, open_ = _OPEN[name], table.open

            def handle(match: Match[str], appliance: str, when: Optional[float]) -> None:
                open_((appliance, direction, int(match.group(number))), when).raw_open = (name, match.group(*groups))

        elif name in _CLOSE:
            direction, close = _CLOSE[name], table.close

            def handle(match: Match[str], appliance: str, when: Optional[float]) -> None:
                close((appliance, direction, int(match.group(number))))

        else:
            get = table.get
            if name in _VERDICT:
                direction = _VERDICT[name]

                def update(found: Session, match: Match[str]) -> None:
                    found.raw_verdict = (name, match.group(*groups))

            elif name in _TLS:
                direction, result = _TLS[name], template.result

                def update(found: Session, match: Match[str]) -> None:
                    # A failed handshake says nothing (an earlier success stays).
                    if match.group(result)[:1] in "sS":
                        found.raw_tls = (name, match.group(*groups))

            else:
                direction, mid = _MESSAGE[name], template.mid

                def update(found: Session, match: Match[str]) -> None:
                    found.mid = int(match.group(mid))

            def handle(match: Match[str], appliance: str, when: Optional[float]) -> None:
                found = get((appliance, direction, int(match.group(number))), when)
                if found is not None:
                    update(found, match)

        return handle

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
