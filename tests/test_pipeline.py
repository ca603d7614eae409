"""The pipeline end to end: settings, wrapped lines, headers, time, bad input, ids, state."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, Optional, Tuple

import pytest
from conftest import MISSION_LOG, normalize
from esa_auth import ConfigError, Diagnostic, Normalizer, Settings, StateError, Stream, appliance_from_filename

Validate = Callable[[Iterable[Dict[str, Any]]], None]
UTC = Settings(tz="UTC")
E1 = "Mon Jun  3 12:00:{:02d} 2024 Info: "


def _lines(*bodies: str) -> bytes:
    """Native (E1) lines, one second apart, with a final newline."""
    return "".join(E1.format(i) + body + "\n" for i, body in enumerate(bodies)).encode("utf-8")


A4 = "User admin from 192.0.2.{} failed authentication."
C1 = "New SMTP ICID {} interface Data 1 (192.0.2.1) address 198.51.100.{} reverse dns host unknown verified no"
T1 = "SMTP Auth: (ICID {}) succeeded for user: alice using AUTH mechanism: PLAIN with profile: Corp"


# --- Cisco's published example (TAC note 118570), wrapped as published ------------------


def test_mission_gives_four_events_field_by_field(assert_valid: Validate) -> None:
    result = normalize(MISSION_LOG.read_bytes(), UTC, source="mission.log")
    assert result.messages == []
    assert len(result.events) == 4
    first, second, third, fourth = result.dicts
    assert_valid(result.dicts)

    common_inbound = {
        "activity": "authenticate", "app": "smtp", "direction": "inbound", "user": "ironport",
        "src": "172.16.155.102", "src_ip": "172.16.155.102", "dest": "172.16.155.16", "dest_ip": "172.16.155.16",
        "authentication_method": "PLAIN", "authentication_service": "IncomingAuthentication", "cleartext": True,
        "vendor": "Cisco", "vendor_product": "Cisco Secure Email Gateway",
    }  # fmt: skip
    for key, value in common_inbound.items():
        assert first[key] == value, key
        assert second[key] == value, key
    assert first["action"] == "success"
    assert first["icid"] == 450
    assert first["session_id"] == "450"
    assert first["dest_interface"] == "IncomingMail"
    assert first["time"] == "2009-04-22T11:44:48Z"
    assert first["signature_id"] == "ESA-T1"
    assert second["action"] == "failure"
    assert second["icid"] == 451
    assert second["dest_interface"] == "mail"
    assert second["time"] == "2009-04-22T11:47:47Z"
    assert second["signature_id"] == "ESA-T2"
    for event in (first, second):
        assert "src_host" not in event, "rDNS was not verified: no host name"
        assert "dcid" not in event
        assert event["tls"] is False

    common_outbound = {
        "activity": "authenticate", "app": "smtp", "direction": "outbound", "src": "172.16.155.16",
        "src_ip": "172.16.155.16", "dest": "172.16.155.102", "dest_ip": "172.16.155.102", "dest_port": 25,
        "authentication_service": "OutboundAuthentication",
    }  # fmt: skip
    for key, value in common_outbound.items():
        assert third[key] == value, key
        assert fourth[key] == value, key
    for event in (third, fourth):
        assert "user" not in event, "outbound AUTH logs no user name (the profile holds it)"
        assert "icid" not in event
    assert third["action"] == "success"
    assert third["dcid"] == 5633
    assert third["session_id"] == "5633"
    assert third["time"] == "2009-04-22T11:06:20Z"
    assert third["signature_id"] == "ESA-T10"
    assert fourth["action"] == "failure"
    assert fourth["dcid"] == 5640
    assert fourth["time"] == "2009-04-22T11:19:41Z"
    assert fourth["reply_code"] == "535"
    assert fourth["enhanced_status"] == "5.7.8"
    assert "authentication failed" in fourth["reason"]
    assert fourth["signature_id"] == "ESA-T11"
    # Wrapped lines are joined with one space, as one logical line.
    assert fourth["raw"].endswith("failed: ('535', ['5.7.8 Error: authentication failed: authentication failure'])")
    assert "\n" not in fourth["raw"]


def test_mission_bounce_is_not_an_event() -> None:
    result = normalize(MISSION_LOG.read_bytes(), UTC)
    assert not any("Bounced" in e.raw or "Relay access denied" in e.raw for e in result.events)
    assert result.stats["events"] == 4


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"tz": "Mars/Olympus_Mons"},
        {"tz": "+15:00"},
        {"tz": ""},
        {"year": 1969},
        {"year": 10000},
        {"max_sessions": 0},
        {"session_timeout": 0},
        {"session_timeout": -5.0},
        {"session_timeout": float("nan")},
        {"max_line_bytes": 255},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_bad_settings_raise_config_error(kwargs: Dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        Settings(**kwargs)


def test_blank_host_is_no_host() -> None:
    assert Settings(host="  ").host is None


# --- file header and time -------------------------------------------------------------------

HEADER = (
    "Wed Sep 17 15:16:25 2008 Info: Begin Logfile\n"
    "Wed Sep 17 15:16:25 2008 Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F\n"
    "Wed Sep 17 15:16:25 2008 Info: Time offset from UTC: -21600 seconds\n"
)


def test_header_offset_converts_to_utc_without_a_configured_zone() -> None:
    data = (HEADER + "Wed Sep 17 15:20:00 2008 Info: " + A4.format(10) + "\n").encode()
    result = normalize(data, Settings())
    # UTC = local - offset = 15:20 + 6 h.
    assert [e.time for e in result.events] == ["2008-09-17T21:20:00Z"]
    assert result.messages == []


def test_a_configured_zone_reads_the_lines_and_the_header_checks_it() -> None:
    """The zone's rules hold for every line (#20); a header it disagrees with is one warning, naming the file."""
    data = (HEADER + "Wed Sep 17 15:20:00 2008 Info: " + A4.format(10) + "\n").encode()
    result = normalize(data, Settings(tz="Asia/Tokyo"))
    assert [e.time for e in result.events] == ["2008-09-17T06:20:00Z"]  # 15:20 JST
    assert [(d.source, d.line) for d in result.diagnostics] == [("test.log", 4)]
    assert "disagrees with time zone Asia/Tokyo" in result.messages[0]
    agreeing = normalize(data, Settings(tz="America/Denver"))  # MDT is -21600 in September
    assert [e.time for e in agreeing.events] == ["2008-09-17T21:20:00Z"]
    assert agreeing.messages == []


