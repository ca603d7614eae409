"""The compiled reading loop (``esa_auth._speedups``) reads exactly like the Python loop.

The package builds it when installed with a C compiler (setup.py); the Splunk
app ships without it and reads with the Python loop of ``Normalizer._lines``.
Both must give the same events, warnings, counters and saved state on any
input, and the compiled loop may take a session line the short way only when
the Python loop's fast form (``pipeline._FAST_FORMS``) would take it the same
way: these tests hold it to that. The main property (generated documents read
the three ways, in random chunks, with a checkpoint) is in tests/test_fast_path.py.
"""

from __future__ import annotations

import gc
import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from esa_auth import Normalizer, Settings, Stream, pipeline
from esa_auth.events import cim_text
from esa_auth.sessions import Session, SessionTable
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_fast_path import AUTH_LINES, ENVELOPES, OTHER_LINES, SESSION_LINES, read_as_text, read_three_ways

speedups = pipeline._built


@pytest.fixture
def python_loop() -> Iterator[None]:
    """Read with the Python loop for the test's duration."""
    pipeline.use_compiled_loop(False)
    try:
        yield
    finally:
        pipeline.use_compiled_loop(True)


def test_the_compiled_loop_is_built_and_used() -> None:
    # Installing the package (python3 build.py --setup, pip install -e .) compiles
    # it; without it every test below would compare the Python loop with itself.
    assert speedups is not None, "esa_auth._speedups is not built: install the package with a C compiler at hand"
    source = Path(pipeline.__file__).with_name("_speedups.c")
    assert Path(speedups.__file__).stat().st_mtime >= source.stat().st_mtime, (
        "esa_auth._speedups is older than _speedups.c: rebuild it (pip install -e .)"
    )
    assert pipeline._speedups is speedups
    assert pipeline.use_compiled_loop(False) is False
    assert pipeline._speedups is None
    assert pipeline.use_compiled_loop(True) is True


# --- the forms ------------------------------------------------------------------

_VERB_OF_ACTION = {pipeline._OPEN: 0, pipeline._CLOSE: 1, pipeline._VERDICT: 2, pipeline._TLS: 3, pipeline._MID: 4}


def _python_form(body: bytes) -> Optional[Tuple[int, int, int, int]]:
    """What the Python loop's scan reads a body as: (verb, outbound, number, mid) or None."""
    match = pipeline._SCAN.match(b": " + body + b"\n")
    if match is None:
        return None
    action = pipeline._ACTION_OF_GROUP[match.lastindex or 0]
    if action is None or match.end() != len(body) + 3:
        return None
    verb, direction, number_group, mid_group = action
    return (
        _VERB_OF_ACTION.get(verb, 5),  # 5: a line that only touches its session (TLS failed)
        1 if direction == "d" else 0,
        int(match.group(number_group)),
        int(match.group(mid_group)) if mid_group else -1,
    )


def _usual(body: bytes) -> bytes:
    return body.replace(b"{n}", b"42").replace(b"{m}", b"7")


@pytest.mark.parametrize("body", [_usual(b) for b in SESSION_LINES + AUTH_LINES + OTHER_LINES], ids=repr)
def test_each_test_line_reads_as_the_python_scan_reads_it(body: bytes) -> None:
    """On the session lines of the fast-path tests the two loops agree exactly (the odd ones go the full way)."""
    assert speedups is not None
    if body in STRICTER:
        assert speedups.fast_form(body) is None
        assert _python_form(body) is not None
    else:
        assert speedups.fast_form(body) == _python_form(body)


#: Lines the compiled loop leaves to the full way on purpose: a MID of more
#: than 18 digits (the Python form cuts it after 18; the template decides).
STRICTER = {b"Delivery start DCID 42 MID 1234567890123456789012"}


# Pieces of session lines, to splice into bodies that are almost of a form.
PIECES = (
    b"New SMTP ICID ", b"New SMTP DCID ", b"ICID ", b"DCID ", b"Start MID ", b"Delivery start DCID ",
    b" interface ", b" address ", b" reverse dns host ", b" verified yes", b" verified no", b" port ",
    b" ACCEPT", b" REJECT", b" TCPREFUSE", b" RELAY", b" SG ", b" match", b" TLS success", b" TLS failed",
    b" close", b" lost", b" MID ", b" ICID ", b"12", b"7", b"123456789012345678", b"1234567890123456789",
    b" ", b"  ", b"\t", b"x", b"(192.0.2.1)", b"198.51.100.7", b"\xc3\xa9", b"\x00", b"\x7f", b"match",
)  # fmt: skip


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=12))
@example([b"New SMTP ICID ", b"12", b" interface ", b"x", b" address ", b"198.51.100.7"])
@example([b"ICID ", b"7", b" ACCEPT", b" SG ", b" match"])
@example([b"ICID ", b"7", b" ACCEPT", b" SG ", b"x", b" match", b"  "])
@example([b"Delivery start DCID ", b"7", b" MID ", b"1234567890123456789"])
def test_a_body_the_compiled_loop_takes_is_one_the_python_scan_takes_alike(pieces: List[bytes]) -> None:
    """Never looser than the regular expressions: whatever the C forms take, the Python forms take alike."""
    assert speedups is not None
    body = b"".join(pieces)
    compiled = speedups.fast_form(body)
    if compiled is not None:
        assert compiled == _python_form(body)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=120))
def test_arbitrary_bytes_are_no_form_unless_the_python_scan_says_so(body: bytes) -> None:
    assert speedups is not None
    compiled = speedups.fast_form(body)
    if compiled is not None:
        assert compiled == _python_form(body)


# --- whole reads ----------------------------------------------------------------


