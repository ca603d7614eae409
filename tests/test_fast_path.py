"""The fast paths of the reading loop read exactly like the full way.

``Normalizer._lines`` reads blocks whose every line opens a log line with one
scan; session lines in their usual form (``_FAST_FORMS``) are applied to the
session table there and parsed lazily. ``Normalizer._each_line`` (taken when
``all_envelopes`` says no) reads every line the full way: decode, template,
session fields at once. Generated documents full of session lines, their odd
variants and the authentication lines that use them are read both ways, in
random chunks, with a checkpoint in the middle: everything a caller sees must
be the same (events of each call, warnings, counters, stream and saved state).
"""

from __future__ import annotations

from typing import Any, List, Tuple, Union

import pytest
from esa_auth import Normalizer, Settings, Stream, pipeline
from esa_auth.events import AuthEvent, cim_text
from esa_auth.sessions import INBOUND, OUTBOUND
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# A few seconds of one appliance (E1) and of two syslog hosts (E3): sessions
# are keyed by appliance, and a change of second changes the envelope.
ENVELOPES = (
    b"Mon Mar  4 07:00:00 2024 Info: ",
    b"Mon Mar  4 07:00:01 2024 Info: ",
    b"Mon Mar  4 07:00:02 2024 Info: ",
    b"Mon Mar  4 07:00:03 2024 Info: ",
    b"Mon Mar  4 07:59:59 2024 Info: ",
    b"Mon Mar  4 07:00:01 2024 Info:  ",
    b"<22>Mar  4 07:00:02 esa01.example.com mail_logs: Info: ",
    b"<22>Mar  4 07:00:02 esa02.example.com mail_logs: Info: ",
    b"Info: ",
    # An impossible date warns each time its envelope is read: the order of warnings is tested too.
    b"Mon Feb 30 07:00:01 2024 Info: ",
)

