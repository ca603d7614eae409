"""The template registry: names, examples, dispatch, and the variants real logs have (docs/log-formats.md)."""

from __future__ import annotations

import re
from typing import Dict, Optional

import pytest
from esa_auth import patterns as P
from esa_auth.shapes import values

# Every form id of docs/log-formats.md (header, message templates, session lines).
FORM_IDS = (
    [f"T{n}" for n in range(1, 12)]
    + [f"A{n}" for n in range(1, 15)]
    + [f"L{n}" for n in range(1, 8)]
    + ["W1", "W2", "W3", "P1"]
    + [f"U{n}" for n in range(1, 7)]
    + ["C1", "C2", "C4", "C5", "C6", "C7", "C8", "C9"]
    + ["H-VERSION", "H-OFFSET", "H-MARK"]
)

EXAMPLES = [(p, example) for p in P.PATTERNS for example in p.examples]


def _example_id(item: object) -> str:
    return item.name if isinstance(item, P.LinePattern) else str(item)[:40]


def test_names_are_unique() -> None:
    names = [p.name for p in P.PATTERNS]
    assert len(names) == len(set(names))


def test_duplicate_name_is_refused() -> None:
    with pytest.raises(KeyError, match="duplicate"):
        P._add(P.BY_NAME["T1"])


@pytest.mark.parametrize("name", FORM_IDS)
def test_documented_template_is_registered(name: str) -> None:
    assert name in P.BY_NAME, f"template {name} of docs/log-formats.md has no pattern"


@pytest.mark.parametrize(("pattern", "example"), EXAMPLES, ids=_example_id)
def test_example_matches_its_own_pattern_first(pattern: P.LinePattern, example: str) -> None:
    """Each example is in its pattern's dispatch group and no earlier pattern of the group takes it."""
    key = P.dispatch_key(example.encode("utf-8"))
    assert pattern in P.DISPATCH[key]
    found = P.match(example, key)
    assert found is not None, f"{pattern.name} example matches nothing"
    assert found[0].name == pattern.name, f"{pattern.name} example taken by {found[0].name}"


@pytest.mark.parametrize("pattern", P.PATTERNS, ids=_example_id)
def test_pattern_is_well_formed(pattern: P.LinePattern) -> None:
    assert pattern.examples, "a pattern without examples is untested"
    assert pattern.role in (P.AUTH, P.CONTEXT, P.HEADER, P.IGNORE)
    assert pattern.signature_id == "ESA-" + pattern.name
    if pattern.role == P.AUTH:
        assert pattern.signature
        assert pattern.activity in ("authenticate", "logon", "logoff")
        assert pattern.action in ("success", "failure", "error")
        assert (pattern.app == "smtp") == bool(pattern.direction)
        if pattern.activity == "logoff":
            assert pattern.action == "success"


def test_signature_ids_are_stable() -> None:
    """signature_id is derived from the form id only: ES searches group by it."""
    assert P.BY_NAME["T1"].signature_id == "ESA-T1"
    assert P.BY_NAME["T11"].signature_id == "ESA-T11"
    assert P.BY_NAME["A14"].signature_id == "ESA-A14"
    assert len({p.signature_id for p in P.PATTERNS}) == len(P.PATTERNS)


def test_dispatch_groups_only_hold_registered_patterns() -> None:
    for key, group in P.DISPATCH.items():
        assert len(key) <= 4
        assert key == key.lower()
        assert all(P.BY_NAME[p.name] is p for p in group)
        # Registry order is kept within a group (it decides which template wins).
        order = [P.PATTERNS.index(p) for p in group]
        assert order == sorted(order)


def test_message_lines_are_not_dispatched() -> None:
    """``MID ...`` lines, the bulk of a mail log, must not reach a regex (speed)."""
    assert b"mid " not in P.DISPATCH


def _match(body: str) -> Optional[P.LinePattern]:
    found = P.match(body, P.dispatch_key(body.encode("utf-8")))
    return found[0] if found else None


def _groups(body: str) -> Dict[str, Optional[str]]:
    found = P.match(body, P.dispatch_key(body.encode("utf-8")))
    assert found is not None, body
    return values(found[1])


