"""Floods: connections opened and never closed, a new user name on every line.

A small, fast version of ``fuzz/flood.py`` (whose figures, with millions of
lines, are in docs/RELIABILITY.md). The session table must stay within
``Settings.max_sessions`` and ``Settings.session_timeout`` whatever the input
does, count every session it drops, and keep emitting authentication events.
No timing here: speed belongs to the flood script and bench/.
"""

from __future__ import annotations

import json
import sys
import tracemalloc
from pathlib import Path
from typing import List, Tuple

import pytest
from esa_auth import AuthEvent, Normalizer, Settings, Stream

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

import flood


def _feed(scenario: str, lines: int, settings: Settings, rate: int = 10_000) -> Tuple[Normalizer, List[AuthEvent], int]:
    """Feed a flood; return the normalizer, its events and the largest table size seen."""
    normalizer = Normalizer(settings)
    stream = Stream("flood.log")
    events: List[AuthEvent] = []
    largest = 0
    for data, _ in flood.chunks(scenario, lines, rate):
        events.extend(normalizer.feed(stream, data))
        largest = max(largest, len(normalizer.sessions))
    events.extend(normalizer.end(stream))
    return normalizer, events, largest


def test_connections_never_closed_stay_within_the_bound_and_are_counted() -> None:
    normalizer, events, largest = _feed("open", 30_000, Settings(tz="UTC", max_sessions=500))
    stats = normalizer.stats_dict()
    assert largest == 500
    assert len(normalizer.sessions) == 500
    # Every line opened a new connection: all but the last 500 were evicted, and counted.
    assert stats["evictions"] == 30_000 - 500
    assert normalizer.sessions.evicted_full == 30_000 - 500
    assert normalizer.sessions.evicted_idle == 0
    assert stats["lines"] == 30_000
    assert stats["context"] == 30_000
    assert events == []


def test_distinct_users_on_unclosed_connections_all_give_events() -> None:
    normalizer, events, largest = _feed("users", 20_000, Settings(tz="UTC", max_sessions=100))
    assert largest == 100
    assert normalizer.stats_dict()["evictions"] == 10_000 - 100
    # One failure per connection, every one emitted, each with its client address:
    # the connection was opened on the line before, so eviction never hides it.
    assert len(events) == 10_000
    assert len({e.user for e in events}) == 10_000
    assert all(e.action == "failure" and e.src_ip is not None for e in events)


def test_an_auth_line_whose_session_was_evicted_is_still_emitted_without_context() -> None:
    data = (
        b"Wed Apr 22 11:00:00 2009 Info: New SMTP ICID 1 interface In (192.0.2.1) address 198.51.100.1 "
        b"reverse dns host unknown verified no\n"
        b"Wed Apr 22 11:00:01 2009 Info: New SMTP ICID 2 interface In (192.0.2.1) address 198.51.100.2 "
        b"reverse dns host unknown verified no\n"
        b"Wed Apr 22 11:00:02 2009 Info: SMTP Auth: (ICID 1) failed for user: bob using AUTH mechanism: LOGIN "
        b"with profile: Corp\n"
    )
    normalizer = Normalizer(Settings(tz="UTC", max_sessions=1))
    stream = Stream("evicted.log")
    events = normalizer.feed(stream, data) + normalizer.end(stream)
    assert [e.user for e in events] == ["bob"]
    # ICID 1 was pushed out by ICID 2: its address is left out, never guessed.
    assert events[0].src_ip is None
    assert events[0].icid == 1
    assert normalizer.stats_dict()["evictions"] == 1


def test_idle_sessions_are_dropped_by_the_timeout_and_counted() -> None:
    # One line per second of log time, timeout one minute: the table holds about a minute.
    normalizer, _, largest = _feed("idle", 5_000, Settings(tz="UTC", max_sessions=100_000, session_timeout=60))
    assert largest <= 62
    assert normalizer.sessions.evicted_idle >= 5_000 - 62
    assert normalizer.sessions.evicted_full == 0
    assert normalizer.stats_dict()["evictions"] == normalizer.sessions.evicted_idle


def test_memory_does_not_grow_with_the_flood_once_the_table_is_full() -> None:
    settings = Settings(tz="UTC", max_sessions=1_000)
    _feed("open", 5_000, settings)  # what is made once (the templates' regexes) is made before measuring
    sizes = []
    for lines in (20_000, 180_000):
        tracemalloc.start()
        normalizer, _, _ = _feed("open", lines, settings)
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(normalizer.sessions) == 1_000
        sizes.append(current)
    # Nine times the connections, the same memory: nothing is kept per connection seen (the smallest object
    # kept for each of the 160,000 more would add 5 MB). The table's dicts move by up to 200 KB as they
    # resize, whatever the number of connections.
    assert abs(sizes[1] - sizes[0]) < 400_000, sizes


def test_checkpoint_state_is_bounded_by_the_table() -> None:
    settings = Settings(tz="UTC", max_sessions=200)
    small, _, _ = _feed("open", 5_000, settings)
    big, _, _ = _feed("open", 50_000, settings)
    rows_small = small.state()["sessions"]["sessions"]
    rows_big = big.state()["sessions"]["sessions"]
    assert len(rows_small) == len(rows_big) == 200
    assert abs(len(json.dumps(big.state())) - len(json.dumps(small.state()))) < 2_000


def test_restoring_a_big_checkpoint_into_a_smaller_table_trims_and_counts() -> None:
    big, _, _ = _feed("open", 5_000, Settings(tz="UTC", max_sessions=1_000))
    state = json.loads(json.dumps(big.state()))
    evictions_before = big.stats_dict()["evictions"]
    small = Normalizer(Settings(tz="UTC", max_sessions=10), state=state)
    assert len(small.sessions) == 10
    assert small.stats_dict()["evictions"] == evictions_before + 990
    # The most recently active sessions are the ones kept.
    assert sorted(key[2] for key in small.sessions) == list(range(4_991, 5_001))


@pytest.mark.parametrize("objects", [False, True])
@pytest.mark.parametrize("scenario", flood.SCENARIOS)
def test_flood_script_reports_its_figures(scenario: str, objects: bool, tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    assert flood.main(["--scenario", scenario, "--lines", "4000", "--max-sessions", "50", "--timeout", "60",
                       "--every", "1000", "--json", str(out)] + (["--objects"] if objects else [])) == 0  # fmt: skip
    figures = json.loads(out.read_text())
    assert figures["lines"] == 4000
    assert figures["events"] == (2000 if scenario == "users" else 0)
    assert figures["reading"] == ("feed" if objects else "command line (feed and JSON)")
    assert figures["largest_table"] <= 50
    assert figures["evictions"] == figures["evicted_full"] + figures["evicted_idle"] > 0
    assert [row["lines"] for row in figures["progress"]] == [1000, 2000, 3000, 4000]
