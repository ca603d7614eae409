"""The modular input's XML stream, written directly, against splunklib's own writer.

``InputRun.emit`` writes what splunklib's ``EventWriter.write_event`` wrote
for each ``Event`` (the stream semantics splunkd expects), in batches and
without an ElementTree per event. These tests hold the two together: the
same bytes for ordinary events, the same parsed values for hostile ones (and
a well-formed stream where splunklib's would not be), and the batch contract
the checkpoint counts on (a block's events are flushed when ``emit`` returns).
"""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET
from typing import Any, Dict, List, Optional

import pytest
from esa_auth.events import AuthEvent, json_text
from esa_auth.pipeline import Normalizer, Settings, Stream
from esa_auth.render import RENDERERS, SOURCETYPES
from esa_auth.splunk.modinput import InputConfig, InputRun, xml_safe
from splunkd import mail_file, parse_stream
from splunklib.modularinput import Event, EventWriter

STANZA = "esa_auth://esa1"
SOURCE = "/var/log/esa/mail.esa01.example.com.current"


def library_events(text: str) -> List[AuthEvent]:
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream(SOURCE, key="k", appliance="esa01.example.com")
    return normalizer.feed(stream, text.encode("utf-8", "surrogateescape")) + normalizer.flush(stream)


def ours(events: List[AuthEvent], fmt: str = "cim", index: Optional[str] = "mail", stanza: str = STANZA,
         source: str = SOURCE, batches: int = 1) -> str:  # fmt: skip
    out = io.StringIO()
    writer = EventWriter(out, io.StringIO())
    run = InputRun(stanza, {"index": index} if index else {}, InputConfig("/", None, None, "beginning", 1, 1.0, fmt),
                   writer)  # fmt: skip
    size = max(1, -(-len(events) // batches))
    for start in range(0, len(events), size):
        run.emit(events[start : start + size], source)
    writer.close()
    return out.getvalue()


def splunklib(events: List[AuthEvent], fmt: str = "cim", index: Optional[str] = "mail", stanza: str = STANZA,
              source: str = SOURCE) -> str:  # fmt: skip
    """What the modular input wrote before: one splunklib Event per event (time as ``%.3f`` of the epoch)."""
    out = io.StringIO()
    writer = EventWriter(out, io.StringIO())
    for event in events:
        writer.write_event(
            Event(
                data=json_text(RENDERERS[fmt](event)),
                stanza=stanza,
                time=None if event.epoch is None else f"{event.epoch:.3f}",
                host=event.dvc or None,
                index=index,
                source=source,
                sourcetype=SOURCETYPES[fmt],
            )
        )
    writer.close()
    return out.getvalue()


def elements(text: str) -> List[Dict[str, Any]]:
    """Every event of a stream as its attributes and children's text, in order (strict parse)."""
    root = ET.fromstring(text)
    assert root.tag == "stream"
    found = []
    for node in root:
        assert node.tag == "event"
        found.append({**node.attrib, **{child.tag: child.text for child in node}})
    return found


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_ordinary_events_are_written_byte_for_byte_as_splunklib_wrote_them(fmt: str) -> None:
    events = library_events(mail_file(100, 30))
    assert len(events) == 30
    assert ours(events, fmt) == splunklib(events, fmt)
    assert ours(events, fmt, index=None) == splunklib(events, fmt, index=None)
    assert ours(events, fmt, batches=7) == splunklib(events, fmt)


def test_no_event_no_stream() -> None:
    """splunklib writes nothing at all for a run without events: neither ``<stream>`` nor ``</stream>``."""
    assert ours([]) == splunklib([]) == ""


def test_time_is_the_readers_epoch_with_three_decimals_and_absent_without_one() -> None:
    base = {"action": "success", "activity": "logon", "app": "esa:gui", "signature": "s", "signature_id": "ESA-A1",
            "raw": "r", "event_id": "i"}  # fmt: skip
    timed = AuthEvent.from_fields({**base, "time": "2009-04-22T18:44:48.250000Z"}, 1240425888.25)
    untimed = AuthEvent.from_fields(dict(base))
    found = elements(ours([timed, untimed]))
    assert found[0]["time"] == "1240425888.250"
    assert "time" not in found[1]
    assert ours([timed, untimed]) == splunklib([timed, untimed])


#: Texts that try to break out of their element, or that XML 1.0 cannot carry.
HOSTILE = [
    "</data></event><event><data>x",
    "]]><![CDATA[",
    "&amp; &lt; &#0; &bogus;",
    '"quoted" \'single\' <tag attr="v">',
    "nul\x00 bell\x07 esc\x1b[31m del\x7f c1\x85\x9b",
    "cr\rlf\ntab\t",
    "\ud800 lone surrogate \udcff",
    "\ufffe\uffff noncharacters",
    "Ａｄｍｉｎ админ \u200b\u202e\ufeff 😀",
]


def hostile_event(text: str) -> AuthEvent:
    values = {"action": "failure", "activity": "authenticate", "app": "smtp", "signature": "s",
              "signature_id": "ESA-T2", "raw": f"SMTP Auth: failed for user: {text}", "event_id": "e",
              "user": text, "dvc": f"esa-{text}", "reason": text}  # fmt: skip
    return AuthEvent.from_fields(values, 1240425888.0)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_in_every_field_gives_a_well_formed_stream_with_the_values_kept(text: str) -> None:
    event = hostile_event(text)
    out = ours([event, event], stanza=f"esa_auth://{text}", source=f"/logs/{text}", index=f"i{text}")
    assert out.isascii()  # as splunklib's: other characters as references, whatever stdout's encoding
    found = elements(out)
    assert len(found) == 2
    for values in found:
        # XML 1.0's characters are kept (a CR too, as a reference); the others become U+FFFD.
        assert values["stanza"] == xml_safe(f"esa_auth://{text}")
        assert values["source"] == xml_safe(f"/logs/{text}")
        assert values["index"] == xml_safe(f"i{text}".strip())  # a parameter, read stripped
        assert values["host"] == xml_safe(f"esa-{text}")
        assert values["time"] == "1240425888.000"
        assert values["unbroken"] == "1"
        assert values["done"] is None
        assert json.loads(values["data"]) == json.loads(xml_safe(json_text(event.to_dict())))
    node = ET.fromstring(out)[0]
    assert [e.tag for e in node.iter()][1:] == ["time", "source", "sourcetype", "index", "host", "data", "done"]


@pytest.mark.parametrize("text", [t for t in HOSTILE if "\r" not in t and xml_safe(t) == t], ids=str)
def test_hostile_text_splunklib_could_write_parses_to_what_splunklib_wrote(text: str) -> None:
    event = hostile_event(text)
    kwargs = {"stanza": f"esa_auth://{text}", "source": f"/logs/{text}", "index": f"i{text}"}
    assert elements(ours([event], **kwargs)) == elements(splunklib([event], **kwargs))


def test_a_run_over_undecodable_and_hostile_lines_parses_strictly() -> None:
    lines = [
        b"Wed Apr 22 11:44:48 2009 Info: SMTP Auth: (ICID 7) failed for user: \xff\xfe\xc3( using AUTH mechanism: "
        b"LOGIN with profile: Corp\n",
        b"Wed Apr 22 11:44:49 2009 Info: SMTP Auth: (ICID 8) failed for user: a\x01b&<c> using AUTH mechanism: "
        b"LOGIN with profile: Corp\n",
        b"Wed Apr 22 11:44:50 2009 Info: SMTP Auth: (ICID 9) failed for user: \xef\xbf\xbe using AUTH mechanism: "
        b"LOGIN with profile: Corp\n",
    ]
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream(SOURCE, key="k")
    events = normalizer.feed(stream, b"".join(lines)) + normalizer.flush(stream)
    assert len(events) == 3
    parsed = parse_stream(ours(events))
    assert [e.data for e in parsed] == [json.loads(xml_safe(json_text(e.to_dict()))) for e in events]
    assert parsed[1].data["user"] == "a\ufffdb&<c>"


class CountingOutput(io.StringIO):
    """An output that records what had been written at each flush."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: List[str] = []

    def flush(self) -> None:
        super().flush()
        self.flushed.append(self.getvalue())


def test_each_batch_is_written_whole_and_flushed_before_emit_returns() -> None:
    """The checkpoint after a block counts on its events being out: emit returns after the flush."""
    events = library_events(mail_file(100, 9))
    out = CountingOutput()
    writer = EventWriter(out, io.StringIO())
    run = InputRun(STANZA, {}, InputConfig("/", None, None, "beginning", 1, 1.0, "cim"), writer)
    seen = []
    for start in (0, 3, 6):
        run.emit(events[start : start + 3], SOURCE)
        seen.append(out.getvalue())
        assert out.flushed[-1] == out.getvalue()  # flushed, not only buffered
        assert out.getvalue().count("</event>") == start + 3  # whole events only
    assert len(out.flushed) == 3  # one write and flush per batch
    writer.close()
    assert parse_stream(out.getvalue())