def test_header_lines_before_the_offset_do_not_warn_about_the_zone() -> None:
    """Begin Logfile and Version come before the offset: they carry no event time to convert."""
    data = (HEADER + "Wed Sep 17 15:20:00 2008 Info: " + A4.format(10) + "\n").encode()
    result = normalize(data, Settings())
    assert result.messages == []


def test_version_and_serial_are_kept_as_metadata() -> None:
    data = (HEADER + "Wed Sep 17 15:20:00 2008 Info: " + A4.format(10) + "\n").encode()
    (event,) = normalize(data, UTC).events
    assert event.product_version == "15.0.0-104"
    assert event.dvc_serial == "4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F"


def test_no_offset_and_no_zone_warns_once_and_reads_utc() -> None:
    result = normalize(_lines(A4.format(1), A4.format(2), A4.format(3)), Settings(), source="a.log")
    assert [e.time for e in result.events] == ["2024-06-03T12:00:00Z", "2024-06-03T12:00:01Z", "2024-06-03T12:00:02Z"]
    assert len(result.diagnostics) == 1
    assert "no time zone configured" in result.diagnostics[0].message
    assert str(result.diagnostics[0]).startswith("a.log:1: ")


def test_configured_zone_applies_when_no_header() -> None:
    result = normalize(_lines(A4.format(1)), Settings(tz="Europe/Paris"))
    assert [e.time for e in result.events] == ["2024-06-03T10:00:00Z"]  # CEST is UTC+2
    assert result.messages == []


def test_syslog_year_from_reference_time_across_new_year() -> None:
    data = b"<22>Dec 31 23:59:59 esa01 mail_logs: Info: " + A4.format(1).encode() + b"\n"
    data += b"<22>Jan  1 00:00:01 esa01 mail_logs: Info: " + A4.format(2).encode() + b"\n"
    january = Settings(tz="UTC", reference_time=datetime(2025, 1, 1, 0, 5, tzinfo=timezone.utc))
    assert [e.time for e in normalize(data, january).events] == ["2024-12-31T23:59:59Z", "2025-01-01T00:00:01Z"]
    # A configured year wins over the inference.
    fixed = Settings(tz="UTC", year=2020, reference_time=datetime(2025, 1, 1, tzinfo=timezone.utc))
    assert [e.time for e in normalize(data, fixed).events] == ["2020-12-31T23:59:59Z", "2020-01-01T00:00:01Z"]


