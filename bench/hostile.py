"""Figures for docs/SECURITY.md: the cost of adversarial lines per template, in PCRE2 steps and in Python time.

    .venv/bin/python bench/hostile.py [--size 65536] [--templates T1,T2,C1]

For each template: the worst cost per byte of its adversarial lines (fuzz/adversarial.py) against that of
its example lines, counted as PCRE2 matcher steps (machine independent), and the worst time per byte of
Python's own ``re`` (3.9-3.13) on those lines against the example's. Times are noisy on a shared machine.
"""

from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

import adversarial
import pcre2
from esa_auth import patterns


def _per_byte(regex, line: str, number: int) -> float:  # type: ignore[no-untyped-def]
    return min(timeit.repeat(lambda: regex.match(line), number=number, repeat=3)) / number / len(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--size", type=int, default=4096, help="length of the adversarial lines (max_line_bytes: 65536)"
    )
    parser.add_argument("--templates", default="", help="comma-separated template names (default: all)")
    args = parser.parse_args()
    wanted = set(filter(None, args.templates.split(",")))
    print(f"PCRE2 {pcre2.version()}, Python {sys.version.split()[0]}, lines of {args.size} characters")
    print(
        f"{'template':10} {'lines':>6} {'steps/B':>10} {'worst':>8} {'ratio':>6} {'ns/B':>8} {'worst':>9} {'ratio':>6}"
    )
    for pattern in patterns.PATTERNS:
        if wanted and pattern.name not in wanted:
            continue
        regex = pcre2.from_python(pattern.regex)
        verdict = adversarial.check(pattern.name, regex, pattern.examples, size=args.size, anchored=True, exact=True)
        ordinary = max(_per_byte(pattern.regex, e, 2000) for e in pattern.examples)
        worst = 0.0
        for example in pattern.examples:
            found = regex.match(example)
            assert found is not None
            for hostile in adversarial.hostile_lines(example, args.size, found.spans[1:]):
                worst = max(worst, _per_byte(pattern.regex, hostile.line, 1))
        print(
            f"{pattern.name:10} {verdict.lines:6} {verdict.ordinary:10.2f} {verdict.worst:8.2f} {verdict.ratio:6.2f}"
            f" {ordinary * 1e9:8.1f} {worst * 1e9:9.1f} {worst / ordinary:6.2f}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
