"""How close the library's reader is to the least a Python reader of the same log can cost.

#13 asks for the library's loop within 10 times the binary line-iteration floor. This script
measures, in one process and on the same log, what the steps any Python reader of these logs must
take cost on their own, each column adding one step to the one before it (CPU time, the least of
``--repeat`` runs, and as a multiple of the floor):

* ``floor``: ``for line in f: pass`` over the file in binary mode (as bench/run.py);
* ``scan``: the log read in 1 MiB blocks, each decoded and searched in C for the lines whose body
  starts with a dispatch key (:data:`esa_auth.scan.CANDIDATE`, the reader's own search): what no
  reader can skip, since the lines that matter must be found;
* ``touch``: and one Python step for each such line (its end found, its key looked up): the least a
  reader pays that keeps its session table in Python, matching no session line at all;
* ``least``: and only the lines of keys that have an authentication template matched against their
  key's templates, and for each authentication line the least event: its groups as a dictionary,
  written as JSON (:data:`esa_auth.events.json_text`): no envelope, no time, no session, no mapping;
* ``match``: ``touch``, and every such line matched against its key's templates (what a reader pays
  that reads each session line when it comes, as this library's does);
* ``library``: the library's loop, ``Normalizer.feed`` over 1 MiB blocks and ``cim_text`` per event
  (bench/run.py's ``python`` path, here in process).

``least`` is a bound, not a reader: it keeps no session state and maps nothing, so nothing it
leaves out can make it cost less. Figures in bench/README.md ("How far the floor is").

Usage::

    .venv/bin/python bench/bound.py --presets typical,stress --lines 300000 --repeat 3
    .venv/bin/python bench/bound.py FILE ...
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Callable, Dict, FrozenSet, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "package"))

from esa_auth import patterns as P  # noqa: E402
from esa_auth.events import cim_text, json_text  # noqa: E402
from esa_auth.framing import CHUNK  # noqa: E402
from esa_auth.pipeline import Normalizer, Settings, Stream  # noqa: E402
from esa_auth.scan import CANDIDATE, templates_of  # noqa: E402
from generate import PRESETS  # noqa: E402 - bench/ is no package
from run import data_file  # noqa: E402

COLUMNS = ("floor", "scan", "touch", "least", "match", "library")

#: The dispatch keys some authentication template starts with (their lines must be matched to be told).
AUTH_KEYS = frozenset(
    key.decode("ascii") for key, patterns in P.DISPATCH.items() if any(p.role == P.AUTH for p in patterns)
)


def _blocks(path: Path) -> List[bytes]:
    data = path.read_bytes()
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def floor(path: Path) -> int:
    count = 0
    with open(path, "rb") as handle:
        for _ in handle:
            count += 1
    return count


def _lines(blocks: List[bytes]) -> List[str]:
    """Each block as text cut at its last newline (the rest carried to the next), as the reader cuts them."""
    out = []
    carry = b""
    for block in blocks:
        data = carry + block
        end = data.rfind(b"\n") + 1
        carry = data[end:]
        out.append(data[:end].decode("latin-1"))
    return out


def scan(blocks: List[bytes]) -> int:
    found = 0
    for text in _lines(blocks):
        for _ in CANDIDATE.finditer(text):
            found += 1
    return found


def _walk(blocks: List[bytes], matching: bool, only: Optional[FrozenSet[str]]) -> Tuple[int, int, int]:
    """Each candidate line touched (its end, its key); if ``matching``, matched against its key's templates (only
    those of the keys in ``only``, if given, and then a least event for each AUTH line).

    Returns the lines touched, matched and the events made. One loop for the three columns, so that they
    differ by their own steps only (a test of ``matching`` and ``only`` per line is their whole shared cost).
    """
    touched = matched = events = 0
    auth = P.AUTH
    for text in _lines(blocks):
        pos = 0
        for found in CANDIDATE.finditer(text):
            at = found.end() - 4
            if at < pos:
                continue
            stop = text.find("\n", at)
            pos = stop + 1
            key = text[at : at + 4]
            touched += 1
            if not matching or (only is not None and key.lower() not in only):
                continue
            regex, templates = templates_of(key)
            hit = regex.match(text, at, stop)
            if hit is None:
                continue
            matched += 1
            if only is not None:
                template = templates[hit.lastindex]  # type: ignore[index]
                if template.pattern.role == auth:
                    json_text(template.groups(hit))
                    events += 1
    return touched, matched, events


def touch(blocks: List[bytes]) -> int:
    return _walk(blocks, False, None)[0]


def least(blocks: List[bytes]) -> int:
    return _walk(blocks, True, AUTH_KEYS)[2]


def match(blocks: List[bytes]) -> int:
    return _walk(blocks, True, None)[1]


def library(path: Path, blocks: List[bytes]) -> int:
    normalizer = Normalizer(Settings(tz="UTC", year=2024))
    stream = Stream(str(path))
    events = 0
    for block in blocks:
        for event in normalizer.feed(stream, block):
            cim_text(event)
            events += 1
    for event in normalizer.end(stream):
        cim_text(event)
        events += 1
    return events


def measure(path: Path, repeat: int) -> Dict[str, Dict[str, float]]:
    """Each column's least CPU time over ``repeat`` runs (alternating), and what it counted."""
    blocks = _blocks(path)
    runs: Dict[str, Callable[[], int]] = {
        "floor": lambda: floor(path),
        "scan": lambda: scan(blocks),
        "touch": lambda: touch(blocks),
        "least": lambda: least(blocks),
        "match": lambda: match(blocks),
        "library": lambda: library(path, blocks),
    }
    best: Dict[str, float] = {}
    counted: Dict[str, int] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()
            start = time.process_time()
            counted[name] = run()
            spent = time.process_time() - start
            best[name] = min(best.get(name, spent), spent)
    base = best["floor"]
    return {name: {"cpu_s": best[name], "x_floor": best[name] / base, "counted": counted[name]} for name in runs}