def test_syslog_without_year_or_reference_warns_once_and_leaves_time_out(assert_valid: Validate) -> None:
    data = b"".join(b"<22>Jun  3 12:00:0%d esa01 mail_logs: Info: %s\n" % (i, A4.format(i).encode()) for i in range(3))
    result = normalize(data, UTC)
    assert len(result.events) == 3
    assert all(e.time is None for e in result.events)
    assert len(result.diagnostics) == 1
    assert "no year" in result.diagnostics[0].message
    assert_valid(result.dicts)


# --- wrapped lines --------------------------------------------------------------------------


def test_wrapped_line_is_joined_and_held_back_until_the_next_line() -> None:
    normalizer = Normalizer(UTC)
    stream = Stream("w.log")
    assert normalizer.feed(stream, (E1.format(0) + "SMTP Auth: (ICID 5) succeeded for user: bob\n").encode()) == []
    assert normalizer.feed(stream, b"using AUTH mechanism: LOGIN with profile: Corp\n") == []
    (event,) = normalizer.feed(stream, (E1.format(1) + A4.format(9) + "\n").encode())
    assert event.user == "bob"
    assert event.authentication_service == "Corp"
    assert event.raw.endswith("succeeded for user: bob using AUTH mechanism: LOGIN with profile: Corp")
    (last,) = normalizer.flush(stream)
    assert last.src == "192.0.2.9"
    assert normalizer.flush(stream) == []


def test_end_reads_a_last_line_without_newline() -> None:
    data = _lines(A4.format(1)) + (E1.format(9) + A4.format(2)).encode()
    normalizer = Normalizer(UTC)
    stream = Stream("t.log")
    assert normalizer.feed(stream, data) == [], "the last complete line is held back (it may be wrapped)"
    assert [e.src for e in normalizer.end(stream)] == ["192.0.2.1", "192.0.2.2"]
    assert stream.offset == len(data)


def test_continuation_lines_that_do_not_fit_are_skipped_not_the_line() -> None:
    """Garbage after a complete line is read as its continuation; the line itself must survive."""
    data = _lines(A4.format(1)) + b"\x00\x01garbage \xff\xfe\n" + _lines(A4.format(2))
    result = normalize(data, UTC)
    assert [e.src for e in result.events] == ["192.0.2.1", "192.0.2.2"]
    assert result.events[0].raw.endswith("failed authentication.")
    assert any("continuation" in m for m in result.messages), result.messages


def test_stray_lines_before_the_first_envelope_are_warned_about() -> None:
    result = normalize(b"not a log line\n" + _lines(A4.format(1)), UTC, source="s.log")
    assert len(result.events) == 1
    assert str(result.diagnostics[0]).startswith("s.log:1: line does not start with an ESA log envelope")


def test_escape_sequence_before_an_envelope_loses_no_line() -> None:
    data = _lines(A4.format(1)) + b"\x1b[2J" + _lines(A4.format(2))
    result = normalize(data, UTC)
    assert [e.src for e in result.events] == ["192.0.2.1", "192.0.2.2"]


def test_continuation_after_flush_is_not_dropped_silently() -> None:
    normalizer = Normalizer(UTC)
    stream = Stream("f.log")
    normalizer.feed(stream, (E1.format(0) + "SMTP Auth: (ICID 5) succeeded for user: bob\n").encode())
    normalizer.flush(stream)
    normalizer.take_diagnostics()
    normalizer.feed(stream, b"using AUTH mechanism: LOGIN with profile: Corp\n")
    normalizer.end(stream)
    assert normalizer.take_diagnostics(), "a non-empty line vanished without a warning"


# --- bad input ------------------------------------------------------------------------------