# Session lines (catalogue section 5) in their usual form and in the forms the
# templates also accept or refuse: odd case, double and trailing spaces, other
# bytes, a missing part. "{n}" is an ICID or DCID, "{m}" a MID.
SESSION_LINES = (
    b"New SMTP ICID {n} interface IncomingMail (192.0.2.10) address 198.51.100.{n} reverse dns host mx.example.net"
    b" verified yes",
    b"New SMTP ICID {n} interface Data 1 (192.0.2.1) address 198.51.100.7 reverse dns host unknown verified no",
    b"New SMTP ICID {n} interface Management address 10.1.1.1",
    # Addresses that are no dotted quad (src_ip is left out), or one in another form.
    b"New SMTP ICID {n} interface In (010.0.0.1) address 256.1.1.{n}",
    b"New SMTP ICID {n} interface In (192.0.2.1) address 1.2.3",
    b"New SMTP ICID {n} interface In (::1) address 2001:db8::{n}",
    b"New SMTP ICID {n} interface In (192.0.2.1) address mx{n}.example.net",
    b"New SMTP ICID {n} interface In (192.0.2.1) address 1.2.3.4.5",
    b"New SMTP ICID {n} interface In (192.0.2.1)  address 198.51.100.7 reverse dns host a verified yes",
    b"New smtp ICID {n} interface In (192.0.2.1) address 198.51.100.7 reverse dns host a verified YES",
    b"New SMTP ICID {n} interface In (192.0.2.1) address 198.51.100.7 reverse dns host caf\xc3\xa9 verified yes",
    b"New SMTP ICID {n} interface In (192.0.2.1) address",
    b"New SMTP ICID {n} garbage",
    b"ICID {n} ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS 3.6 country Netherlands",
    b"ICID {n} RELAY SG RELAYLIST match 10.0.0.0/8 SBRS None",
    b"ICID {n} ACCEPT SG  match  SBRS not enabled",
    b"ICID {n} REJECT SG BLOCKLIST match",
    b"ICID {n} ACCEPT SG X matchY",
    b"ICID {n} accept SG X match ALL SBRS 1.0",
    b"ICID {n} TLS success protocol TLSv1.2 cipher AES128-SHA",
    b"ICID {n} TLS successful",
    b"ICID {n} TLS success protocol\tTLSv1.3 cipher X",
    b"ICID {n} TLS failed: (336151574, 'error:14094416:SSL routines')",
    b"ICID {n} close",
    b"ICID {n} lost",
    b"ICID {n} close ",
    b"ICID {n} Close",
    b"Start MID {m} ICID {n}",
    b"Start MID {m} ICID {n} ",
    b"New SMTP DCID {n} interface 192.0.2.1 address 203.0.113.9 port 25",
    b"New SMTP DCID {n} interface 192.0.2.1 address 203.0.113.9 port 99999",
    b"New SMTP DCID {n} interface 192.0.2.1 address 203.0.113.9",
    b"New SMTP DCID {n} interface 192.0.2.1  address 203.0.113.9",
    b"DCID {n} TLS success protocol TLSv1.2 cipher AES128-SHA",
    b"DCID {n} TLS failed",
    b"Delivery start DCID {n} MID {m} to RID [0]",
    b"Delivery start DCID {n} MID 1234567890123456789012",
    b"DCID {n} close",
    b"Bounced: DCID {n} MID {m} to RID 0 - Bounced by destination server",
    b"ICID 1234567890123456789 close",
)
# Authentication lines: the usual forms of T1, T2 and T10 (which the compiled loop
# writes as text for feed_text), with the JSON metacharacters a user may hold,
# and forms it leaves to Python (spaces, no colon, too many digits).
AUTH_LINES = (
    b"SMTP Auth: (ICID {n}) succeeded for user: bob using AUTH mechanism: PLAIN with profile: Corp",
    b"SMTP Auth: (ICID {n}) failed for user: j doe using AUTH mechanism: LOGIN with profile: Corp",
    b"SMTP Auth: (ICID {n}) failed for user: bob using AUTH mechanism: login with profile: Corp Auth",
    b'SMTP Auth: (ICID {n}) succeeded for user: a"b\\c\\u0041</x> using AUTH mechanism: CRAM-MD5 with profile: P',
    b"SMTP Auth: (ICID {n}) failed for user: - using AUTH mechanism: PLAIN with profile: Corp",
    b"SMTP Auth: (ICID 00{n}) failed for user: bob using AUTH mechanism: PLAIN with profile: Corp ",
    b"SMTP Auth: (ICID {n}) failed for user:  bob using AUTH mechanism: PLAIN with profile: Corp",
    b"SMTP Auth (ICID {n}) failed for user: bob using AUTH mechanism: PLAIN with profile: Corp",
    b"SMTP Auth: (ICID 1234567890123456789) failed for user: bob using AUTH mechanism: PLAIN with profile: C",
    b"DCID: {n} IP: 203.0.113.9 SMTP authentication using the profile Out succeeded.",
    b"DCID: 0{n} IP: smarthost.example.com SMTP authentication using the profile Out succeeded.",
    b"DCID: {n} IP: 203.0.113.9 SMTP authentication using the profile Out Auth succeeded.",
    b"DCID: {n} IP: 203.0.113.9 SMTP authentication using the profile Out succeeded",
    b"DCID: {n} IP: 203.0.113.9 SMTP authentication using the profile Out failed: ('535', ['5.7.8 Error'])",
)
OTHER_LINES = (
    b"MID {m} ICID {n} From: <a@example.com>",
    b"Message done DCID {n} MID {m} to RID [0]",
    b"Version: 15.0.0-104 SN: 4229A1B2C3D4",
    b"Time offset from UTC: 3600 seconds",
)


@st.composite
def documents(draw: Any) -> bytes:
    """A log of interleaved sessions: few ICIDs/DCIDs, so lines meet their sessions.

    The envelope changes now and then, as time goes by in a real log: the fast
    path only takes lines of the envelope of the line found before them.
    """
    lines: List[bytes] = []
    envelope = draw(st.sampled_from(ENVELOPES))
    for _ in range(draw(st.integers(1, 80))):
        template = draw(
            st.one_of(
                st.sampled_from(SESSION_LINES),
                st.sampled_from(SESSION_LINES),
                st.sampled_from(AUTH_LINES),
                st.sampled_from(OTHER_LINES),
            )
        )
        body = template.replace(b"{n}", str(draw(st.integers(1, 4))).encode())
        body = body.replace(b"{m}", str(draw(st.integers(1, 9))).encode())
        if draw(st.integers(0, 7)) == 0:
            envelope = draw(st.sampled_from(ENVELOPES))
        ending = draw(st.sampled_from((b"\n", b"\n", b"\n", b"\r\n")))
        lines.append(envelope + body + ending)
    return b"".join(lines)


