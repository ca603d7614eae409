"""Split the CPU time of ``esa-auth normalize`` into its parts, for both reading loops.

Run on a log made by ``bench/generate.py``; each part is the best of ``--repeat`` runs,
measured with ``time.process_time`` in this one process:

* ``start-up``: ``esa-auth normalize`` of an empty input, as its own process (interpreter and imports);
* ``reading without events``: the library fed the log in 1 MiB blocks as the command line feeds it
  (``Normalizer.feed_text``), with its SMTP AUTH lines taken out (no line is left for a template
  but a few headers): the block checks and the session lines;
* ``SMTP AUTH lines, with JSON``: the whole log fed the same way, each event made into the JSON text
  the command line writes (the compiled loop writes most of them itself), minus the part above.

Usage::

    python bench/split.py bench/data/mail-1000000-seed1.log [--repeat 5]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List, Union

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "package"))

from esa_auth import pipeline
from esa_auth.events import AuthEvent, cim_text
from esa_auth.pipeline import Normalizer, Settings, Stream

BLOCK = 1 << 20


def _feed(data: bytes) -> List[str]:
    """Read ``data`` as ``esa-auth normalize`` does; return the lines it would write."""
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream("bench")
    items: List[Union[AuthEvent, str]] = []
    for start in range(0, len(data), BLOCK):
        items += normalizer.feed_text(stream, data[start : start + BLOCK])
    items += normalizer.end(stream)
    return [cim_text(item) + "\n" for item in items]


def _best(repeat: int, work: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return best


def _start_up(repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "esa_auth", "normalize", "--tz", "UTC"], input=b"", check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return best


def split(path: Path, repeat: int) -> Dict[str, Dict[str, float]]:
    data = path.read_bytes()
    # The SMTP AUTH lines: "SMTP Auth:" (T1-T7) and "DCID: n IP:" (T10, T11).
    lines = data.splitlines(keepends=True)
    quiet = b"".join(line for line in lines if b"SMTP Auth:" not in line and b"DCID: " not in line)
    out: Dict[str, Dict[str, float]] = {}
    start_up = _start_up(repeat)
    for name, compiled in (("compiled loop", True), ("Python loop", False)):
        if compiled and pipeline._built is None:
            print("the compiled loop is not built: only the Python loop is measured", file=sys.stderr)
            continue
        pipeline.use_compiled_loop(compiled)
        events = len(_feed(data))
        whole = _best(repeat, lambda: _feed(data))
        reading = _best(repeat, lambda: _feed(quiet))
        out[name] = {
            "start-up": start_up,
            "reading without events": reading,
            "SMTP AUTH lines, with JSON": whole - reading,
            "total": start_up + whole,
            "events": events,
        }
    pipeline.use_compiled_loop(True)
    return out


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Split the CPU time of esa-auth normalize into its parts.")
    parser.add_argument("log", type=Path, help="a log made by bench/generate.py")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each part; the best is kept (default: 5)")
    args = parser.parse_args(argv)
    for loop, parts in split(args.log, max(1, args.repeat)).items():
        events = int(parts.pop("events"))
        print(f"{loop} ({events:,} events):")
        for part, seconds in parts.items():
            each = f"  {seconds / events * 1e6:.1f} us/event" if part.startswith("SMTP AUTH") else ""
            print(f"  {part:<28} {seconds:6.3f} s{each}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