def test_ten_megabyte_line_is_cut_with_a_warning_and_the_rest_is_read(assert_valid: Validate) -> None:
    huge = E1.format(1).encode() + b"SMTP Auth: (ICID 1) failed for user: " + b"A" * (10 * 1024 * 1024) + b"\n"
    data = _lines(A4.format(1)) + huge + _lines(A4.format(2))
    normalizer = Normalizer(UTC)
    stream = Stream("big.log")
    events = []
    for start in range(0, len(data), 1 << 20):  # fed in 1 MiB chunks, as the CLI reads
        events += normalizer.feed(stream, data[start : start + (1 << 20)])
        assert len(stream.partial) <= UTC.max_line_bytes, "memory must stay bounded by max_line_bytes"
    events += normalizer.end(stream)
    assert [e.src for e in events] == ["192.0.2.1", "192.0.2.2"]
    messages = [d.message for d in normalizer.take_diagnostics()]
    assert any(m.startswith(f"line of {len(huge) - 1} bytes cut to") for m in messages), messages
    assert all(len(m) < 300 for m in messages), "warnings quote at most a clip of the line"
    assert stream.offset == len(data)
    assert_valid(e.to_dict() for e in events)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (b"caf\xe9", "invalid UTF-8"),
        (b"nul\x00user", "control characters"),
        (b"\x1b[31mred\x1b[0m", "control characters"),
        (b"bell\x07", "control characters"),
        (b"\xed\xa0\x80surrogate", "invalid UTF-8"),
    ],
)
def test_damaged_bytes_are_replaced_and_warned(damage: bytes, expected: str, assert_valid: Validate) -> None:
    line = E1.format(0).encode() + b"SMTP Auth: (ICID 5) failed for user: " + damage
    line += b" using AUTH mechanism: PLAIN with profile: Corp\n"
    result = normalize(line, UTC)
    (event,) = result.events
    assert event.user is not None
    assert "\ufffd" in event.user
    assert any(expected in m for m in result.messages)
    assert_valid(result.dicts)
    json.dumps(result.dicts, ensure_ascii=False).encode("utf-8")


def test_huge_session_numbers_are_warned_about_not_a_crash(assert_valid: Validate) -> None:
    digits = "9" * 5000
    data = _lines(
        f"New SMTP ICID {digits} interface Data 1 (192.0.2.1) address 198.51.100.1",
        f"SMTP Auth: (ICID {digits}) succeeded for user: a using AUTH mechanism: PLAIN with profile: p",
        A4.format(1),
    )
    result = normalize(data, Settings(tz="UTC", max_line_bytes=64 * 1024))
    assert [e.src for e in result.events] == ["192.0.2.1"]
    assert any("unrecognised authentication line" in m for m in result.messages)


@pytest.mark.parametrize(
    ("header", "line", "zones"),
    [
        # A configured zone reads the lines (#20): the header's offset only where there is none.
        (
            "Fri Dec 31 23:59:59 9999 Info: Time offset from UTC: -86400 seconds",
            "Fri Dec 31 23:59:59 9999 Info: ",
            (None, "-05:00", "America/New_York"),
        ),
        (
            "Mon Jan  1 00:00:00 0001 Info: Time offset from UTC: 3600 seconds",
            "Mon Jan  1 00:00:00 0001 Info: ",
            (None, "UTC", "-05:00", "Pacific/Kiritimati"),
        ),
        ("Mon Jan  1 00:00:00 1969 Info: Begin Logfile", "Mon Jan  1 00:00:00 1969 Info: ", ("UTC", "-05:00")),
    ],
    ids=["after 9999", "year 1", "before 1970"],
)
def test_times_out_of_range_are_left_out_with_a_warning(
    header: str, line: str, zones: Tuple[Optional[str], ...], assert_valid: Validate
) -> None:
    data = (header + "\n" + line + A4.format(1) + "\n").encode()
    for settings in (Settings(tz=zone) for zone in zones):
        result = normalize(data, settings)
        (event,) = result.events
        assert event.time is None
        assert any("out of range" in m for m in result.messages), result.messages
        assert_valid(result.dicts)


@pytest.mark.parametrize("offset", ["86401", "-999999999", "+100000"])
def test_implausible_header_offset_is_ignored_with_a_warning(offset: str) -> None:
    data = f"Mon Jun  3 12:00:00 2024 Info: Time offset from UTC: {offset} seconds\n".encode() + _lines(A4.format(1))
    result = normalize(data, Settings(tz="+02:00"))
    assert [e.time for e in result.events] == ["2024-06-03T10:00:00Z"], "the configured zone applies"
    assert result.messages == [f"1: implausible 'Time offset from UTC' of {int(offset)} seconds; ignored"]


