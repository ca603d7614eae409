"""Figures for docs/SECURITY.md: what adversarial lines cost, per template and per Splunk regex (#18).

    .venv/bin/python bench/hostile.py [--size 1024] [--py-size 65536] [--templates T1,T2] [--splunk]
    .venv/bin/python bench/hostile.py --ordinary main [--templates A3,C1]
    .venv/bin/python bench/hostile.py --starts [--templates U1,app_audit]

Library templates: the worst work per byte of the adversarial lines of ``--size`` characters
(fuzz/adversarial.py) against the template's example lines, counted as PCRE2 matcher steps
(machine independent); then the worst time per byte of Python's own ``re`` on lines of ``--py-size``
characters (runs of a space, ``(``, ``:``, a letter, a tab, and the template's literal stretches) against
the examples' time per byte. Times are noisy on a shared machine: the best of three runs is kept.

``--splunk``: every REGEX of transforms.conf and rex of the shipped searches, on adversarial events of
10,000 (Splunk's TRUNCATE) and 65,536 characters (with the runs of short words of
``adversarial.SPLUNK_FILLERS``): the largest match limit a start position needs
(Splunk's default is 100,000), and how many events reach the default match or depth limit; then, as for the
templates, the worst steps per byte of the adversarial events of ``--size`` characters against the examples'
(tests/test_linear_time.py holds them to 3x).

``--starts``: every Splunk regex on events of repeated starts (``adversarial.repeated_starts``: a level word and
a body's first words repeated, then nothing, a second line, ``, x`` or the example on a second line), the steps per
byte of the whole search (every start position, a step a character) on events of 1,000 and 4,000 characters, the
worst case (tests/test_linear_time.py holds the growth to 1.6x); then the time of one PCRE2 search of that case's
event at 10,000 and 40,000 characters (the best of three).

``--ordinary BASE``: what a rewrite costs on ordinary lines. For each template whose regex differs from the
one at git revision BASE (fuzz/compare_templates.py loads it), the time of one match of its example lines
with Python's ``re``, this tree against BASE, measured in turns (the best of ``--repeat`` turns each, so
that a busy machine weighs on both alike), and PCRE2's steps per byte of the examples.
"""

from __future__ import annotations

import argparse
import re
import sys
import timeit
from pathlib import Path
from typing import Pattern

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

import adversarial
import compare_templates
import pcre2
from esa_auth import patterns

TIMED_FILLERS = (" ", "(", ":", "a", "\t")


def _per_byte(regex: Pattern[str], line: str, number: int) -> float:
    return min(timeit.repeat(lambda: regex.match(line), number=number, repeat=3)) / number / len(line)


def library(size: int, py_size: int, wanted: set) -> None:  # type: ignore[type-arg]
    print(f"PCRE2 {pcre2.version()}, Python {sys.version.split()[0]}; steps on {size}, time on {py_size} characters")
    print(
        f"{'template':10} {'lines':>6} {'steps/B':>8} {'worst':>7} {'ratio':>6} {'ns/B':>7} {'worst':>7} {'ratio':>6}"
    )
    for pattern in patterns.PATTERNS:
        if wanted and pattern.name not in wanted:
            continue
        regex = pcre2.from_python(pattern.regex)
        verdict = adversarial.check(pattern.name, regex, pattern.examples, size=size, anchored=True, exact=True)
        ordinary = max(_per_byte(pattern.regex, e, 2000) for e in pattern.examples)
        worst = 0.0
        for example in pattern.examples:
            found = regex.match(example)
            assert found is not None
            for hostile in adversarial.hostile_lines(example, py_size, found.spans[1:]):
                if hostile.filler in TIMED_FILLERS or len(hostile.filler) > 8:
                    worst = max(worst, _per_byte(pattern.regex, hostile.line, 1))
        print(
            f"{pattern.name:10} {verdict.lines:6} {verdict.ordinary:8.2f} {verdict.worst:7.2f} {verdict.ratio:6.2f}"
            f" {ordinary * 1e9:7.1f} {worst * 1e9:7.1f} {worst / ordinary:6.2f}",
            flush=True,
        )