def _ways(data: bytes, chunks: List[int], config: Settings, checkpoint: int) -> Tuple[List[Any], List[Any], List[Any]]:
    """The compiled loop, the Python loop and the full way (:func:`test_fast_path.read_three_ways`)."""
    assert pipeline.compiled_loop(), "the compiled loop is built but turned off"
    return read_three_ways(data, chunks, config, checkpoint)


@st.composite
def long_documents(draw: Any) -> bytes:
    """Documents with lines over the length limit, headers that change the time offset, and no time zone."""
    parts: List[bytes] = []
    for _ in range(draw(st.integers(1, 40))):
        envelope = draw(st.sampled_from(ENVELOPES))
        kind = draw(st.integers(0, 9))
        if kind == 0:
            body = b"MID 1 Subject: " + b"y" * draw(st.integers(200, 400))
        elif kind == 1:
            body = b"New SMTP ICID 3 interface In (192.0.2.1) address " + b"z" * draw(st.integers(200, 400))
        elif kind == 2:
            body = draw(st.sampled_from((b"Time offset from UTC: 3600 seconds", b"Version: 15.0.0-104 SN: 42A1")))
        else:
            body = draw(st.sampled_from(SESSION_LINES + AUTH_LINES + OTHER_LINES))
            body = body.replace(b"{n}", str(draw(st.integers(1, 3))).encode()).replace(b"{m}", b"5")
        parts.append(envelope + body + b"\n")
    return b"".join(parts)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=long_documents(), chunks=st.lists(st.integers(1, 2000), max_size=4), checkpoint=st.integers(-1, 4))
def test_long_lines_and_headers_read_alike(data: bytes, chunks: List[int], checkpoint: int) -> None:
    config = Settings(max_line_bytes=256, max_sessions=3)  # no zone: its warning comes in the same order
    compiled, python, full = _ways(data, chunks, config, checkpoint)
    assert compiled == python
    assert compiled == full


def test_a_mail_log_reads_alike_in_one_block_and_in_small_ones() -> None:
    lines = []
    for n in range(1, 400):
        e = ENVELOPES[n % 5]
        lines += [
            e + b"New SMTP ICID %d interface In (192.0.2.1) address 198.51.100.%d" % (n, n % 250),
            e + b"ICID %d ACCEPT SG ALLOWED match ALL SBRS 1.5" % n,
            e + b"MID %d ICID %d From: <a@example.com>" % (n, n),
            e + b"ICID %d TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384" % (n - 1),
            e + b"SMTP Auth: (ICID %d) succeeded for user: u%d using AUTH mechanism: PLAIN with profile: P" % (n, n),
            e + b"ICID %d close" % (n - 2),
        ]
    data = b"\n".join(lines) + b"\n"
    config = Settings(tz="UTC", max_sessions=50)
    for chunks in ([], [1000] * 200, [7] * 50):
        compiled, python, full = _ways(data, chunks, config, -1)
        assert compiled == python == full
        events = [e for part in compiled if isinstance(part, list) for e in part if isinstance(e, dict)]
        assert len(events) == 399
        assert all(e["src"] and e["listener"] == "In" for e in events), "every event found its session"
        compiled_text, python_text = read_as_text(data, chunks, config, -1)
        assert compiled_text == python_text


def test_the_compiled_loop_writes_the_usual_events_as_text() -> None:
    """feed_text: events of the usual T1, T2 and T10 forms come as text, the same as their objects' JSON."""
    e = ENVELOPES[0]
    lines = [
        b"New SMTP ICID 5 interface In (192.0.2.1) address 198.51.100.9 reverse dns host a.example verified yes",
        b"ICID 5 ACCEPT SG ALLOWED match ALL SBRS 1.5",
        b"ICID 5 TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384",
        b'SMTP Auth: (ICID 5) failed for user: o"brien\\x using AUTH mechanism: LOGIN with profile: Corp Auth',
        b"SMTP Auth: (ICID 6) succeeded for user: - using AUTH mechanism: PLAIN with profile: P",
        b"New SMTP DCID 8 interface 192.0.2.1 address 203.0.113.9 port 587",
        b"DCID: 8 IP: 203.0.113.9 SMTP authentication using the profile Out succeeded.",
        b"DCID: 9 IP: relay.example SMTP authentication using the profile Out succeeded.",
        b"SMTP Auth (ICID 5) failed for user: bob using AUTH mechanism: PLAIN with profile: P",  # no colon: Python
        b"MID 1 ICID 5 From: <a@example.com>",
    ]
    data = b"".join(e + line + b"\n" for line in lines)
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream("f.log")
    items = normalizer.feed_text(stream, data) + normalizer.end(stream)
    assert [type(item).__name__ for item in items] == ["str", "str", "str", "str", "AuthEvent"]
    assert normalizer.stats_dict()["events"] == 5
    expected = Normalizer(Settings(tz="UTC"))
    objects = expected.feed(Stream("f.log"), data) + expected.end(Stream("f.log"))
    assert items[:4] == [cim_text(event) for event in objects[:4]]
    first = json.loads(str(items[0]))
    assert (first["user"], first["src"], first["src_host"], first["sbrs"], first["tls"], first["cleartext"]) == (
        'o"brien\\x', "198.51.100.9", "a.example", 1.5, True, False
    )  # fmt: skip
    assert "user" not in json.loads(str(items[1]))
    assert "src" not in json.loads(str(items[1]))
    assert json.loads(str(items[2]))["dest_port"] == 587
    assert "dest_ip" not in json.loads(str(items[3]))
    assert normalizer.stats_dict() == expected.stats_dict()


_LINE_STARTS = [b"\n", b"\r\n", b"<", b"<1", b"<x", b"Mo", b"Jan 1", b"Info: ", b"INF", b"x", b" ", b"\x00"]