def test_unknown_auth_shape_gives_a_drift_warning() -> None:
    result = normalize(_lines("SMTP Auth: (ICID 5) succeeded for user: bob with mechanism PLAIN"), UTC)
    assert result.events == []
    assert result.messages == [
        "1: unrecognised authentication line; skipped: SMTP Auth: (ICID 5) succeeded for user: bob with mechanism PLAIN"
    ]
    assert result.stats["skipped"] == 1


def test_ordinary_mail_lines_are_skipped_silently() -> None:
    result = normalize(_lines("MID 1 ICID 2 From: <a@example.com>", "Message done DCID 5 MID 1 to RID [0]"), UTC)
    assert result.events == []
    assert result.messages == []
    assert result.stats == {"lines": 2, "events": 0, "context": 0, "skipped": 2, "warnings": 0, "evictions": 0}


def test_cef_lines_are_skipped() -> None:
    data = b"Wed Apr 22 11:44:48 2009: CEF:0|Cisco|C100V|15.0|ESA_CONSOLIDATED_LOG_EVENT|x|5|ESAICID=5\n"
    data += b"<22>Apr 22 11:44:49 esa01 consolidated_event_logs: Info: CEF:0|Cisco|C100V|15.0|x|y|5|suser=admin\n"
    result = normalize(data, UTC)
    assert result.events == []
    assert result.messages == []


# --- correlation through the pipeline -------------------------------------------------------


def test_sessions_are_shared_across_streams_of_one_normalizer() -> None:
    """A rotation: the open line is in the rolled file, the AUTH line in the new one."""
    normalizer = Normalizer(UTC)
    old, new = Stream("mail.@20240603T115959.s", appliance="esa01"), Stream("mail.current", appliance="esa01")
    normalizer.feed(old, _lines(C1.format(7, 70)))
    normalizer.end(old)
    (event,) = normalizer.feed(new, _lines(T1.format(7))) + normalizer.end(new)
    assert event.src == "198.51.100.70"
    assert event.dvc == "esa01"


def test_bounce_keeps_the_outbound_session_alive() -> None:
    """C9 lines are session context: they refresh the DCID session's activity time."""
    lines = (
        b"Mon Jun  3 12:00:00 2024 Info: New SMTP DCID 9 interface 192.0.2.1 address 203.0.113.9 port 25\n"
        b"Mon Jun  3 12:00:50 2024 Info: Delayed: DCID: 9 Message 77 to 0 - 4.7.0 Temporary failure\n"
        b"Mon Jun  3 12:01:40 2024 Info: DCID: 9 IP: 203.0.113.9 SMTP authentication using the profile p succeeded.\n"
    )
    (event,) = normalize(lines, Settings(tz="UTC", session_timeout=60)).events
    assert event.src == "192.0.2.1"
    assert event.mid == 77


def test_look_alike_of_outbound_auth_is_no_event() -> None:
    result = normalize(_lines("Connection Error: DCID: 12 IP: 192.0.2.7 details: timeout"), UTC)
    assert result.events == []
    assert result.messages == []


# --- one event per login and per logout (#15) -----------------------------------------------------


AUDIT = "Appliance: esa01, Interaction Mode: GUI, User: jdoe, Role: Operator, Source IP: 192.0.2.10, Event: {}"


