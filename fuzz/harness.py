"""The checks every fuzzer and hardening test applies to the byte -> event path.

One input is fed to :class:`esa_auth.Normalizer` three ways: in one piece, cut at
arbitrary byte positions, and with a checkpoint (``flush``, state saved as JSON,
a new normalizer and stream restored from it) at a cut. The invariants:

* no exception escapes the library (a :class:`Violation` names the broken rule);
* every event validates against the shipped JSON Schema (``esa_auth.validator()``);
* every event renders to exactly one line of JSON that reads back to the same object;
* every event, written the way the modular input writes it (``splunklib``
  ``Event.write_to``), gives a well-formed XML stream with exactly one
  ``<event>`` per event, no element other than Splunk's, and the JSON intact;
* event ids are unique within a run; cutting the bytes anywhere changes nothing;
  a checkpoint and restore at a line boundary changes nothing;
* warnings are one line each, with no control characters (they end up in
  splunkd.log, where a newline would forge a log line);
* blocks read whole (the reader's usual way) give what every line framed one
  by one gives: the same events, warnings and counters.
"""

from __future__ import annotations

import io
import json
import random
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import AbstractSet, Any, Dict, FrozenSet, List, Optional, Sequence, Tuple

from esa_auth import AuthEvent, Normalizer, Settings, Stream, reader, validator
from esa_auth.render import RENDERERS, SOURCETYPES, render

#: Elements Splunk's XML streaming protocol allows inside ``<event>``.
EVENT_CHILDREN = frozenset({"time", "source", "sourcetype", "index", "host", "data", "done"})
#: What a warning must never contain: C0/C1 controls (a TAB is harmless),
#: Unicode line separators. A carriage return is checked on its own (see
#: :data:`KNOWN_ISSUES`).
_BAD_IN_WARNING = re.compile("[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")

#: Library defects found by fuzzing and reported, not yet fixed: the fuzzer
#: tolerates them so that it keeps looking for others; the test suite pins
#: each one with a strict xfail regression test (docs/RELIABILITY.md lists
#: those found so far, all fixed). Names: ``cr-in-warning`` (a CR in a
#: warning's text), ``reply-code-range`` (a T11 reply code outside 200-599 in
#: ``reply_code``).
KNOWN_ISSUES: FrozenSet[str] = frozenset()

#: Schema paths whose violations each known issue explains.
_TOLERATED_PATHS = {"reply-code-range": "reply_code"}

_VALIDATOR: Any = None

#: Time zones a fuzz input may choose (names, offsets, a 45-minute zone).
ZONES = (None, "UTC", "Europe/Paris", "America/Chicago", "+05:30", "-10:00", "Asia/Kathmandu")
#: The reading time of fuzz inputs that infer syslog years.
REFERENCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


class Violation(AssertionError):
    """An invariant of the byte -> event path does not hold."""


def _validator() -> Any:
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = validator()
    return _VALIDATOR


@dataclass
class Outcome:
    """What one way of reading an input produced."""

    events: List[Dict[str, Any]] = field(default_factory=list)
    objects: List[AuthEvent] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    stats: Dict[str, int] = field(default_factory=dict)


def read(
    data: bytes,
    settings: Settings,
    cuts: Sequence[int] = (),
    checkpoint_at: Optional[int] = None,
    source: str = "fuzz.log",
) -> Outcome:
    """Feed ``data`` to a fresh normalizer, cut at ``cuts``.

    Args:
        data: the log bytes.
        settings: reading settings.
        cuts: byte positions where one ``feed`` call ends and the next begins.
        checkpoint_at: index into ``cuts``: after that feed, flush, save the state
            through JSON and continue with a new normalizer and stream restored from it.
        source: the stream's name.

    Returns:
        The events (rendered), warnings and counters.
    """
    out = Outcome()
    normalizer = Normalizer(settings)
    stream = Stream(source)
    bounds = [0, *sorted(c for c in cuts if 0 < c < len(data)), len(data)]
    events: List[Any] = []
    for index in range(len(bounds) - 1):
        piece = data[bounds[index] : bounds[index + 1]]
        events.extend(normalizer.feed(stream, piece))
        out.warnings.extend(str(d) for d in normalizer.take_diagnostics())
        if checkpoint_at is not None and index == checkpoint_at:
            events.extend(normalizer.flush(stream))
            saved = json.loads(json.dumps({"n": normalizer.state(), "s": stream.to_state()}))
            normalizer = Normalizer(settings, state=saved["n"])
            stream = Stream.from_state(saved["s"])
    events.extend(normalizer.end(stream))
    out.warnings.extend(str(d) for d in normalizer.take_diagnostics())
    out.stats = normalizer.stats_dict()
    out.objects = events
    out.events = [event.to_dict() for event in events]
    return out


