"""Generate a deterministic, realistic Cisco ESA text mail log for the benchmark.

The log is what a busy appliance writes with the native file envelope (E1 of
``esa-log-formats.md``: ``Www Mmm dd HH:MM:SS YYYY Info: body``), after the file
header (section 2). Connections arrive at random and run concurrently, so
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

About 2% of the lines are SMTP AUTH lines. The same seed and line count give
the same bytes. A manifest (``<file>.json``) records what was written: the
number of SMTP AUTH lines (the events ``esa-auth normalize`` must produce),
the most ICIDs and DCIDs open at once, the connections started by kind.

Usage::

    python bench/generate.py --lines 1000000 --seed 1 --out bench/data/mail-1000000.log
"""

from __future__ import annotations

import argparse
import calendar
import heapq
import json
import random
import sys
import time
from pathlib import Path
from typing import Dict, List, Tuple

# Line = (time in seconds since START, order within the connection, body).
Line = Tuple[float, int, str]

START = calendar.timegm((2024, 3, 4, 6, 0, 0, 0, 0, 0))
UTC_OFFSET = 3600  # the header says local = UTC + 1 h
VERSION_LINE = "Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Connections per second, and the mix of connection kinds (weights). With the
# durations below this keeps about 2,000 inbound connections open at once.
ARRIVALS_PER_SECOND = 150.0
KINDS = (("inbound", 40), ("rejected", 45), ("submission", 10), ("guessing", 5))

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


class Generator:
    """Builds the lines of each connection; ids are allocated in arrival order."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.icid = 1_204_300
        self.dcid = 88_100
        self.mid = 5_530_000
        self.counts: Dict[str, int] = {}

    def _count(self, kind: str, n: int = 1) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + n

    def _public_ip(self) -> str:
        r = self.rng
        return f"{r.choice((198, 203, 185, 45, 91, 103))}.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}"

    def _address(self, domain: str) -> str:
        return f"{self.rng.choice(FIRST)}{self.rng.randrange(100)}@{domain}"

    def _tls(self) -> str:
        i = self.rng.randrange(len(CIPHERS))
        return f"TLS success protocol {PROTOCOLS[i]} cipher {CIPHERS[i]}"

    def connection(self, t0: float) -> List[Line]:
        """The lines of one connection arriving at ``t0``, deliveries included."""
        r = self.rng
        roll = r.randrange(100)
        kind = KINDS[-1][0]
        for name, weight in KINDS:
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
        return [
            (t0, 0, f"New SMTP ICID {icid} interface {LISTENER_IN} address {ip} reverse dns host unknown verified no"),
            (t0, 1, f"ICID {icid} REJECT SG BLOCKLIST match sbrs[-10.0:-3.0] SBRS {sbrs} "
                    f"country {r.choice(COUNTRIES)}"),
            (t0 + r.uniform(0.5, 12.0), 2, f"ICID {icid} close"),
        ]  # fmt: skip

    def _guessing(self, t0: float, icid: int) -> List[Line]:
        """Password guessing on the submission listener: several T2 lines, then close or lost."""
        r = self.rng
        ip = self._public_ip()
        lines: List[Line] = [
            (t0, 0, f"New SMTP ICID {icid} interface {LISTENER_OUT} address {ip} reverse dns host unknown verified no"),
            (t0, 1, f"ICID {icid} ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS {r.uniform(-1, 4):.1f} "
                    f"country {r.choice(COUNTRIES)}"),
        ]  # fmt: skip
        t = t0
        attempts = r.randrange(1, 6)
        for n in range(attempts):
            t += r.uniform(1.0, 6.0)
            user = r.choice(GUESSES) + ("@" + OWN_DOMAIN if r.random() < 0.5 else "")
            mech = "LOGIN" if r.random() < 0.7 else "PLAIN"
            lines.append((t, 2 + n, f"SMTP Auth: (ICID {icid}) failed for user: {user} using AUTH mechanism: {mech} "
                                    f"with profile: CorpAuth"))  # fmt: skip
        self._count("auth_inbound_failure", attempts)
        lines.append((t + r.uniform(0.1, 3.0), 9, f"ICID {icid} {'lost' if r.random() < 0.3 else 'close'}"))
        return lines

    def _mail(self, t0: float, icid: int, submission: bool) -> List[Line]:
        """A connection that sends one or more messages, and their deliveries."""
        r = self.rng
        if submission:
            ip = f"10.20.{r.randrange(256)}.{r.randrange(1, 255)}"
            lines: List[Line] = [
                (t0, 0, f"New SMTP ICID {icid} interface {LISTENER_OUT} address {ip} reverse dns host "
                        f"ws{r.randrange(5000)}.corp.{OWN_DOMAIN} verified yes"),
                (t0, 1, f"ICID {icid} RELAY SG RELAYLIST match 10.0.0.0/8 SBRS not enabled"),
            ]  # fmt: skip
        else:
            ip = self._public_ip()
            host = f"mail{r.randrange(100)}.{r.choice(DOMAINS)}" if r.random() < 0.8 else "unknown"
            lines = [
                (t0, 0, f"New SMTP ICID {icid} interface {LISTENER_IN} address {ip} reverse dns host {host} "
                        f"verified {'yes' if host != 'unknown' else 'no'}"),
                (t0, 1, f"ICID {icid} ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS {r.uniform(-1, 6):.1f} "
                        f"country {r.choice(COUNTRIES)}"),
            ]  # fmt: skip
        t = t0 + r.uniform(0.05, 0.5)
        if submission or r.random() < 0.7:
            lines.append((t, 2, f"ICID {icid} {self._tls()}"))
        if submission:
            t += r.uniform(0.05, 0.5)
            user = self._address(OWN_DOMAIN) if r.random() < 0.6 else r.choice(FIRST)
            lines.append((t, 3, f"SMTP Auth: (ICID {icid}) succeeded for user: {user} using AUTH mechanism: LOGIN "
                                f"with profile: CorpAuth"))  # fmt: skip
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
        lines.append((t + r.uniform(0.1, 2.0), order, f"ICID {icid} close"))
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
        out.append((t, 1001, f"DCID {dcid} {self._tls()}"))
        if relayed:
            t += r.uniform(0.01, 0.2)
            if r.random() < 0.02:
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


def generate(path: Path, lines: int, seed: int) -> Dict[str, object]:
    """Write ``lines`` log lines to ``path``; return the manifest (also written beside it)."""
    gen = Generator(seed)
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
    out: List[str] = []
    with path.open("wb") as handle:
        header_prefix = _prefix(local_start)
        for body in ("Begin Logfile", VERSION_LINE, f"Time offset from UTC: {UTC_OFFSET} seconds"):
            out.append(header_prefix + body + "\n")
            written += 1
        while written < lines:
            if not heap or heap[0][0] > next_arrival:
                connections += 1
                for t, order, body in gen.connection(next_arrival):
                    heapq.heappush(heap, (t, connections, order, body))
                next_arrival += rng.expovariate(ARRIVALS_PER_SECOND)
                continue
            t, _, _, body = heapq.heappop(heap)
            second = local_start + int(t)
            if second != last_second:
                last_second = second
                prefix = _prefix(second)
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
    parser.add_argument("--out", type=Path, required=True, help="the log file to write")
    args = parser.parse_args(argv)
    if args.lines < 4:
        parser.error("--lines must be at least 4 (the header has 3)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    manifest = generate(args.out, args.lines, args.seed)
    print(json.dumps(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