def test_audit_login_and_logout_are_one_event_each() -> None:
    result = normalize(
        _lines(AUDIT.format("Successful login"), AUDIT.format("Session established successfully"),
               AUDIT.format("User logged out"), AUDIT.format("Session terminated")),
        UTC,
    )  # fmt: skip
    assert [(e.activity, e.signature_id, e.reason) for e in result.events] == [
        ("logon", "ESA-U1", None), ("logoff", "ESA-U3", "logout"),
    ]  # fmt: skip
    assert result.messages == [], "the session lines are known forms: no drift warning"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("CLI: User admin logged out from 192.0.2.10 because of inactivity timeout", "inactivity timeout"),
        ("GUI: User admin logged out from session k3Jd9 because of inactivity timeout", "inactivity timeout"),
        ("PID 4242: User admin logged out from session because of inactivity timeout.", "inactivity timeout"),
        ("Action: User admin logged out from session k3Jd9 beacuse of inactivity timeout", "inactivity timeout"),
        ("Session k3Jd9 user:admin expired", "session expired"),
        ("logout:192.0.2.10 user:admin session:k3Jd9", "logout"),
        ("User admin logged out of SSH session 192.0.2.10", "logout"),
        ("User admin logged out of GUI session", "logout"),
        ("User - logged out from Spam Quarantine", "logout"),
    ],
)
def test_logoff_carries_its_cause(body: str, reason: str) -> None:
    (event,) = normalize(_lines(body), UTC).events
    assert (event.activity, event.action, event.reason) == ("logoff", "success", reason)


# --- ids and determinism --------------------------------------------------------------------


def test_event_id_is_the_serial_the_offset_and_the_line() -> None:
    data = _lines(A4.format(1), A4.format(1))
    one = normalize(data, UTC, source="x.log")
    two = normalize(data, UTC, source="x.log")
    assert [e.event_id for e in one.events] == [e.event_id for e in two.events]
    assert one.events[0].raw[-40:] == one.events[1].raw[-40:]
    assert one.events[0].event_id != one.events[1].event_id, "same text at another position is another event"
    # Neither the name nor the key the reader is given (#17): a copy, an archive or a re-read keeps the ids.
    renamed = normalize(data, UTC, source="y.log", key="z.log")
    assert [e.event_id for e in renamed.events] == [e.event_id for e in one.events]
    # Another appliance (the serial of the file header) is another event, at the same offset.
    header = "Mon Jun  3 11:59:59 2024 Info: Version: 15.0.0-104 SN: {}\n"
    first = normalize(header.format("AAAA-1").encode() + data, UTC, source="x.log")
    second = normalize(header.format("BBBB-2").encode() + data, UTC, source="x.log")
    assert [e.dvc_serial for e in first.events + second.events] == ["AAAA-1"] * 2 + ["BBBB-2"] * 2
    assert {e.event_id for e in first.events}.isdisjoint(e.event_id for e in second.events)


def test_events_are_immutable() -> None:
    (event,) = normalize(_lines(A4.format(1)), UTC).events
    with pytest.raises(AttributeError):
        event.user = "mallory"  # type: ignore[misc]


# --- files and state ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("authentication.esa01.example.com.@20220401T070622.s", "esa01.example.com"),
        ("mail_logs.esa02.@20220401T070622.c", "esa02"),
        ("mail.esa03.example.com.current", "esa03.example.com"),
        ("mail.@20220401T070622.s", None),
        ("mail.current", None),
        ("random.txt", None),
        # Any stamp the appliance or a collector writes (#15).
        ("mail_logs.esa01.@1648796782.s", "esa01"),
        ("authentication.esa-02.example.com.@1648796782.c", "esa-02.example.com"),
        ("gui_logs.esa01.example.com.@20220401T070622.current", "esa01.example.com"),
        ("mail_logs_SIEM.ESA_3.@0.s", "ESA_3"),
        # Names that merely look like one.
        ("mail.@1648796782.s", None),
        ("mail.2024.current", None),
        ("mail.10.0.0.1.@1648796782.s", None),
        ("mail.esa01.@20220401T070622.s.gz", None),
        ("mail.esa01.20220401T070622.s", None),
        ("mail.esa01.@2022-04-01.s", None),
        ("mail.esa01.@20220401T070622.x", None),
        ("mail.esa01..@1648796782.s", None),
        ("mail.-esa01.@1648796782.s", None),
        ("my notes.esa01.current", None),
        ("mail.esa01.@1648796782.s\n", None),
        (".esa01.current", None),
    ],
)
def test_appliance_from_filename(name: str, expected: Any) -> None:
    assert appliance_from_filename(name) == expected


def test_stream_state_round_trips_through_json() -> None:
    normalizer = Normalizer(UTC)
    stream = Stream("a.log", key="k", appliance="esa01")
    normalizer.feed(stream, HEADER.encode() + b"Wed Sep 17 15:20:00 2008 Info: partial li")
    normalizer.flush(stream)
    copy = Stream.from_state(json.loads(json.dumps(stream.to_state())))
    assert copy.to_state() == stream.to_state()
    assert (copy.utc_offset, copy.version) == (-21600, "15.0.0-104")
    assert copy.partial == b"Wed Sep 17 15:20:00 2008 Info: partial li"