def splunk(wanted: set, size: int) -> None:  # type: ignore[type-arg]
    print(
        f"PCRE2 {pcre2.version()}: Splunk's default limits: match {pcre2.SPLUNK_MATCH_LIMIT}, "
        f"depth {pcre2.SPLUNK_DEPTH_LIMIT}; steps per byte on events of {size} characters"
    )
    print(
        f"{'regex':42} {'events':>6} {'limit@10000':>11} {'hits@10000':>10} {'hits@65536':>10}"
        f" {'steps/B':>8} {'worst':>7} {'ratio':>6}  worst event"
    )
    for name, source, examples in adversarial.splunk_regexes():
        if wanted and not any(w in name for w in wanted):
            continue
        regex = pcre2.compile(source)
        verdict = adversarial.check(
            name, regex, examples, size=size, anchored=False, prefix=adversarial.ENVELOPE, exact=True
        )
        row = [0, 0, 0, 0]
        for length, column in ((10_000, 2), (65_536, 3)):
            for example in examples:
                found = regex.search(adversarial.ENVELOPE + example)
                assert found is not None
                offset = len(adversarial.ENVELOPE)
                spans = [(s - offset, e - offset) if s >= offset else (-1, -1) for s, e in found.spans[1:]]
                for hostile in adversarial.hostile_lines(example, length, spans, adversarial.SPLUNK_FILLERS):
                    line = adversarial.ENVELOPE + hostile.line
                    row[0] += length == 10_000
                    try:
                        regex.search(line, match_limit=pcre2.SPLUNK_MATCH_LIMIT, depth_limit=pcre2.SPLUNK_DEPTH_LIMIT)
                    except pcre2.LimitError:
                        row[column] += 1
                        continue
                    if length == 10_000:
                        row[1] = max(row[1], regex.least_match_limit(line) or 0)
        print(
            f"{name:42} {row[0]:6} {row[1]:11} {row[2]:10} {row[3]:10} {verdict.ordinary:8.2f} {verdict.worst:7.2f}"
            f" {verdict.ratio:6.2f}  {verdict.worst_line}",
            flush=True,
        )


def starts(wanted: set) -> None:  # type: ignore[type-arg]
    print(f"PCRE2 {pcre2.version()}: the whole search on events of repeated starts, steps a byte (a step a character)")
    print(f"{'regex':38} {'@1000':>7} {'@4000':>7} {'growth':>6} {'ms@10000':>9} {'ms@40000':>9}  worst case")
    for name, source, examples in adversarial.splunk_regexes():
        if wanted and not any(w in name for w in wanted):
            continue
        costs = dict(adversarial.starts_costs(source, examples, (1_000, 4_000)))
        key, (small, large) = max(costs.items(), key=lambda item: item[1][1] / item[1][0])
        example, case = key.split(" ", 1)
        regex = pcre2.compile(source)
        took = []
        for size in (10_000, 40_000):
            event = adversarial.ENVELOPE + dict(adversarial.repeated_starts(examples[int(example)], size))[case]
            took.append(min(timeit.repeat(lambda e=event, r=regex: r.search(e, match_limit=10**9), number=1, repeat=3)))
        print(
            f"{name:38} {small:7.2f} {large:7.2f} {large / small:6.2f} {took[0] * 1e3:9.2f} {took[1] * 1e3:9.2f}"
            f"  example {example}, {case}",
            flush=True,
        )


def ordinary(base: str, wanted: set, repeat: int) -> None:  # type: ignore[type-arg]
    old = compare_templates._load(base)
    print(f"Python {sys.version.split()[0]}: one match of the example lines, {base} against this tree")
    print(f"{'template':10} {base + ' ns':>10} {'now ns':>10} {'ratio':>6} {base + ' st/B':>10} {'now st/B':>9}")
    for pattern in patterns.PATTERNS:
        before = old.BY_NAME[pattern.name]
        if (wanted and pattern.name not in wanted) or (not wanted and before.source == pattern.source):
            continue
        best = [float("inf"), float("inf")]
        for _ in range(repeat):
            for i, regex in enumerate((before.regex, pattern.regex)):
                for example in pattern.examples:
                    assert regex.match(example), example
                examples = pattern.examples
                took = min(timeit.repeat(lambda r=regex, x=examples: [r.match(e) for e in x], number=2000, repeat=3))
                best[i] = min(best[i], took / 2000 / len(pattern.examples))
        per_byte = [
            max((pcre2.from_python(r).steps(e, anchored=True) or 0) / len(e) for e in pattern.examples)
            for r in (before.regex, pattern.regex)
        ]
        print(
            f"{pattern.name:10} {best[0] * 1e9:10.0f} {best[1] * 1e9:10.0f} {best[1] / best[0]:6.2f}"
            f" {per_byte[0]:10.2f} {per_byte[1]:9.2f}",
            flush=True,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="length of the lines whose PCRE2 steps are counted")
    parser.add_argument("--py-size", type=int, default=65536, help="length of the lines Python's re is timed on")
    parser.add_argument("--templates", default="", help="comma-separated template names, or parts of regex names")
    parser.add_argument("--splunk", action="store_true", help="the Splunk regexes instead of the templates")
    parser.add_argument("--starts", action="store_true", help="the Splunk regexes on events of repeated starts")
    parser.add_argument("--ordinary", metavar="BASE", default="", help="time ordinary lines against a git revision")
    parser.add_argument("--repeat", type=int, default=5, help="turns of --ordinary")
    args = parser.parse_args()
    wanted = set(filter(None, re.split(",", args.templates)))
    if args.ordinary:
        ordinary(args.ordinary, wanted, args.repeat)
    elif args.starts:
        starts(wanted)
    elif args.splunk:
        splunk(wanted, args.size)
    else:
        library(args.size, args.py_size, wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