def _read(data: bytes, chunks: List[int], config: Settings, checkpoint: int, text: bool = False) -> List[Any]:
    """What a caller sees reading ``data`` in ``chunks``, with a checkpoint after chunk ``checkpoint``.

    ``text``: read with ``Normalizer.feed_text`` and see every event as the
    command line writes it (CIM JSON text), else as its ``to_dict()``.
    """
    normalizer = Normalizer(config)
    stream = Stream("input")
    seen: List[Any] = []
    feed = normalizer.feed_text if text else normalizer.feed
    start = 0
    for index, size in enumerate([*chunks, len(data)]):
        block = data[start : start + size]
        start += size
        if not block:
            continue
        seen.append([_seen(event, text) for event in feed(stream, block)])
        if index == checkpoint:
            # A checkpoint: flush, save, and go on with a new normalizer from the saved state.
            seen.append([event.to_dict() for event in normalizer.flush(stream)])
            state, stream_state = normalizer.state(), stream.to_state()
            seen.append((state, stream_state))
            stats = normalizer.stats_dict()
            diagnostics = normalizer.take_diagnostics()
            seen.append([str(d) for d in diagnostics])
            normalizer = Normalizer(config, state=state)
            feed = normalizer.feed_text if text else normalizer.feed
            stream = Stream.from_state(stream_state)
            seen.append(stats)
        seen.append([str(d) for d in normalizer.take_diagnostics()])
        seen.append(stream.to_state())
    seen.append([event.to_dict() for event in normalizer.end(stream)])
    seen.append([str(d) for d in normalizer.take_diagnostics()])
    seen.append((stream.to_state(), normalizer.stats_dict(), normalizer.state()))
    return seen


def _seen(event: Union[AuthEvent, str], text: bool) -> Any:
    if not text:
        assert isinstance(event, AuthEvent), "feed() gives event objects only"
        return event.to_dict()
    # The command line's CIM output (cli.cmd_normalize).
    return cim_text(event)


def read_as_text(data: bytes, chunks: List[int], config: Settings, checkpoint: int) -> Tuple[List[Any], List[Any]]:
    """:func:`_read` with ``feed_text``, by the compiled loop (usual events come as text) and by the Python loop."""
    compiled = _read(data, chunks, config, checkpoint, text=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_speedups", None)
        python = _read(data, chunks, config, checkpoint, text=True)
    return compiled, python


def read_three_ways(
    data: bytes, chunks: List[int], config: Settings, checkpoint: int
) -> Tuple[List[Any], List[Any], List[Any]]:
    """What :func:`_read` sees with the compiled loop (when built), the Python loop and the full way.

    The full way reads every line decoded and matched: no block is taken as all envelopes.
    (tests/test_speedups.py checks that the compiled loop is built.)
    """
    assert pipeline.compiled_loop() == (pipeline._built is not None), "the compiled loop was left turned off"
    compiled = _read(data, chunks, config, checkpoint)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_speedups", None)
        python = _read(data, chunks, config, checkpoint)
        patch.setattr(pipeline, "all_envelopes", lambda buf, end: False)
        full = _read(data, chunks, config, checkpoint)
    return compiled, python, full


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=documents(),
    chunks=st.lists(st.integers(1, 400), max_size=6),
    checkpoint=st.integers(-1, 6),
    max_sessions=st.sampled_from([2, 100]),
    timeout=st.sampled_from([1.0, 3600.0]),
    limit=st.sampled_from([256, 65536]),
)
def test_fast_paths_read_like_the_full_way(
    data: bytes, chunks: List[int], checkpoint: int, max_sessions: int, timeout: float, limit: int
) -> None:
    config = Settings(tz="UTC", max_sessions=max_sessions, session_timeout=timeout, max_line_bytes=limit)
    compiled, fast, full = read_three_ways(data, chunks, config, checkpoint)
    assert fast == full
    assert compiled == full
    compiled_text, python_text = read_as_text(data, chunks, config, checkpoint)
    assert compiled_text == python_text


