"""Every REGEX of transforms.conf and every rex of the shipped searches, run by PCRE2, Splunk's engine (#14).

tests/test_search_time.py runs these regexes through a Python translation (``(?<name>`` to ``(?P<name>``)
and proves that what they extract equals what the library gives. Python's ``re`` and PCRE2 differ in places
(``\\s``, ``$`` before a final newline, Unicode classes, look-behind rules, what compiles at all): here the
same patterns, exactly as written in the .conf files, are compiled by the system's libpcre2-8
(tests/pcre2.py) and run on the same lines, and each must match the same lines with the same groups as the
translation, within Splunk's default match and depth limits (past them Splunk silently extracts nothing).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pcre2
import pytest
from esa_auth import patterns as P
from test_detections import spl_model  # how SPL reads a search's rex
from test_search_time import CORPUS, NOT_EVENTS, RAW_SOURCETYPES, SAMPLES, adversarial, conf, pcre, report_transforms

if not pcre2.AVAILABLE:  # pragma: no cover - libpcre2-8 is part of every Debian and Ubuntu base system
    pytest.skip(pcre2.UNAVAILABLE_REASON, allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
#: Splunk's engine options for REGEX and rex: UTF-8 text (Splunk compiles with PCRE2_UTF).
OPTIONS = pcre2.UTF


def _sample_lines() -> List[str]:
    lines = []
    for path in sorted(SAMPLES.glob("esa_auth_*.xml")):
        for element in ET.parse(path).getroot().findall("event"):
            lines.append(element.findtext("raw") or "")
    return lines


def _session_lines() -> List[str]:
    """Open and TLS lines of SMTP sessions (C1 ...), in the native envelope: what the fill search reads."""
    return [
        f"Wed Apr 22 11:44:47 2009 Info: {example}"
        for pattern in P.PATTERNS
        if pattern.role != P.AUTH
        for example in pattern.examples
    ]


#: The lines of today's tests: every template example and sample log event, the look-alikes, the samples.
LINES: List[str] = sorted(
    {event["raw"] for _, event in CORPUS} | {line for _, line in NOT_EVENTS} | set(_sample_lines())
    | set(_session_lines())
)  # fmt: skip


def transforms_in_use() -> List[Tuple[str, str]]:
    """(transform name, REGEX) of every transform a raw sourcetype's REPORT class uses."""
    names = sorted({name for st in RAW_SOURCETYPES for name in report_transforms(st)})
    return [(name, conf("transforms")[name]["REGEX"]) for name in names]


def rex_patterns() -> List[Tuple[str, str]]:
    """(search name, pattern) of every rex in default/savedsearches.conf, as SPL unquotes it."""
    return [
        (name, regex)
        for name, stanza in conf("savedsearches").items()
        for regex in spl_model.raw_rexes(stanza.get("search", ""))
    ]


def test_a_rex_is_read_as_spl_reads_a_quoted_string() -> None:
    # SPL takes \" for a quote and \\ for one backslash; any other backslash reaches the regex as written.
    search = r'search x | rex field=_raw "a\\b\"c\d(?<f>\S+)" | rex  field=_raw  "\"q\""'
    assert spl_model.raw_rexes(search) == [r'a\b"c\d(?<f>\S+)', '"q"']
    assert adversarial.rex_regexes(search, "x") == {"x rex 1": r'a\b"c\d(?<f>\S+)', "x rex 2": '"q"'}


def _python_groups(regex: str, line: str) -> Optional[Tuple[Optional[str], ...]]:
    found = pcre(regex).search(line)
    return None if found is None else (found.group(0), *found.groups())


def _pcre2_groups(compiled: pcre2.Regex, line: str) -> Optional[Tuple[Optional[str], ...]]:
    found = compiled.search(line, match_limit=pcre2.SPLUNK_MATCH_LIMIT, depth_limit=pcre2.SPLUNK_DEPTH_LIMIT)
    return None if found is None else (found.group(0), *found.groups())


