"""Hardening of the byte -> event path: property-based fuzzing and crash reproducers.

The invariants live in ``fuzz/harness.py`` (shared with the coverage-guided
fuzzer ``fuzz/fuzz_pipeline.py``): no exception, schema-valid events, one JSON
line per event, a well-formed Splunk XML stream with one ``<event>`` per
event, the same events whatever the read sizes, the same events after a
checkpoint and restore, one-line warnings. Hypothesis drives them here with
inputs built from real-shaped lines (every registry example in every
envelope) and their mutations.

Library defects found by fuzzing and not fixed yet are listed in
``harness.KNOWN_ISSUES``: the property tests step over them, and each has a
reproducer in ``tests/regressions/`` whose test is a strict xfail, so that the
fix makes it pass and the suite asks for the entry to be removed.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Dict, List

import pytest
from esa_auth import Settings, reader
from esa_auth.patterns import AUTH, BY_NAME
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FUZZ_DIR = Path(__file__).resolve().parent.parent / "fuzz"
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
sys.path.insert(0, str(FUZZ_DIR))

import corpus  # noqa: E402
import harness  # noqa: E402

SEEDS = corpus.seed_lines()
SESSIONS = list(corpus.session_files().values())
ZONES = [None, "UTC", "Europe/Paris", "America/Chicago", "+05:30", "Asia/Kathmandu"]
REFERENCE = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)

#: Reproducers of reported, unfixed library defects: file -> (known issue, what goes wrong).
KNOWN_REPRODUCERS: Dict[str, str] = {}

# --- strategies ------------------------------------------------------------------

_settings = st.builds(
    Settings,
    tz=st.sampled_from(ZONES),
    host=st.sampled_from([None, "esa-test"]),
    year=st.sampled_from([None, 2009, 2024]),
    reference_time=st.sampled_from([None, REFERENCE]),
    max_sessions=st.integers(1, 8),
    session_timeout=st.sampled_from([1.0, 60.0, 3600.0]),
    max_line_bytes=st.sampled_from([256, 65536]),
)

_seed_line = st.sampled_from([line for _, _, line in SEEDS]).map(str.encode)
_hostile = st.sampled_from(
    [b"\x00", b"\x1b[31m", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80", b"\r", b"\t", b"\x85", b"\xe2\x80\xa8",
     b'"', b"'", b"<", b"&", b"]]>", b"\\", b"{", b"}", b"\xef\xbb\xbf", b"\xd0\xb0", b"  ", b": ", b"Info: "]
)  # fmt: skip


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A real-shaped line with bytes inserted, removed or replaced."""
    line = bytearray(draw(_seed_line))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate"]))
        at = draw(st.integers(0, len(line)))
        if op == "insert":
            line[at:at] = draw(st.one_of(_hostile, st.binary(min_size=1, max_size=8)))
        elif op == "delete":
            del line[at : at + draw(st.integers(1, 12))]
        elif op == "replace" and at < len(line):
            line[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del line[at:]
    return bytes(line)


@st.composite
def _log(draw: st.DrawFn) -> bytes:
    """A log of real lines, mutated lines, whole sessions and junk, with odd line ends."""
    parts: List[bytes] = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.integers(0, 9))
        if kind <= 3:
            parts.append(draw(_seed_line))
        elif kind <= 6:
            parts.append(draw(_mutated()))
        elif kind == 7:
            parts.append(draw(st.sampled_from(SESSIONS)).rstrip(b"\n"))
        elif kind == 8:
            parts.append(draw(st.binary(max_size=64)))
        else:
            parts.append(draw(_seed_line) + b"x" * draw(st.integers(200, 700)))
        parts.append(draw(st.sampled_from([b"\n", b"\r\n", b"\n\n", b""])))
    return b"".join(parts)


# --- properties -------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_log(), config=_settings, cuts=st.lists(st.integers(0, 4000), max_size=4), checkpoint=st.integers(0, 3))
def test_every_invariant_holds_on_mutated_logs(data: bytes, config: Settings, cuts: List[int], checkpoint: int) -> None:
    harness.check_input(data, config, cuts, checkpoint, tolerate=harness.KNOWN_ISSUES)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048), config=_settings, cuts=st.lists(st.integers(0, 2048), max_size=3))
def test_every_invariant_holds_on_random_bytes(data: bytes, config: Settings, cuts: List[int]) -> None:
    whole, _ = harness.check_input(data, config, cuts, 0, tolerate=harness.KNOWN_ISSUES)
    # Random bytes almost never form an authentication line; when they do, it is valid (checked above).
    assert whole.stats["lines"] >= data.count(b"\n")


