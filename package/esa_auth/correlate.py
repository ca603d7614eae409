"""Session correlation: what the session lines of a mail log say about each SMTP connection.

An SMTP AUTH line names its connection only by number (ICID inbound, DCID
outbound); the client address, the listener, the sender group and TLS are on
the session lines before it (docs/log-formats.md, "Session lines", C1-C9). The
:class:`Correlator` applies those lines to its :class:`~esa_auth.sessions.SessionTable`
and answers the reader's questions about a connection. Nothing else changes
the table.

Most connections never see an authentication line, so the open (C1, C7),
verdict (C2) and TLS (C4, C8t) lines are kept as their matched body and read
into the session's fields only when an event or a checkpoint needs them
(:meth:`Correlator.resolve`).
"""

from __future__ import annotations

import re
from typing import Any, Dict, Match, Optional, Tuple

from . import patterns as P
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


class Correlator:
    """Owns the session table; applies session lines and resolves sessions for events.

    Args:
        max_sessions: open sessions kept at most (least recently active evicted).
        timeout: seconds of log time after which a silent session is dropped.
    """

    def __init__(self, max_sessions: int, timeout: float) -> None:
        self.table = SessionTable(max_sessions, timeout)
        self.table.resolve = self.resolve
        #: Session fields by template and by the text after the ICID/DCID number (see _values_of).
        self._parsed: Dict[Tuple[str, str], _Values] = {}
        # The verb of each template name, for apply().
        self._verbs: Dict[str, Tuple[int, str]] = {}
        for verb, table in enumerate((_OPEN, _CLOSE, _VERDICT, _TLS, _MESSAGE)):
            for name, direction in table.items():
                self._verbs[name] = (verb, direction)

    def apply(self, template: Template, match: Match[str], appliance: str, when: Optional[float]) -> None:
        """Apply a session line (role CONTEXT) matched as ``template`` in ``match``."""
        name = template.pattern.name
        verb, direction = self._verbs[name]
        key: SessionKey = (appliance, direction, int(match.group(template.number)))
        table = self.table
        if verb == 0:  # open
            session = table.open(key, when)
            session.raw_open = _kept(name, match, template)
        elif verb == 1:  # close
            table.close(key)
        else:
            found = table.get(key, when)
            if found is None:
                return
            if verb == 2:
                found.raw_verdict = _kept(name, match, template)
            elif verb == 3:
                # A failed handshake says nothing (an earlier success stays).
                if match.group(template.result)[:1] in "sS":
                    found.raw_tls = _kept(name, match, template)
            else:
                found.mid = int(match.group(template.mid))

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
                self._fill(session, raw)
        session.raw_open = session.raw_verdict = session.raw_tls = None

    def _fill(self, session: Session, raw: Raw) -> None:
        name, body, cut = raw
        # What a line says about its session does not depend on its number: the
        # fields are kept by the rest of the body, which repeats (the same smart
        # host, TLS protocol and cipher, sender group).
        cache_key = (name, body[cut:])
        values = self._parsed.get(cache_key)
        if values is None:
            found = P.BY_NAME[name].regex.match(body)
            # Always a match: the body was matched by the same template when read.
            values = _values_of(name, found) if found is not None else ()
            if len(self._parsed) >= 4096:
                self._parsed.clear()
            self._parsed[cache_key] = values
        for attribute, value in values:
            setattr(session, attribute, value)


def _kept(name: str, match: Match[str], template: Template) -> Raw:
    """A session line kept unread: its template, its body and where its ICID/DCID number ends in it."""
    start = match.start(template.index)
    return name, match.group(template.index), match.end(template.number) - start


def _values_of(name: str, groups: Match[str]) -> _Values:
    """The session fields an open (C1, C7), verdict (C2) or TLS success (C4, C8t) line sets."""
    if name == "C1":
        rdns = groups["rdns"]
        verified = groups["verified"] and groups["verified"].lower() == "yes" and rdns and rdns.lower() != "unknown"
        return (
            ("client_ip", groups["client"]),
            ("listener", groups["listener"].strip() or None),
            ("listener_ip", groups["listener_ip"] or None),
        ) + ((("client_host", rdns),) if verified else ())
    if name == "C7":
        port = int(groups["port"]) if groups["port"] else 0
        return (
            ("local_ip", groups["local_ip"]),
            ("remote_ip", groups["remote_ip"]),
            ("remote_port", port if 0 < port < 65536 else None),
        )
    if name == "C2":
        group = groups["sg"].strip()
        sbrs = groups["sbrs"]
        return (
            ("sender_group", group if group and group != "None" else None),
            ("sbrs", sbrs if sbrs and _NUMBER.match(sbrs) else None),
        )
    # C4, C8t: kept only when the handshake succeeded.
    return (("tls", True), ("tls_protocol", groups["proto"]), ("tls_cipher", groups["cipher"]))