# Variants real logs have (docs/log-formats.md#notation: odd case, double spaces, free-text
# user names, IPv6, missing colon after "SMTP Auth"); each with the fields it must give.
VARIANTS = [
    pytest.param(
        "SMTP Auth (ICID 7) succeeded for user: j doe@example.com using AUTH mechanism: LOGIN with profile: Corp Auth",
        "T1", {"icid": "7", "user": "j doe@example.com", "mech": "LOGIN", "profile": "Corp Auth"},
        id="T1 no colon, user with space and @, profile with space"),
    pytest.param(
        r"SMTP Auth: (ICID 8) failed for user: EXAMPLE\bob using AUTH mechanism: CRAM-MD5 with profile: p",
        "T2", {"user": r"EXAMPLE\bob", "mech": "CRAM-MD5"}, id="T2 backslash user, CRAM-MD5"),
    pytest.param(
        "smtp auth:  (icid 9)  FAILED for user: using AUTH mechanism: x using AUTH mechanism: XOAUTH2 with profile: p",
        "T2", {"icid": "9", "user": "using AUTH mechanism: x", "mech": "XOAUTH2"},
        id="T2 odd case, double spaces, user containing the separator"),
    pytest.param(
        "SMTP Auth (ICID 10) could not reach forwarding server auth.example.com with reason: timed out",
        "T5", {"server": "auth.example.com", "detail": "timed out"}, id="T5 before T4"),
    pytest.param(
        "DCID: 5640 IP: 2001:db8::25 SMTP authentication using the profile Smart Host failed: ('535', ['a', 'b'])",
        "T11", {"dcid": "5640", "ip": "2001:db8::25", "profile": "Smart Host", "tail": "('535', ['a', 'b'])"},
        id="T11 IPv6, profile with space"),
    pytest.param(
        "DCID: 5633 IP: 192.0.2.25 SMTP authentication using the profile p succeeded",
        "T10", {"dcid": "5633"}, id="T10 no final period"),
    pytest.param(
        "New SMTP ICID 12 interface mail.example.com (192.0.2.1) address 198.51.100.7 reverse dns host "
        "(unknown) verified no", "C1",
        {"listener": "mail.example.com", "listener_ip": "192.0.2.1", "client": "198.51.100.7", "verified": "no"},
        id="C1 dotted listener, junk rDNS"),
    pytest.param(
        "New SMTP ICID 13 interface Data 1 (2001:db8::1) address 2001:db8::7 reverse dns host a.example verified yes",
        "C1", {"listener": "Data 1", "listener_ip": "2001:db8::1", "client": "2001:db8::7", "rdns": "a.example"},
        id="C1 IPv6"),
    pytest.param("ICID 14 ACCEPT SG None match  SBRS None", "C2", {"sg": "None", "sbrs": "None"}, id="C2 SBRS None"),
    pytest.param("ICID 15 TLS success", "C4", {"result": "success", "proto": None}, id="C4 bare TLS success"),
    pytest.param("ICID 16 lost ", "C5", {"end": "lost"}, id="C5 lost, trailing space"),
    pytest.param("New SMTP DCID 17 interface 192.0.2.1 address 203.0.113.9", "C7", {"port": None}, id="C7 no port"),
    pytest.param(
        "User first last from 2001:db8::5 was authenticated successfully with privilege admin using an HTTPS "
        "connection.", "A9", {"user": "first last", "src": "2001:db8::5", "role": "admin", "proto": "HTTPS"},
        id="A9 user with space, IPv6"),
    pytest.param(
        "User admin from ::ffff:192.0.2.1 was authenticated successfully by password based authentication using an "
        "SSH connection.", "A12", {"src": "::ffff:192.0.2.1", "method": "password based", "proto": "SSH"},
        id="A12 mapped IPv6, method without privilege"),
    pytest.param(
        "USER bob@example.com FROM 192.0.2.1  FAILED  AUTHENTICATION.", "A4", {"user": "bob@example.com"},
        id="A4 upper case, double spaces"),
    pytest.param(
        "Action: User admin logged out from session abc beacuse of inactivity timeout", "W2",
        {"user": "admin", "session": "abc"}, id="W2 with the real typo beacuse"),
    pytest.param(
        "Action: User admin logged out from session abc because of inactivity timeout", "W2",
        {"user": "admin", "session": "abc"}, id="W2 with the typo fixed"),
    pytest.param(
        "Appliance: esa01, Interaction Mode: CLI, User: ops, Source IP: 192.0.2.9, Event: User logged out",
        "U3", {"appliance": "esa01", "mode": "CLI", "user": "ops", "role": None, "dest_ip": None},
        id="U3 without role, destination and location"),
    pytest.param(
        "Bounced: DCID 5640 MID 448 to RID 0 - Bounced by destination server with response: 5.1.0 - Unknown",
        "C9", {"dcid": "5640", "mid": "448"}, id="C9 bounced"),
    pytest.param(
        "Delayed: DCID: 5641 Message 449 to 0 - 4.7.0 Temporary authentication failure",
        "C9", {"dcid": "5641", "mid": "449"}, id="C9 delayed"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "name", "expected"), VARIANTS)
def test_real_log_variant(body: str, name: str, expected: Dict[str, Optional[str]]) -> None:
    found = _match(body)
    assert found is not None, f"{body!r} matches nothing"
    assert found.name == name
    groups = _groups(body)
    for group, value in expected.items():
        assert groups[group] == value, group


