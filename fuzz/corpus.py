"""Seed corpus of real-shaped ESA log lines for the fuzzers.

Every example body of the template registry (:data:`esa_auth.patterns.PATTERNS`)
is wrapped in each envelope of docs/log-formats.md#envelopes (E1, E1b,
E2-E8, E9 custom log names, E10 bare bodies; E11 CEF lines are added as
look-alikes), plus whole-session files where open, auth and close lines share
an ICID or DCID, a wrapped (continued) line and a file header, and for each
template a file of the adversarial lines ``fuzz/adversarial.py`` derives from it
(long runs of spaces, separators and words where its regex could backtrack, #18).

Run ``python fuzz/corpus.py DIR`` to write one seed file per case into DIR
(the atheris fuzzer's starting corpus; each file starts with the 4-byte
settings header that ``harness.parse_input`` reads). The test suite imports
:func:`seed_lines` and :func:`session_files` directly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Dict, List, Tuple

from esa_auth.patterns import PATTERNS

#: Envelopes (docs/log-formats.md#envelopes), each a function of the body.
ENVELOPES: Dict[str, Callable[[str], str]] = {
    "E1": lambda body: f"Wed Apr 22 11:44:48 2009 Info: {body}",
    "E1b": lambda body: f"Tue Apr 6 14:38:34 2004 Info: {body}",
    "E1pad": lambda body: f"Wed Apr  1 09:00:00 2009 Warning: {body}",
    "E2": lambda body: f"<166>Mar 17 18:31:14 mail_logs: Info: {body}",
    "E3": lambda body: f"<22>Nov 24 14:22:57 esa01.example.com mail_logs: Info: {body}",
    "E4": lambda body: f"<14>Jun 4 15:45:37 esa01.example.com Info: {body}",
    "E5": lambda body: f"Jun 26 10:42:23 esa01 mail_logs: Info: {body}",
    "E6": lambda body: f"Oct 19 06:33:29 2011 esa01 syslog_mail: Info: {body}",
    "E7": lambda body: f"Nov 24 00:06:25 ::ffff:192.0.2.1 Info: {body}",
    "E8": lambda body: (
        f"Oct 20 16:11:05 192.0.2.9 Original Address=192.0.2.10 Oct 20 16:11:05 esa_maillog: Info: {body}"
    ),
    "E9": lambda body: f"<13>Feb 28 23:59:59 esa02 MAIL_SecurityAudit: Critical: {body}",
    "E10": lambda body: f"Info: {body}",
}

#: Lines that are not authentication but share prefixes with it (docs/log-formats.md#look-alikes, E11).
LOOKALIKES = (
    "Wed Apr 22 11:44:48 2009: CEF:0|Cisco|C100V Email Security Virtual Appliance|15.0.0|ESA_CONSOLIDATED_LOG_EVENT|"
    "Consolidated Log Event|5|deviceExternalId=4229A1B2 ESAICID=450 suser=alice@example.com",
    "<14>Jun 4 15:45:37 esa01.example.com Info: TLS was required but remote host did not initiate it",
    "Wed Apr 22 11:44:48 2009 Info: MID 441 ICID 450 From: <alice@example.com>",
)


def seed_lines() -> List[Tuple[str, str, str]]:
    """Every registry example in every envelope.

    Returns:
        ``(pattern name, envelope id, line)`` triples, in registry order.
    """
    out: List[Tuple[str, str, str]] = []
    for pattern in PATTERNS:
        for example in pattern.examples:
            for envelope, wrap in ENVELOPES.items():
                out.append((pattern.name, envelope, wrap(example)))
    return out


_HEADER = (
    "Wed Apr 22 11:00:00 2009 Info: Begin Logfile\n"
    "Wed Apr 22 11:00:00 2009 Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F\n"
    "Wed Apr 22 11:00:00 2009 Info: Time offset from UTC: -21600 seconds\n"
)

_INBOUND_SESSION = (
    "Wed Apr 22 11:43:59 2009 Info: New SMTP ICID 450 interface IncomingMail (172.16.155.16)\n"
    "address 172.16.155.102 reverse dns host mx.example.net verified yes\n"
    "Wed Apr 22 11:43:59 2009 Info: ICID 450 ACCEPT SG None match ALL SBRS 3.5\n"
    "Wed Apr 22 11:44:00 2009 Info: ICID 450 TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES256-GCM-SHA384\n"
    "Wed Apr 22 11:44:48 2009 Info: SMTP Auth: (ICID 450) succeeded for user: ironport\n"
    "using AUTH mechanism: PLAIN with profile: IncomingAuthentication\n"
    "Wed Apr 22 11:44:49 2009 Info: Start MID 441 ICID 450\n"
    "Wed Apr 22 11:46:14 2009 Info: ICID 450 close\n"
)

_OUTBOUND_SESSION = (
    "<22>Apr 22 11:19:39 esa01.example.com mail_logs: Info: New SMTP DCID 5640 interface 172.16.155.16 "
    "address 172.16.155.102 port 25\n"
    "<22>Apr 22 11:19:40 esa01.example.com mail_logs: Info: DCID 5640 TLS success protocol TLSv1.2 cipher AES128-SHA\n"
    "<22>Apr 22 11:19:41 esa01.example.com mail_logs: Info: DCID: 5640 IP: 172.16.155.102 SMTP authentication "
    "using the profile OutboundAuthentication failed: ('535', ['5.7.8 Error: authentication failed', "
    "'5.7.8 second line'])\n"
    "<22>Apr 22 11:19:41 esa01.example.com mail_logs: Info: Delivery start DCID 5640 MID 448 to RID [0]\n"
    "<22>Apr 22 11:19:46 esa01.example.com mail_logs: Info: DCID 5640 close\n"
)

_ADMIN_SESSION = (
    "Wed Apr 22 12:00:00 2009 Info: login:192.0.2.10 user:admin session:k3Jd9sLqPz0aB1cD2eF3\n"
    "Wed Apr 22 12:00:01 2009 Info: User admin from 192.0.2.10 was authenticated successfully with privilege admin "
    "using an HTTPS connection.\n"
    "Wed Apr 22 12:30:00 2009 Info: logout:192.0.2.10 user:admin session:k3Jd9sLqPz0aB1cD2eF3\n"
)


def session_files() -> Dict[str, bytes]:
    """Whole small log files: header, sessions with context, wrapped lines.

    Returns:
        File name -> content.
    """
    return {
        "session-inbound.log": (_HEADER + _INBOUND_SESSION).encode(),
        "session-outbound.log": _OUTBOUND_SESSION.encode(),
        "session-admin.log": (_HEADER + _ADMIN_SESSION).encode(),
        "session-mixed.log": (_HEADER + _INBOUND_SESSION + _OUTBOUND_SESSION + _ADMIN_SESSION).encode(),
        "lookalikes.log": ("\n".join(LOOKALIKES) + "\n").encode(),
    }


#: Length of the adversarial seed lines: under the fuzz harness's 256-byte line limit, so the fuzzer can
#: stretch the runs itself.
HOSTILE_SIZE = 200


def hostile_files() -> Dict[str, bytes]:
    """One file per template: its adversarial lines (``fuzz/adversarial.py``) in the E1 envelope."""
    import adversarial

    out: Dict[str, bytes] = {}
    for pattern in PATTERNS:
        lines: List[str] = []
        for example in pattern.examples:
            found = pattern.regex.match(example)
            spans = [found.span(i) for i in range(1, pattern.regex.groups + 1)] if found else []
            lines.extend(ENVELOPES["E1"](h.line) for h in adversarial.hostile_lines(example, HOSTILE_SIZE, spans))
            repeated = adversarial.repeated_rest(pattern.name, example, HOSTILE_SIZE // 40)
            if repeated is not None:
                lines.append(ENVELOPES["E1"](repeated))
        out[f"hostile-{pattern.name}.log"] = ("\n".join(lines) + "\n").encode()
    return out


def fuzz_header(index: int) -> bytes:
    """The 4 bytes that ``harness.parse_input`` reads as settings; varied per seed."""
    return bytes([index % 128, index % 8, 1 + index % 200, index % 251])


def write_corpus(directory: Path) -> int:
    """Write one seed file per line and per session file (each with a
    :func:`fuzz_header`); return how many."""
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for index, (name, envelope, line) in enumerate(seed_lines()):
        (directory / f"{index:04d}-{name}-{envelope}.log").write_bytes(fuzz_header(index) + (line + "\n").encode())
        count += 1
    for index, (name, content) in enumerate({**session_files(), **hostile_files()}.items()):
        (directory / name).write_bytes(fuzz_header(index * 37) + content)
        count += 1
    return count


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.stderr.write("usage: python fuzz/corpus.py DIR\n")
        sys.exit(2)
    print(f"{write_corpus(Path(sys.argv[1]))} seed files written to {sys.argv[1]}")
