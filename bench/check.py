"""Check that the fast reading loops read exactly like the line-by-line reader.

``Normalizer._lines`` skips runs of uninteresting lines without looking at
them one by one, but only in blocks where every line opens a log line; every
other block goes through ``Normalizer._each_line``, which reads line by line.
The fast loop also applies session lines in their usual form to the session
table without parsing them (parsed later, when an event or a checkpoint needs
the session); the line-by-line reader parses every line at once.
When the compiled loop (``esa_auth._speedups``) is built, it does the same
walk in C. This script reads the same input the three ways (compiled loop,
Python loop, line by line) and compares everything a caller can see: the events of each
``feed`` call, the warnings, the counters, the stream and session state; and once more
as the command line reads (``Normalizer.feed_text``, whose usual events the compiled
loop writes as JSON text itself) against the line-by-line reader's events as JSON.

Inputs: the files given (for example a generated log), then random documents
built from envelope and body fragments (mostly well-formed, some with CRLF,
long lines, stray bytes and continuation lines), each fed in random chunk
sizes with several line limits.

Usage::

    python bench/check.py [FILE ...] [--random N] [--seed S]

Exit status 0 when all ways agree everywhere, 1 otherwise.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path
from typing import Any, Iterator, List, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "package"))

from esa_auth import pipeline
from esa_auth.events import cim_text, json_text
from esa_auth.pipeline import Normalizer, Settings, Stream

ENVELOPES = (
    b"Wed Apr 22 11:44:48 2009 Info: ",
    b"Wed Apr 22 11:44:49 2009 Info: ",
    b"Wed Apr 22 11:44:49 2009 Info:  ",  # double space before the body
    b"<166>Mar 17 18:31:14 mail_logs: Info: ",
    b"Jun 26 10:42:23 esa01 mail_logs: WARNING: ",
    b"Info: ",
    b"Mon ",
    b"<1",
)
BODIES = (
    b"SMTP Auth: (ICID 450) succeeded for user: bob using AUTH mechanism: PLAIN with profile: P",
    b"SMTP Auth: (ICID 451) failed for user: x y using AUTH mechanism: LOGIN with profile: P",
    b'SMTP Auth: (ICID 450) failed for user: "a\\b using AUTH mechanism: login with profile: P Q',
    b"New SMTP ICID 450 interface In address mx.example.net",
    b"New SMTP ICID 450 interface In (192.0.2.1) address 198.51.100.7 reverse dns host a verified yes",
    b"ICID 450 ACCEPT SG None match ALL SBRS None",
    b"ICID 450 TLS success protocol TLSv1.2 cipher X",
    b"ICID 450 close",
    b"MID 1 ICID 450 From: <a@b>",
    b"MID 1 Subject 'Re: New thing'",
    b"DCID: 5 IP: 192.0.2.9 SMTP authentication using the profile Q succeeded.",
    b"New SMTP DCID 5 interface 192.0.2.1 address 192.0.2.9 port 25",
    b"DCID 5 close",
    b"Start MID 1 ICID 450",
    b"User admin from 192.0.2.10 was authenticated successfully.",
    b"Version: 15.0.0-104 SN: ABC",
    b"Time offset from UTC: -3600 seconds",
    b"Begin Logfile",
    b"\r",
    b"  ",
    b": ",
    b":  smtp",
    b"\xff\xfe",
    b"\x00",
    b"x" * 300,
    b"y" * 70,
    b"NEW ",
    b"dcid",
)


def _document(rng: random.Random, well_formed: bool) -> bytes:
    lines: List[bytes] = []
    for _ in range(rng.randrange(1, 60)):
        body = b"".join(rng.choice(BODIES) for _ in range(rng.randrange(0, 4)))
        if well_formed or rng.random() < 0.8:
            lines.append(rng.choice(ENVELOPES) + body)
        else:
            lines.append(body)  # a continuation, blank or foreign line
    return b"".join(line + rng.choice((b"\n", b"\n", b"\r\n")) for line in lines)


def _read(data: bytes, chunk: int, limit: int, text: bool = False) -> List[Any]:
    """What a caller sees; ``text``: read with ``feed_text`` and see each event as the command line writes it."""
    normalizer = Normalizer(Settings(tz="UTC", year=2024, max_line_bytes=limit))
    stream = Stream("input")
    seen: List[Any] = []
    for start in range(0, len(data), chunk):
        if text:
            items = normalizer.feed_text(stream, data[start : start + chunk])
            seen.append([cim_text(item) for item in items])
        else:
            seen.append([event.to_dict() for event in normalizer.feed(stream, data[start : start + chunk])])
        seen.append([str(diagnostic) for diagnostic in normalizer.take_diagnostics()])
        seen.append(stream.to_state())
    seen.append([json_text(event.to_dict()) if text else event.to_dict() for event in normalizer.end(stream)])
    seen.append([str(diagnostic) for diagnostic in normalizer.take_diagnostics()])
    seen.append((stream.to_state(), normalizer.stats_dict(), normalizer.state()))
    return seen


def _all_ways(data: bytes, chunk: int, limit: int) -> List[str]:
    """The ways that read ``data`` unlike the line-by-line reader."""
    pipeline.use_compiled_loop(False)
    try:
        fast = _read(data, chunk, limit)
        original = pipeline.all_envelopes
        pipeline.all_envelopes = lambda buf, end: False  # every block line by line
        try:
            slow = _read(data, chunk, limit)
            slow_text = _read(data, chunk, limit, text=True)
        finally:
            pipeline.all_envelopes = original
    finally:
        pipeline.use_compiled_loop(True)
    differ = [] if fast == slow else ["Python loop"]
    if pipeline._speedups is not None and _read(data, chunk, limit) != slow:
        differ.append("compiled loop")
    if pipeline._speedups is not None and _read(data, chunk, limit, text=True) != slow_text:
        differ.append("compiled loop, as the command line writes")
    return differ


def _cases(files: Sequence[Path], count: int, seed: int) -> Iterator[tuple[str, bytes, int, int]]:
    for path in files:
        data = path.read_bytes()
        for chunk in (4096, 1 << 20):
            for limit in (256, 65536):
                yield str(path), data, chunk, limit
    rng = random.Random(seed)
    for index in range(count):
        data = _document(rng, well_formed=index % 2 == 0)
        yield f"random document {index}", data, rng.choice((1, 7, 100, 1000, 1 << 20)), rng.choice((256, 300, 65536))


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Check the fast reading loop against the line-by-line reader.")
    parser.add_argument("files", nargs="*", type=Path, help="log files to read both ways")
    parser.add_argument("--random", type=int, default=2000, help="random documents (default: 2000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random documents (default: 1)")
    args = parser.parse_args(argv)
    failures = 0
    built = pipeline._speedups is not None
    ways = "the Python loop" + (
        ", the compiled loop (events and the command line's text)" if built else " (no compiled loop built)"
    )
    for name, data, chunk, limit in _cases(args.files, args.random, args.seed):
        differ = _all_ways(data, chunk, limit)
        if differ:
            failures += 1
            print(f"differ: {name} (chunk {chunk}, line limit {limit}): {', '.join(differ)}")
    print(f"{ways} and the line-by-line reader agree" if not failures else f"{failures} case(s) differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