LOOK_ALIKES = [
    pytest.param("Connection Error: DCID: 12 IP: 192.0.2.7 details: timeout", "X1", id="connection error"),
    pytest.param("PID 4242: User admin entered 'userconfig'", "X2", id="CLI command"),
    pytest.param("PID 4242: User admin commit changes: added a user", "X2", id="CLI commit"),
    pytest.param("Session abc from 192.0.2.10 not found", "X3", id="stale cookie"),
    pytest.param(
        "Appliance: e, Interaction Mode: GUI, User: a, Source IP: 192.0.2.9, Event: User input was 'x'", "X4",
        id="audit input"),
    pytest.param("SMTP Auth forward server connection to 192.0.2.25, port 25, interface 192.0.2.1, 4 connections "
                 "available", "T8", id="T8 infrastructure"),
    pytest.param("Begin Logfile", "H-MARK", id="header mark"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "name"), LOOK_ALIKES)
def test_look_alike_is_recognised_and_never_an_event(body: str, name: str) -> None:
    found = _match(body)
    assert found is not None
    assert found.name == name
    assert found.role != P.AUTH


@pytest.mark.parametrize(
    "body",
    [
        "TLS was required but remote host did not initiate it",
        "MID 441 ICID 450 From: <alice@example.com>",
        "Message done DCID 5633 MID 441 to RID [0]",
        "req:192.0.2.10 user:admin id:abc 200 GET /login HTTP/1.1",
    ],
)
def test_unrelated_lines_match_nothing(body: str) -> None:
    assert _match(body) is None


@pytest.mark.parametrize(
    "body",
    [
        "SMTP Auth: (ICID 5) succeeded for user: bob with mechanism PLAIN",
        "DCID: 9 IP: 203.0.113.9 SMTP authentication using profile relay succeeded",
        "User admin logged in from the moon",
    ],
)
def test_drift_is_detected_for_unknown_auth_shapes(body: str) -> None:
    assert _match(body) is None
    assert P.DRIFT.search(body)


def test_regexes_are_anchored() -> None:
    """A template never matches in the middle of a body (no unanchored search)."""
    body = "Message 1 said: " + P.BY_NAME["T1"].examples[0]
    assert _match(body) is None
    for pattern in P.PATTERNS:
        assert not pattern.regex.pattern.startswith((".*", "(?s).*")), pattern.name
        assert pattern.regex.flags & re.IGNORECASE, f"{pattern.name}: real logs vary in case"


@pytest.mark.parametrize(
    "body",
    [
        "SMTP Auth: (ICID " + "9" * 19 + ") succeeded for user: a using AUTH mechanism: PLAIN with profile: p",
        "DCID: " + "9" * 5000 + " IP: 192.0.2.1 SMTP authentication using the profile p succeeded.",
        "New SMTP ICID " + "1" * 40 + " interface Data 1 (192.0.2.1) address 198.51.100.7",
        "Time offset from UTC: " + "1" * 10 + " seconds",
    ],
    ids=["19-digit ICID", "5000-digit DCID", "40-digit ICID", "10-digit offset"],
)
def test_numbers_beyond_64_bits_match_no_template(body: str) -> None:
    """Counters are bounded: int() refuses over 4300 digits, and JSON readers lose precision long before."""
    assert _match(body) is None


# --- logoff causes (#15) --------------------------------------------------------------------------------------------
#: The words of a line that state why its session ended, and the reason each gives.
_CAUSE_WORDS = ((re.compile(r"inactivity", re.I), P.INACTIVITY), (re.compile(r"\bexpired\b", re.I), P.EXPIRED),
                (re.compile(r"\blog(?:ged\ )?out\b", re.I), P.LOGOUT))  # fmt: skip
LOGOFFS = [p for p in P.PATTERNS if p.role == P.AUTH and p.activity == "logoff"]


@pytest.mark.parametrize("pattern", LOGOFFS, ids=_example_id)
def test_every_logoff_states_the_cause_its_line_gives(pattern: P.LinePattern) -> None:
    for example in pattern.examples:
        cause = next(reason for words, reason in _CAUSE_WORDS if words.search(example))
        assert pattern.reason == cause, f"{pattern.name}: {example!r} gives {pattern.reason!r}"


def test_logoff_causes_are_told_apart_by_signature() -> None:
    # A search on signature (or signature_id) separates a timed-out session from a logout.
    by_signature: Dict[str, set] = {}
    for pattern in LOGOFFS:
        by_signature.setdefault(pattern.signature, set()).add(pattern.reason)
    assert all(len(reasons) == 1 for reasons in by_signature.values()), by_signature
    assert {P.LOGOUT, P.INACTIVITY, P.EXPIRED} <= {p.reason for p in LOGOFFS}


@pytest.mark.parametrize("name", ["U2", "U4"])
def test_audit_session_lines_are_recognised_and_never_events(name: str) -> None:
    # The audit log's "Session established successfully" and "Session terminated" follow the login (U1) and
    # the logout (U3) they belong to: as events they would count each login and logout twice.
    pattern = P.BY_NAME[name]
    assert pattern.role == P.IGNORE
    for example in pattern.examples:
        found = P.match(example, P.dispatch_key(example.encode("utf-8")))
        assert found is not None
        assert found[0] is pattern
