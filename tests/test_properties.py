"""Properties of the pipeline over generated input (hypothesis).

- arbitrary bytes never raise, and every event validates against the schema;
- feeding the same bytes in arbitrary chunks gives the same events, event ids
  and warnings as one feed;
- state saved mid-stream and restored in a new normalizer gives the same
  events as an uninterrupted run.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Tuple

from conftest import normalize
from esa_auth import Normalizer, Settings, Stream
from esa_auth import patterns as P
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Envelopes (docs/log-formats.md#envelopes), including one with an impossible date.
ENVELOPES = (
    b"Wed Apr 22 11:44:48 2009 Info: ",
    b"Tue Apr 6 14:38:34 2004 Warning: ",
    b"<166>Mar 17 18:31:14 mail_logs: Info: ",
    b"<22>Nov 24 14:22:57 esa01.example.com mail_logs: Info: ",
    b"<14>Jun 4 15:45:37 esa02.example.com Info: ",
    b"Jun 26 10:42:23 esa01 mail_logs: Info: ",
    b"Oct 19 06:33:29 2011 esa01 syslog_mail: Debug: ",
    b"Nov 24 00:06:25 ::ffff:192.0.2.1 Info: ",
    b"Oct 20 16:11:05 192.0.2.9 Original Address=192.0.2.10 Oct 20 16:11:05 esa_maillog: Info: ",
    b"Info: ",
    b"Mon Feb 30 12:00:00 2024 Info: ",
)
# Every example body of the registry: auth, context, header and look-alike lines.
BODIES = tuple(example.encode("utf-8") for pattern in P.PATTERNS for example in pattern.examples)

_settings_strategy = st.builds(
    Settings,
    tz=st.sampled_from([None, "UTC", "Europe/Paris", "+05:30"]),
    host=st.sampled_from([None, "esa09.example.com"]),
    reference_time=st.just(datetime(2024, 1, 2, tzinfo=timezone.utc)),
    max_sessions=st.integers(1, 4),
    session_timeout=st.sampled_from([1.0, 60.0, 3600.0]),
    max_line_bytes=st.sampled_from([256, 300, 64 * 1024]),
)


def _mutate(body: bytes, data: st.DataObject) -> bytes:
    """Cut, extend or damage a body now and then (real logs are messier than examples)."""
    choice = data.draw(st.integers(0, 5))
    if choice == 0 and body:
        return body[: data.draw(st.integers(0, len(body)))]
    if choice == 1:
        return body + data.draw(st.binary(max_size=20))
    if choice == 2 and body:
        at = data.draw(st.integers(0, len(body)))
        return body[:at] + data.draw(st.sampled_from([b"\x00", b"\xff", b"\x1b[31m", b"  ", b"\xc3"])) + body[at:]
    return body


@st.composite
def log_lines(draw: Callable[..., Any], wrapped: bool = True) -> List[bytes]:
    """Physical lines: envelope + registry body (sometimes damaged), or noise."""
    data = draw(st.data())
    lines: List[bytes] = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.integers(0, 9))
        if kind <= 6:
            body = _mutate(draw(st.sampled_from(BODIES)), data)
            line = draw(st.sampled_from(ENVELOPES)) + body
            if wrapped and kind == 6 and b" " in body:
                # Wrap it as documents do: the rest continues on the next physical line.
                at = line.rfind(b" ")
                lines.extend([line[:at], line[at + 1 :]])
                continue
            lines.append(line)
        elif kind == 7:
            lines.append(draw(st.binary(max_size=60)).replace(b"\n", b""))
        elif kind == 8:
            lines.append(draw(st.sampled_from(ENVELOPES)) + b"x" * draw(st.integers(200, 400)))
        else:
            lines.append(b"")
    return lines


def _join(lines: Iterable[bytes], crlf: bool, final_newline: bool) -> bytes:
    sep = b"\r\n" if crlf else b"\n"
    text = sep.join(lines)
    return text + sep if final_newline and text else text


@st.composite
def log_bytes(draw: Callable[..., Any], wrapped: bool = True) -> bytes:
    lines = draw(log_lines(wrapped=wrapped))
    return _join(lines, draw(st.booleans()), draw(st.booleans()))


def _key(events: Iterable[Any]) -> List[Tuple[str, Dict[str, Any]]]:
    return [(e.event_id, e.to_dict()) for e in events]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=2000), log_bytes()), config=_settings_strategy)
def test_any_bytes_never_raise_and_every_event_validates(
    data: bytes, config: Settings, assert_valid: Callable[[Iterable[Dict[str, Any]]], None]
) -> None:
    result = normalize(data, config)
    dicts = result.dicts
    assert_valid(dicts)
    # The JSON-lines sink must accept every event, and so must a strict UTF-8 encoder.
    for event in dicts:
        json.dumps(event, ensure_ascii=False, allow_nan=False).encode("utf-8")
    for diagnostic in result.diagnostics:
        assert "\n" not in diagnostic.message
        str(diagnostic).encode("utf-8")
    assert result.stats["events"] == len(result.events)


@settings(max_examples=200, deadline=None)
@given(
    data=log_bytes(),
    cuts=st.lists(st.integers(0, 4000), max_size=8),
    config=_settings_strategy,
)
def test_chunked_feed_equals_one_feed(data: bytes, cuts: List[int], config: Settings) -> None:
    whole = normalize(data, config)
    points = sorted({c % (len(data) + 1) for c in cuts})
    sizes = [b - a for a, b in zip([0, *points], points)]
    chunked = normalize(data, config, chunks=sizes)
    assert _key(chunked.events) == _key(whole.events)
    assert chunked.messages == whole.messages
    assert chunked.stats == whole.stats


@settings(max_examples=200, deadline=None)
@given(data=log_bytes(wrapped=False), cut=st.integers(0, 4000), config=_settings_strategy)
def test_state_saved_and_restored_gives_the_same_events(data: bytes, cut: int, config: Settings) -> None:
    """A checkpoint (after flush) taken at any byte, then a new normalizer: same events.

    Lines are not wrapped here: a checkpoint flushes the held-back line, so a
    continuation arriving after a restore cannot reach it (the modular input
    checkpoints at the end of what the file holds, where that is the norm).
    """
    cut %= len(data) + 1
    whole = normalize(data, config, source="esa.log")

    first = Normalizer(config)
    stream = Stream("esa.log")
    events = first.feed(stream, data[:cut]) + first.flush(stream)
    saved = json.loads(json.dumps({"normalizer": first.state(), "stream": stream.to_state()}))

    second = Normalizer(config, state=saved["normalizer"])
    restored = Stream.from_state(saved["stream"])
    events += second.feed(restored, data[cut:]) + second.end(restored)
    assert _key(events) == _key(whole.events)


@settings(max_examples=300, deadline=None)
@given(data=log_bytes(), cuts=st.lists(st.integers(0, 4000), max_size=6), config=_settings_strategy)
def test_a_final_feed_reads_as_feed_then_flush(data: bytes, cuts: List[int], config: Settings) -> None:
    """``feed(final=True)`` reads a block's last line with the block, where feed then flush reads it on its
    own: the same events, warnings, counters and stream state (the flushed mark included) after each piece,
    with pieces that end anywhere (the follower flushes at the end of what each file holds)."""
    points = sorted({c % (len(data) + 1) for c in cuts} | {len(data)})
    runs = []
    for final in (False, True):
        normalizer, stream = Normalizer(config), Stream("esa.log")
        states, events, start = [], [], 0
        for point in points:
            events += normalizer.feed(stream, data[start:point], final=final) + normalizer.flush(stream)
            states.append((stream.to_state(), stream.pending))
            start = point
        events += normalizer.end(stream)
        messages = [str(d) for d in normalizer.take_diagnostics()]
        runs.append((_key(events), messages, normalizer.stats_dict(), states))
    assert runs[1] == runs[0]
