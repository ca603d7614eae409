"""Envelopes E1-E11 (docs/log-formats.md#envelopes): finding the body, reading the prefix."""

from __future__ import annotations

from typing import List, Optional, Tuple

import pytest
from esa_auth.envelope import Prefixes, body_start, parse_prefix, starts_envelope
from hypothesis import given
from hypothesis import strategies as st

BODY = "SMTP Auth: (ICID 30) succeeded for user: alice using AUTH mechanism: PLAIN with profile: Corp"

# (id, line prefix, form, month, day, hms, year, host, log name, level)
ENVELOPES = [
    ("E1", "Wed Apr 22 11:44:48 2009 Info: ", "E1", 4, 22, "11:44:48", 2009, None, None, "Info"),
    ("E1 padded day", "Wed Apr  1 11:44:48 2009 Info: ", "E1", 4, 1, "11:44:48", 2009, None, None, "Info"),
    ("E1b", "Tue Apr 6 14:38:34 2004 Info: ", "E1", 4, 6, "14:38:34", 2004, None, None, "Info"),
    ("E2", "<166>Mar 17 18:31:14 mail_logs: Info: ", "E2", 3, 17, "18:31:14", None, None, "mail_logs", "Info"),
    ("E3", "<22>Nov 24 14:22:57 esa01.example.com mail_logs: Info: ", "E3", 11, 24, "14:22:57", None,
     "esa01.example.com", "mail_logs", "Info"),
    ("E3 two spaces, mapped IPv6 host", "<22>Nov 24 14:22:57  ::ffff:192.0.2.1 mail_logs: Warning: ", "E3", 11, 24,
     "14:22:57", None, "::ffff:192.0.2.1", "mail_logs", "Warning"),
    ("E4", "<14>Jun 4 15:45:37 esa01.example.com Info: ", "E4", 6, 4, "15:45:37", None, "esa01.example.com", None,
     "Info"),
    ("E5", "Jun 26 10:42:23 esa01 mail_logs: Info: ", "E5", 6, 26, "10:42:23", None, "esa01", "mail_logs", "Info"),
    ("E6", "Oct 19 06:33:29 2011 esa01 syslog_mail: Info: ", "E6", 10, 19, "06:33:29", 2011, "esa01", "syslog_mail",
     "Info"),
    ("E7", "Nov 24 00:06:25 esa01.example.com Info: ", "E7", 11, 24, "00:06:25", None, "esa01.example.com", None,
     "Info"),
    ("E7 IPv4 host", "Nov 24 00:06:25 192.0.2.1 Critical: ", "E7", 11, 24, "00:06:25", None, "192.0.2.1", None,
     "Critical"),
    ("E8", "Oct 20 16:11:05 192.0.2.9 Original Address=192.0.2.10 Oct 20 16:11:05 esa_maillog: Info: ", "E8", 10,
     20, "16:11:05", None, "192.0.2.10", "esa_maillog", "Info"),
    ("E9", "<22>May  5 05:05:05 esa01 MAIL_SecurityAudit: Debug: ", "E3", 5, 5, "05:05:05", None, "esa01",
     "MAIL_SecurityAudit", "Debug"),
    ("E9 lower-case level", "May  5 05:05:05 esa01 sc4s_mail_logs: trace: ", "E5", 5, 5, "05:05:05", None, "esa01",
     "sc4s_mail_logs", "trace"),
    ("E10", "Info: ", "E10", 0, 0, "", None, None, None, "Info"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("prefix", "form", "month", "day", "hms", "year", "host", "log_name", "level"),
    [pytest.param(*row[1:], id=row[0]) for row in ENVELOPES],
)
def test_envelope_is_read(
    prefix: str,
    form: str,
    month: int,
    day: int,
    hms: str,
    year: Optional[int],
    host: Optional[str],
    log_name: Optional[str],
    level: str,
) -> None:
    line = (prefix + BODY).encode()
    start = body_start(line)
    assert line[start:].decode() == BODY
    assert starts_envelope(line)
    envelope = parse_prefix(line[:start].decode().rstrip())
    assert envelope is not None
    assert (envelope.form, envelope.month, envelope.day, envelope.hms, envelope.year) == (form, month, day, hms, year)
    assert (envelope.host, envelope.log_name, envelope.level) == (host, log_name, level)


@pytest.mark.parametrize(
    ("prefix", "time_text"),
    [
        pytest.param("Wed Apr  1 11:44:48 2009 Info:", "Wed Apr  1 11:44:48 2009", id="E1, padded day kept"),
        pytest.param("<166>Mar 17 18:31:14 mail_logs: Info:", "Mar 17 18:31:14", id="E2"),
        pytest.param("<22>Nov 24 14:22:57 esa01.example.com mail_logs: Info:", "Nov 24 14:22:57", id="E3"),
        pytest.param("Oct 19 06:33:29 2011 esa01 syslog_mail: Info:", "Oct 19 06:33:29 2011", id="E6 with its year"),
        pytest.param(
            "Oct 20 16:11:05 192.0.2.9 Original Address=192.0.2.10 Oct 20 16:11:05 esa_maillog: Info:",
            "Oct 20 16:11:05",
            id="E8: the time that is read",
        ),
        pytest.param("Info:", "", id="E10: none"),
    ],
)
def test_time_text_is_the_time_as_written(prefix: str, time_text: str) -> None:
    envelope = parse_prefix(prefix)
    assert envelope is not None
    assert envelope.time_text == time_text


def test_double_space_after_the_level_is_not_part_of_the_body() -> None:
    line = b"Wed Apr 22 11:44:48 2009 Info:  " + BODY.encode()
    assert line[body_start(line) :] == BODY.encode()


def test_body_colons_do_not_confuse_the_level() -> None:
    """The level is the first known word before ': '; the body has colons of its own."""
    line = b"<22>Nov 24 14:22:57 esa01 mail_logs: Info: Time offset from UTC: 3600 seconds"
    assert line[body_start(line) :] == b"Time offset from UTC: 3600 seconds"


@pytest.mark.parametrize(
    "line",
    [
        b"Wed Apr 22 11:44:48 2009: CEF:0|Cisco|C100V Email Security Virtual Appliance|15.0|ESA|x|5|ESAICID=5",
        b"Wed Apr 22 11:44:48 2009 Notice: something",
        b"Wed Apr 22 11:44:48 2009 Info:",
        b"",
    ],
    ids=["E11 file form", "unknown level", "no space after level", "empty"],
)
def test_no_body_without_a_known_level(line: bytes) -> None:
    assert body_start(line) == -1


def test_cef_with_a_syslog_envelope_has_a_body_no_template_takes() -> None:
    line = b"<22>Apr 22 11:44:49 esa01 consolidated_event_logs: Info: CEF:0|Cisco|C100V|15.0|x|y|5|suser=admin"
    assert line[body_start(line) :].startswith(b"CEF:0|")


@pytest.mark.parametrize(
    ("line", "opens"),
    [
        (b"Wed Apr 22 11:44:48 2009 Info: x", True),
        (b"<22>Nov 24 14:22:57 esa01 mail_logs: Info: x", True),
        (b"Nov 24 00:06:25 esa01 Info: x", True),
        (b"Info: x", True),
        (b"Warning: x", True),
        (b"address 172.16.155.102 reverse dns host unknown verified no", False),
        (b"using AUTH mechanism: PLAIN with profile: IncomingAuthentication", False),
        (b"the profile OutboundAuthentication succeeded.", False),
        (b"failed: authentication failure'])", False),
        (b"<not a pri", False),
        (b"", False),
    ],
)
def test_starts_envelope_tells_wrapped_lines(line: bytes, opens: bool) -> None:
    """Continuation lines of Cisco's published example must not look like new lines."""
    assert starts_envelope(line) is opens


@pytest.mark.parametrize(
    "prefix",
    ["Wed Apx 22 11:44:48 2009 Info:", "Wed Apr 22 11:44 2009 Info:", "<22>Nov 24 14:22:57 a b c d: Info:", "Noise:"],
)
def test_unreadable_prefixes_give_none(prefix: str) -> None:
    assert parse_prefix(prefix) is None


def _with_time(prefix: str, hms: str) -> str:
    """The envelope text with its first ``HH:MM:SS`` replaced."""
    at = next(i for i in range(len(prefix) - 7) if prefix[i + 2] == ":" and prefix[i + 5] == ":")
    return prefix[:at] + hms + prefix[at + 8 :]


#: Times that are and are not read as one (a form reads \d, any decimal digit, "٣" too).
TIMES = ("11:44:49", "00:00:00", "23:59:59", "99:99:99", "٠١:٠٢:٠٣", "1a:00:00", "11:4400", "11:44:4", "11 44 48")


@pytest.mark.parametrize("row", ENVELOPES, ids=[row[0] for row in ENVELOPES])
def test_an_envelope_that_differs_in_its_time_only_is_read_as_its_text_says(row: tuple) -> None:  # type: ignore[type-arg]
    # Prefixes reads such a text from the last one read (a quiet appliance: a new second each line).
    prefix = row[1].rstrip()
    prefixes = Prefixes()
    texts = [prefix] + ([_with_time(prefix, hms) for hms in TIMES] if row[5] else []) + [prefix]
    # E8 names a second time (the relay's); changing it is a new text, read in full.
    if row[0] == "E8":
        texts.append(prefix.replace("Oct 20 16:11:05 esa", "Oct 20 16:11:06 esa"))
    for text in texts:
        assert prefixes.read(text) == parse_prefix(text), text
    # The same envelope in a new second is taken for it (its body not looked for again), another one is not.
    prefixes = Prefixes()
    assert prefixes.read(prefix) is not None
    line = (_with_time(prefix, "10:11:12") if row[5] else prefix) + " " + BODY
    assert prefixes.retimed(line, 0, len(prefix)) is bool(row[5])
    assert not prefixes.retimed(line.swapcase(), 0, len(prefix))


@given(
    st.lists(
        st.tuples(
            st.sampled_from([row[1].rstrip() for row in ENVELOPES if row[5]]),
            st.text(alphabet="0123456789:a ٣", min_size=8, max_size=8),
        ),
        max_size=30,
    )
)
def test_envelopes_read_one_after_the_other_are_read_as_each_alone(texts: List[Tuple[str, str]]) -> None:
    prefixes = Prefixes()
    for prefix, hms in texts:
        text = _with_time(prefix, hms)
        assert prefixes.read(text) == parse_prefix(text), text


@given(
    st.lists(
        st.tuples(
            st.sampled_from([row[1] for row in ENVELOPES if row[5]]),
            st.text(alphabet="0123456789:a ٣", min_size=8, max_size=8),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_a_line_the_reader_takes_as_a_new_second_has_its_body_where_body_start_finds_it(
    lines: List[Tuple[str, str]],
) -> None:
    # The reader skips body_start for such a line (Prefixes.retimed): the body must start where the
    # envelope it was taken for ends.
    prefixes = Prefixes()
    for prefix, hms in lines:
        line = _with_time(prefix, hms) + BODY
        found = body_start(line)
        taken = prefixes.retimed(line, 0, len(prefix))
        if taken:
            assert found == len(prefix), line
        if found > 0:
            prefixes.read(line[:found])
