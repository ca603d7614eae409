"""The registry of ESA log-line body templates.

Every message template of docs/log-formats.md (sources: Cisco TAC note
118570 "How are SMTP authentication events logged?", the AsyncOS user guides'
Logging chapter) is a named, ordered :class:`LinePattern` with example bodies.
A test checks that every example is matched by its own pattern and by no
pattern before it.

Dispatch is on the first four bytes of the body, lower-cased: the pipeline
looks up :data:`DISPATCH` and tries only the few patterns registered under
that key, never every regex on every line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Dict, Iterable, List, Optional, Pattern, Tuple

from .shapes import END, IP, LAST, SEP, U_END, UW, U, atomic, by_words, free, tail, unnamed

#: Roles of a pattern.
AUTH = "auth"  # an authentication event (becomes an AuthEvent)
CONTEXT = "context"  # a session line that completes auth events (C1-C9)
HEADER = "header"  # file header metadata (section 2)
IGNORE = "ignore"  # recognised look-alike, infrastructure line or second line of one event: never an event


@dataclass(frozen=True)
class LinePattern:
    """One body template.

    Attributes:
        name: the form id (``T1``, ``A14``, ``C1`` ...: docs/log-formats.md#T1 ...), stable.
        role: one of :data:`AUTH`, :data:`CONTEXT`, :data:`HEADER`, :data:`IGNORE`.
        source: the regular expression, verbose and case-insensitive (see :attr:`regex`).
        examples: bodies this pattern must match (tested).
        signature: human-readable event name (auth patterns).
        action: CIM action: ``success``, ``failure`` or ``error`` (auth patterns).
        activity: ``authenticate``, ``logon`` or ``logoff`` (auth patterns).
        app: CIM app when the template fixes it; empty when it comes from the line.
        direction: ``inbound``/``outbound`` for SMTP AUTH, empty otherwise.
        reason: fixed failure reason of the template, if any.
    """

    name: str
    role: str
    source: str
    examples: Tuple[str, ...]
    signature: str = ""
    action: str = ""
    activity: str = ""
    app: str = ""
    direction: str = ""
    reason: str = ""

    @cached_property
    def regex(self) -> Pattern[str]:
        """The compiled pattern, anchored at the start of the body when matched.

        Compiled at its first use: a run meets a few dozen of the templates at
        most, and compiling all of them is most of the command line's start-up.
        """
        return _rx(self.source)

    @property
    def signature_id(self) -> str:
        """Stable id of the template, for CIM ``signature_id``."""
        return "ESA-" + self.name

    @property
    def keys(self) -> Tuple[bytes, ...]:
        """Dispatch keys: the lower-cased first four bytes of each example."""
        seen: List[bytes] = []
        for example in self.examples:
            key = dispatch_key(example.encode("utf-8"))
            if key not in seen:
                seen.append(key)
        return tuple(seen)


def dispatch_key(body: bytes) -> bytes:
    """The key a body is dispatched on (first four bytes, lower-cased)."""
    return body[:4].lower()


def _rx(pattern: str) -> Pattern[str]:
    # Fixed words are matched case-insensitively and runs of spaces are
    # tolerated: real logs have odd case and double spaces (docs/log-formats.md#notation).
    return re.compile(pattern, re.VERBOSE | re.IGNORECASE)


# Counters (ICID, DCID, MID, PID) are bounded to what a signed 64-bit integer holds:
# a longer run of digits is damage, and must not reach int() (which refuses
# more than 4300 digits) nor a consumer's JSON parser.

_REGISTRY: List[LinePattern] = []


def _add(pattern: LinePattern) -> None:
    if UW in pattern.source:
        pattern = replace(pattern, source=by_words(pattern.source))
    if any(p.name == pattern.name for p in _REGISTRY):
        raise KeyError(f"duplicate pattern name {pattern.name!r}")
    _REGISTRY.append(pattern)


def _auth(name: str, regex: str, examples: Iterable[str], **kwargs: str) -> None:
    _add(LinePattern(name, AUTH, regex, tuple(examples), **kwargs))


def _other(name: str, role: str, regex: str, examples: Iterable[str]) -> None:
    _add(LinePattern(name, role, regex, tuple(examples)))


# --- Section 3: inbound SMTP AUTH (text mail logs, keyed by ICID) -------------
# action: "failure" only when credentials were presented and refused (T2, T6).
# When no credential was checked, because of the appliance's side (T3 profile
# misconfigured, T4/T5 forwarding server unreachable) or because the client
# never started AUTH (T7), it is "error" (docs/crosswalk.md, "Server-side
# faults"): such lines must never count as guesses.
# Older documents write no colon after "SMTP Auth"; real lines since
# 2009 have it (TAC 118570): both are accepted. The user runs up to
# " using AUTH mechanism: " and may contain spaces.
_INBOUND = dict(app="smtp", direction="inbound", activity="authenticate")
# T1 and T2's mechanism is a word followed by spaces: shorter, it is followed by no space, so it is read atomically
# (the form of shapes.atomic, in its own group): a long word there with no " with profile:" after it is not given
# back a character at a time before the user is tried further (#18: 3.15 times an ordinary line per byte on a line
# of 1,024 characters, 3.25 on 4,096, growing with the line).
_MECHANISM = r"\ +using\ +AUTH\ +mechanism:\ *(?=(?P<mech>\S+))(?P=mech)\ +with\ +profile:\ *" + tail("profile")
_auth(
    "T1",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +succeeded\ +for\ +user:?\ " + U
    + _MECHANISM,
    ["SMTP Auth: (ICID 450) succeeded for user: ironport using AUTH mechanism: PLAIN with profile: IncomingAuthentication"],
    signature="SMTP AUTH succeeded", action="success", **_INBOUND,
)  # fmt: skip
_auth(
    "T2",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +failed\ +for\ +user:?\ " + U
    + _MECHANISM,
    ["SMTP Auth: (ICID 451) failed for user: ironport using AUTH mechanism: PLAIN with profile: IncomingAuthentication",
     "SMTP Auth (ICID 7) failed for user: j doe@example.com using AUTH mechanism: LOGIN with profile: Corp Auth"],
    signature="SMTP AUTH failed", action="failure", **_INBOUND,
)  # fmt: skip
_auth(
    "T3",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +profile:\ *(?!\ )" + free("profile") + r"\ +is\ +misconfigured\ +or\ +missing"
    r"\ +causing\ +an\ +Auth\ +failure" + END,
    ["SMTP Auth (ICID 31) profile: smtp_auth_ldap is misconfigured or missing causing an Auth failure"],
    signature="SMTP AUTH profile misconfigured", action="error",
    reason="SMTP AUTH profile is misconfigured or missing", **_INBOUND,
)  # fmt: skip
_auth(
    "T5",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +could\ +not\ +reach\ +forwarding\ +server" + SEP + free("server")
    + r"\ +with\ +reason:\ *" + tail("detail"),
    ["SMTP Auth (ICID 32) could not reach forwarding server auth.example.com with reason: Connection refused"],
    signature="SMTP AUTH forwarding server unreachable", action="error", **_INBOUND,
)  # fmt: skip
_auth(
    "T4",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +could\ +not\ +reach\ +forwarding\ +server" + SEP + rf"(?P<server>{LAST}|.)" + END,
    ["SMTP Auth (ICID 33) could not reach forwarding server 192.0.2.25"],
    signature="SMTP AUTH forwarding server unreachable", action="error", **_INBOUND,
)  # fmt: skip
_auth(
    "T6",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +LDAP\ +query/user\ +lookup\ +failed\ +for\ +user:?\ " + U_END + END,
    ["SMTP Auth (ICID 34) LDAP query/user lookup failed for user: mallory"],
    signature="SMTP AUTH LDAP user lookup failed", action="failure",
    reason="LDAP query/user lookup failed", **_INBOUND,
)  # fmt: skip
_auth(
    "T7",
    r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +was\ +required\ +but\ +remote\ +host\ +did\ +not\ +initiate\ +it" + END,
    ["SMTP Auth (ICID 35) was required but remote host did not initiate it"],
    signature="SMTP AUTH required but not attempted", action="error",
    reason="SMTP AUTH was required but the client did not initiate it", **_INBOUND,
)  # fmt: skip
# T8 and T9 concern the authentication infrastructure, not an attempt by anyone.
_other(
    "T8", IGNORE,
    r"SMTP\ +Auth:?\ +forward\ +server\ +connection\ +to\ ",
    ["SMTP Auth forward server connection to 192.0.2.25, port 25, interface 192.0.2.1, 4 connections available"],
)  # fmt: skip
_other(
    "T9", IGNORE,
    r"SMTP\ +Auth:?\ +LDAP\ +query\ +failed",
    ["SMTP Auth LDAP query failed, possible LDAP misconfiguration or unreachable server."],
)  # fmt: skip

# --- Section 4: outbound SMTP AUTH (keyed by DCID; note "DCID:" with a colon) -
# The failure tail is a Python-repr tuple: ('535', ['5.7.8 Error: ...']).
_OUTBOUND = dict(app="smtp", direction="outbound", activity="authenticate")
# T10's profile is read lazily, and where it could end, "succeeded" and the end of the line are checked: a profile of
# repeated " succeeded." made each repetition read the nine letters before the end check failed (#18: 2.96 times an
# ordinary line per byte at 1,024 characters, 3.12 at 4,096). Whether the end of the line follows nine characters
# that are no space is asked first (one item for the nine), and the word is read only then (2.40x and 2.52x).
_auth(
    "T10",
    r"DCID:\ *(?P<dcid>\d{1,18})\ +IP:\ *(?P<ip>\S+)\ +SMTP\ +authentication\ +using\ +the\ +profile" + SEP + free("profile")
    + r"\ +(?=\S{9}" + END + r")succeeded" + END,
    ["DCID: 5633 IP: 172.16.155.102 SMTP authentication using the profile OutboundAuthentication succeeded."],
    signature="SMTP AUTH to smart host succeeded", action="success", **_OUTBOUND,
)  # fmt: skip
_auth(
    "T11",
    r"DCID:\ *(?P<dcid>\d{1,18})\ +IP:\ *(?P<ip>\S+)\ +SMTP\ +authentication\ +using\ +the\ +profile" + SEP + free("profile")
    + r"\ +failed(?::\ *(?P<tail>(?:.*?\S)??))?\s*$",
    ["DCID: 5640 IP: 172.16.155.102 SMTP authentication using the profile OutboundAuthentication failed: "
     "('535', ['5.7.8 Error: authentication failed: authentication failure'])"],
    signature="SMTP AUTH to smart host failed", action="failure", **_OUTBOUND,
)  # fmt: skip

# --- Section 5: session lines (context only) ---------------------------------
# C1: the rDNS part ("reverse dns host H verified yes|no") ends the line, so whether it can be there is one
# question about the end of the line, asked once at the start (the look-ahead, which also reads "verified"):
# the listener is then read up to the first word after which its rest can follow, and that is a local
# question: "[(IP)] address A" and the end of the line, or, when the line ends with "verified", " reverse dns
# host " (the rDNS then always reaches that "verified"). Asked at each try (the rDNS read lazily to the end,
# before #18), a line of repeated "address A reverse dns host H" took time that grew with its square.
# The listener is read word by word in a look-ahead (atomic), the runs of spaces after "address" and after the
# listener, and the address in the check of each word, atomically (atomic): nothing is given back and tried again.
# A run of spaces between two words of the listener is followed by a look-ahead for a word instead: a run that no
# word follows is given back once, a character at a time, where an atomic group cost three items at every word
# (#18: a listener of one-character words, ") ) )", cost 3.01 times an ordinary line per byte at 1,024 characters,
# 3.05 at 4,096; 2.52 and 2.55 now). The rDNS is
# read by words: a word is no try, the "verified" check is made after each run of spaces. The look-ahead at
# the start finds "verified" from the end of the line and then checks the space before it (a look-behind):
# a run of spaces given back costs one try a character, not two.
_VERIFIED = r"verified\ +(?:yes|no)\s*$"
_C1_STOP = (
    r"(?:\([^()\s]*\)\ +(?!\ ))?address" + atomic(r"\ +") + atomic(r"\S+")
    + r"(?(verified)\ +reverse\ +dns\ +host\ |\s*$)"
)  # fmt: skip
_other(
    "C1", CONTEXT,
    r"New\ +SMTP\ +ICID\ +(?P<icid>\d{1,18})\ +interface(?=(?:.*verified(?<=\ verified)\ +(?P<verified>yes|no)\s*$)?)" + SEP
    + r"(?=(?P<listener>[^\ ]+(?:\ +(?=[^\ ])(?!" + _C1_STOP + r")[^\ ]+)*))(?P=listener)"
    + atomic(r"\ +") + r"(?:\((?P<listener_ip>[^()\s]*)\)\ +(?!\ ))?address\ +(?P<client>\S+)"
    r"(?(verified)\ +reverse\ +dns\ +host\ +(?:(?P<rdns>[^\ ]+(?:\ +(?![\ ]|" + _VERIFIED + r")[^\ ]+)*)\ +|)"
    + _VERIFIED + r")\s*$",
    ["New SMTP ICID 450 interface IncomingMail (172.16.155.16) address 172.16.155.102 reverse dns host unknown verified no",
     "New smtp ICID 12 Interface Data 1 (192.0.2.1)  address 198.51.100.7 reverse dns host mx.example.net verified yes",
     "New SMTP ICID 3 interface Management address 10.1.1.1"],
)  # fmt: skip
_other(
    "C7", CONTEXT,
    r"New\ +SMTP\ +DCID\ +(?P<dcid>\d{1,18})\ +interface\ +(?P<local_ip>\S+)\ +address\ +(?P<remote_ip>\S+)"
    r"(?:\ +port\ +(?P<port>\d{1,18}))?\s*$",
    ["New SMTP DCID 5633 interface 172.16.155.16 address 172.16.155.102 port 25",
     "New SMTP DCID 8 interface 192.0.2.1 address 203.0.113.9"],
)  # fmt: skip
# C2: an empty sender group ("SG  match") is taken when the spaces before "match" are more than one.
# Linear (#18): the sender group ends at the first " match" that the rest can follow (a space or the end
# of the line after it: the rule takes anything), and the rule at the first run of blanks where what may
# follow it (_c2_end: SBRS, country or the end of the line) can; each is read by words, and only where a
# word ends is that checked. The country runs to the last non-blank of the line, found from the end.
# The check of _c2_end reads the run of spaces before SBRS or country, and the SBRS value, atomically
# (atomic): a run of spaces at the end of the line, or a long word after SBRS, is not given back and tried
# again at each place it is checked. (One check, two places: _c2_end() makes each its own groups.)
_C2_MATCH = r"match(?:\ |\s*$)"


def _c2_end() -> str:
    return (
        r"(?:\s*$|"
        + atomic(r"\ +")
        + r"(?:SBRS\ +(?:not\ enabled|"
        + atomic(r"\S+")
        + r")(?:\s*$|\ +country\ +[^\ \n])"
        r"|country\ +[^\ \n]))"
    )


_other(
    "C2", CONTEXT,
    r"ICID\ +(?P<icid>\d{1,18})\ +(?P<verdict>ACCEPT|REJECT|TCPREFUSE|RELAY)\ +SG\ +"
    r"(?P<sg>(?=\ " + _C2_MATCH + r")|(?!\ )[^\ ]+(?:\ +(?!" + _C2_MATCH + r")[^\ ]+)*)\ +match"
    r"(?:(?!" + _c2_end() + r")\ +(?!\ )(?P<rule>\s*\S+(?:(?!" + _c2_end() + r")\s+\S+)*))?"
    r"(?:\ +SBRS\ +(?P<sbrs>not\ enabled|\S+))?(?:\ +country\ +(?!\ )(?P<country>.*\S|.))?\s*$",
    ["ICID 450 ACCEPT SG None match ALL SBRS None",
     "ICID 9 RELAY SG RELAYLIST match 10.0.0.0/8 SBRS 3.5 country Germany",
     "ICID 10 ACCEPT SG UNKNOWNLIST match  SBRS not enabled",
     "ICID 11 REJECT SG BLACKLIST match"],
)  # fmt: skip
_other(
    "C4", CONTEXT,
    r"ICID\ +(?P<icid>\d{1,18})\ +TLS\ +(?P<result>success|failed)(?:\ +protocol\ +(?P<proto>\S+))?"
    r"(?:\ +cipher\ +(?P<cipher>\S+))?.*$",
    ["ICID 450 TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES256-GCM-SHA384", "ICID 5 TLS success",
     "ICID 6 TLS failed: (336151574, 'error:14094416:SSL routines')"],
)  # fmt: skip
_other(
    "C5", CONTEXT,
    r"ICID\ +(?P<icid>\d{1,18})\ +(?P<end>close|lost)\s*$",
    ["ICID 450 close", "ICID 451 lost", "ICID 452 close "],
)  # fmt: skip
_other(
    "C6", CONTEXT,
    r"Start\ +MID\ +(?P<mid>\d{1,18})\ +ICID\ +(?P<icid>\d{1,18})\s*$",
    ["Start MID 441 ICID 450"],
)  # fmt: skip
_other(
    "C8", CONTEXT,
    r"Delivery\ +start\ +DCID\ +(?P<dcid>\d{1,18})\ +MID\ +(?P<mid>\d{1,18})",
    ["Delivery start DCID 5633 MID 441 to RID [0]"],
)  # fmt: skip
# C9: the outcome of a delivery on the session ("Delayed:" has "DCID:" with a
# colon and "Message" for MID). It follows an outbound AUTH failure, and is no
# authentication event itself: it only keeps the session and its MID current.
# C9, C8t, H-VERSION and H-OFFSET read the start of the line only (well under a PCRE2 step a byte on an ordinary
# line), so a run of spaces given back once, where the word after it is not there, cost several times that (#18):
# their runs of spaces are read atomically (atomic), which the next item (a word) makes no difference to.
_other(
    "C9", CONTEXT,
    r"(?:Bounced|Delayed):" + atomic(r"\ +") + r"DCID:?" + atomic(r"\ +") + r"(?P<dcid>\d{1,18})" + atomic(r"\ +")
    + r"(?:MID|Message)" + atomic(r"\ +") + r"(?P<mid>\d{1,18})",
    ["Bounced: DCID 5640 MID 448 to RID 0 - Bounced by destination server with response: 5.1.0 - Unknown address error",
     "Delayed: DCID: 5641 Message 449 to 0 - 4.7.0 Temporary authentication failure"],
)  # fmt: skip
_other(
    "C8c", CONTEXT,
    r"DCID\ +(?P<dcid>\d{1,18})\ +close\s*$",
    ["DCID 5633 close"],
)  # fmt: skip
_other(
    "C8t", CONTEXT,
    r"DCID\ +(?P<dcid>\d{1,18})" + atomic(r"\ +") + r"TLS" + atomic(r"\ +")
    + r"(?P<result>success|failed)(?:\ +protocol\ +(?P<proto>\S+))?"
    r"(?:\ +cipher\ +(?P<cipher>\S+))?.*$",
    ["DCID 5633 TLS success protocol TLSv1.2 cipher AES128-SHA"],
)  # fmt: skip

# --- Section 7: look-alikes that share a dispatch key with the above ---------
_other("X1", IGNORE, r"Connection\ +Error:\ +DCID:", ["Connection Error: DCID: 12 IP: 192.0.2.7 details: timeout"])

# --- Section 2: file header --------------------------------------------------
_other(
    "H-VERSION", HEADER,
    r"Version:" + atomic(r"\ *") + r"(?P<version>\S+)(?:" + atomic(r"\ +") + r"SN:" + atomic(r"\ *")
    + r"(?P<serial>\S+))?",
    ["Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F"],
)  # fmt: skip
_other(
    "H-OFFSET", HEADER,
    r"Time\ +offset\ +from\ +UTC:" + atomic(r"\ *") + r"(?P<offset>[-+]?\d{1,9})\ +seconds",
    ["Time offset from UTC: -21600 seconds"],
)  # fmt: skip
_other(
    "H-MARK", IGNORE,
    r"(?:Begin\ +Logfile|End\ +Logfile|Logfile\ +rolled\ +over)",
    ["Begin Logfile", "End Logfile", "Logfile rolled over"],
)  # fmt: skip

# --- Section 6: administrator authentication (authentication log) -----------
# Order matters where one template is a prefix of another with a free-text
# user: the longer forms come first (A10, A11, A9, A12 before A3 before A1).
_ADMIN_LOGON = dict(activity="logon")
_auth(
    "A10",
    r"User\ " + UW + r"\ +from\ +" + IP + r"\ +was\ +authenticated\ +successfully\ +with\ +privilege\ +(?P<role>\S+)"
    r"\ +by\ +(?P<method>CLI\ +based)\ +authentication\ +using\ +an?\ +(?P<proto>SSH)\ +connection" + END,
    ["User admin from 192.0.2.10 was authenticated successfully with privilege admin by CLI based authentication "
     "using an SSH connection."],
    signature="Appliance login succeeded (SSH, CLI based)", action="success", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A11",
    r"User\ " + UW + r"\ +from\ +" + IP + r"\ +was\ +authenticated\ +successfully\ +with\ +privilege\ +(?P<role>\S+)"
    r"\ +by\ +(?P<method>password\ +based)\ +authentication\ +using\ +an?\ +(?P<proto>SSH)\ +connection" + END,
    ["User operator1 from 192.0.2.11 was authenticated successfully with privilege operators by password based "
     "authentication using an SSH connection."],
    signature="Appliance login succeeded (SSH, password)", action="success", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A9",
    r"User\ " + UW + r"\ +from\ +" + IP + r"\ +was\ +authenticated\ +successfully\ +with\ +privilege\ +(?P<role>\S+)"
    r"\ +using\ +an?\ +(?P<proto>\S+)\ +connection" + END,
    ["User admin from 192.0.2.10 was authenticated successfully with privilege admin using an HTTPS connection",
     "User jdoe from 2001:db8::5 was authenticated successfully with privilege readonly using an HTTPS connection."],
    signature="Appliance login succeeded", action="success", **_ADMIN_LOGON,
)  # fmt: skip
# The method is a short name ("CLI based", "password based"): read to 64 characters at most, so that each
# place the user name could end reads no further than that (a user name may repeat the template's words).
_auth(
    "A12",
    r"User\ " + UW + r"\ +from\ +" + IP + r"\ +was\ +authenticated\ +successfully"
    r"(?:\ +by" + SEP + r"(?P<method>.{0,63}?[^\ ])\ +authentication)?\ +using\ +an?\ +(?P<proto>\S+)\ +connection" + END,
    ["User helpdesk1 from 192.0.2.12 was authenticated successfully using an HTTPS connection.",
     "User admin from 192.0.2.10 was authenticated successfully by CLI based authentication using an SSH connection."],
    signature="Appliance login succeeded", action="success", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A3",
    r"User\ " + UW + r"\ +from\ +" + IP + r"\ +was\ +authenticated\ +successfully" + END,
    ["User admin from 192.0.2.10 was authenticated successfully."],
    signature="Appliance login succeeded", action="success", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A4",
    r"User\ " + UW + r"\ +from\ +" + IP + r"\ +failed\ +authentication" + END,
    ["User admin from 203.0.113.50 failed authentication."],
    signature="Appliance login failed", action="failure", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A1",
    r"User\ " + UW + r"\ +was\ +authenticated\ +successfully" + END,
    ["User admin was authenticated successfully."],
    signature="Appliance login succeeded", action="success", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A2",
    r"User\ " + U + r"\ +failed\ +authentication" + END,
    ["User guest failed authentication."],
    signature="Appliance login failed", action="failure", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A6",
    r"The\ +user\ " + UW + r"\ +successfully\ +logged\ +on\ +from\ +" + IP
    + r"\ +with\ +privilege\ +(?P<role>\S+)\ +using\ +an?\ +(?P<proto>\S+)\ +connection" + END,
    ["The user admin successfully logged on from 192.0.2.10 with privilege admin using an HTTPS connection."],
    signature="Appliance login succeeded", action="success", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A5",
    r"The\ +user\ " + UW + r"\ +successfully\ +logged\ +on\ +from\ +" + IP
    + r"\ +using\ +an?\ +(?P<proto>\S+)\ +connection" + END,
    ["The user jdoe successfully logged on from 192.0.2.20 using an HTTPS connection."],
    signature="Appliance login succeeded", action="success", **_ADMIN_LOGON,
)  # fmt: skip
# A8, A13 and L3: the spaces before the word that follows a word of the template (proto, role, session) are read
# atomically (atomic): a run of them with no word after it, at the end of the line, was given back a character at a
# time where the user's rest was checked and again in the match (#18: 2.93-3.14 times an ordinary line per byte at
# 1,024 characters, 3.02-3.24 at 4,096; 2.23-2.37 and 2.27-2.43 now).
_auth(
    "A8",
    r"An\ +authentication\ +attempt\ +by\ +the\ +user\ " + UW + r"\ +from" + atomic(r"\ +") + IP
    + r"\ +failed\ +using\ +an?" + atomic(r"\ +") + r"(?P<proto>\S+)\ +connection" + END,
    ["An authentication attempt by the user admin from 203.0.113.50 failed using an HTTPS connection."],
    signature="Appliance login failed", action="failure", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A7",
    r"An\ +authentication\ +attempt\ +by\ +the\ +user\ " + UW + r"\ +from" + atomic(r"\ +") + IP + r"\ +failed" + END,
    ["An authentication attempt by the user root from 203.0.113.51 failed"],
    signature="Appliance login failed", action="failure", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A13",
    r"Authentication\ +OK,\ +user\ " + UW + r"\ +with\ +privilege" + atomic(r"\ +")
    + r"(?P<role>\S+)\ +logged\ +in\ +to\ +Spam\ +Quarantine" + END,
    ["Authentication OK, user jdoe@example.com with privilege end-user logged in to Spam Quarantine"],
    signature="Spam Quarantine login succeeded", action="success", app="esa:quarantine", **_ADMIN_LOGON,
)  # fmt: skip
_auth(
    "A14",
    r"login:" + IP + r"\ +user:" + UW + r"\ +session:(?P<session>\S+)\s*$",
    ["login:192.0.2.10 user:admin session:k3Jd9sLqPz0aB1cD2eF3"],
    signature="Appliance GUI session started", action="success", app="esa:gui", **_ADMIN_LOGON,
)  # fmt: skip

# Every logoff says why the session ended, in ``reason``: an analyst separates a session that timed out from one
# its user closed (docs/log-formats.md#logoff-causes). The words are the project's, one per cause, so that a
# search on reason finds every form of a cause.
#: The user closed the session (a logout or an exit).
LOGOUT = "logout"
#: The appliance closed the session after the user did nothing for its timeout.
INACTIVITY = "inactivity timeout"
#: The GUI session's lifetime ran out.
EXPIRED = "session expired"
_ADMIN_LOGOFF = dict(activity="logoff", action="success")
_auth(
    "L1",
    r"logout:" + IP + r"\ +user:" + UW + r"\ +session:(?P<session>\S+)\s*$",
    ["logout:192.0.2.10 user:admin session:k3Jd9sLqPz0aB1cD2eF3"],
    signature="Appliance GUI logout", app="esa:gui", reason=LOGOUT, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "L2",
    r"CLI:\ +User\ " + UW + r"\ +logged\ +out\ +from\ +" + IP + r"\ +because\ +of\ +inactivity\ +timeout" + END,
    ["CLI: User admin logged out from 192.0.2.10 because of inactivity timeout"],
    signature="Appliance CLI logout (inactivity)", app="esa:cli", reason=INACTIVITY, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "L3",
    r"GUI:\ +User\ " + UW + r"\ +logged\ +out\ +from\ +session" + atomic(r"\ +")
    + r"(?P<session>\S+)\ +because\ +of\ +inactivity\ +timeout" + END,
    ["GUI: User admin logged out from session k3Jd9sLqPz0aB1cD2eF3 because of inactivity timeout"],
    signature="Appliance GUI logout (inactivity)", app="esa:gui", reason=INACTIVITY, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "L4",
    r"User\ " + UW + r"\ +logged\ +out\ +of\ +SSH\ +session\ +" + IP + END,
    ["User admin logged out of SSH session 192.0.2.10"],
    signature="Appliance SSH logout", app="esa:ssh", reason=LOGOUT, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "L5",
    r"User\ " + U + r"\ +logged\ +out\ +of\ +GUI\ +session" + END,
    ["User admin logged out of GUI session"],
    signature="Appliance GUI logout", app="esa:gui", reason=LOGOUT, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "L6",
    r"PID\ +(?P<pid>\d{1,18}):\ +User\ " + UW + r"\ +logged\ +out\ +from\ +session\ +because\ +of\ +inactivity\ +timeout"
    + END,
    ["PID 4242: User admin logged out from session because of inactivity timeout."],
    signature="Appliance CLI logout (inactivity)", app="esa:cli", reason=INACTIVITY, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "L7",
    r"User\ " + UW + r"\ +logged\ +out\ +from\ +Spam\ +Quarantine" + END,
    ["User - logged out from Spam Quarantine"],
    signature="Spam Quarantine logout", app="esa:quarantine", reason=LOGOUT, **_ADMIN_LOGOFF,
)  # fmt: skip
# CLI audit look-alikes (section 7). X2 holds no value: it matches when a space and "entered " or "commit changes"
# follow "User " somewhere (the user it tried, lazily, was any text before the run of spaces that ends there).
# Found greedily, from the end of the line: a lazy user paid three or four PCRE2 steps a character (#18).
_other(
    "X2", IGNORE,
    r"PID\ +\d+:\ +User\ .*\ (?:entered\ |commit" + atomic(r"\ +") + r"changes)",
    ["PID 4242: User admin entered 'logconfig'", "PID 4242: User admin commit changes: new listener"],
)  # fmt: skip

# --- API log (AsyncOS 12+): the client IP is only on a neighbouring line ----
_auth(
    "P1",
    r"User\ " + U + r"\ +not\ +authorized" + END,
    ["User apiuser not authorized"],
    signature="API request not authorized", action="failure", app="esa:api", activity="logon",
    reason="not authorized",
)  # fmt: skip

# --- HTTP log (gui_logs) ------------------------------------------------------
_auth(
    "W1",
    r"SourceIP:" + IP + r"\ +Destination:(?P<path>\S*)\ +Username:" + UW + r"\ +Privilege:(?P<role>\S*)"
    r"\ +session:(?P<session>\S+)\ +Action:\ +The\ +HTTPS\ +session\ +has\ +been\ +established\ +successfully" + END,
    ["SourceIP:192.0.2.10 Destination:/login Username:admin Privilege:admin session:k3Jd9sLqPz0aB1cD2eF3 "
     "Action: The HTTPS session has been established successfully."],
    signature="Appliance GUI session established", action="success", app="esa:gui", activity="logon",
)  # fmt: skip
# "beacuse" is how AsyncOS spells it; "because" is accepted in case it is fixed.
_auth(
    "W2",
    r"(?:SourceIP:" + IP + r"\ +Destination:\S*\ +Username:\S*\ +Privilege:\S*\ +session:\S+\ +)?"
    r"Action:\ +User\ " + UW + r"\ +logged\ +out\ +from\ +session\ +(?P<session>\S+)\ +be(?:ac|ca)use\ +of\ +inactivity"
    r"\ +timeout" + END,
    ["Action: User admin logged out from session k3Jd9sLqPz0aB1cD2eF3 beacuse of inactivity timeout",
     "SourceIP:192.0.2.10 Destination:/ Username:admin Privilege:admin session:k3Jd9sLqPz0aB1cD2eF3 Action: User admin "
     "logged out from session k3Jd9sLqPz0aB1cD2eF3 beacuse of inactivity timeout"],
    signature="Appliance GUI logout (inactivity)", app="esa:gui", reason=INACTIVITY, **_ADMIN_LOGOFF,
)  # fmt: skip
_auth(
    "W3",
    r"Session\ +(?P<session>\S+)\ +user:" + UW + r"\ +expired" + END,
    ["Session k3Jd9sLqPz0aB1cD2eF3 user:admin expired"],
    signature="Appliance GUI session expired", app="esa:gui", reason=EXPIRED, **_ADMIN_LOGOFF,
)  # fmt: skip
_other(
    "X3", IGNORE,
    r"Session\ +\S+\ +from\ +\S+\ +not\ +found",
    ["Session k3Jd9sLqPz0aB1cD2eF3 from 192.0.2.10 not found"],
)  # fmt: skip

# --- Audit log (AsyncOS 13+) ------------------------------------------------
# The audit line's fields, in three parts, with the user between the first two (_audit_user).
_AUDIT_WHO = (
    r"Appliance:\ *(?!\ )(?P<appliance>[^,]+?),\ *Interaction\ +Mode:\ *(?P<mode>GUI|CLI|API),\ *User:\ *(?!\ )"
)
_AUDIT_FROM = (
    r",\ *(?!\ )(?:Role:\ *(?!\ )(?P<role>[^,]*?),\ *(?!\ ))?Source\ +IP:\ *" + IP + r",\ *(?!\ )"
    r"(?:Destination\ +IP:\ *(?P<dest_ip>[^,\s]*),\ *(?!\ ))?"
)
_AUDIT_EVENT = r",\ *(?!\ )Event:\ *"


def _audit_where(event: str) -> str:
    """The location of an audit line whose event is ``event``, read as its user is (_audit_user), and the event's
    head: the location ends at the first comma that ", Event: <event>" follows (the value the lazy form found, as
    that is all that follows it), checked at the last comma of a run only (a comma followed by a comma starts no
    event). Read lazily, a run of commas in the location cost about seven steps a comma (#18)."""
    stop = _AUDIT_EVENT + unnamed(event)
    location = r"(?=(?P<location>[^,]*(?:,*(?!" + stop + r"),[^,]*)*))(?P=location)"
    return r"(?:Location:\ *(?!\ )" + location + r",\ *(?!\ ))?Event:\ *"


def _audit_user(event: str) -> str:
    """The user of an audit line whose event is ``event`` (U1-U6, X4: docs/log-formats.md#U1), read linearly (#18).

    Where the user ends at a comma that the fields (_AUDIT_FROM) can follow up to "Location:", the location is read
    up to the first ", Event: <event>" after it; if none is there, no longer user can succeed either (its location
    would start later, and a user followed at once by "Event: <event>" would have put one there). So the user never
    holds such a comma: it stops growing at the first, and the location is read to the end of the line once, not
    once per repetition of "Source IP: A, Location: L, " (which, before #18, took time that grew with the square of
    the line). The user ends at the first comma the fields can follow up to "Location:" or the event, the value the
    lazy form (``.*?``) found, and is read in a look-ahead, atomically (the form of shapes.atomic), by the stretches
    between commas: a stretch is read greedily, and only the last comma of a run of commas is checked (the fields
    start with a comma followed by "Role:" or "Source IP:", never by another comma), where the lazy form paid three
    or four steps a character and checked every comma for the fields: a run of commas in the user cost 6.15 times
    an ordinary line per byte in X4 and up to 4.58 times in U1-U6, growing with the line (docs/SECURITY.md). The
    values found are the same. ``event`` is checked as written, with END for U1-U6, whose event ends the line.
    """
    stop = unnamed(_AUDIT_FROM) + r"(?:Location:|Event:\ *" + unnamed(event) + ")"
    return r"(?=(?P<user>[^,]*(?:,*(?!" + stop + r"),[^,]*)*))(?P=user)"


_AUDIT_EXAMPLE = (
    "Appliance: esa01.example.com, Interaction Mode: GUI, User: admin, Role: Administrator, "
    "Source IP: 192.0.2.10, Destination IP: 192.0.2.1, Location: /login, Event: "
)
# One login writes "Successful login" (U1) and then "Session established successfully" (U2); one logout writes
# "User logged out" (U3) and then "Session terminated" (U4) (docs/log-formats.md#U2). U2 and U4 say nothing
# that U1 and U3 have not said: as events, every login and logout would count twice in CIM Authentication and
# in the detections. They are recognised and never events (role IGNORE, no drift warning).
_AUDIT_EVENTS: Tuple[Tuple[str, str, Optional[Dict[str, str]]], ...] = (
    ("U1", r"Successful\ +login", dict(signature="Appliance login succeeded", action="success", activity="logon")),
    ("U2", r"Session\ +established\ +successfully", None),
    ("U3", r"User\ +logged\ +out",
     dict(signature="Appliance logout", action="success", activity="logoff", reason=LOGOUT)),
    ("U4", r"Session\ +terminated", None),
    ("U5", r"Permission\ +denied\ +reason\ *-\ *(?P<detail>" + LAST + r"|.)",

     dict(signature="Appliance login failed", action="failure", activity="logon")),
    ("U6", r"API\ +Access\ +Success", dict(signature="API access succeeded", action="success", activity="logon")),
)  # fmt: skip
for _name, _event, _kwargs in _AUDIT_EVENTS:
    _literal = re.sub(r"\\ \+|\\ \*", " ", _event).replace("\\", "")
    _literal = re.sub(r"\(\?P<detail>.*", "Invalid username or passphrase", _literal)
    # The event ends the line, so whether it is there is asked once, at the start (the look-ahead, which finds
    # it from the end): a user or location tried at each comma then never reads to the end of the line again.
    # Without it, a line of repeated "Source IP: A, Location: L, " took time that grew with its square.
    # U5's detail, (?P<detail>LAST|.) before END, takes any rest of one character or more: the check asks only
    # that there is one, not where the detail ends (which read a run of blanks at the end of the line once more).
    _head, _detail, _ = _event.partition("(?P<detail>")
    _guard = r"(?=.*,\ *Event:\ *" + (_head + "." if _detail else unnamed(_event) + END) + ")"
    _source = _guard + _AUDIT_WHO + _audit_user(_event + END) + _AUDIT_FROM + _audit_where(_event + END) + _event + END
    if _kwargs is None:
        _other(_name, IGNORE, _source, [_AUDIT_EXAMPLE + _literal])
    else:
        _auth(_name, _source, [_AUDIT_EXAMPLE + _literal], **_kwargs)
# X4's event (docs/log-formats.md#X4) need not end the line, so the check at the start (which stays: it fails most
# other audit events at once) cannot tell a location from where it starts: its user stops at the first comma the
# fields can follow up to "Location:" or its event (_audit_user), for the same reason as U1-U6's.
_X4_EVENT = r"(?:User\ +input\ +was|User\ +visited\ +the\ +web\ +page)"
_other(
    "X4", IGNORE,
    r"(?=.*,\ *Event:\ *" + _X4_EVENT + ")" + _AUDIT_WHO + _audit_user(_X4_EVENT) + _AUDIT_FROM
    + _audit_where(_X4_EVENT) + _X4_EVENT,
    [_AUDIT_EXAMPLE + "User visited the web page."],
)  # fmt: skip

#: Every pattern, in registry order.
PATTERNS: Tuple[LinePattern, ...] = tuple(_REGISTRY)

#: Patterns by name.
BY_NAME: Dict[str, LinePattern] = {p.name: p for p in PATTERNS}


def _build_dispatch(patterns: Iterable[LinePattern]) -> Dict[bytes, Tuple[LinePattern, ...]]:
    table: Dict[bytes, List[LinePattern]] = {}
    for pattern in patterns:
        for key in pattern.keys:
            table.setdefault(key, []).append(pattern)
    return {key: tuple(group) for key, group in table.items()}


#: Dispatch table: body key -> the patterns to try, in registry order.
DISPATCH: Dict[bytes, Tuple[LinePattern, ...]] = _build_dispatch(PATTERNS)

#: A body that no pattern matched but that looks like authentication is a
#: form docs/log-formats.md does not have yet (#drift): warn, so that it gets noticed.
DRIFT = re.compile(
    r"^SMTP\ +Auth\b|^DCID:.*SMTP\ +authentication|authenticat|logged\ +(?:on|in|out)|^log(?:in|out):",
    re.VERBOSE | re.IGNORECASE,
)


def match(body: str, key: bytes) -> Optional[Tuple[LinePattern, re.Match[str]]]:
    """Find the first pattern registered under ``key`` that matches ``body``."""
    for pattern in DISPATCH.get(key, ()):
        found = pattern.regex.match(body)
        if found:
            return pattern, found
    return None
