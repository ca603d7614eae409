"""Replay fuzzer crash files through the harness and group them by cause.

Usage: ``python fuzz/replay.py FILE_OR_DIR ...`` (files written by
``fuzz_pipeline.py``: a 4-byte settings header, then log bytes). Prints one
line per distinct first line of the failure, with a count and an example file.
Exit status: 0 when every input passes, 1 otherwise.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness


def cause(path: Path, tolerate: frozenset = frozenset()) -> str:
    """The failure of one input ('' when it passes)."""
    settings, cuts, checkpoint, body = harness.parse_input(path.read_bytes())
    try:
        harness.check_input(body, settings, cuts, checkpoint, tolerate=tolerate)
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return ""


def main(args: List[str]) -> int:
    """Group the inputs named on the command line by cause."""
    files: List[Path] = []
    for arg in args:
        path = Path(arg)
        files.extend(sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path])
    groups: Dict[str, Tuple[int, Path]] = OrderedDict()
    for path in files:
        found = cause(path)
        if found:
            count, first = groups.get(found, (0, path))
            groups[found] = (count + 1, first)
    for found, (count, first) in groups.items():
        print(f"{count:4d}  {first.name}  {found}")
    print(f"{len(files)} inputs, {sum(c for c, _ in groups.values())} failing")
    return 1 if groups else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
