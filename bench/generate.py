"""Generate a deterministic, realistic Cisco ESA text mail log for the benchmark.

The log is what a busy appliance writes with the native file envelope
(docs/log-formats.md#E1: ``Www Mmm dd HH:MM:SS YYYY Info: body``), after the file
header (docs/log-formats.md#headers-and-time). Connections arrive at random and run concurrently, so
their lines interleave the way real logs do (thousands of open ICIDs and
DCIDs at a time):

* inbound mail from the internet: ``New SMTP ICID`` (C1), ``ACCEPT`` (C2),
  ``TLS success`` (C4), per message ``Start MID`` (C6) and the ``MID ...``
  lines (From, RID To, Message-ID, Subject, SPF/DKIM/DMARC, ready, policy,
  anti-spam, anti-virus, outbreak filters, queued for delivery), ``close`` (C5);
* connections refused by reputation (``REJECT``), as most internet mail is;
* authenticated submission by internal clients (T1, ``RELAY`` sender group);
* password guessing from the internet (T2, several per connection);
* delivery of every queued message: ``New SMTP DCID`` (C7), ``DCID n TLS``
  (C8t), ``Delivery start`` (C8), ``Message done``, ``RID Response``,
  ``Message finished``, ``DCID n close`` (C8c); relayed mail goes to a smart
  host that asks for SMTP AUTH (T10, T11 now and then);
* a few look-alikes (``Connection Error: DCID: ...``, X1).

What varies between real logs is chosen by a preset (:data:`PRESETS`): the
share of SMTP AUTH lines and of failures among them, the sender-group and
SBRS forms (``SG None ... SBRS None``), TLS on ICIDs and DCIDs, ``close`` or
``lost``, repeated AUTH lines on a connection, the connections open at once,
the envelope (the file's E1 or syslog's E3), how often the second changes, and
the user names (non-ASCII, long). ``classic``, the default, is the log this
benchmark has always used (about 2% SMTP AUTH lines, same bytes as before).
The same preset, seed and line count give the same bytes. A manifest (``<file>.json``) records what was written: the
number of SMTP AUTH lines (the events ``esa-auth normalize`` must produce),
the most ICIDs and DCIDs open at once, the connections started by kind.

Usage::

    python bench/generate.py --lines 1000000 --seed 1 --out bench/data/mail-1000000.log
    python bench/generate.py --preset typical --lines 1000000 --out bench/data/typical.log
    python bench/generate.py --list
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

# Line = (time in seconds since START, order within the connection, body).
Line = Tuple[float, int, str]

START = calendar.timegm((2024, 3, 4, 6, 0, 0, 0, 0, 0))
UTC_OFFSET = 3600  # the header says local = UTC + 1 h
VERSION_LINE = "Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Connections per second (classic). With the durations below this keeps about
# 2,000 inbound connections open at once.
ARRIVALS_PER_SECOND = 150.0

LISTENER_IN = "IncomingMail (192.0.2.10)"
LISTENER_OUT = "OutgoingMail (192.0.2.11)"
MAIL_STORES = ("10.1.1.25", "10.1.1.26", "10.1.1.27")
SMART_HOST = "203.0.113.25"
COUNTRIES = ("United States", "Germany", "France", "Netherlands", "Brazil", "India", "China", "Russian Federation",
             "Viet Nam", "United Kingdom", "Japan", "Korea, Republic of")  # fmt: skip
CIPHERS = ("ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-RSA-AES128-GCM-SHA256", "TLS_AES_256_GCM_SHA384", "AES128-SHA")
PROTOCOLS = ("TLSv1.2", "TLSv1.2", "TLSv1.3", "TLSv1.2")
# Subjects carry non-ASCII text, as real ones do.
WORDS = ("invoice", "meeting", "Re:", "Fwd:", "quarterly", "report", "update", "your", "order", "shipped", "lunch",
         "project", "review", "déjà vu", "Überweisung", "urgent", "reset", "newsletter", "team")  # fmt: skip
FIRST = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "oscar",
         "peggy", "trent", "victor", "walter", "j.doe", "m.muller", "s.nakamura", "p.garcia")  # fmt: skip
GUESSES = ("admin", "test", "info", "sales", "user", "root", "postmaster", "webmaster", "support", "office",
           "contact", "scanner", "backup", "noreply", "mail")  # fmt: skip
DOMAINS = ("example.org", "example.net", "mail.example.info", "corp.example.co.uk", "shop.example.de",
           "news.example.fr", "example.jp", "bulk.example.biz")  # fmt: skip
OWN_DOMAIN = "example.com"
# Listeners beyond the first two (presets with several): interface names may have spaces (docs/log-formats.md#C1).
MORE_LISTENERS_IN = ("IncomingMail2 (192.0.2.12)", "Data 1 (192.0.2.13)")
MORE_LISTENERS_OUT = ("Submission (192.0.2.14)",)
# User names as they come from directories in other scripts, and long ones (UPNs, DOMAIN\\user).
NON_ASCII_USERS = ("müller", "josé.garcía", "łukasz.wiśniewski", "søren", "françois", "zoë", "山田太郎",
                   "иван.петров", "göran.ström", "ayşe.yılmaz", "nguyễn.văn.an", "ÅSA")  # fmt: skip
DEPARTMENTS = ("finance", "engineering", "human-resources", "customer-support", "research-and-development")
SYSLOG_HOST = "esa01.example.com"


@dataclass(frozen=True)
class Preset:
    """What a generated log looks like. The defaults are the ``classic`` log.

    A probability of 0 or 1 (and one listener) draws no random number, so that
    ``classic`` keeps the bytes it always had for a seed.
    """

    description: str
    #: Connections arriving per second of log time.
    arrivals: float = ARRIVALS_PER_SECOND
    #: Weights (out of 100) of connection kinds: inbound, rejected, submission, guessing.
    kinds: Tuple[int, int, int, int] = (40, 45, 10, 5)
    #: Password-guessing connections: most AUTH lines on one (1 to this many).
    guesses: int = 5
    #: Submission connections that fail AUTH before they succeed (a second AUTH line), and the most failures.
    retry: float = 0.0
    retries: int = 1
    #: Accepted connections whose verdict is ``SG None match ALL SBRS None`` (TAC note 118570's form).
    sg_none: float = 0.0
    #: Inbound, submission and guessing connections with TLS; deliveries (DCIDs) with TLS.
    tls_inbound: float = 0.7
    tls_submission: float = 1.0
    tls_guessing: float = 0.0
    tls_delivery: float = 1.0
    #: Mail and guessing connections that end ``lost`` rather than ``close``.
    lost_mail: float = 0.0
    lost_guessing: float = 0.3
    #: Relayed deliveries whose smart host refuses the credentials (T11).
    smart_host_failure: float = 0.02
    #: Mean idle seconds before a connection closes (many connections open at once).
    linger: float = 0.0
    #: Use several listeners (interface names with spaces).
    listeners: bool = False
    #: AUTH users: share with non-ASCII names, share with long names.
    non_ascii: float = 0.0
    long_names: float = 0.0
    #: ``file`` (E1 with the file header) or ``syslog`` (E3: PRI, host, log name; no header, no year).
    envelope: str = "file"
    #: Every line in a new second (lines are spread so that no two share a second).
    second_per_line: bool = False


#: A realistic mix: the typical preset; the others each push one dimension of it.
_TYPICAL = dict(kinds=(28, 37, 25, 10), retry=0.1, sg_none=0.3, tls_inbound=0.6, tls_submission=0.9,
                tls_guessing=0.5, tls_delivery=0.8, lost_mail=0.05, lost_guessing=0.5, listeners=True, non_ascii=0.02,
                long_names=0.02)  # fmt: skip


def _typical(description: str, **changes: object) -> Preset:
    values: Dict[str, object] = dict(_TYPICAL)
    values.update(changes)
    return Preset(description, **values)  # type: ignore[arg-type]


PRESETS: Dict[str, Preset] = {
    "classic": Preset("the benchmark's original log: 2% SMTP AUTH, one listener per direction, 2,400 ICIDs open"),
    "typical": _typical(
        "about 5% SMTP AUTH, a third of them failures, SG None/SBRS None on 30%, TLS on most ICIDs and "
        "DCIDs, lost connections, repeated AUTH lines, several listeners"
    ),
    "auth-rare": _typical("0.5% SMTP AUTH: an inbound gateway with little submission", kinds=(50, 46, 3, 1)),
    "auth-heavy": _typical("10% SMTP AUTH: a submission host", kinds=(8, 18, 52, 22), retry=0.2),
    "failures": _typical(
        "password spraying: most AUTH lines are failures, up to 20 on a connection",
        kinds=(36, 44, 12, 8),
        guesses=20,
        retry=0.3,
        retries=3,
    ),
    "sessions": _typical(
        "every session form: SG None/SBRS None on all, TLS on every ICID and DCID, half lost",
        sg_none=1.0,
        tls_inbound=1.0,
        tls_submission=1.0,
        tls_guessing=1.0,
        tls_delivery=1.0,
        lost_mail=0.5,
        lost_guessing=0.5,
    ),
    "open-many": _typical("tens of thousands of connections open at once (slow, tarpitted clients)", linger=300.0),
    "open-few": _typical("tens of connections open at once: a small site", arrivals=3.0),
    "syslog": _typical("syslog push with host and log name (E3): no header, no year", envelope="syslog"),
    "users": _typical("non-ASCII and long user names on most AUTH lines", non_ascii=0.5, long_names=0.4),
    "stress": _typical("a new second on every line (a quiet appliance)", arrivals=0.02, second_per_line=True),
}


class Generator:
    """Builds the lines of each connection; ids are allocated in arrival order."""

    def __init__(self, seed: int, preset: Preset) -> None:
        self.rng = random.Random(seed)
        self.p = preset
        self.icid = 1_204_300
        self.dcid = 88_100
        self.mid = 5_530_000
        self.counts: Dict[str, int] = {}

    def _count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def _chance(self, probability: float) -> bool:
        """True with this probability; 0 and 1 draw nothing (``classic`` keeps its bytes)."""
        if probability <= 0.0:
            return False
        if probability >= 1.0:
            return True
        return self.rng.random() < probability

    def _public_ip(self) -> str:
        r = self.rng
        return f"{r.choice((198, 203, 185, 45, 91, 103))}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def _address(self, domain: str) -> str:
        return f"{self.rng.choice(FIRST)}{self.rng.randrange(100)}@{domain}"

    def _tls(self) -> str:
        i = self.rng.randrange(len(CIPHERS))
        return f"TLS success protocol {PROTOCOLS[i]} cipher {CIPHERS[i]}"

    def _listener(self, inbound: bool) -> str:
        first, more = (LISTENER_IN, MORE_LISTENERS_IN) if inbound else (LISTENER_OUT, MORE_LISTENERS_OUT)
        if not self.p.listeners or self.rng.random() < 0.5:
            return first
        return self.rng.choice(more)

    def _verdict(self, icid: int, verdict: str, rest: str) -> str:
        """The C2 line of an accepted connection: ``rest`` (group, rule, SBRS) or TAC 118570's ``SG None`` form."""
        if self._chance(self.p.sg_none):
            return f"ICID {icid} ACCEPT SG None match ALL SBRS None"
        return f"ICID {icid} {verdict} {rest}"

    def _user(self, usual: str) -> str:
        """An AUTH user: ``usual``, or a non-ASCII or long name as the preset asks."""
        r = self.rng
        if self._chance(self.p.non_ascii):
            name = r.choice(NON_ASCII_USERS)
            return name + ("@" + OWN_DOMAIN if r.random() < 0.5 else "")
        if self._chance(self.p.long_names):
            first, last = r.choice(FIRST), r.choice(FIRST)
            if r.random() < 0.3:
                return f"CORP\\{first}.{last}-{r.choice(DEPARTMENTS)}-{r.randrange(10**6):06d}"
            return (f"{first}.{last}.{r.choice(DEPARTMENTS)}.{r.randrange(10**6):06d}"
                    f"@{r.choice(DEPARTMENTS)}.emea.corp.{OWN_DOMAIN}")  # fmt: skip
        return usual

    def _end(self, icid: int, lost: float) -> str:
        return f"ICID {icid} {'lost' if self._chance(lost) else 'close'}"

    def _linger(self) -> float:
        return self.rng.expovariate(1 / self.p.linger) if self.p.linger > 0 else 0.0

    def connection(self, t0: float) -> List[Line]:
        """The lines of one connection arriving at ``t0``, deliveries included."""
        r = self.rng
        roll = r.randrange(100)
        kind = "guessing"
        for name, weight in zip(("inbound", "rejected", "submission", "guessing"), self.p.kinds):
            if roll < weight:
                kind = name
                break
            roll -= weight
        self.icid += 1
        icid = self.icid
        self._count(kind)
        if kind == "rejected":
            return self._rejected(t0, icid)
        if kind == "guessing":
            return self._guessing(t0, icid)
        return self._mail(t0, icid, kind == "submission")

    def _rejected(self, t0: float, icid: int) -> List[Line]:
        r = self.rng
        ip = self._public_ip()
        sbrs = f"{-r.uniform(3.0, 10.0):.1f}"
        listener = self._listener(True)
        return [
            (t0, 0, f"New SMTP ICID {icid} interface {listener} address {ip} reverse dns host unknown verified no"),
            (t0, 1, f"ICID {icid} REJECT SG BLOCKLIST match sbrs[-10.0:-3.0] SBRS {sbrs} "
                    f"country {r.choice(COUNTRIES)}"),
            (t0 + r.uniform(0.5, 12.0) + self._linger(), 2, f"ICID {icid} close"),
        ]  # fmt: skip

    def _guessing(self, t0: float, icid: int) -> List[Line]:
        """Password guessing on the submission listener: several T2 lines, then close or lost."""
        r = self.rng
        ip = self._public_ip()
        listener = self._listener(False)
        verdict = self._verdict(icid, "ACCEPT", f"SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS {r.uniform(-1, 4):.1f} "
                                                f"country {r.choice(COUNTRIES)}")  # fmt: skip
        lines: List[Line] = [
            (t0, 0, f"New SMTP ICID {icid} interface {listener} address {ip} reverse dns host unknown verified no"),
            (t0, 1, verdict),
        ]
        if self._chance(self.p.tls_guessing):
            lines.append((t0 + r.uniform(0.05, 0.5), 2, f"ICID {icid} {self._tls()}"))
        t = t0
        attempts = r.randrange(1, self.p.guesses + 1)
        for n in range(attempts):
            t += r.uniform(1.0, 6.0)
            user = self._user(r.choice(GUESSES) + ("@" + OWN_DOMAIN if r.random() < 0.5 else ""))
            mech = "LOGIN" if r.random() < 0.7 else "PLAIN"
            lines.append((t, 3 + n, f"SMTP Auth: (ICID {icid}) failed for user: {user} using AUTH mechanism: {mech} "
                                    f"with profile: CorpAuth"))  # fmt: skip
        self._count("auth_inbound_failure", attempts)
        lines.append((t + r.uniform(0.1, 3.0) + self._linger(), 99, self._end(icid, self.p.lost_guessing)))
        return lines

    def _mail(self, t0: float, icid: int, submission: bool) -> List[Line]:
        """A connection that sends one or more messages, and their deliveries."""
        r = self.rng
        if submission:
            ip = f"10.20.{r.randrange(256)}.{r.randrange(1, 255)}"
            listener = self._listener(False)
            lines: List[Line] = [
                (t0, 0, f"New SMTP ICID {icid} interface {listener} address {ip} reverse dns host "
                        f"ws{r.randrange(5000)}.corp.{OWN_DOMAIN} verified yes"),
                (t0, 1, self._verdict(icid, "RELAY", "SG RELAYLIST match 10.0.0.0/8 SBRS not enabled")),
            ]  # fmt: skip
        else:
            ip = self._public_ip()
            host = f"mail{r.randrange(100)}.{r.choice(DOMAINS)}" if r.random() < 0.8 else "unknown"
            listener = self._listener(True)
            lines = [
                (t0, 0, f"New SMTP ICID {icid} interface {listener} address {ip} reverse dns host {host} "
                        f"verified {'yes' if host != 'unknown' else 'no'}"),
                (t0, 1, self._verdict(icid, "ACCEPT", f"SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS "
                                                      f"{r.uniform(-1, 6):.1f} country {r.choice(COUNTRIES)}")),
            ]  # fmt: skip
        t = t0 + r.uniform(0.05, 0.5)
        if self._chance(self.p.tls_submission) if submission else self._chance(self.p.tls_inbound):
            lines.append((t, 2, f"ICID {icid} {self._tls()}"))
        if submission:
            t += r.uniform(0.05, 0.5)
            user = self._user(self._address(OWN_DOMAIN) if r.random() < 0.6 else r.choice(FIRST))
            if self._chance(self.p.retry):
                # A mistyped password first: one or more failures on the connection, then success.
                failures = r.randrange(1, self.p.retries + 1)
                for _ in range(failures):
                    lines.append((t, 3, f"SMTP Auth: (ICID {icid}) failed for user: {user} using AUTH "
                                        "mechanism: LOGIN with profile: CorpAuth"))  # fmt: skip
                    t += r.uniform(1.0, 4.0)
                self._count("auth_inbound_failure", failures)
            lines.append((t, 3, f"SMTP Auth: (ICID {icid}) succeeded for user: {user} using AUTH "
                                f"mechanism: LOGIN with profile: CorpAuth"))  # fmt: skip
            self._count("auth_inbound_success")
        order = 4
        messages = 1 if r.random() < 0.75 else r.randrange(2, 5)
        for _ in range(messages):
            t += r.expovariate(1 / 12.0)
            self.mid += 1
            mid = self.mid
            sender_domain = OWN_DOMAIN if submission else r.choice(DOMAINS)
            sender = self._address(sender_domain)
            rcpt_domain = r.choice(DOMAINS) if submission else OWN_DOMAIN
            rcpts = [self._address(rcpt_domain) for _ in range(1 if r.random() < 0.8 else r.randrange(2, 4))]
            subject = " ".join(r.choice(WORDS) for _ in range(r.randrange(1, 7)))
            table = "outbound" if submission else "inbound"
            body = [f"Start MID {mid} ICID {icid}", f"MID {mid} ICID {icid} From: <{sender}>"]
            body += [f"MID {mid} ICID {icid} RID {i} To: <{rcpt}>" for i, rcpt in enumerate(rcpts)]
            body += [
                f"MID {mid} Message-ID '<{r.getrandbits(48):012x}.{mid}@{sender_domain}>'",
                f"MID {mid} Subject '{subject}'",
            ]
            if not submission:
                body += [
                    f"MID {mid} SPF: helo identity postmaster@mail.{sender_domain} None",
                    f"MID {mid} SPF: mailfrom identity {sender} Pass (v=spf1)",
                    f"MID {mid} DKIM: pass signature verified (d={sender_domain} s=selector1 i=@{sender_domain})",
                    f"MID {mid} DMARC: Message from domain {sender_domain}, DMARC pass (SPF aligned True, "
                    f"DKIM aligned True)",
                ]
            body += [
                f"MID {mid} ready {r.randrange(900, 2_000_000)} bytes from <{sender}>",
                f"MID {mid} matched all recipients for per-recipient policy DEFAULT in the {table} table",
                f"MID {mid} interim verdict using engine: CASE spam negative",
                f"MID {mid} using engine: CASE spam negative",
                f"MID {mid} interim AV verdict using Sophos CLEAN",
                f"MID {mid} antivirus negative",
                f"MID {mid} Outbreak Filters: verdict negative",
                f"MID {mid} queued for delivery",
            ]
            for text in body:
                t += r.uniform(0.0, 0.4)
                lines.append((t, order, text))
                order += 1
            lines.extend(self._delivery(t + r.uniform(0.05, 1.5), mid, len(rcpts), submission))
        lines.append((t + r.uniform(0.1, 2.0) + self._linger(), order, self._end(icid, self.p.lost_mail)))
        return lines

    def _delivery(self, t: float, mid: int, rcpts: int, relayed: bool) -> List[Line]:
        r = self.rng
        self.dcid += 1
        dcid = self.dcid
        rid = "[" + ", ".join(str(i) for i in range(rcpts)) + "]"
        if relayed:
            remote, port, local = SMART_HOST, 587, "192.0.2.11"
        else:
            remote, port, local = r.choice(MAIL_STORES), 25, "192.0.2.10"
        out: List[Line] = [(t, 1000, f"New SMTP DCID {dcid} interface {local} address {remote} port {port}")]
        t += r.uniform(0.01, 0.2)
        if self._chance(self.p.tls_delivery):
            out.append((t, 1001, f"DCID {dcid} {self._tls()}"))
        if relayed:
            t += r.uniform(0.01, 0.2)
            if r.random() < self.p.smart_host_failure:
                # T11: the smart host refuses the credentials; the message waits (C9).
                out += [
                    (t, 1002, f"DCID: {dcid} IP: {remote} SMTP authentication using the profile SmartHostAuth "
                              "failed: ('535', ['5.7.8 Error: authentication failed: authentication failure'])"),
                    (t, 1003, f"Delayed: DCID {dcid} MID {mid} to RID {rid} - 4.0.0 - Unknown address error "
                              "('535', ['5.7.8 Error: authentication failed'])"),
                ]  # fmt: skip
                out.append((t + 0.01, 1004, f"DCID {dcid} close"))
                self._count("auth_outbound_failure")
                return out
            out.append((t, 1002, f"DCID: {dcid} IP: {remote} SMTP authentication using the profile SmartHostAuth "
                                 f"succeeded."))  # fmt: skip
            self._count("auth_outbound_success")
        if r.random() < 0.002:
            out.append((t, 1003, f"Connection Error: DCID: {dcid} IP: {remote} details: timeout"))
        t += r.uniform(0.01, 0.3)
        out.append((t, 1005, f"Delivery start DCID {dcid} MID {mid} to RID {rid}"))
        t += r.uniform(0.05, 2.0)
        out += [
            (t, 1006, f"Message done DCID {dcid} MID {mid} to RID {rid}"),
            (t, 1007, f"MID {mid} RID {rid} Response '2.6.0 <{mid}@{OWN_DOMAIN}> Queued mail for delivery'"),
            (t, 1008, f"Message finished MID {mid} done"),
            (t + r.uniform(0.01, 0.5), 1009, f"DCID {dcid} close"),
        ]
        return out