def table(results: Dict[str, Dict[str, Dict[str, float]]]) -> str:
    head = "| log | " + " | ".join(COLUMNS) + " | AUTH lines |"
    rule = "|---|" + "---:|" * (len(COLUMNS) + 1)
    rows = [head, rule]
    for name, figures in results.items():
        cells = [f"{figures[c]['cpu_s']:.3f} s ({figures[c]['x_floor']:.1f}x)" for c in COLUMNS]
        rows.append(f"| {name} | " + " | ".join(cells) + f" | {int(figures['least']['counted']):,} |")
    return "\n".join(rows)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="ESA mail logs (default: the presets)")
    parser.add_argument("--presets", default="typical,stress", help="presets of bench/generate.py, comma-separated")
    parser.add_argument("--lines", type=int, default=300_000, help="lines of each generated log")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each column (the least CPU time counts)")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where generated logs are kept")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    logs: List[Tuple[str, Path, int]] = []
    if args.files:
        logs = [(path.name, path, -1) for path in args.files]
    else:
        for preset in args.presets.split(","):
            if preset not in PRESETS:
                parser.error(f"unknown preset {preset!r}: one of {', '.join(PRESETS)}")
            # The same file as bench/run.py's for this preset, size and seed (generated if missing or stale).
            path = data_file(args.data, preset, args.lines, args.seed)
            manifest = path.with_name(path.name + ".json")
            logs.append((preset, path, int(json.loads(manifest.read_text())["auth_lines"])))
    results: Dict[str, Dict[str, Dict[str, float]]] = {}
    for name, path, auth_lines in logs:
        figures = measure(path, args.repeat)
        events = int(figures["library"]["counted"])
        # The bound must do the work the library does: one event per authentication line.
        if figures["least"]["counted"] != events or (auth_lines >= 0 and events != auth_lines):
            print(f"{name}: least made {figures['least']['counted']} events, the library {events}", file=sys.stderr)
            return 1
        results[name] = figures
    print(f"Python {sys.version.split()[0]}; CPU time, least of {args.repeat} run(s)")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"python": sys.version.split()[0], "results": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