@settings(max_examples=3000, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_LINE_STARTS + sorted(pipeline.ENVELOPE_HEADS)), max_size=12),
    cut=st.integers(0, 60),
)
@example(pieces=[b"Mon", b"\n", b"<", b"\n"], cut=0)  # "<" then the block's last newline: no digit to see
@example(pieces=[b"\n"], cut=0)
def test_the_block_check_agrees_with_the_python_one(pieces: List[bytes], cut: int) -> None:
    """``_speedups.all_envelopes`` tells what ``envelope.all_envelopes`` tells, at every block end."""
    assert speedups is not None
    buf = b"".join(pieces)
    ends = [i + 1 for i, byte in enumerate(buf) if byte == 10] + [0]
    for end in ends:
        assert speedups.all_envelopes(buf, end, pipeline._ENVELOPE_HEADS) == pipeline.all_envelopes(buf, end), end
    assert speedups.all_envelopes(buf + b"\n" + b"y" * cut, len(buf) + 1, pipeline._ENVELOPE_HEADS) == (
        pipeline.all_envelopes(buf + b"\n" + b"y" * cut, len(buf) + 1)
    )  # fmt: skip
    with pytest.raises(ValueError, match="out of the buffer"):
        speedups.all_envelopes(buf, len(buf) + 1, pipeline._ENVELOPE_HEADS)
    with pytest.raises(ValueError, match="three bytes"):
        speedups.all_envelopes(buf, 0, b"ab")


# --- the call itself ------------------------------------------------------------

#: An open line in its usual form (C1): the compiled loop applies it and keeps its body.
C1 = b"New SMTP ICID 5 interface In (192.0.2.1) address 198.51.100.9"


def _fed(data: bytes) -> Normalizer:
    """A normalizer (UTC) that has read ``data`` as one block."""
    normalizer = Normalizer(Settings(tz="UTC"))
    normalizer.feed(Stream("f.log"), data)
    return normalizer


def _scan(buf: bytes, **changes: Any) -> Any:
    assert speedups is not None
    table = SessionTable()
    args = dict(
        buf=buf, pos=0, end=len(buf), limit=1000, prefix=b"", keys=pipeline._DISPATCH_KEYS, table=table._open,
        sessions=table, session_type=Session, max_sessions=10, timeout=60.0, env=None, ctx=None,
    )  # fmt: skip
    args.update(changes)
    return speedups.scan(*args.values())


def _event_context() -> Tuple[Any, ...]:
    """The ``ctx`` of ``_speedups.scan`` as Normalizer._scan_lines gives it for feed_text."""
    normalizer = Normalizer()
    return (
        [], b"key", 0, pipeline.is_ip, normalizer._resolve, normalizer._time,
        pipeline.CLEARTEXT_MECHANISMS, pipeline.VENDOR, pipeline.PRODUCT, pipeline.FIELD_ORDER,
        *pipeline._TEXT_TEMPLATES,
    )  # fmt: skip


def test_bad_calls_raise_clear_errors_and_never_crash() -> None:
    assert _scan(b"")[0] == speedups.DONE  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="newline"):
        _scan(b"no newline")
    with pytest.raises(ValueError, match="out of the buffer"):
        _scan(b"a\n", end=5)
    with pytest.raises(ValueError, match="out of the buffer"):
        _scan(b"a\n", pos=-1)
    with pytest.raises(ValueError, match="four bytes"):
        _scan(b"a\n", keys=b"abc")
    with pytest.raises(TypeError):
        _scan(b"a\n", table={}.keys())
    with pytest.raises(TypeError, match="class"):
        _scan(b"a\n", session_type=Session())
    with pytest.raises(TypeError, match="float"):
        _scan(b"a\n", env=(1, 1.0, "", False))
    with pytest.raises(TypeError):
        _scan(b"a\n", env=(None, 1.0, b"not str", False))
    with pytest.raises(TypeError, match="tuple"):
        _scan(b"a\n", env=[None, 1.0, "", False])
    with pytest.raises(TypeError):
        speedups.fast_form("text")  # type: ignore[union-attr]
    # The events' context (feed_text): its shape, and fields that are those of the module.
    good = _event_context()
    assert _scan(b"", ctx=good)[0] == speedups.DONE  # type: ignore[union-attr]
    with pytest.raises(TypeError, match="tuple"):
        _scan(b"a\n", ctx=list(good))
    with pytest.raises(TypeError):
        _scan(b"a\n", ctx=good[:5])
    fields = good.index(pipeline.FIELD_ORDER)
    with pytest.raises(ValueError, match="event fields"):
        _scan(b"a\n", ctx=(*good[:fields], good[fields][1:], *good[fields + 1 :]))
    with pytest.raises(ValueError, match="event fields"):
        _scan(b"a\n", ctx=(*good[:fields], tuple(reversed(good[fields])), *good[fields + 1 :]))
    with pytest.raises(ValueError, match="7"):
        _scan(b"a\n", ctx=(*good[: fields + 1], good[fields + 1][:6], *good[fields + 2 :]))
    with pytest.raises(TypeError, match="str or None"):
        _scan(b"a\n", ctx=(*good[: fields + 1], (1,) * 7, *good[fields + 2 :]))
    with pytest.raises(ValueError, match="negative"):
        _scan(b"a\n", ctx=(*good[:2], -1, *good[3:]))
    with pytest.raises(TypeError):  # with a context, the envelope gives the events' values too
        _scan(b"a\n", ctx=good, env=(5.0, 5.0, "", False))
    with pytest.raises(TypeError, match="str or None"):
        _scan(b"a\n", ctx=good, env=(5.0, 5.0, "", False, 1, None, None))
    # A time text that is no str (the context's time function is Normalizer._time): a clear error, no event.
    e = ENVELOPES[0]
    event = e + b"SMTP Auth: (ICID 1) failed for user: a using AUTH mechanism: PLAIN with profile: P\n" + e + b"x\n"
    bad_time = (*good[:5], lambda when: 1, *good[6:])
    with pytest.raises(TypeError, match="time text"):
        _scan(event, prefix=e, ctx=bad_time, env=(5.0, 5.0, "", False, None, None, None))
    assert good[0] == [], "no event was written"
    written = _scan(event, prefix=e, ctx=good, env=(5.0, 5.0, "", False, None, None, None))
    assert written[-1] == 1
    assert json.loads(good[0][0])["time"] == "1970-01-01T00:00:05Z"
    # A class that does not keep the session fields in __slots__: refused before any line is read.
    e = ENVELOPES[0]
    with pytest.raises(TypeError, match="slots"):
        _scan(e + C1 + b"\n" + e + b"MID 1\n", prefix=e, session_type=type(sys.flags), env=(5.0, 5.0, "", False))