def check_event(event: Dict[str, Any], tolerate: AbstractSet[str] = frozenset()) -> str:
    """Check one rendered event; return its JSON line.

    Args:
        event: the rendered event.
        tolerate: names of :data:`KNOWN_ISSUES` not to report.

    Raises:
        Violation: the event is not schema-valid or does not survive JSON.
    """
    skip = {_TOLERATED_PATHS[name] for name in tolerate if name in _TOLERATED_PATHS}
    errors = sorted(
        (e for e in _validator().iter_errors(event) if not (len(e.path) == 1 and e.path[0] in skip)), key=str
    )
    if errors:
        raise Violation(f"schema: {errors[0].message} in {event!r}")
    line = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    if "\n" in line or "\r" in line:
        raise Violation(f"JSON event spans several lines: {line!r}")
    if json.loads(line) != event:
        raise Violation(f"JSON round trip changed the event: {line!r}")
    line.encode("utf-8")  # a lone surrogate would raise here
    return line


def xml_stream(events: Sequence[AuthEvent], fmt: str = "cim", source: str = "fuzz.log") -> str:
    """Write events as the modular input writes them (splunklib's XML streaming mode).

    The modular input's own sink (``esa_auth.splunk.modinput.InputRun.emit``) is
    used when it is importable; otherwise splunklib's ``Event`` directly, as it does.
    """
    from splunklib.modularinput.event import Event
    from splunklib.modularinput.event_writer import EventWriter

    buffer = io.StringIO()
    try:
        from esa_auth.splunk.modinput import InputConfig, InputRun
    except ImportError:
        buffer.write("<stream>")
        for event in events:
            Event(
                data=json.dumps(render(event, fmt), ensure_ascii=False, separators=(",", ":")),
                stanza="esa_auth://fuzz",
                source=source,
                sourcetype=SOURCETYPES[fmt],
                host=event.dvc,
            ).write_to(buffer)
        buffer.write("</stream>")
        return buffer.getvalue()
    writer = EventWriter(buffer, io.StringIO())
    config = InputConfig("/", None, None, "beginning", 1, 1.0, fmt)
    run = InputRun("esa_auth://fuzz", {"index": "main"}, config, writer)
    run.emit(list(events), source)
    writer.close()
    return buffer.getvalue()


def check_xml(text: str, events: Sequence[Dict[str, Any]]) -> None:
    """Parse an XML stream and check it carries exactly ``events``.

    Raises:
        Violation: not well formed, an extra element, or an event changed.
    """
    if not events and not text:
        return  # splunklib writes nothing at all for a run without events
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise Violation(f"XML stream not well formed: {exc}") from None
    children = list(root)
    if [c.tag for c in children] != ["event"] * len(events):
        raise Violation(f"XML stream has {[c.tag for c in children]} for {len(events)} events")
    for node, event in zip(children, events):
        tags = [c.tag for c in node]
        if not set(tags) <= EVENT_CHILDREN or len(tags) != len(set(tags)):
            raise Violation(f"unexpected XML elements in an event: {tags}")
        data = node.findtext("data")
        if data is None or json.loads(data) != event:
            raise Violation(f"event changed in XML: {data!r}")


def check_warnings(warnings: Sequence[str], tolerate: AbstractSet[str] = frozenset()) -> None:
    """Every warning is one clean line.

    Args:
        warnings: the warnings, as ``str(Diagnostic)`` gives them.
        tolerate: names of :data:`KNOWN_ISSUES` not to report.

    Raises:
        Violation: a warning holds a newline or a control character.
    """
    for warning in warnings:
        if _BAD_IN_WARNING.search(warning) or ("\r" in warning and "cr-in-warning" not in tolerate):
            raise Violation(f"warning holds control characters: {warning!r}")


def _ids(outcome: Outcome) -> List[str]:
    return [str(event["event_id"]) for event in outcome.events]


