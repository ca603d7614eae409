"""The fields the Splunk regexes give, this tree against a git revision, with PCRE2 (#18, docs/SECURITY.md).

    .venv/bin/python fuzz/compare_splunk.py [--base main] [--lines 2000] [--built 20000] [--generated 20000] [--seed 1]

A rewrite of a ``REGEX`` of default/transforms.conf, or of a ``rex`` of the shipped searches, must keep the events it
matches and the fields it gives. This reads the stanzas of transforms.conf and the rex of default/savedsearches.conf
(named as fuzz/adversarial.py names them) as they are at ``--base`` and as they are now, and for every regex that
changed searches both with PCRE2 (tests/pcre2.py, the engine of Splunk) on: the stanza's examples in each envelope
of :data:`ENVELOPES`, ``--lines`` of them edited at random (the edits of fuzz/compare_templates.py), their
adversarial lines (fuzz/adversarial.py), ``--built`` events built from pieces of the examples (line breaks and level
words between them) and ``--generated`` lines of bench/generate.py for every preset. It prints
every line on which the two give other groups (no match, or other values). Exit status 1 when any differs.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "package"))
sys.path.insert(0, str(ROOT / "bench"))

import adversarial  # noqa: E402
import pcre2  # noqa: E402
from compare_templates import _mutate  # noqa: E402
from esa_auth import patterns  # noqa: E402

#: Envelopes put before the examples: none (a relay kept the body only), syslog and the appliance's own, each level
#: word, upper case, several blanks after the colon, a level word glued to a word before it (no level then).
ENVELOPES = (
    "",
    adversarial.ENVELOPE,
    "<22>Apr 22 11:44:48 esa1 mail_logs: Warning: ",
    "Wed Apr 22 11:44:48 2009 CRITICAL:   ",
    "Wed Apr 22 11:44:48 2009 debug:\t",
    "Wed Apr 22 11:44:48 2009 Trace: \t ",
    "Wed Apr 22 11:44:48 2009 xinfo: ",
    "Wed Apr 22 11:44:48 2009 Info:",
    "Info: Info: ",
    "trace: ",
)


def _groups(regex: pcre2.Regex, line: str) -> Optional[Tuple[Optional[str], ...]]:
    found = regex.search(line, match_limit=10**9, depth_limit=10**9)
    return None if found is None else found.groups()


def _generated(count: int, seed: int) -> List[str]:
    import generate

    lines: List[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        for preset in sorted(generate.PRESETS):
            path = Path(tmp) / f"{preset}.log"
            generate.generate(path, count, seed, preset)
            lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
    return lines


#: What joins the pieces of :func:`_built`: blanks, line breaks, commas, level words.
JOINS = (" ", "  ", "\t", "\n", "\n ", ",", ", ", "info: ", "Info:", "warning:\n", " info: ")


def _built(examples: Sequence[str], count: int, rng: random.Random) -> List[str]:
    """``count`` events built from pieces of the examples: runs of one to six of an example's words, each followed
    by a join of :data:`JOINS`, one to thirty pieces, sometimes after the envelope, sometimes followed by a whole
    example. Such events hold runs of starts, starts cut by a line break after any of their first words, values
    made of another start's words, and a match on a later line: where a regex ends its search early
    (``(*COMMIT)``, ``(*SKIP)``), the starts it passes over must be those that could not match."""
    pieces: List[str] = []
    for example in examples:
        words = example.split()
        for i in range(len(words)):
            pieces += [" ".join(words[i : i + k]) for k in range(1, 7) if i + k <= len(words)]
    lines: List[str] = []
    for _ in range(count):
        line = "".join(rng.choice(pieces) + rng.choice(JOINS) for _ in range(rng.randint(1, 30)))
        if rng.random() < 0.3:
            line = adversarial.ENVELOPE + line
        if rng.random() < 0.3:
            line += rng.choice(JOINS) + rng.choice(examples)
        lines.append(line)
    return lines


def _show(base: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{base}:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _regexes(read: Callable[[str], str]) -> Dict[str, str]:
    """Every REGEX of transforms.conf and rex of savedsearches.conf, by the names of adversarial.splunk_regexes."""
    out = adversarial.transforms_regexes(read("default/transforms.conf"))
    out.update(adversarial.rex_regexes(read("default/savedsearches.conf"), "savedsearches.conf"))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--lines", type=int, default=2000, help="randomly edited lines per example")
    parser.add_argument("--generated", type=int, default=20000, help="lines of bench/generate.py per preset")
    parser.add_argument("--built", type=int, default=20000, help="lines built from pieces of the examples per regex")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    old = _regexes(lambda path: _show(args.base, path))
    new = _regexes(lambda path: (ROOT / path).read_text(encoding="utf-8"))
    changed = sorted(name for name in new if name in old and old[name] != new[name])
    rng = random.Random(args.seed)
    examples = {name: ex for name, _, ex in adversarial.splunk_regexes()}
    words = sorted({w for p in patterns.PATTERNS for e in p.examples for w in e.split()})
    generated = _generated(args.generated, args.seed) if args.generated else []
    compared = matched = differ = 0
    for name in changed:
        a, b = pcre2.compile(old[name]), pcre2.compile(new[name])
        lines = [envelope + e for e in examples.get(name, ()) for envelope in ENVELOPES]
        lines += [_mutate(line, words, rng) for line in list(lines) for _ in range(args.lines // len(ENVELOPES))]
        for example in examples.get(name, ()):
            found = a.search(adversarial.ENVELOPE + example)
            assert found is not None
            offset = len(adversarial.ENVELOPE)
            spans = [(s - offset, e - offset) if s >= offset else (-1, -1) for s, e in found.spans[1:]]
            for size in (64, 160, 1024):
                lines += [adversarial.ENVELOPE + h.line for h in adversarial.hostile_lines(example, size, spans)]
        lines += _built(examples.get(name, ()), args.built, rng) if examples.get(name) else []
        lines += generated
        for line in lines:
            x, y = _groups(a, line), _groups(b, line)
            compared += 1
            matched += x is not None
            if x != y:
                differ += 1
                print(f"{name}: {line!r}\n  {args.base}: {x}\n  now: {y}")
        print(f"{name}: {len(lines)} lines", flush=True)
    print(f"{len(changed)} regexes changed; {compared} searches compared, {matched} matches, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
