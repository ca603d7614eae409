"""The clock of a source: offsets, the zone against the header, and daylight-saving changes (#20)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import List, Optional, Tuple

import pytest
from esa_auth.clock import KEEP, RESET, SKIP, Clock, wall_seconds
from esa_auth.errors import StateError
from esa_auth.timezones import parse_zone, rfc3339

CHICAGO = parse_zone("America/Chicago")
SYDNEY = parse_zone("Australia/Sydney")


def at(text: str) -> int:
    """A wall-clock time ``YYYY-MM-DD HH:MM:SS`` as the reader gives it to the clock."""
    seconds = wall_seconds(int(text[:4]), int(text[5:7]), int(text[8:10]), text[11:])
    assert seconds is not None, text
    return seconds


def utc(epoch: int) -> str:
    return rfc3339(epoch)


def read_all(
    clock: Clock, times: List[str], zone: Optional[object] = CHICAGO, header: Optional[int] = None, host: str = ""
) -> List[Tuple[str, Optional[int]]]:
    out = []
    for text in times:
        epoch, offset, _ = clock.read(at(text), host, zone, header)  # type: ignore[arg-type]
        out.append((utc(epoch), offset))
    return out


# --- offsets --------------------------------------------------------------------------------


def test_header_offset_is_local_minus_utc() -> None:
    # "Time offset from UTC: -21600 seconds": local is 6 hours behind UTC.
    assert read_all(Clock(), ["2024-06-03 12:00:00"], None, -21600) == [("2024-06-03T18:00:00Z", -21600)]
    assert read_all(Clock(), ["2024-06-03 12:00:00"], None, 3600) == [("2024-06-03T11:00:00Z", 3600)]


def test_a_zone_applies_with_its_rules() -> None:
    assert read_all(Clock(), ["2024-06-03 12:00:00"], parse_zone("America/New_York")) == [
        ("2024-06-03T16:00:00Z", -14400)
    ]
    assert read_all(Clock(), ["2024-06-03 12:00:00"], parse_zone("+05:30")) == [("2024-06-03T06:30:00Z", 19800)]


def test_no_zone_and_no_header_reads_utc() -> None:
    assert read_all(Clock(), ["2024-06-03 12:00:00"], None, None) == [("2024-06-03T12:00:00Z", None)]


def test_a_configured_zone_wins_over_the_header_which_it_checks_once() -> None:
    clock = Clock()
    clock.header(0)
    assert read_all(clock, ["2024-06-03 12:00:00", "2024-06-03 12:00:01"], parse_zone("Asia/Tokyo"), 0) == [
        ("2024-06-03T03:00:00Z", 32400),
        ("2024-06-03T03:00:01Z", 32400),
    ]
    assert len(clock.notes) == 1
    assert "'Time offset from UTC: 0 seconds' disagrees with time zone Asia/Tokyo (+09:00" in clock.notes[0]


def test_a_header_that_agrees_with_the_zone_says_nothing() -> None:
    clock = Clock()
    clock.header(-18000)  # CDT: a file started in daylight time, read past the change
    read_all(clock, ["2026-11-01 00:00:00", "2026-11-01 03:00:00"], CHICAGO, -18000)
    assert clock.notes == []


# --- the repeated hour (autumn) ---------------------------------------------------------------


def test_the_issue_example_the_second_pass_is_standard_time() -> None:
    """01:30, 01:59:59, then 01:15 and 01:45 after the clocks went back (Chicago, 2026-11-01)."""
    clock = Clock()
    times = ["2026-11-01 01:30:00", "2026-11-01 01:59:59", "2026-11-01 01:15:00", "2026-11-01 01:45:00"]
    assert read_all(clock, times) == [
        ("2026-11-01T06:30:00Z", -18000),
        ("2026-11-01T06:59:59Z", -18000),
        ("2026-11-01T07:15:00Z", -21600),
        ("2026-11-01T07:45:00Z", -21600),
    ]
    assert clock.notes == []
    # The hour is over: the next times are plain standard time.
    assert read_all(clock, ["2026-11-01 02:00:00"]) == [("2026-11-01T08:00:00Z", -21600)]


def test_lines_a_little_out_of_order_stay_in_the_first_pass() -> None:
    times = ["2026-11-01 01:30:00", "2026-11-01 01:29:30", "2026-11-01 01:31:00"]
    assert [offset for _, offset in read_all(Clock(), times)] == [-18000, -18000, -18000]


def test_a_late_line_after_the_hour_is_of_the_second_pass() -> None:
    times = ["2026-11-01 02:00:05", "2026-11-01 01:59:58"]
    assert read_all(Clock(), times) == [("2026-11-01T08:00:05Z", -21600), ("2026-11-01T07:59:58Z", -21600)]


def test_each_appliance_has_its_own_pass() -> None:
    clock = Clock()
    clock.read(at("2026-11-01 01:59:00"), "esa01", CHICAGO, None)
    clock.read(at("2026-11-01 01:58:00"), "esa02", CHICAGO, None)
    assert clock.read(at("2026-11-01 01:00:10"), "esa01", CHICAGO, None)[1] == -21600  # esa01 went back
    assert clock.read(at("2026-11-01 01:59:30"), "esa02", CHICAGO, None)[1] == -18000  # esa02 not yet


def test_sydney_repeats_two_oclock_in_april() -> None:
    times = ["2026-04-05 02:40:00", "2026-04-05 02:59:59", "2026-04-05 02:05:00", "2026-04-05 03:00:00"]
    assert read_all(Clock(), times, SYDNEY) == [
        ("2026-04-04T15:40:00Z", 39600),
        ("2026-04-04T15:59:59Z", 39600),
        ("2026-04-04T16:05:00Z", 36000),
        ("2026-04-04T17:00:00Z", 36000),
    ]


def test_the_reader_may_cache_every_reading_but_those_of_the_repeated_hour() -> None:
    clock = Clock()
    assert clock.read(at("2026-11-01 00:59:59"), "", CHICAGO, None)[2] == KEEP
    assert clock.read(at("2026-11-01 01:00:00"), "", CHICAGO, None)[2] == SKIP
    assert clock.read(at("2026-11-01 02:00:00"), "", CHICAGO, None)[2] == KEEP


# --- the skipped hour (spring) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "times", "expected"),
    [
        (
            CHICAGO,
            ["2026-03-08 01:59:59", "2026-03-08 02:30:00", "2026-03-08 02:45:00", "2026-03-08 03:00:00"],
            [
                ("2026-03-08T07:59:59Z", -21600),
                ("2026-03-08T08:30:00Z", -21600),  # the offset before the change
                ("2026-03-08T08:45:00Z", -21600),
                ("2026-03-08T08:00:00Z", -18000),
            ],
        ),
        (
            SYDNEY,
            ["2026-10-04 01:59:59", "2026-10-04 02:30:00", "2026-10-04 03:00:00"],
            [("2026-10-03T15:59:59Z", 36000), ("2026-10-03T16:30:00Z", 36000), ("2026-10-03T16:00:00Z", 39600)],
        ),
    ],
    ids=["chicago", "sydney"],
)
def test_a_skipped_time_is_read_with_the_offset_before_the_change_with_one_warning(
    zone: object, times: List[str], expected: List[Tuple[str, int]]
) -> None:
    clock = Clock()
    assert read_all(clock, times, zone) == expected
    assert len(clock.notes) == 1
    assert "does not exist in" in clock.notes[0]
    assert "read with the offset before the change" in clock.notes[0]


# --- no zone: the header's offset and a step back -----------------------------------------------


def test_without_a_zone_a_step_back_of_about_an_hour_ends_daylight_time() -> None:
    clock = Clock()
    clock.header(-18000)
    times = ["2026-11-01 01:30:00", "2026-11-01 01:59:59", "2026-11-01 01:15:00", "2026-11-01 03:00:00"]
    assert read_all(clock, times, None, -18000) == [
        ("2026-11-01T06:30:00Z", -18000),
        ("2026-11-01T06:59:59Z", -18000),
        ("2026-11-01T07:15:00Z", -21600),
        ("2026-11-01T09:00:00Z", -21600),
    ]
    assert len(clock.notes) == 1
    assert "read as the end of daylight saving time" in clock.notes[0]
    assert "a configured time zone reads clock changes exactly" in clock.notes[0]


@pytest.mark.parametrize("back", ["2026-11-01 01:35:00", "2026-11-01 00:30:00"], ids=["25 minutes", "90 minutes"])
def test_without_a_zone_other_steps_back_keep_the_offset(back: str) -> None:
    clock = Clock()
    times = ["2026-11-01 02:00:00", back]
    assert [offset for _, offset in read_all(clock, times, None, -18000)] == [-18000, -18000]
    assert clock.notes == []


def test_without_a_zone_the_clock_goes_back_once_per_header() -> None:
    clock = Clock()
    times = ["2026-11-01 01:59:00", "2026-11-01 01:01:00", "2026-11-01 01:59:00", "2026-11-01 01:02:00"]
    assert [offset for _, offset in read_all(clock, times, None, -18000)] == [-18000, -21600, -21600, -21600]
    clock.header(-21600)  # the next file
    assert read_all(clock, ["2026-11-02 00:00:00"], None, -21600) == [("2026-11-02T06:00:00Z", -21600)]


def test_without_a_zone_the_cache_is_emptied_when_the_offset_changes_and_every_half_hour() -> None:
    clock = Clock()
    kinds = [clock.read(at(t), "", None, -18000)[2] for t in ("2026-11-01 01:00:00", "2026-11-01 01:10:00")]
    assert kinds == [RESET, KEEP]  # a new span, then within it
    assert clock.read(at("2026-11-01 01:40:00"), "", None, -18000)[2] == RESET  # past the span
    assert clock.read(at("2026-11-01 01:45:00"), "", None, -18000)[2] == KEEP
    assert clock.read(at("2026-11-01 01:00:30"), "", None, -18000)[2] == RESET  # the offset changed


# --- saved state ------------------------------------------------------------------------------


def test_the_state_keeps_the_pass_across_runs() -> None:
    """A run ends inside the repeated hour after the step back; the next reads the second pass."""
    clock = Clock()
    read_all(clock, ["2026-11-01 01:59:59", "2026-11-01 01:05:00"], host="esa01")
    again = Clock.from_state(json.loads(json.dumps(clock.to_state())))
    assert read_all(again, ["2026-11-01 01:30:00"], host="esa01") == [("2026-11-01T07:30:00Z", -21600)]


def test_the_state_keeps_the_last_time_for_a_step_back_in_the_next_run() -> None:
    clock = Clock()
    read_all(clock, ["2026-11-01 01:59:59"])
    again = Clock.from_state(json.loads(json.dumps(clock.to_state())))
    assert read_all(again, ["2026-11-01 01:05:00"]) == [("2026-11-01T07:05:00Z", -21600)]


def test_a_state_saved_before_clocks_is_a_new_clock() -> None:
    assert Clock.from_state(None).to_state() == Clock().to_state()


@pytest.mark.parametrize(
    "state",
    [
        {"hands": []},
        {"hands": {"a": [1, 2]}},
        {"hands": {"a": ["x", None, 0]}},
        {"hands": {"a": [True, None, 0]}},
        {"hands": {"a": [1, None, 1800]}},
        {"hands": {"a": [1, None, "0"]}},
        {},
    ],
)
def test_a_damaged_state_is_a_state_error(state: object) -> None:
    with pytest.raises(StateError, match="clock state is damaged"):
        Clock.from_state(state)


def test_a_utc_zone_is_one_offset() -> None:
    assert read_all(Clock(), ["2026-11-01 01:30:00"], timezone.utc) == [("2026-11-01T01:30:00Z", 0)]


@pytest.mark.parametrize(
    ("year", "month", "day", "hms"),
    [
        (2024, 2, 29, "23:59:59"), (2023, 2, 29, "12:00:00"), (2026, 11, 1, "01:30:00"), (1969, 12, 31, "00:00:01"),
        (1, 1, 1, "00:00:00"), (9999, 12, 31, "23:59:59"), (2026, 4, 31, "10:00:00"), (2026, 1, 6, "24:00:00"),
        (2026, 1, 6, "10:60:00"), (2026, 1, 6, "10:00:60"), (0, 1, 1, "00:00:00"), (2026, 13, 1, "00:00:00"),
    ],
)  # fmt: skip
def test_wall_seconds_reads_a_date_as_building_the_datetime_does(year: int, month: int, day: int, hms: str) -> None:
    try:
        hour, minute, second = (int(x) for x in hms.split(":"))
        local = datetime(year, month, day, hour, minute, second)  # noqa: DTZ001 - wall clock
        expected = int((local - datetime(1970, 1, 1)).total_seconds())  # noqa: DTZ001 - wall clock
    except ValueError:
        expected = None
    assert wall_seconds(year, month, day, hms) == expected
    assert wall_seconds(year, month, day, hms) == expected  # a second time, from the cache of dates


# --- what the sources of one run share (#17: thousands of small files) ------------------------


def test_clocks_of_one_run_share_the_zone_hours_but_each_keeps_its_own_pass() -> None:
    """The zone's offset through an hour is found once per run; each source still decides its own pass."""
    first, second = Clock(), Clock()
    assert read_all(first, ["2026-11-01 00:30:00", "2026-11-01 01:59:00", "2026-11-01 01:10:00"]) == [
        ("2026-11-01T05:30:00Z", -18000),
        ("2026-11-01T06:59:00Z", -18000),
        ("2026-11-01T07:10:00Z", -21600),  # this source went back: the second pass
    ]
    # A new source of the same run reads the same hours: its first line of the repeated hour is of the first
    # pass (its own lines never went back), the hour before is steady for it too.
    assert read_all(second, ["2026-11-01 00:30:00", "2026-11-01 01:10:00"]) == [
        ("2026-11-01T05:30:00Z", -18000),
        ("2026-11-01T06:10:00Z", -18000),
    ]