E1 = "Mon Mar  4 07:00:00 2024 Info: "
C1 = (
    "New SMTP ICID 7 interface IncomingMail (192.0.2.10) address 198.51.100.7 reverse dns host mx.example.net"
    " verified yes"
)
C2 = "ICID 7 ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS 3.6 country Netherlands"
C4 = "ICID 7 TLS success protocol TLSv1.2 cipher AES128-SHA"
T1 = "SMTP Auth: (ICID 7) succeeded for user: bob using AUTH mechanism: PLAIN with profile: Corp"
MID = "MID 1 ICID 7 From: <a@example.com>"


def _doc(*bodies: str) -> bytes:
    return "".join(E1 + body + "\n" for body in bodies).encode()


def test_usual_session_lines_are_kept_unparsed_until_an_event_needs_them() -> None:
    """The fast forms are used (else the property above compares the full way with itself)."""
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream("f.log")
    # The first line found with an envelope takes the full way (its envelope is read then).
    normalizer.feed(stream, _doc("ICID 99 close", C1, C2, C4, MID))
    session = normalizer.sessions.get(("", INBOUND, 7), None)
    assert session is not None
    assert (session.raw_open, session.raw_verdict, session.raw_tls) == (C1.encode(), C2.encode(), C4.encode())
    assert session.client_ip is None, "parsed only when needed"
    (event,) = normalizer.feed(stream, _doc(T1, MID))
    assert (event.src, event.src_host, event.dest, event.listener) == (
        "198.51.100.7", "mx.example.net", "192.0.2.10", "IncomingMail"
    )  # fmt: skip
    assert (event.sender_group, event.sbrs, event.tls, event.tls_protocol, event.cleartext) == (
        "UNKNOWNLIST", 3.6, True, "TLSv1.2", False
    )  # fmt: skip
    assert session.raw_open is None
    assert session.client_ip == "198.51.100.7"
    assert normalizer.stats_dict()["context"] == 4


def test_a_checkpoint_saves_sessions_whose_lines_were_not_parsed_yet() -> None:
    first = Normalizer(Settings(tz="UTC"))
    stream = Stream("f.log")
    c7 = "New SMTP DCID 3 interface 192.0.2.1 address 203.0.113.9 port 587"
    first.feed(stream, _doc("ICID 99 close", C1, C2, C4, c7, MID))
    kept = first.sessions.get(("", INBOUND, 7), None)
    assert kept is not None
    assert kept.raw_open is not None, "not parsed before the checkpoint"
    first.flush(stream)
    state = first.state()
    rows = {tuple(row[:3]): dict(zip(state["sessions"]["fields"], row[3:])) for row in state["sessions"]["sessions"]}
    assert rows[("", INBOUND, 7)]["client_ip"] == "198.51.100.7"
    assert rows[("", INBOUND, 7)]["sbrs"] == "3.6"
    assert rows[("", OUTBOUND, 3)]["remote_port"] == 587
    second = Normalizer(Settings(tz="UTC"), state=state)
    (event,) = second.feed(stream, _doc(T1, MID))
    assert (event.src, event.tls_cipher) == ("198.51.100.7", "AES128-SHA")


def test_a_malformed_open_line_leaves_the_session_unknown() -> None:
    result = Normalizer(Settings(tz="UTC"))
    stream = Stream("f.log")
    events = result.feed(stream, _doc("New SMTP ICID 7 interface IncomingMail (192.0.2.10) address", C2, T1, MID))
    (event,) = events + result.end(stream)
    assert (event.src, event.dest, event.listener, event.sender_group, event.tls) == (None, None, None, None, None)
    assert result.stats_dict()["skipped"] == 2, "the open line and the MID line"
