"""Crafted ESA logs for the detection rules: attacks that must alert, near misses that must not, edge cases.

Each scenario writes real ESA lines (templates T1-T7, T10, T11, A1-A4, A14, L1, L4 with the session
lines C1, C4, C5, C7) into the native-file envelope (E1), so that the replay goes through the whole pipeline, and
names every alert expected from the whole rule set: any other alert fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Callable, Dict, List, Optional, Tuple

#: Monday 6 January 2025, 10:00:00 UTC: the time 0 of every scenario.
T0 = datetime(2025, 1, 6, 10, 0, 0, tzinfo=timezone.utc)
MINUTE = 60
HOUR = 3600
DAY = 86400

ATTACKER = "203.0.113.7"
OTHER = "198.51.100.23"
ADMIN_PC = "192.0.2.77"
LISTENER = "192.0.2.10"
SMART_HOST = "198.51.100.25"
OFFICE_NAT = "198.51.100.80"


def net(address: str) -> str:
    """The /24 of an IPv4 address: what the rules that count sources by network group by (src_net)."""
    return address.rsplit(".", 1)[0] + ".0/24"


def far(n: int) -> str:
    """The n-th of many addresses in as many /24 networks (198.18.0.0/15, RFC 2544's test range): a botnet's."""
    return f"198.{18 + n // 256}.{n % 256}.7"


class Log:
    """An ESA log under construction; lines come out in time order (ties in writing order)."""

    def __init__(self) -> None:
        self._lines: List[Tuple[float, int, str]] = []
        self._icid = 1000
        self._dcid = 5000

    def line(self, at: float, body: str) -> None:
        when = T0 + timedelta(seconds=at)
        # E1: "Www Mmm dd HH:MM:SS YYYY Level: body", day padded with a space.
        stamp = f"{when:%a %b} {when.day:2d} {when:%H:%M:%S %Y}"
        self._lines.append((at, len(self._lines), f"{stamp} Info: {body}"))

    def smtp(
        self,
        at: float,
        src: Optional[str],
        user: str,
        ok: bool = False,
        tls: bool = True,
        template: str = "T2",
        country: Optional[str] = None,
    ) -> None:
        """One inbound connection with one SMTP AUTH line; ``src=None``: the connection line was not seen;
        ``country``: the HAT verdict line (C2) names the client's country."""
        self._icid += 1
        icid = self._icid
        if src is not None:
            self.line(
                at,
                f"New SMTP ICID {icid} interface Mail ({LISTENER}) address {src} reverse dns host unknown verified no",
            )
            if country is not None:
                self.line(at, f"ICID {icid} ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS 1.2 country {country}")
            if tls:
                self.line(at, f"ICID {icid} TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES256-GCM-SHA384")
        if ok:
            template = "T1"
        bodies = {
            "T1": f"SMTP Auth: (ICID {icid}) succeeded for user: {user} using AUTH mechanism: LOGIN with profile: Corp",
            "T2": f"SMTP Auth: (ICID {icid}) failed for user: {user} using AUTH mechanism: LOGIN with profile: Corp",
            "T3": f"SMTP Auth (ICID {icid}) profile: Corp is misconfigured or missing causing an Auth failure",
            "T4": f"SMTP Auth (ICID {icid}) could not reach forwarding server 192.0.2.25",
            "T5": f"SMTP Auth (ICID {icid}) could not reach forwarding server auth.example.com with reason: timeout",
            "T6": f"SMTP Auth (ICID {icid}) LDAP query/user lookup failed for user: {user}",
            "T7": f"SMTP Auth (ICID {icid}) was required but remote host did not initiate it",
        }
        self.line(at, bodies[template])
        if src is not None:
            self.line(at, f"ICID {icid} close")

    def outbound(self, at: float, host: str, profile: str = "Relay", ok: bool = False, opened: bool = True) -> None:
        """One delivery connection to a smart host with its SMTP AUTH line (T10/T11)."""
        self._dcid += 1
        dcid = self._dcid
        if opened:
            self.line(at, f"New SMTP DCID {dcid} interface {LISTENER} address {host} port 587")
        outcome = "succeeded." if ok else "failed: ('535', ['5.7.8 Error: authentication failed'])"
        self.line(at, f"DCID: {dcid} IP: {host} SMTP authentication using the profile {profile} {outcome}")
        if opened:
            self.line(at, f"DCID {dcid} close")

    def admin(self, at: float, user: str, src: Optional[str], ok: bool) -> None:
        """An appliance login: A3/A4 with an address, A1/A2 without."""
        where = f" from {src}" if src else ""
        self.line(at, f"User {user}{where} " + ("was authenticated successfully." if ok else "failed authentication."))

    def gui_failure(self, at: float, user: str, src: str) -> None:
        """A8, the GUI log's line of a failed login (the authentication log writes A4 for the same attempt)."""
        self.line(at, f"An authentication attempt by the user {user} from {src} failed using an HTTPS connection.")

    def role_login(self, at: float, user: str, src: str, role: str = "admin") -> None:
        """A6, a GUI login that names the account's role (an administrator role makes it privileged)."""
        self.line(
            at, f"The user {user} successfully logged on from {src} with privilege {role} using an HTTPS connection."
        )

    def gui_session(self, at: float, user: str, src: str) -> None:
        """A14, the GUI session start written beside the login line."""
        self.line(at, f"login:{src} user:{user} session:8dN2kKq0vB1x")

    def logoffs(self, at: float, user: str, src: str) -> None:
        """L1 (GUI) and L4 (SSH) logoffs: action=success, activity=logoff."""
        self.line(at, f"logout:{src} user:{user} session:8dN2kKq0vB1x")
        self.line(at, f"User {user} logged out of SSH session {src}")

    def data(self) -> bytes:
        return "".join(text + "\n" for _, _, text in sorted(self._lines)).encode()


Expected = List[Tuple[str, Dict[str, str]]]


@dataclass(frozen=True)
class Scenario:
    """A log and every alert it must give, as ``(rule name, group)``; ``metrics`` pins some metric values."""

    name: str
    build: Callable[[Log], None]
    alerts: Expected
    metrics: Dict[str, float] = field(default_factory=dict)

    def log(self) -> bytes:
        log = Log()
        self.build(log)
        return log.data()


def _new(user: str, src: str) -> Tuple[str, Dict[str, str]]:
    """The risk alert of a first SMTP AUTH success of a user from an address (esa_smtp_auth_user_new_source)."""
    return ("esa_smtp_auth_user_new_source", {"user": user, "src": src})


def _each(times: List[float], action: Callable[[float], None]) -> None:
    for at in times:
        action(at)


def _botnet(log: Log) -> None:
    """One botnet hour: 60 addresses, 10 guesses each in 8 minutes, over 100 mailboxes (each tried from 6 addresses)."""
    for a in range(60):
        for k in range(10):
            log.smtp(a * 50 + k * 55, far(a + 100), f"mbox{(a * 10 + k) % 100:02d}")


#: What the botnet hour gives: a risk event per address (brute force, spray) and per mailbox (many sources), and one
#: notable for the listener (distributed spray).
BOTNET_ALERTS = (
    [("esa_smtp_auth_brute_force", {"src": far(a + 100)}) for a in range(60)]
    + [("esa_smtp_auth_password_spray", {"src_net": net(far(a + 100))}) for a in range(60)]
    + [("esa_smtp_auth_user_many_sources", {"user": f"mbox{m:02d}"}) for m in range(100)]
    + [("esa_smtp_auth_distributed_spray", {"dest": LISTENER})]
)


SCENARIOS = [
    # --- SMTP AUTH brute force from one source (>= 10 failures in 10 minutes per src)
    Scenario(
        "brute force: 12 failures in 3 minutes",
        lambda log: _each([i * 15 for i in range(12)], lambda t: log.smtp(t, ATTACKER, "alice")),
        [("esa_smtp_auth_brute_force", {"src": ATTACKER})],
        {"esa_smtp_auth_brute_force": 12},
    ),
    Scenario(
        "brute force across a 10-minute bin edge (10:18 to 10:22)",
        lambda log: _each([18 * MINUTE + i * 26 for i in range(10)], lambda t: log.smtp(t, ATTACKER, "alice")),
        [("esa_smtp_auth_brute_force", {"src": ATTACKER})],
    ),
    Scenario(
        "brute force at the window edge: tenth failure exactly 10 minutes after the first",
        lambda log: _each([i * MINUTE for i in range(9)] + [10 * MINUTE], lambda t: log.smtp(t, ATTACKER, "alice")),
        [("esa_smtp_auth_brute_force", {"src": ATTACKER})],
    ),
    Scenario(
        "brute force near miss: 9 failures in 10 minutes",
        lambda log: _each([i * MINUTE for i in range(9)], lambda t: log.smtp(t, ATTACKER, "alice")),
        [],
    ),
    Scenario(
        "brute force near miss: 10 failures over 11 minutes",
        lambda log: _each([i * 73 for i in range(10)], lambda t: log.smtp(t, ATTACKER, "alice")),
        [],
    ),
    Scenario(
        "brute force edge: lines with no credential checked (T3, T4, T5: the appliance's side; T7: the client never "
        "tried) and failures with no known client do not count",
        lambda log: (
            _each([i * 20 for i in range(9)], lambda t: log.smtp(t, ATTACKER, "alice")),
            _each([200 + i * 5 for i in range(5)], lambda t: log.smtp(t, ATTACKER, "alice", template="T3")),
            *(
                _each([230 + i * 5 for i in range(3)], lambda t, n=name: log.smtp(t, ATTACKER, "alice", template=n))
                for name in ("T4", "T5", "T7")
            ),
            _each([i * 10 for i in range(12)], lambda t: log.smtp(t, None, "alice")),
        ),
        [],
    ),
    Scenario(
        "brute force near miss: two sources with 6 failures each",
        lambda log: (
            _each([i * 30 for i in range(6)], lambda t: log.smtp(t, ATTACKER, "alice")),
            _each([i * 30 + 5 for i in range(6)], lambda t: log.smtp(t, OTHER, "alice")),
        ),
        [],
    ),
    # --- password spraying (>= 5 distinct users failing in 1 hour per src)
    Scenario(
        "password spray: 6 users from one source in 50 minutes",
        lambda log: _each([i * 10 * MINUTE for i in range(6)], lambda t: log.smtp(t, ATTACKER, f"user{int(t)}")),
        [("esa_smtp_auth_password_spray", {"src_net": net(ATTACKER)})],
        {"esa_smtp_auth_password_spray": 6},
    ),
    Scenario(
        "password spray: 6 users, each from another address of one IPv4 /24 (one network, one source)",
        lambda log: _each(
            [i * 10 * MINUTE for i in range(6)], lambda t: log.smtp(t, f"203.0.113.{int(t) // 600 + 20}", f"u{int(t)}")
        ),
        [("esa_smtp_auth_password_spray", {"src_net": "203.0.113.0/24"})],
        {"esa_smtp_auth_password_spray": 6},
    ),
    Scenario(
        "password spray near miss: a webmail front end, 6 users failing among 30 logins in the hour (success ratio)",
        lambda log: (
            _each([i * 10 * MINUTE for i in range(6)], lambda t: log.smtp(t, OFFICE_NAT, f"u{int(t)}")),
            _each([i * 2 * MINUTE + 30 for i in range(30)], lambda t: log.smtp(t, OFFICE_NAT, f"ok{int(t)}", ok=True)),
        ),
        [*(_new(f"ok{i * 120 + 30}", OFFICE_NAT) for i in range(30))],
    ),
    Scenario(
        "password spray: 8 users fail and one succeeds from one source (a guessed password, under the success ratio)",
        lambda log: (
            _each([i * 5 * MINUTE for i in range(8)], lambda t: log.smtp(t, ATTACKER, f"u{int(t)}")),
            log.smtp(42 * MINUTE, ATTACKER, "u600", ok=True),
        ),
        [("esa_smtp_auth_password_spray", {"src_net": net(ATTACKER)}), _new("u600", ATTACKER)],
        {"esa_smtp_auth_password_spray": 8},
    ),
    Scenario(
        "password spray near miss: 6 users from 6 networks (the distributed rule's case, not one source's)",
        lambda log: _each([i * 10 * MINUTE for i in range(6)], lambda t: log.smtp(t, far(int(t) // 600), f"u{int(t)}")),
        [],
    ),
    Scenario(
        "password spray near miss: 4 users, 3 failures each",
        lambda log: _each([i * 150 for i in range(12)], lambda t: log.smtp(t, ATTACKER, f"user{(int(t) // 150) % 4}")),
        [],
    ),
    Scenario(
        "password spray edge: names differing only in case are one user",
        lambda log: _each(
            [0, 60, 120, 180, 240, 300],
            lambda t: log.smtp(t, ATTACKER, ["Alice", "ALICE", "alice", "bob", "carol", "dave"][int(t) // 60]),
        ),
        [],
    ),
    Scenario(
        "password spray near miss: 5 users over 61 minutes",
        lambda log: _each([0, 900, 1800, 2700, 3660], lambda t: log.smtp(t, ATTACKER, f"user{int(t)}")),
        [],
    ),
    # --- success after repeated failures (>= 5 failures in 10 min, then a success within 30 min, same src)
    Scenario(
        "success after failures: 6 failures, then a success 5 minutes later",
        lambda log: (
            _each([i * 30 for i in range(6)], lambda t: log.smtp(t, ATTACKER, "alice")),
            log.smtp(450, ATTACKER, "alice", ok=True),
        ),
        [("esa_smtp_auth_success_after_failures", {"user": "alice"}), _new("alice", ATTACKER)],
    ),
    Scenario(
        "success after failures near miss: the success comes first",
        lambda log: (
            log.smtp(0, ATTACKER, "alice", ok=True),
            _each([60 + i * 30 for i in range(6)], lambda t: log.smtp(t, ATTACKER, "alice")),
        ),
        [_new("alice", ATTACKER)],
    ),
    Scenario(
        "success after failures near miss: 4 failures",
        lambda log: (
            _each([i * 30 for i in range(4)], lambda t: log.smtp(t, ATTACKER, "alice")),
            log.smtp(300, ATTACKER, "alice", ok=True),
        ),
        [_new("alice", ATTACKER)],
    ),
    Scenario(
        "success after failures near miss: the success 31 minutes after the last failure",
        lambda log: (
            _each([i * 30 for i in range(6)], lambda t: log.smtp(t, ATTACKER, "alice")),
            log.smtp(150 + 31 * MINUTE, ATTACKER, "alice", ok=True),
        ),
        [_new("alice", ATTACKER)],
    ),
    Scenario(
        "success after failures edge: the success comes from another source (the account is what is judged)",
        lambda log: (
            _each([i * 30 for i in range(6)], lambda t: log.smtp(t, ATTACKER, "alice")),
            log.smtp(300, OTHER, "alice", ok=True),
        ),
        [("esa_smtp_auth_success_after_failures", {"user": "alice"}), _new("alice", OTHER)],
    ),
    Scenario(
        "success after failures near miss: a printer fails behind an office NAT, then another user logs in through it",
        lambda log: (
            _each([i * 60 for i in range(8)], lambda t: log.smtp(t, OFFICE_NAT, "scanner")),
            log.smtp(9 * MINUTE, OFFICE_NAT, "alice", ok=True),
        ),
        [_new("alice", OFFICE_NAT)],
    ),
    Scenario(
        "success after failures: failures for one user from 5 botnet addresses, then a success from a sixth",
        lambda log: (
            _each([i * 60 for i in range(5)], lambda t: log.smtp(t, far(50 + int(t) // 60), "alice")),
            log.smtp(8 * MINUTE, far(99), "alice", ok=True),
        ),
        [
            _new("alice", far(99)),
            ("esa_smtp_auth_success_after_failures", {"user": "alice"}),
            ("esa_smtp_auth_user_many_sources", {"user": "alice"}),
        ],
    ),
    # --- one user failing from many sources (>= 5 distinct networks, src_net, in 1 hour per user)
    Scenario(
        "one user from 6 networks in 40 minutes",
        lambda log: _each([i * 8 * MINUTE for i in range(6)], lambda t: log.smtp(t, far(100 + int(t) // 480), "bob")),
        [("esa_smtp_auth_user_many_sources", {"user": "bob"})],
        {"esa_smtp_auth_user_many_sources": 6},
    ),
    Scenario(
        "one user near miss: 8 addresses of one IPv4 /24 (a carrier's pool) in an hour",
        lambda log: _each(
            [i * 7 * MINUTE for i in range(8)], lambda t: log.smtp(t, f"203.0.113.{100 + int(t) // 420}", "bob")
        ),
        [],
    ),
    Scenario(
        "one user near miss: 12 privacy addresses of one IPv6 /64, written in several forms",
        lambda log: _each(
            [i * 4 * MINUTE for i in range(12)],
            lambda t: log.smtp(
                t,
                [f"2001:db8:7:1::{int(t) // 240 + 10:x}", f"2001:0DB8:0007:0001:0:0:0:{int(t) // 240 + 10:x}"][
                    int(t) // 240 % 2
                ],
                "bob",
            ),
        ),
        [],
    ),
    Scenario(
        "one user near miss: 4 addresses, and failures with no known client address",
        lambda log: (
            _each([i * MINUTE for i in range(4)], lambda t: log.smtp(t, far(100 + int(t) // 60), "bob")),
            _each([300 + i * MINUTE for i in range(5)], lambda t: log.smtp(t, None, "bob")),
        ),
        [],
    ),
    Scenario(
        "one user near miss: 4 addresses, one of them also written as IPv4-mapped IPv6 (::ffff:a.b.c.d)",
        lambda log: (
            _each([i * MINUTE for i in range(4)], lambda t: log.smtp(t, far(100 + int(t) // 60), "bob")),
            log.smtp(5 * MINUTE, f"::ffff:{far(100)}", "bob"),
        ),
        [],
    ),
    Scenario(
        "one user edge: Bob and bob are one user",
        lambda log: _each(
            [i * MINUTE for i in range(5)],
            lambda t: log.smtp(t, far(100 + int(t) // 60), "Bob" if t < 180 else "bob"),
        ),
        [("esa_smtp_auth_user_many_sources", {"user": "bob"})],
        {"esa_smtp_auth_user_many_sources": 5},
    ),
    # --- outbound smart-host failures (>= 3 in 30 minutes per smart host and profile)
    Scenario(
        "smart host: 3 failures in 20 minutes",
        lambda log: _each([0, 600, 1200], lambda t: log.outbound(t, SMART_HOST)),
        [("esa_smtp_outbound_auth_failures", {"dest": SMART_HOST, "authentication_service": "relay"})],
    ),
    Scenario(
        "smart host near miss: 2 failures and a success",
        lambda log: (
            _each([0, 600], lambda t: log.outbound(t, SMART_HOST)),
            log.outbound(900, SMART_HOST, ok=True),
        ),
        [],
    ),
    Scenario(
        "smart host near miss: failures spread over two smart hosts",
        lambda log: (
            _each([0, 600], lambda t: log.outbound(t, SMART_HOST)),
            log.outbound(900, "198.51.100.26"),
        ),
        [],
    ),
    Scenario(
        "smart host edge: no user and no connection line, the failures still count",
        lambda log: _each([0, 300, 600], lambda t: log.outbound(t, SMART_HOST, opened=False)),
        [("esa_smtp_outbound_auth_failures", {"dest": SMART_HOST, "authentication_service": "relay"})],
    ),
    # --- cleartext SMTP AUTH (one alert per src and user a day)
    Scenario(
        "cleartext: LOGIN without TLS",
        lambda log: log.smtp(0, OTHER, "carol", ok=True, tls=False),
        [("esa_smtp_auth_cleartext_use", {"src": OTHER, "user": "carol"}), _new("carol", OTHER)],
    ),
    Scenario(
        "cleartext edge: failures expose the password too; repeated use is one alert; TLS is not cleartext",
        lambda log: (
            _each([0, HOUR, 2 * HOUR], lambda t: log.smtp(t, OTHER, "carol", tls=False)),
            log.smtp(3 * HOUR, ATTACKER, "dave", ok=True),
        ),
        [("esa_smtp_auth_cleartext_use", {"src": OTHER, "user": "carol"}), _new("dave", ATTACKER)],
    ),
    # --- appliance login failures followed by a success (>= 5 in 10 min per user, then a login within 30 min)
    Scenario(
        "admin: 5 failed logins, then a login",
        lambda log: (
            _each([i * MINUTE for i in range(5)], lambda t: log.admin(t, "jdoe", ADMIN_PC, ok=False)),
            log.admin(6 * MINUTE, "jdoe", ADMIN_PC, ok=True),
        ),
        [("esa_admin_login_success_after_failures", {"user": "jdoe"})],
    ),
    Scenario(
        "admin near miss: 4 failed logins, then a login",
        lambda log: (
            _each([i * MINUTE for i in range(4)], lambda t: log.admin(t, "jdoe", ADMIN_PC, ok=False)),
            log.admin(6 * MINUTE, "jdoe", ADMIN_PC, ok=True),
        ),
        [],
    ),
    Scenario(
        "admin edge: failed logins followed by logoffs only (a logoff is not a logon)",
        lambda log: (
            _each([i * MINUTE for i in range(5)], lambda t: log.admin(t, "jdoe", ADMIN_PC, ok=False)),
            log.logoffs(6 * MINUTE, "jdoe", ADMIN_PC),
        ),
        [],
    ),
    Scenario(
        "admin edge: failures with no address (A2) count for the account",
        lambda log: (
            _each([i * MINUTE for i in range(5)], lambda t: log.admin(t, "jdoe", None, ok=False)),
            log.admin(6 * MINUTE, "jdoe", ADMIN_PC, ok=True),
        ),
        [("esa_admin_login_success_after_failures", {"user": "jdoe"})],
    ),
    Scenario(
        "admin edge: SMTP AUTH failures for the same name are not appliance logins",
        lambda log: (
            _each([i * 30 for i in range(6)], lambda t: log.smtp(t, ATTACKER, "jdoe")),
            log.admin(6 * MINUTE, "jdoe", ADMIN_PC, ok=True),
        ),
        [],
    ),
    # --- built-in admin account from a new source (at most one login time per user and src in 30 days)
    Scenario(
        "default admin: first login from an address",
        lambda log: log.admin(0, "admin", ADMIN_PC, ok=True),
        [("esa_privileged_login_new_source", {"user": "admin", "src": ADMIN_PC})],
    ),
    Scenario(
        "default admin edge: one GUI login writes two lines in the same second",
        lambda log: (log.admin(0, "admin", ADMIN_PC, ok=True), log.gui_session(0, "admin", ADMIN_PC)),
        [("esa_privileged_login_new_source", {"user": "admin", "src": ADMIN_PC})],
    ),
    Scenario(
        "default admin near miss: the address was used 10 days before",
        lambda log: _each([0, 10 * DAY], lambda t: log.admin(t, "admin", ADMIN_PC, ok=True)),
        [("esa_privileged_login_new_source", {"user": "admin", "src": ADMIN_PC})],
    ),
    Scenario(
        "default admin edge: an address unused for 31 days is new again",
        lambda log: _each([0, 31 * DAY], lambda t: log.admin(t, "admin", ADMIN_PC, ok=True)),
        [
            ("esa_privileged_login_new_source", {"user": "admin", "src": ADMIN_PC}),
            ("esa_privileged_login_new_source", {"user": "admin", "src": ADMIN_PC}),
        ],
    ),
    Scenario(
        "default admin edge: logoffs, failures, logins without an address, other accounts",
        lambda log: (
            log.logoffs(0, "admin", ADMIN_PC),
            log.admin(60, "admin", "192.0.2.78", ok=False),
            log.admin(120, "admin", None, ok=True),
            log.admin(180, "jdoe", "192.0.2.79", ok=True),
        ),
        [],
    ),
    # --- slow, distributed and IPv6 sprays (#19)
    Scenario(
        "slow spray: 30 users over 8 hours from one source (under 5 an hour)",
        lambda log: _each([i * 16 * MINUTE for i in range(30)], lambda t: log.smtp(t, ATTACKER, f"user{int(t)}")),
        [("esa_smtp_auth_password_spray_slow", {"src_net": net(ATTACKER)})],
        {"esa_smtp_auth_password_spray_slow": 30},
    ),
    Scenario(
        "slow spray near miss: 14 users in a day from one source",
        lambda log: _each([i * 100 * MINUTE for i in range(14)], lambda t: log.smtp(t, ATTACKER, f"user{int(t)}")),
        [],
    ),
    Scenario(
        "distributed spray: 80 users tried once each from 40 addresses in an hour",
        lambda log: _each(
            [i * 45 for i in range(80)], lambda t: log.smtp(t, far(int(t) // 45 % 40 + 100), f"u{int(t)}")
        ),
        [("esa_smtp_auth_distributed_spray", {"dest": LISTENER})],
        {"esa_smtp_auth_distributed_spray": 80},
    ),
    Scenario(
        "distributed spray: 12 users from 12 addresses of one IPv6 /64",
        lambda log: _each(
            [i * 150 for i in range(12)], lambda t: log.smtp(t, f"2001:db8:7:1::{int(t) // 150 + 10:x}", f"u{int(t)}")
        ),
        [
            ("esa_smtp_auth_distributed_spray", {"dest": LISTENER}),
            ("esa_smtp_auth_password_spray", {"src_net": "2001:db8:7:1::/64"}),
        ],
    ),
    Scenario(
        "distributed spray near miss: 9 users fail at one listener in an hour",
        lambda log: _each([i * 6 * MINUTE for i in range(9)], lambda t: log.smtp(t, far(int(t) % 200), f"u{int(t)}")),
        [],
    ),
    Scenario("botnet hour: 60 addresses, 100 mailboxes", _botnet, BOTNET_ALERTS),
    Scenario(
        "cleartext spray: one host tries 12 users over cleartext in 30 minutes",
        lambda log: _each([i * 150 for i in range(12)], lambda t: log.smtp(t, OTHER, f"user{int(t)}", tls=False)),
        [
            ("esa_smtp_auth_password_spray", {"src_net": net(OTHER)}),
            ("esa_smtp_auth_distributed_spray", {"dest": LISTENER}),
            *[("esa_smtp_auth_cleartext_use", {"src": OTHER, "user": f"user{i * 150}"}) for i in range(12)],
        ],
    ),
    # --- privileged logins (#19)
    Scenario(
        "admin near miss: 3 failed attempts, each written to the authentication and the GUI log, then a login",
        lambda log: (
            _each([i * MINUTE for i in range(3)], lambda t: log.admin(t, "jdoe", ADMIN_PC, ok=False)),
            _each([i * MINUTE for i in range(3)], lambda t: log.gui_failure(t, "jdoe", ADMIN_PC)),
            log.admin(5 * MINUTE, "jdoe", ADMIN_PC, ok=True),
        ),
        [],
    ),
    Scenario(
        "admin failures: 10 attempts in 9 minutes, each written to two logs, no login",
        lambda log: (
            _each([i * MINUTE for i in range(10)], lambda t: log.admin(t, "jdoe", ATTACKER, ok=False)),
            _each([i * MINUTE for i in range(10)], lambda t: log.gui_failure(t, "jdoe", ATTACKER)),
        ),
        [("esa_admin_login_failures", {"user": "jdoe"})],
        {"esa_admin_login_failures": 10},
    ),
    Scenario(
        "privileged new source: an account with the admin role logs in from a new address",
        lambda log: log.role_login(0, "jdoe", ADMIN_PC),
        [("esa_privileged_login_new_source", {"user": "jdoe", "src": ADMIN_PC})],
    ),
    Scenario(
        "privileged new source near miss: an operator (not an administrator role) logs in from a new address",
        lambda log: log.role_login(0, "jdoe", ADMIN_PC, role="operator"),
        [],
    ),
    # --- SMTP AUTH from a new source or country (#19 item 8)
    Scenario(
        "user new source: a success from the usual address 10 days after the first, and one from a new address",
        lambda log: (
            log.smtp(0, OTHER, "alice", ok=True),
            log.smtp(10 * DAY, OTHER, "alice", ok=True),
            log.smtp(10 * DAY + HOUR, ATTACKER, "alice", ok=True),
        ),
        [_new("alice", OTHER), _new("alice", ATTACKER)],
    ),
    Scenario(
        "user new source edge: an address unused for 31 days is new again, one used 30 days before is not",
        lambda log: (
            log.smtp(0, OTHER, "alice", ok=True),
            log.smtp(31 * DAY, OTHER, "alice", ok=True),
            log.smtp(DAY, ATTACKER, "alice", ok=True),
            log.smtp(31 * DAY, ATTACKER, "alice", ok=True),
        ),
        [_new("alice", OTHER), _new("alice", OTHER), _new("alice", ATTACKER)],
    ),
    Scenario(
        "user new source edge: 40 days apart (the row purged in between, bob daily), then daily for a week",
        lambda log: (
            _each(
                [0, 40 * DAY, *[40 * DAY + d * DAY + 3 * HOUR for d in range(7)]],
                lambda t: log.smtp(t, OTHER, "alice", ok=True),
            ),
            _each([d * DAY + 2 * HOUR for d in range(48)], lambda t: log.smtp(t, ATTACKER, "bob", ok=True)),
        ),
        [_new("alice", OTHER), _new("alice", OTHER), _new("bob", ATTACKER)],
    ),
    Scenario(
        "user new source edge: the same address within the hour, after a month, from two users",
        lambda log: (
            log.smtp(0, OTHER, "alice", ok=True),
            log.smtp(20 * MINUTE, OTHER, "alice", ok=True),
            log.smtp(2 * HOUR, OTHER, "bob", ok=True),
            log.smtp(45 * DAY, OTHER, "alice", ok=True),
            log.smtp(45 * DAY + 10 * MINUTE, OTHER, "Alice", ok=True),
        ),
        [_new("alice", OTHER), _new("bob", OTHER), _new("alice", OTHER)],
    ),
    Scenario(
        "user new country: France as usual, then Brazil",
        lambda log: (
            log.smtp(0, OTHER, "alice", ok=True, country="France"),
            log.smtp(10 * DAY, OTHER, "alice", ok=True, country="France"),
            log.smtp(10 * DAY + HOUR, ATTACKER, "alice", ok=True, country="Brazil"),
        ),
        [
            _new("alice", OTHER),
            _new("alice", ATTACKER),
            ("esa_smtp_auth_user_new_country", {"user": "alice", "src_country": "france"}),
            ("esa_smtp_auth_user_new_country", {"user": "alice", "src_country": "brazil"}),
        ],
    ),
]