def test_sources_of_one_run_share_parsed_envelopes_not_what_their_headers_say() -> None:
    """Envelopes are parsed once per run; the time of each source's lines is still read with its own header."""
    from esa_auth.pipeline import Normalizer, Settings, Stream

    prefix = b"Mon Jan  6 10:00:00 2025 Info: "
    line = prefix + b"SMTP Auth: (ICID 5) succeeded for user: bob using AUTH mechanism: LOGIN with profile: Corp\n"
    normalizer = Normalizer(Settings())
    epochs = []
    for name, header in (("a", b"3600"), ("b", b"0"), ("c", b"")):
        stream = Stream(name)
        head = prefix + b"Time offset from UTC: " + header + b" seconds\n" if header else b""
        events = normalizer.feed(stream, head + line) + normalizer.flush(stream)
        assert len(events) == 1
        epoch = events[0].epoch
        assert epoch is not None
        epochs.append(epoch)
    assert epochs[1] - epochs[0] == 3600  # +01:00 and UTC: the same wall-clock time an hour apart
    assert epochs[2] == epochs[1]  # no header, no zone: read as UTC...
    warnings = [str(diagnostic) for diagnostic in normalizer.take_diagnostics()]
    assert [w for w in warnings if w.startswith("c:") and "no 'Time offset from UTC' header" in w]  # ...and said