class _Unslotted:
    """A session class whose fields are plain attributes."""

    def __init__(self) -> None:
        for name in Session.__slots__:
            setattr(self, name, None)


class _ReadOnlyOpened:
    """A session class with its fields in __slots__, but ``opened`` a read-only property."""

    __slots__ = tuple(name for name in Session.__slots__ if name != "opened")
    opened = property(lambda self: None)


class _Wrapped(Session):  # type: ignore[misc,valid-type]
    """A subclass of Session: its slots are its base's, not its own."""


def test_lines_of_the_session_touched_last_keep_the_tables_order() -> None:
    """Lines of the session touched last skip its move to the end: the order and the events stay the Python loop's.

    Opened, touched twice by events, replaced by a new open, closed and touched
    again; then another session touched between two opens of a full table, so
    that the least recently active one, not the oldest opened, is evicted.
    """
    e = ENVELOPES[0].decode()
    auth = "SMTP Auth: (ICID {n}) failed for user: u{n} using AUTH mechanism: LOGIN with profile: P"
    opened = "New SMTP ICID {n} interface In (192.0.2.1) address 198.51.100.{n}"
    bodies = [
        "ICID 99 close", opened, auth, auth, opened, auth, "ICID {n} close", auth,
        opened.replace("{n}", "2"), auth.replace("{n}", "1"), opened.replace("{n}", "1"), opened.replace("{n}", "3"),
        auth, opened.replace("{n}", "4"), auth, "MID 5 ICID 1 From: <a@b>",
    ]  # fmt: skip
    data = "".join(e + body.replace("{n}", "1") + "\n" for body in bodies).encode()
    config = Settings(tz="UTC", max_sessions=2)
    compiled_text, python_text = read_as_text(data, [], config, -1)
    assert compiled_text == python_text
    normalizer = Normalizer(config)
    texts = normalizer.feed_text(Stream("f.log"), data)
    assert sum(isinstance(text, str) for text in texts) >= 5, "the events were written by the compiled loop"
    # 2 evicted by the open of 3, then 3 (not 1, touched after it) by the open of 4.
    assert [key[2] for key in normalizer.sessions._open] == [4, 1]
    assert normalizer.sessions.evicted_full == 2


def test_the_session_class_must_keep_the_fields_in_slots() -> None:
    """The loop reads and sets session fields where the class's member descriptors say: anything else is refused."""
    e = ENVELOPES[0]
    for bad, message in ((_Unslotted, "slots"), (_ReadOnlyOpened, "opened"), (_Wrapped, "slots"), (int, "slots")):
        with pytest.raises(TypeError, match=message):
            _scan(e + C1 + b"\n" + e + b"MID 1\n", prefix=e, session_type=bad, env=(5.0, 5.0, "", False))
    # A class that cannot be made without arguments has no defaults to copy.
    needy = type("Needy", (), {"__slots__": Session.__slots__, "__init__": lambda self, x: None})
    with pytest.raises(TypeError, match="argument"):
        _scan(b"", session_type=needy)
    # The right class works again after those (the layout is remade for it).
    assert _scan(e + C1 + b"\n" + e + b"MID 1\n", prefix=e, env=(5.0, 5.0, "", False))[0] == speedups.DONE  # type: ignore[union-attr]


def test_a_slotted_class_of_another_base_or_with_its_own_new_is_refused() -> None:
    """Sessions are made with the class's allocator and filled: a dict or exception base would be left half made."""
    e = ENVELOPES[0]
    made = {"__slots__": Session.__slots__, "__init__": Session.__init__}
    for base in (dict, set, list, Exception):
        with pytest.raises(TypeError, match="plain class"):
            _scan(e + C1 + b"\n" + e + b"MID 1\n", prefix=e, session_type=type("S", (base,), made),
                  env=(5.0, 5.0, "", False))  # fmt: skip
    own_new = type("S", (), {**made, "__new__": lambda cls: object.__new__(cls)})
    with pytest.raises(TypeError, match="plain class"):
        _scan(b"", session_type=own_new)