def check_input(
    data: bytes,
    settings: Settings,
    cuts: Sequence[int] = (),
    checkpoint_at: Optional[int] = None,
    tolerate: AbstractSet[str] = frozenset(),
) -> Tuple[Outcome, Outcome]:
    """Apply every invariant to one input.

    Args:
        data: the log bytes.
        settings: reading settings.
        cuts: where to cut the bytes between ``feed`` calls.
        checkpoint_at: index into the sorted ``cuts`` where to checkpoint (a
            checkpoint only keeps complete lines, so it is moved to the line
            boundary before the cut).
        tolerate: names of :data:`KNOWN_ISSUES` not to report.

    Returns:
        The whole-input outcome and the cut-input outcome.

    Raises:
        Violation: an invariant does not hold.
    """
    whole = read(data, settings)
    for event in whole.events:
        check_event(event, tolerate)
    for fmt in RENDERERS:
        rendered = [render(event, fmt) for event in whole.objects]
        for item in rendered:
            if json.loads(json.dumps(item, ensure_ascii=False)) != item:
                raise Violation(f"{fmt} event does not survive JSON: {item!r}")
        check_xml(xml_stream(whole.objects, fmt), rendered)
    check_warnings(whole.warnings, tolerate)
    if len(set(_ids(whole))) != len(whole.events):
        raise Violation(f"duplicate event ids in one run: {_ids(whole)}")
    pieces = read(data, settings, cuts)
    if pieces.events != whole.events:
        raise Violation(f"cutting the input at {sorted(cuts)} changed the events")
    # Blocks read whole and every line framed one by one read alike: same events, warnings and counters.
    original = reader.all_envelopes
    try:
        reader.all_envelopes = lambda buf, end: False  # every block line by line
        framed = read(data, settings, cuts)
    finally:
        reader.all_envelopes = original
    if (pieces.events, pieces.warnings, pieces.stats) != (framed.events, framed.warnings, framed.stats):
        raise Violation(f"blocks and single lines read the input cut at {sorted(cuts)} differently")
    if checkpoint_at is not None and cuts:
        # Checkpoints are taken at line boundaries (the modular input saves after
        # complete lines); flush both runs at the same place to compare them.
        ordered = sorted(c for c in cuts if 0 < c < len(data))
        if ordered:
            at = min(checkpoint_at, len(ordered) - 1)
            boundary = data.rfind(b"\n", 0, ordered[at]) + 1
            if boundary > 0:
                plain = _read_flushed(data, settings, boundary)
                restored = read(data, settings, [boundary], checkpoint_at=0)
                if restored.events != plain.events:
                    raise Violation(f"checkpoint and restore at byte {boundary} changed the events")
    return whole, pieces


def _read_flushed(data: bytes, settings: Settings, boundary: int) -> Outcome:
    out = Outcome()
    normalizer = Normalizer(settings)
    stream = Stream("fuzz.log")
    events = normalizer.feed(stream, data[:boundary]) + normalizer.flush(stream)
    events += normalizer.feed(stream, data[boundary:]) + normalizer.end(stream)
    out.events = [event.to_dict() for event in events]
    return out


#: Bytes at the start of each input that choose the settings and cut points.
HEADER_BYTES = 4


def parse_input(data: bytes) -> Tuple[Settings, List[int], int, bytes]:
    """Split a fuzz input into settings, cut points, checkpoint index and log bytes.

    The first :data:`HEADER_BYTES` bytes choose the settings (time zone, year,
    a session table of 1-8 entries and a short timeout so that evictions happen,
    a 256-byte line limit so that cutting happens) and seed the cut points; the
    rest is the log. ``fuzz/corpus.py`` writes its seeds with such a header.
    """
    head = data[:HEADER_BYTES].ljust(HEADER_BYTES, b"\0")
    body = data[HEADER_BYTES:]
    choice, sessions, timeout, seed = head
    settings = Settings(
        tz=ZONES[choice % len(ZONES)],
        host="esa-fuzz" if choice & 8 else None,
        year=2009 if choice & 16 else None,
        reference_time=REFERENCE if choice & 32 else None,
        max_sessions=1 + sessions % 8,
        session_timeout=float(1 + timeout * 30),
        max_line_bytes=256 if choice & 64 else 65536,
    )
    rng = random.Random(seed)
    cuts = [rng.randrange(len(body) + 1) for _ in range(seed % 5)]
    return settings, cuts, seed % 3, body
