"""The naive baseline: try every template's regex on every line.

This is how many SIEM parsers read ESA logs (docs/log-formats.md#sources: the official
add-on runs dozens of unanchored regexes on every mail-log event). For each line: decode
it, find the body after the level with the library's own
:func:`esa_auth.envelope.body_start`, then try the registry's patterns in
order until one matches. It keeps no sessions and writes no events, so it
is a lower bound of that approach's cost, not a full parser.

Prints one JSON object: lines read and lines matched per pattern role (the
``auth`` count must equal the generator's count of SMTP AUTH lines).

Usage::

    python bench/naive.py FILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Dict, List

# The library of this checkout, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "package"))

from esa_auth.envelope import body_start
from esa_auth.patterns import PATTERNS


def main(argv: List[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python bench/naive.py FILE\n")
        return 2
    patterns = [(pattern.regex.match, pattern.role) for pattern in PATTERNS]
    roles: Dict[str, int] = {}
    lines = 0
    with open(argv[0], "rb") as handle:
        for raw in handle:
            lines += 1
            line = raw.rstrip(b"\r\n")
            start = body_start(line)
            body = line[start:] if start >= 0 else line
            text = body.decode("utf-8", "replace")
            for match, role in patterns:
                if match(text):
                    roles[role] = roles.get(role, 0) + 1
                    break
    print(json.dumps({"lines": lines, "matched": dict(sorted(roles.items()))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