def test_a_scan_within_a_scan_with_another_class_or_keys_is_refused() -> None:
    """What a running call reads (the class's slot offsets, the keys' first bytes) cannot change under it."""
    assert speedups is not None
    e = ENVELOPES[0]
    big = type(
        "Big", (), {"__slots__": tuple(f"pad{i}" for i in range(40)) + Session.__slots__, "__init__": Session.__init__}
    )
    inner: List[BaseException] = []

    def time_text(when: float) -> str:
        for changes in ({"session_type": big}, {"keys": pipeline._DISPATCH_KEYS[4:]}):
            try:
                _scan(e + b"MID 1\n", prefix=e, env=(5.0, 5.0, "", False), **changes)
            except RuntimeError as exc:
                inner.append(exc)
        _scan(e + b"MID 1\n", prefix=e, env=(5.0, 5.0, "", False))  # the same class and keys: allowed
        return "1970-01-01T00:00:05Z"

    good = _event_context()
    ctx = (*good[:5], time_text, *good[6:])
    auth = b"SMTP Auth: (ICID 5) failed for user: u using AUTH mechanism: LOGIN with profile: P"
    result = _scan(e + C1 + b"\n" + e + auth + b"\n" + e + b"MID 1\n", prefix=e, ctx=ctx,
                   env=(5.0, 5.0, "", False, None, None, None))  # fmt: skip
    assert result[0] == speedups.DONE
    assert result[-1] == 1
    assert [str(exc) for exc in inner] == [
        "scan: called with other keys or another session class while a call runs"
    ] * 2
    assert json.loads(good[0][0])["src"] == "198.51.100.9"
    # Once the call has ended, another class is taken again.
    with pytest.raises(TypeError, match="plain class"):
        _scan(b"", session_type=type("S", (dict,), {"__slots__": Session.__slots__}))


def _both_loops(run: Any) -> Tuple[Any, Any]:
    """``run()`` with the compiled loop, then with the Python loop."""
    compiled = run()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_speedups", None)
        python = run()
    return compiled, python


def test_a_session_dropped_by_the_python_the_loop_calls_is_not_taken_for_the_last_one() -> None:
    """A session time that is no number (NaN, set here by hand: checkpoints refuse it) makes advance() drop the
    session just touched; the next lines of that session find none, as in the Python loop."""
    e = ENVELOPES[0]
    auth = b"SMTP Auth: (ICID 1) failed for user: bob using AUTH mechanism: LOGIN with profile: P"

    def run(tail: bytes) -> Any:
        def go() -> Any:
            normalizer = Normalizer(Settings(tz="UTC"))
            stream = Stream("f.log")
            opened = C1.replace(b"ICID 5", b"ICID 1")
            normalizer.feed_text(stream, e + b"ICID 99 close\n" + e + opened + b"\n" + e + b"MID 9 x\n")
            normalizer.sessions._open[("", "i", 1)].seen = float("nan")
            normalizer.sessions.clock = 0.0
            texts = [cim_text(item) for item in normalizer.feed_text(stream, tail)]
            return texts, list(normalizer.sessions._open), normalizer.sessions.evicted_idle

        return _both_loops(go)

    for tail in (
        e + b"ICID 1 TLS failed\n" + e + b"ICID 1 close\n" + e + b"MID 9 x\n",
        e + b"ICID 1 TLS success protocol TLSv1.2\n" + e + auth + b"\n" + e + b"MID 9 x\n",
        e + b"ICID 1 TLS failed\n" + e + b"Start MID 7 ICID 1\n" + e + b"MID 9 x\n",
    ):
        compiled, python = run(tail)
        assert compiled == python, tail


def test_a_finalizer_that_drops_the_last_session_during_a_call_is_seen() -> None:
    """Python run by a decref (here a session field's __del__) may drop the session touched last: its next line
    finds it gone, as the Python loop does. (A finalizer that reorders the table is not seen: see Bound in
    _speedups.c; the library puts only text, numbers and None in sessions.)"""
    e = ENVELOPES[0]

    def go() -> Any:
        normalizer = Normalizer(Settings(tz="UTC"))
        stream = Stream("f.log")
        normalizer.feed_text(
            stream,
            e + b"ICID 99 close\n" + e + C1 + b"\n" + e + C1.replace(b"ICID 5", b"ICID 6") + b"\n" + e + b"MID 9\n",
        )
        table = normalizer.sessions._open

        class Dropper:
            def __del__(self) -> None:
                table.pop(("", "i", 6), None)

        table[("", "i", 6)].mid = Dropper()
        normalizer.feed_text(stream, e + b"Start MID 5 ICID 6\n" + e + b"ICID 6 close\n" + e + b"MID 9 x\n")
        return list(table), normalizer.stats_dict()

    compiled, python = _both_loops(go)
    assert compiled == python
    assert compiled[0] == [("", "i", 5)]


def test_an_sbrs_that_is_a_number_is_read_as_float_reads_it() -> None:
    """``float(session.sbrs)`` in both loops, whatever the field holds (a restored checkpoint holds text)."""
    e = ENVELOPES[0]
    auth = b"SMTP Auth: (ICID 5) failed for user: bob using AUTH mechanism: LOGIN with profile: P"

    def go() -> Any:
        normalizer = Normalizer(Settings(tz="UTC"))
        stream = Stream("f.log")
        normalizer.feed_text(stream, e + b"ICID 99 close\n" + e + C1 + b"\n" + e + b"MID 9 x\n")
        session = normalizer.sessions._open[("", "i", 5)]
        normalizer._resolve(session)
        session.sbrs = 4  # type: ignore[assignment]
        return [cim_text(item) for item in normalizer.feed_text(stream, e + auth + b"\n" + e + b"MID 9 x\n")]

    compiled, python = _both_loops(go)
    assert compiled == python
    assert json.loads(compiled[0])["sbrs"] == 4.0


def test_a_table_holding_something_other_than_sessions_is_refused() -> None:
    prefix = ENVELOPES[0]
    table = SessionTable()
    table._open[("", "i", 7)] = object()  # type: ignore[assignment]
    buf = prefix + b"ICID 7 TLS success protocol TLSv1.2\n" + prefix + b"MID 1\n"
    assert speedups is not None
    with pytest.raises(TypeError, match="other than sessions"):
        speedups.scan(
            buf, 0, len(buf), 1000, prefix, pipeline._DISPATCH_KEYS, table._open, table, Session, 10, 60.0,
            (5.0, 5.0, "", False),
        )  # fmt: skip