def _prefix(second: int) -> str:
    """The E1 envelope of a local wall-clock second (day space-padded)."""
    tm = time.gmtime(second)
    return (f"{WEEKDAYS[tm.tm_wday]} {MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} "
            f"{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} {tm.tm_year} Info: ")  # fmt: skip


def _syslog_prefix(second: int) -> str:
    """The E3 envelope (syslog push with host and log name): PRI 22 is facility mail, severity info."""
    tm = time.gmtime(second)
    return (f"<22>{MONTHS[tm.tm_mon - 1]} {tm.tm_mday:2d} {tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d} "
            f"{SYSLOG_HOST} mail_logs: Info: ")  # fmt: skip


def generate(path: Path, lines: int, seed: int, preset: str = "classic") -> Dict[str, object]:
    """Write ``lines`` log lines of a preset to ``path``; return the manifest (also written beside it)."""
    p = PRESETS[preset]
    gen = Generator(seed, p)
    rng = random.Random(seed ^ 0x5EED)
    heap: List[Tuple[float, int, int, str]] = []  # (time, connection, order, body)
    connections = 0
    next_arrival = 0.0
    written = 0
    open_icids = open_dcids = peak_icids = peak_dcids = 0
    auth_lines = 0
    local_start = START + UTC_OFFSET
    last_second = -1
    prefix = ""
    envelope = _prefix if p.envelope == "file" else _syslog_prefix
    out: List[str] = []
    with path.open("wb") as handle:
        if p.envelope == "file":
            header_prefix = _prefix(local_start)
            for body in ("Begin Logfile", VERSION_LINE, f"Time offset from UTC: {UTC_OFFSET} seconds"):
                out.append(header_prefix + body + "\n")
                written += 1
        while written < lines:
            if not heap or heap[0][0] > next_arrival:
                connections += 1
                for t, order, body in gen.connection(next_arrival):
                    heapq.heappush(heap, (t, connections, order, body))
                next_arrival += rng.expovariate(p.arrivals)
                continue
            t, _, _, body = heapq.heappop(heap)
            second = local_start + int(t)
            if p.second_per_line:
                second = max(second, last_second + 1)
            if second != last_second:
                last_second = second
                prefix = envelope(second)
            out.append(prefix + body + "\n")
            written += 1
            head = body[:4]
            if head == "New ":
                if body[9] == "I":
                    open_icids += 1
                    peak_icids = max(peak_icids, open_icids)
                else:
                    open_dcids += 1
                    peak_dcids = max(peak_dcids, open_dcids)
            elif head == "ICID" and (body.endswith(" close") or body.endswith(" lost")):
                open_icids -= 1
            elif head == "DCID" and body.endswith(" close"):
                open_dcids -= 1
            elif head == "SMTP" or body.startswith("DCID: "):
                auth_lines += 1
            if len(out) >= 8192:
                handle.write("".join(out).encode("utf-8"))
                out.clear()
        handle.write("".join(out).encode("utf-8"))
    manifest: Dict[str, object] = {
        "file": path.name,
        "preset": preset,
        "envelope": p.envelope,
        "lines": written,
        "seed": seed,
        "bytes": path.stat().st_size,
        "auth_lines": auth_lines,
        "auth_share": round(auth_lines / written, 4),
        "connections_started": connections,
        "peak_open_icids": peak_icids,
        "peak_open_dcids": peak_dcids,
        "log_seconds": last_second - local_start,
        # Connections started per kind and auth attempts made; the last ones
        # may fall after the last line written.
        "generated": dict(sorted(gen.counts.items())),
    }
    path.with_name(path.name + ".json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Generate a deterministic, realistic ESA text mail log.")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines to write (default: 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="classic",
        help="what the log looks like (default: classic, the log this benchmark always used; --list describes them)",
    )
    parser.add_argument("--out", type=Path, help="the log file to write")
    parser.add_argument("--list", action="store_true", help="describe the presets and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, preset in PRESETS.items():
            print(f"{name:<11} {preset.description}")
        return 0
    if args.out is None:
        parser.error("--out is required")
    if args.lines < 4:
        parser.error("--lines must be at least 4 (the header has 3)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    manifest = generate(args.out, args.lines, args.seed, args.preset)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
