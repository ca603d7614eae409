"""The PCRE2 binding of tests/pcre2.py: what it finds, its limits and its step count."""

from __future__ import annotations

import re

import pcre2
import pytest

if not pcre2.AVAILABLE:  # pragma: no cover - the runtime library is part of every Debian base system
    pytest.skip(pcre2.UNAVAILABLE_REASON, allow_module_level=True)


def test_version_is_a_pcre2_10_release() -> None:
    assert pcre2.version().startswith("10.")


def test_search_gives_named_and_numbered_groups_at_str_offsets() -> None:
    rx = pcre2.compile(r"(?i)user (?<name>\S+)(?: from (\S+))?")
    found = rx.search("Info: USER jos\u00e9 from 192.0.2.1")
    assert found is not None
    assert found.group(0) == "USER jos\u00e9 from 192.0.2.1"
    assert found.groupdict() == {"name": "jos\u00e9"}
    assert found.groups() == ("jos\u00e9", "192.0.2.1")
    assert found.span("name") == (11, 15)
    missing = rx.search("user bob")
    assert missing is not None
    assert missing.group(2) is None
    assert missing.span(2) == (-1, -1)
    assert rx.search("nobody") is None


def test_match_is_anchored_at_the_start() -> None:
    rx = pcre2.compile(r"b+")
    assert rx.search("abb") is not None
    assert rx.match("abb") is None
    found = rx.match("bba")
    assert found is not None
    assert found.group() == "bb"


def test_a_bad_pattern_is_refused_with_its_offset() -> None:
    with pytest.raises(pcre2.Pcre2Error, match="offset"):
        pcre2.compile(r"(unclosed")


def test_a_search_past_the_match_limit_raises() -> None:
    rx = pcre2.compile(r"(a+)+$")
    subject = "a" * 30 + "b"
    with pytest.raises(pcre2.LimitError):
        rx.search(subject, match_limit=pcre2.SPLUNK_MATCH_LIMIT)


def test_a_search_past_the_depth_limit_raises() -> None:
    rx = pcre2.compile(r"(?:a|b)*c")
    with pytest.raises(pcre2.LimitError):
        rx.search("ab" * 2000 + "c", depth_limit=pcre2.SPLUNK_DEPTH_LIMIT)
    assert rx.search("ab" * 2000 + "c") is not None


def test_steps_grow_linearly_for_a_linear_shape_and_by_the_square_for_a_quadratic_one() -> None:
    linear = pcre2.compile(r"x[^y]*y", pcre2.NO_AUTO_POSSESS | pcre2.NO_START_OPTIMIZE)
    quadratic = pcre2.compile(r"(.*?) +y", pcre2.NO_AUTO_POSSESS | pcre2.NO_START_OPTIMIZE)
    small, large = " " * 200, " " * 800
    a, b = linear.steps("x" + small), linear.steps("x" + large)
    assert a is not None
    assert b is not None
    assert b <= 5 * a
    c, d = quadratic.steps(small, anchored=True), quadratic.steps(large, anchored=True)
    assert c is not None
    assert d is not None
    assert d >= 12 * c
    assert quadratic.steps(large, anchored=True, cap=1000) is None
    assert quadratic.steps(large + "y", anchored=True) is not None  # the count does not change what is found


@pytest.mark.parametrize("anchored", [True, False])
def test_the_least_limits_are_the_least_that_let_the_search_end(anchored: bool) -> None:
    rx = pcre2.compile(r"(.*?) +y", pcre2.NO_AUTO_POSSESS | pcre2.NO_START_OPTIMIZE)
    subject = " " * 50 + "x"
    assert pcre2.compile(r"(.*?) +y").least_match_limit(subject) == 0  # "y" is missing: no matching at all
    limit = rx.least_match_limit(subject, anchored=anchored)
    assert limit is not None
    assert rx.search(subject, anchored=anchored, match_limit=limit) is None
    with pytest.raises(pcre2.LimitError):
        rx.search(subject, anchored=anchored, match_limit=limit - 1)
    nested = pcre2.compile(r"(?:a|b)*c")
    depth = nested.least_depth_limit("ab" * 100 + "c", anchored=anchored)
    assert depth is not None
    assert depth > 100
    assert nested.least_depth_limit("ab" * 100 + "c", anchored=anchored, cap=50) is None


def test_a_python_regex_reads_alike_in_pcre2() -> None:
    source = r"SMTP\ +Auth:?\ +\(ICID\ +(?P<icid>\d{1,18})\)\ +failed\ +for\ +user:?\ (?P<user>.*?)\ +using"
    python = re.compile(source, re.VERBOSE | re.IGNORECASE)
    model = pcre2.from_python(python)
    for line in ("smtp auth (ICID 7) failed for user: j doe using", "SMTP Auth: (ICID 1) FAILED for user x using"):
        ours, theirs = python.match(line), model.match(line)
        assert ours is not None
        assert theirs is not None
        assert theirs.groupdict() == ours.groupdict()