# --- every template in every envelope ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "envelope", "line"), SEEDS, ids=[f"{name}-{envelope}-{i}" for i, (name, envelope, _) in enumerate(SEEDS)]
)
def test_each_registry_example_gives_its_event_in_each_envelope(name: str, envelope: str, line: str) -> None:
    outcome = harness.read(line.encode() + b"\n", Settings(tz="UTC", year=2009, reference_time=REFERENCE))
    pattern = BY_NAME[name]
    if pattern.role != AUTH:
        assert outcome.events == []
        return
    assert [event["signature_id"] for event in outcome.events] == [pattern.signature_id]
    event = outcome.events[0]
    harness.check_event(event)
    # The body is kept whole after any envelope, and the time is read from every
    # envelope that has one (E10, the bare body, has none).
    assert event["raw"] == line
    assert ("time" in event) == (envelope != "E10")


# --- crash reproducers --------------------------------------------------------------


def _reproducers() -> List[Path]:
    return sorted(REGRESSIONS.glob("*.bin"))


def test_every_known_reproducer_is_on_disk() -> None:
    assert sorted(KNOWN_REPRODUCERS) == sorted(p.name for p in _reproducers() if p.name in KNOWN_REPRODUCERS), (
        "a reproducer listed in KNOWN_REPRODUCERS is missing from tests/regressions/"
    )
    assert set(KNOWN_REPRODUCERS.values()) <= harness.KNOWN_ISSUES


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(
            p,
            id=p.name,
            marks=[pytest.mark.xfail(strict=True, reason=f"reported library defect: {KNOWN_REPRODUCERS[p.name]}")]
            if p.name in KNOWN_REPRODUCERS
            else [],
        )
        for p in _reproducers()
    ],
)
def test_crash_reproducer_passes_every_invariant(path: Path) -> None:
    config, cuts, checkpoint, body = harness.parse_input(path.read_bytes())
    harness.check_input(body, config, cuts, checkpoint)


def test_known_issues_are_tolerated_only_where_named() -> None:
    # Guard against a tolerance that hides everything: a schema violation of
    # another field still fails with every known issue tolerated.
    event = harness.read(SEEDS[0][2].encode() + b"\n", Settings(tz="UTC")).events[0]
    broken = dict(event, sbrs=42)
    with pytest.raises(harness.Violation, match="schema"):
        harness.check_event(broken, {"reply-code-range", "cr-in-warning"})


def test_the_xml_check_fails_on_an_injected_element_and_a_changed_event() -> None:
    # The comparator must be able to fail (a check that cannot fail proves nothing).
    outcome = harness.read(SEEDS[0][2].encode() + b"\n", Settings(tz="UTC"))
    text = harness.xml_stream(outcome.objects)
    harness.check_xml(text, outcome.events)
    with pytest.raises(harness.Violation, match="unexpected XML elements"):
        harness.check_xml(text.replace("<done />", "<done /><injected />"), outcome.events)
    with pytest.raises(harness.Violation, match="XML stream has"):
        harness.check_xml(text.replace("</stream>", "<event><data>{}</data></event></stream>"), outcome.events)
    with pytest.raises(harness.Violation, match="changed in XML"):
        harness.check_xml(text, [dict(outcome.events[0], user="someone else")])
    with pytest.raises(harness.Violation, match="not well formed"):
        harness.check_xml(text.replace("</stream>", "\x01</stream>"), outcome.events)


def test_the_framing_check_fails_when_blocks_read_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """The invariant on the two framings can fail: a block read differently from its single lines is reported."""
    e = "Mon Mar  4 07:00:00 2024 Info: "
    data = "".join(e + line + "\n" for line in (
        "New SMTP ICID 5 interface In (192.0.2.1) address 198.51.100.9",
        "SMTP Auth: (ICID 5) failed for user: bob using AUTH mechanism: LOGIN with profile: Corp",
        "ICID 5 close",
        "ICID 6 close",
    )).encode()  # fmt: skip
    harness.check_input(data, Settings(tz="UTC"), [40])
    real = reader.Reader._block

    def altered(self: reader.Reader, stream: harness.Stream, buf: bytes, end: int, offset: int) -> List[object]:
        self.stats.skipped += 1  # a counter the block way gets wrong
        return real(self, stream, buf, end, offset)  # type: ignore[return-value]

    monkeypatch.setattr(reader.Reader, "_block", altered)
    with pytest.raises(harness.Violation, match="blocks and single lines"):
        harness.check_input(data, Settings(tz="UTC"), [40])