def test_a_damaged_session_in_the_table_raises_instead_of_crashing() -> None:
    prefix = ENVELOPES[0]
    buf = prefix + b"ICID 1 close\n" + prefix + b"ICID 7 TLS success protocol TLSv1.2\n" + prefix + b"MID 1\n"
    table = SessionTable()
    damaged = Session(opened=1.0, seen=1.0)
    damaged.seen = "yesterday"  # type: ignore[assignment]
    table._open[("", "i", 7)] = damaged
    assert speedups is not None
    with pytest.raises(TypeError):
        speedups.scan(
            buf, len(prefix) + 13, len(buf), 1000, prefix, pipeline._DISPATCH_KEYS, table._open, table, Session, 10,
            60.0, (5.0, 5.0, "", False),
        )  # fmt: skip


def test_a_session_opened_by_the_compiled_loop_is_a_whole_session() -> None:
    e = ENVELOPES[0]
    normalizer = _fed(e + b"ICID 9 close\n" + e + C1 + b"\n" + e + b"MID 1 x\n")
    session = normalizer.sessions._open[("", "i", 5)]
    assert isinstance(session, Session)
    assert session.raw_open == C1
    assert (session.opened, session.seen, session.client_ip, session.tls, session.mid) == (
        1709535600.0, 1709535600.0, None, False, None
    )  # fmt: skip
    assert session == Session(opened=1709535600.0, seen=1709535600.0, raw_open=session.raw_open)
    # Every slot filled, as the class's __init__ fills them (none left empty, none extra).
    assert not hasattr(session, "__dict__")
    assert [getattr(session, f.name) for f in fields(Session)] == [
        getattr(Session(opened=1709535600.0, seen=1709535600.0, raw_open=C1), f.name) for f in fields(Session)
    ]
    # Neither the session nor its key can be in a reference cycle: the collector does not walk them.
    assert not gc.is_tracked(session)
    assert not any(gc.is_tracked(key) for key in normalizer.sessions._open)
    assert gc.is_tracked(Session()), "a session made in Python is tracked as usual"
    assert normalizer.stats_dict()["context"] == 2


def test_the_dispatch_keys_fit_the_compiled_loop() -> None:
    assert all(len(key) == 4 for key in pipeline.P.DISPATCH)
    assert len(pipeline._DISPATCH_KEYS) == 4 * len(pipeline.P.DISPATCH) <= 4 * 64


def test_the_python_loop_still_reads_the_golden_mission_example(python_loop: None) -> None:
    assert pipeline._speedups is None
    e = b"Wed Apr 22 11:43:59 2009 Info: "
    data = (e + b"New SMTP ICID 450 interface IncomingMail (172.16.155.16) address 172.16.155.102 reverse dns host "
            b"unknown verified no\n" + e + b"ICID 450 ACCEPT SG None match ALL SBRS None\n" + e + b"MID 1 x\n"
            + e + b"SMTP Auth: (ICID 450) succeeded for user: ironport using AUTH mechanism: PLAIN with profile: I\n"
            + e + b"ICID 450 close\n")  # fmt: skip
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream("m.log")
    (event,) = normalizer.feed(stream, data) + normalizer.end(stream)
    assert (event.src, event.dest, event.listener, event.user) == ("172.16.155.102", "172.16.155.16", "IncomingMail",
                                                                   "ironport")  # fmt: skip


# --- other Python versions ------------------------------------------------------------

# Compiles the loop for an interpreter (its own headers and extension suffix), with
# every warning an error, then reads the golden logs, the sample logs and random
# documents three ways there (bench/check.py: compiled loop, Python loop, line by line).
_RUNNER = """
import sys
sys.path.insert(0, sys.argv[1])
from esa_auth import pipeline
assert pipeline._built is not None, "the compiled loop did not load"
sys.path.append(sys.argv[2])
import check
sys.exit(check.main(sys.argv[3:]))
"""