@pytest.mark.parametrize(
    "state",
    [
        {}, {"source": "a"}, {"source": "a", "key": "a", "offset": "x", "line": 0, "partial": "", "started": True},
        # Names are text: a number would reach the session keys (and the compiled loop refuses it).
        {"source": "a", "key": "a", "offset": 0, "line": 0, "partial": "", "started": True, "serial": 5},
        {"source": "a", "key": "a", "offset": 0, "line": 0, "partial": "", "started": True, "appliance": ["x"]},
        ["not", "a", "mapping"],
    ],
)  # fmt: skip
def test_damaged_stream_state_raises_state_error(state: Dict[str, Any]) -> None:
    with pytest.raises(StateError):
        Stream.from_state(state)


@pytest.mark.parametrize("state", [{}, {"version": 99, "sessions": {}}, {"version": 1, "sessions": {"version": 7}}])
def test_damaged_normalizer_state_raises_state_error(state: Dict[str, Any]) -> None:
    with pytest.raises(StateError):
        Normalizer(UTC, state=state)


def test_open_sessions_survive_a_state_round_trip() -> None:
    first = Normalizer(UTC)
    stream = Stream("a.log")
    first.feed(stream, _lines(C1.format(7, 70)))
    first.flush(stream)
    saved = json.loads(json.dumps(first.state()))
    second = Normalizer(UTC, state=saved)
    (event,) = second.feed(stream, _lines(T1.format(7))) + second.end(stream)
    assert event.src == "198.51.100.70"


def test_stats_count_every_line() -> None:
    data = _lines(C1.format(7, 70), T1.format(7), "MID 1 ICID 7 From: <a@b>", "SMTP Auth: (ICID 7) junk")
    stats = normalize(b"stray\n" + data, UTC).stats
    assert stats == {"lines": 5, "events": 1, "context": 1, "skipped": 3, "warnings": 2, "evictions": 0}


def test_diagnostic_renders_file_line_message() -> None:
    assert str(Diagnostic("/var/log/mail.current", 12, "something odd")) == "/var/log/mail.current:12: something odd"


def test_take_diagnostics_empties_the_list() -> None:
    normalizer = Normalizer()
    stream = Stream("a.log")
    normalizer.feed(stream, _lines(A4.format(1)))
    normalizer.end(stream)
    assert len(normalizer.take_diagnostics()) == 1
    assert normalizer.take_diagnostics() == []


def test_output_fields_are_never_empty_or_placeholders(assert_valid: Validate) -> None:
    """Unknown fields are left out, never '', '-', 'unknown' (DESIGN, schema contract)."""
    data = _lines(
        "User - logged out from Spam Quarantine",
        "New SMTP ICID 3 interface  (192.0.2.1) address 198.51.100.3 reverse dns host unknown verified yes",
        "ICID 3 ACCEPT SG None match ALL SBRS None",
        T1.format(3),
    )
    result = normalize(data, UTC)
    assert_valid(result.dicts)
    for event in result.dicts:
        for key, value in event.items():
            assert value not in ("", "-", "unknown", "None", None), key
    quarantine, smtp = result.events
    assert quarantine.user is None
    assert smtp.src_host is None
    assert smtp.sender_group is None
    assert smtp.sbrs is None


def test_a_cut_last_line_warns_before_the_line_before_it_is_read() -> None:
    """Blocks and single lines give the same warnings in the same order when a block's last line is cut."""
    line = "Wed Apr 22 11:44:48 2009 Info: SMTP Auth: (ICID 450) succeeded for user: ironport using AUTH mechanism: " \
        "PLAIN with profile: IncomingAuthentication"  # fmt: skip
    data = (line + "\n" + line + line + "\n").encode()
    settings = Settings(max_line_bytes=256)
    whole = normalize(data, settings)
    single = normalize(data, settings, chunks=[len(line) + 1])
    assert whole.messages == single.messages
    assert [m.split(":")[0] for m in whole.messages] == ["2", "1"]  # the cut (line 2), then the zone (line 1)
