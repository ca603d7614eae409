"""The values the templates find, this tree against a git revision, on generated lines (#18, docs/SECURITY.md).

    .venv/bin/python fuzz/compare_templates.py [--base main] [--lines 2000] [--seed 1] [--templates C1,U1]

A rewrite of a template's regex must keep what it matches and the values it yields. This loads
``package/esa_auth/patterns.py`` as it is at ``--base`` next to the current one, makes ``--lines`` lines per
example (each example with one to four random edits: a run of a space, tab, ``(``, ``,``, ``.``, a word of any
example or a literal stretch of the template inserted, a piece cut out or repeated, the line cut short, a letter's
case changed) and the adversarial lines of fuzz/adversarial.py, and prints every line on which a template of the
same dispatch key gives another result (no match, or other values). Exit status 1 when any differs.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Match, Optional

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "fuzz"))
sys.path.insert(0, str(ROOT / "package"))

import adversarial  # noqa: E402
from esa_auth import patterns as NEW  # noqa: E402


def _load(base: str) -> ModuleType:
    """``package/esa_auth/patterns.py`` as it is at git revision ``base``, with the modules it imports from its
    package (``shapes.py``, where a revision has it), loaded as a package of their own beside the current one."""
    package = ModuleType("esa_auth_base")
    package.__path__ = []  # a package: patterns.py imports ".shapes"
    sys.modules[package.__name__] = package
    module = package
    for name in ("shapes", "patterns"):
        shown = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{base}:package/esa_auth/{name}.py"],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        if shown.returncode != 0 and name != "patterns":
            continue  # a revision from before the shapes had a module of their own
        shown.check_returncode()
        spec = importlib.util.spec_from_loader(f"{package.__name__}.{name}", loader=None)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses and the relative import look their module up
        exec(compile(shown.stdout, f"{base}:{name}.py", "exec"), module.__dict__)
    return module


def _values(found: Optional[Match[str]]) -> Optional[Dict[str, Optional[str]]]:
    """A match's values: its named groups, less the private ones that only make a part atomic (``_a1`` ...)."""
    if found is None:
        return None
    return {name: value for name, value in found.groupdict().items() if not name.startswith("_")}


def _mutate(line: str, words: List[str], rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(line))
        kind = rng.randrange(6)
        if kind == 0:
            piece = rng.choice([" ", "  ", "\t", "(", ")", ",", ", ", ".", " .", ":", "-", "'"]) * rng.randint(1, 6)
            line = line[:at] + piece + line[at:]
        elif kind == 1:
            line = line[:at] + " ".join(rng.choice(words) for _ in range(rng.randint(1, 5))) + " " + line[at:]
        elif kind == 2:
            end = min(len(line), at + rng.randint(1, 20))
            line = line[:at] + line[end:]
        elif kind == 3:
            end = min(len(line), at + rng.randint(1, 40))
            line = line[:end] + line[at:end] * rng.randint(1, 3) + line[end:]
        elif kind == 4:
            line = line[:at]
        elif at < len(line):
            line = line[:at] + line[at].swapcase() + line[at + 1 :]
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--base", default="main")
    parser.add_argument("--lines", type=int, default=2000, help="generated lines per example")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--templates", default="", help="only the dispatch keys of these templates")
    args = parser.parse_args()
    old = _load(args.base)
    rng = random.Random(args.seed)
    wanted = {n for n in args.templates.split(",") if n}
    words = sorted({w for p in NEW.PATTERNS for e in p.examples for w in e.split()})
    compared = differ = 0
    for pattern in NEW.PATTERNS:
        if wanted and pattern.name not in wanted:
            continue
        for example in pattern.examples:
            lines = [_mutate(example, words, rng) for _ in range(args.lines)]
            lines += [h.line for size in (64, 160) for h in adversarial.hostile_lines(example, size)]
            for line in lines:
                key = NEW.dispatch_key(line.encode("utf-8"))
                for new in NEW.DISPATCH.get(key, ()):
                    base = old.BY_NAME[new.name]
                    a, b = _values(base.regex.match(line)), _values(new.regex.match(line))
                    compared += 1
                    if a != b:
                        differ += 1
                        print(f"{new.name}: {line!r}")
                        print(f"  {args.base}: {a}\n  now: {b}")
    print(f"{compared} matches compared, {differ} differ (Python {sys.version.split()[0]})")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