@pytest.mark.parametrize("version", ["3.9", "3.11", "3.13"])
def test_the_compiled_loop_builds_and_reads_alike_on_each_python(version: str, tmp_path: Path) -> None:
    from splunkd import find_python

    python = sys.executable if version == "3.11" else find_python(version)[0]
    if python is None:
        pytest.skip(f"python{version} not found ({find_python(version)[1]})")
    root = Path(__file__).resolve().parent.parent
    probe = "import sysconfig; print(sysconfig.get_paths()['include']); print(sysconfig.get_config_var('EXT_SUFFIX'))"
    include, suffix = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    package = tmp_path / "esa_auth"
    shutil.copytree(root / "package" / "esa_auth", package, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    compiler = shutil.which("cc") or shutil.which("gcc")
    assert compiler is not None, "no C compiler: the compiled loop cannot be built here"
    built = subprocess.run(
        [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{include}",
         str(package / "_speedups.c"), "-o", str(package / f"_speedups{suffix}")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    logs = sorted(str(p) for p in (root / "tests" / "golden").glob("*/*.log")) + sorted(
        str(p) for p in (root / "samples" / "logs").iterdir() if p.is_file()
    )
    run = subprocess.run(
        [python, "-I", "-c", _RUNNER, str(tmp_path), str(root / "bench"), "--random", "300", *logs],
        capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "the compiled loop (events and the command line's text) and the line-by-line reader agree" in run.stdout


def test_a_session_line_under_a_new_envelope_is_read_the_short_way_too() -> None:
    """The first line of a new second (or host, or level) goes back into the compiled loop under its envelope."""
    first, second = ENVELOPES[0], ENVELOPES[1]
    normalizer = _fed(first + b"MID 1 x\n" + second + C1 + b"\n" + second + b"MID 2 y\n")
    session = normalizer.sessions._open[("", "i", 5)]
    assert session.raw_open == C1, "kept for later: the line was applied by the compiled loop"
    assert session.opened == 1709535601.0
    assert normalizer.stats_dict() == {
        "lines": 3, "events": 0, "context": 1, "skipped": 2, "warnings": 0, "evictions": 0
    }  # fmt: skip


def test_a_header_held_back_before_a_long_line_keeps_the_warnings_in_order() -> None:
    """A header line makes the envelope new again: its warning comes after the next line's cut, as the full way says."""
    e = b"Mon Feb 30 07:00:01 2024 Info: "  # an impossible date: a warning each time the envelope is read
    data = b"".join(
        e + body + b"\n"
        for body in (b"MID 1 x", b"ICID 1 close", b"ICID 2 close", b"Time offset from UTC: 3600 seconds",
                     b"ICID 3 close", b"MID 1 " + b"y" * 300, b"MID 2")
    )  # fmt: skip
    config = Settings(tz="UTC", max_line_bytes=256)
    compiled, python, full = _ways(data, [], config, -1)
    assert compiled == python == full
    warnings = [w for part in full if isinstance(part, list) for w in part if isinstance(w, str)]
    assert warnings.index("input:6: line of 337 bytes cut to 256 bytes") < warnings.index(
        "input:5: impossible date 2024-2-30 07:00:01"
    )


def test_crlf_lines_are_read_the_short_way_too() -> None:
    """A carriage return before the newline ends the line, as in the Python loop: CRLF logs keep the speed."""
    e = ENVELOPES[0]
    normalizer = _fed(e + b"MID 1 x\r\n" + e + C1 + b"\r\n" + e + b"MID 2 y\r\n")
    assert normalizer.sessions._open[("", "i", 5)].raw_open == C1, "applied by the compiled loop, without the CR"
    data = b"".join(e + b + b"\r\n" for b in (b"MID 1 x", C1, b"ICID 5 TLS success protocol TLSv1.3", b"x\r"))
    compiled, python, full = _ways(data, [], Settings(tz="UTC"), -1)
    assert compiled == python == full


def test_settings_beyond_c_integers_read_as_no_limit() -> None:
    e = ENVELOPES[0]
    data = e + C1 + b"\n" + e + b"MID 1 x\n"
    config = Settings(tz="UTC", max_sessions=2**70, max_line_bytes=2**70)
    compiled, python, full = _ways(data, [], config, -1)
    assert compiled == python == full


# --- kept session lines read for an event ---------------------------------------------

_WORDS = [
    "In", "Data", "address", "ADDRESS", "Address", "(x)", "(a(b)", "()", "(192.0.2.1)", "(192.0.2.1", "unknown",
    "UNKNOWN", "verified", "yes", "no", "YES", "reverse", "dns", "host", "port", "25", "99999", "0", "007",
    "match", "MATCH", "Match", "SBRS", "sbrs", "not", "enabled", "ENABLED", "country", "Country", "None", "none",
    "3.5", "-1.0", "+2", "1.", ".5", "10", "x", "ALL", "protocol", "PROTOCOL", "cipher", "Cipher", "TLSv1.2",
    "a.example", "198.51.100.7", "::ffff:192.0.2.1", "SG", "ACCEPT", "interface", "success", "successful",
]  # fmt: skip


@st.composite
def kept_bodies(draw: Any) -> bytes:
    """Bodies of the five kept templates: their usual shapes, with tricky words and odd spacing here and there."""
    word = st.sampled_from(_WORDS)
    few = st.one_of(st.just([]), st.just([]), st.just([]), st.lists(word, min_size=1, max_size=2))
    some = st.lists(word, min_size=0, max_size=6)

    def join(parts: List[str]) -> str:
        # Mostly one space, as AsyncOS writes; now and then two (the templates allow more).
        return "".join((" " if draw(st.integers(0, 40)) else "  ") + part for part in parts)

    kind = draw(st.integers(0, 4))
    n = draw(st.sampled_from(["5", "05", "123456789012345678"]))
    if kind == 0:
        body = f"New SMTP ICID {n} interface" + join([draw(word), *draw(few)])
        if draw(st.booleans()):
            body += join(["(" + draw(st.sampled_from(["192.0.2.1", "", "x)", "(y"])) + ")"])
        body += join(["address", draw(word)])
        if draw(st.booleans()):
            body += join(["reverse", "dns", "host", draw(word), *draw(few), "verified"])
            body += join([draw(st.sampled_from(["yes", "no", "YES"]))])
        body += join(draw(few))
    elif kind == 1:
        body = f"New SMTP DCID {n} interface" + join([draw(word), "address", draw(word)])
        if draw(st.booleans()):
            body += join(["port", draw(st.sampled_from(["25", "0", "99999", "587", "x"]))])
        body += join(draw(few))
    elif kind == 2:
        verdict = draw(st.sampled_from(["ACCEPT", "REJECT", "TCPREFUSE", "RELAY", "accept"]))
        body = f"ICID {n} {verdict} SG" + join([draw(word), *draw(few), "match", *draw(some)])
    else:
        body = f"{'ICID' if kind == 3 else 'DCID'} {n} TLS success" + draw(st.sampled_from(["", "ful"]))
        body += join(draw(some))
    if draw(st.integers(0, 9)) == 0:
        body += " "
    return body.encode()


def _template_of(body: bytes) -> str:
    if body.startswith(b"New SMTP ICID"):
        return "C1"
    if body.startswith(b"New SMTP DCID"):
        return "C7"
    if b" TLS " in body:
        return "C4" if body.startswith(b"ICID") else "C8t"
    return "C2"


@settings(max_examples=4000, deadline=None)
@given(body=kept_bodies())
@example(body=b"New SMTP ICID 5 interface In (192.0.2.1) address 198.51.100.7 reverse dns host a verified yes")
@example(body=b"New SMTP ICID 5 interface In address 198.51.100.7 reverse dns host UNKNOWN verified yes")
@example(body=b"New SMTP ICID 5 interface ADDRESS address x")
@example(body=b"New SMTP DCID 5 interface 192.0.2.1 address 203.0.113.9 port 99999")
@example(body=b"ICID 5 ACCEPT SG None match ALL SBRS None")
@example(body=b"ICID 5 RELAY SG a b MATCH x match SBRS 3.5 extra SBRS not enabled country de")
@example(body=b"ICID 5 ACCEPT SG x match SBRS not enabled")
@example(body=b"ICID 5 TLS success PROTOCOL  TLSv1.2 cipher")
def test_a_kept_body_read_in_c_is_read_as_its_template_reads_it(body: bytes) -> None:
    """``_speedups.kept_fields`` gives what the template and ``_session_values`` give, or leaves the body to them."""
    assert speedups is not None
    got = speedups.kept_fields(body)
    if got is None:
        return
    name = _template_of(body)
    match = pipeline.P.BY_NAME[name].regex.match(body.decode("ascii"))
    assert match is not None, f"read in C, but {name} does not match it"
    assert got == list(pipeline._session_values(name, match))


def test_the_usual_kept_bodies_are_read_in_c() -> None:
    """The bodies of a mail log's open, verdict and TLS lines do not go back to Python."""
    assert speedups is not None
    for body in (
        b"New SMTP ICID 5 interface IncomingMail (192.0.2.10) address 198.51.100.7 reverse dns host mx.example.net"
        b" verified yes",
        b"New SMTP ICID 5 interface Management address 10.1.1.1",
        b"New SMTP DCID 8 interface 192.0.2.1 address 203.0.113.9 port 25",
        b"ICID 5 ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS 3.6 country Netherlands",
        b"ICID 5 RELAY SG RELAYLIST match 10.0.0.0/8 SBRS None",
        b"ICID 5 TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES128-GCM-SHA256",
        b"DCID 8 TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384",
    ):
        assert speedups.kept_fields(body) is not None, body
    assert speedups.kept_fields(b"New SMTP ICID 5 interface Data 1 (192.0.2.1) address 198.51.100.7") is None
    with pytest.raises(TypeError, match="bytes"):
        speedups.kept_fields("text")


@settings(max_examples=2000, deadline=None)
@given(data=st.binary(max_size=700))
@example(data=b"")
@example(data=b"abc")
def test_the_event_id_hash_is_hashlibs_blake2b(data: bytes) -> None:
    """The compiled loop's own BLAKE2b (RFC 7693) gives what ``hashlib.blake2b(digest_size=16)`` gives."""
    assert speedups is not None
    assert speedups.event_digest(data) == hashlib.blake2b(data, digest_size=16).hexdigest()


def test_the_event_id_hash_around_its_block_size() -> None:
    """Every length from 0 to 4 blocks and a bit: the last block (full or not) is where a hash goes wrong."""
    assert speedups is not None
    for size in range(0, 4 * 128 + 3):
        data = bytes((7 * i + size) % 256 for i in range(size))
        assert speedups.event_digest(data) == hashlib.blake2b(data, digest_size=16).hexdigest(), size
    with pytest.raises(TypeError, match="bytes"):
        speedups.event_digest("text")


@settings(max_examples=3000, deadline=None)
@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=40))
@example(text='0123456"\\\n\x00\x1f\x7f abcdefgh')
def test_json_strings_are_written_as_json_writes_them(text: str) -> None:
    """The event path's JSON strings (eight bytes at a time where nothing needs escaping) are json.dumps's."""
    assert speedups is not None
    assert speedups.json_string(text) == json.dumps(text, ensure_ascii=False)
    assert speedups.json_string("x" * 9 + text + "y" * 7) == json.dumps("x" * 9 + text + "y" * 7, ensure_ascii=False)
    with pytest.raises(TypeError, match="ASCII"):
        speedups.json_string(text + "\u00e9")


def test_an_event_of_a_stream_with_an_empty_key_reads_alike() -> None:
    """The event id's text starts with the stream key: an empty one is written (no copy from an empty buffer)."""
    e = ENVELOPES[0]
    data = (
        e + b"SMTP Auth: (ICID 7) succeeded for user: u using AUTH mechanism: PLAIN with profile: P\n" + e + b"MID 1\n"
    )
    texts = []
    for compiled in (True, False):
        pipeline.use_compiled_loop(compiled)
        try:
            normalizer = Normalizer(Settings(tz="UTC"))
            stream = Stream("", key="")
            items = normalizer.feed_text(stream, data) + normalizer.end(stream)
        finally:
            pipeline.use_compiled_loop(True)
        assert isinstance(items[0], str) == compiled
        texts.append([cim_text(item) for item in items])
    assert texts[0] == texts[1]


def test_template_values_are_written_as_the_event_path_sets_them() -> None:
    """Empty template values: action, activity, app and signatures are written as they are; direction and reason not."""
    e = ENVELOPES[0]
    data = e + b"SMTP Auth: (ICID 7) failed for user: u using AUTH mechanism: PLAIN with profile: P\n" + e + b"x\n"
    good = _event_context()
    fields = good.index(pipeline.FIELD_ORDER)
    empty = ("", "", "", "", "", "", "")
    ctx = (*good[: fields + 1], empty, empty, empty)
    assert _scan(data, prefix=e, ctx=ctx, env=(5.0, 5.0, "", False, None, None, None))[-1] == 1
    event = json.loads(good[0][0])
    assert {name: event[name] for name in ("action", "activity", "app", "signature", "signature_id")} == dict.fromkeys(
        ("action", "activity", "app", "signature", "signature_id"), ""
    )
    assert "direction" not in event
    assert "reason" not in event