def _compare(regex: str, lines: Sequence[str] = LINES) -> Dict[str, str]:
    """Lines where PCRE2 and the Python translation disagree (empty when they agree on every line)."""
    compiled = pcre2.compile(regex, OPTIONS)
    differences = {}
    for line in lines:
        try:
            got = _pcre2_groups(compiled, line)
        except pcre2.LimitError as exc:
            differences[line] = f"PCRE2 gives up under Splunk's limits: {exc}"
            continue
        want = _python_groups(regex, line)
        if got != want:
            differences[line] = f"PCRE2 {got!r} != Python {want!r}"
    return differences


def test_the_corpus_is_today_s() -> None:
    # Every template's examples and look-alikes are in: a shrunken corpus would prove little.
    assert len(LINES) > 150
    auth = {p.signature_id for p in P.PATTERNS if p.role == P.AUTH}
    assert {event["signature_id"] for _, event in CORPUS} == auth


@pytest.mark.parametrize(("name", "regex"), transforms_in_use(), ids=[n for n, _ in transforms_in_use()])
def test_transforms_regex_runs_the_same_in_pcre2(name: str, regex: str) -> None:
    assert _compare(regex) == {}, name


@pytest.mark.parametrize(("search", "regex"), rex_patterns(), ids=[f"rex{i}" for i, _ in enumerate(rex_patterns())])
def test_searches_rex_runs_the_same_in_pcre2(search: str, regex: str) -> None:
    assert _compare(regex) == {}, search


def test_every_transform_and_rex_is_covered() -> None:
    regexes = {name for name, stanza in conf("transforms").items() if "REGEX" in stanza}
    assert regexes == {name for name, _ in transforms_in_use()}
    assert len(rex_patterns()) == 2  # the fill search's open and TLS lines (AUTH lines: the T transforms)


def test_each_rex_matches_its_lines_in_pcre2() -> None:
    # The rex of the fill search find the session lines they are for, under PCRE2.
    compiled = [pcre2.compile(regex, OPTIONS) for _, regex in rex_patterns()]
    found = {group for line in LINES for rx in compiled for group, v in (_groupdict(rx, line)).items() if v}
    assert {"esa_auth_open", "esa_auth_src", "esa_auth_listener", "esa_auth_tls"} <= found


def _groupdict(compiled: pcre2.Regex, line: str) -> Dict[str, Optional[str]]:
    found = compiled.search(line)
    return {} if found is None else found.groupdict()


def test_the_comparison_can_fail() -> None:
    # Where the engines differ, the check says so: without UCP, PCRE2's \w is ASCII, Python's is Unicode.
    line = "Info: User jos\u00e9 was authenticated successfully"
    assert _compare(r"User (\w+) was", [line]) == {line: "PCRE2 None != Python ('User jos\u00e9 was', 'jos\u00e9')"}
    # And a line past Splunk's match limit counts as a difference: Splunk would extract nothing.
    assert "gives up" in _compare(r"(a+)+$", ["a" * 40 + "b"])["a" * 40 + "b"]


def test_a2_starts_again_where_a_later_user_can_match() -> None:
    # A start where "from A failed" follows the user is no A2 match; PCRE2 starts again near the last such "from",
    # never past a start whose user begins after it (the user "from 1.2.3.4", "from  b", "b" below), and gives
    # what the look-ahead at every start (the Python form) gives.
    regex = conf("transforms")["esa_auth_A2"]["REGEX"]
    envelope = "Wed Apr 22 11:44:47 2009 Info: "
    lines = {
        "User a from 1.2.3.4 failed info: User from 1.2.3.4 failed authentication": "from 1.2.3.4",
        "User a b c from 1.2.3.4 failed info: User x failed authentication": "x",
        "User a b from ::1 failed debug:\tUSER a\tFROM 10.0.0.1\tfailed info:  User  from  b failed authentication.": (
            "from  b"
        ),
        "User a from 1.2.3.4 failed\ninfo: User b failed authentication": "b",
        "User a from 1.2.3.4 failed authentication": None,
        "User a info: User a info: User a from 1.2.3.4 failed authentication": None,
    }
    assert _compare(regex, [envelope + line for line in lines]) == {}
    compiled = pcre2.compile(regex, OPTIONS)
    assert {line: _groupdict_or_none(compiled, envelope + line) for line in lines} == lines


def _groupdict_or_none(compiled: pcre2.Regex, line: str) -> Optional[str]:
    found = compiled.search(line)
    return None if found is None else found.group(1)
