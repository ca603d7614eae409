"""Flood the pipeline: millions of connections never closed, millions of distinct users.

An attacker (or a broken relay) can open SMTP connections and never close them,
or guess passwords with a new user name on every line. The session table must
stay bounded by ``Settings.max_sessions`` and ``Settings.session_timeout``
(``esa_auth.sessions``), count what it drops (``stats_dict()["evictions"]``),
and keep its speed. This script generates such logs on the fly (nothing on
disk), feeds them to :class:`esa_auth.Normalizer` and reports, every
``--every`` lines: lines fed, open sessions, evictions, resident memory
(``VmRSS``); at the end: peak memory (``VmHWM``), lines per second of CPU
time of the reading alone (generation is not timed), events. The reading is
what ``esa-auth normalize`` does with a block: ``Normalizer.feed``, and the
CIM JSON text of its events; ``--objects`` times ``Normalizer.feed`` alone
instead (the library's API, no JSON).

Scenarios (log lines in the native envelope, docs/log-formats.md#E1):

* ``open``: ``New SMTP ICID n`` (C1) and ``New SMTP DCID n`` (C7) lines, every
  connection new, none closed; log time advances one second per ``--rate`` lines.
* ``users``: each connection opened (C1) gets one failed SMTP AUTH (T2) for a
  user name never seen before, and is never closed.
* ``idle``: as ``open``, but the log clock runs fast (one second per line), so
  the idle timeout, not the size bound, is what empties the table.

Usage::

    python fuzz/flood.py --scenario open --lines 5000000 --max-sessions 100000
    python fuzz/flood.py --scenario users --lines 2000000 --json /tmp/flood-users.json
    python fuzz/flood.py --lines 1000000 --then bench/data/mail-1000000.log   # a real log through a full table

Run each measurement in its own process: peak memory is per process.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from esa_auth import Normalizer, Settings, Stream
from esa_auth.events import cim_text

SCENARIOS = ("open", "users", "idle")
START = datetime(2025, 3, 1, 0, 0, 0)  # noqa: DTZ001 - appliance wall clock, read as UTC below
CHUNK_LINES = 20_000


def memory() -> Dict[str, int]:
    """Resident memory of this process in KiB: current (VmRSS) and peak (VmHWM)."""
    out = {"rss_kib": 0, "peak_kib": 0}
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    out["rss_kib"] = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    out["peak_kib"] = int(line.split()[1])
    except OSError:  # not Linux: figures left at 0
        pass
    return out


def _prefix(second: int) -> bytes:
    return (START + timedelta(seconds=second)).strftime("%a %b %d %H:%M:%S %Y Info: ").encode()


def _client(n: int) -> bytes:
    # Documentation and private ranges only; a distinct address per connection.
    return b"10.%d.%d.%d" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)


def chunks(scenario: str, lines: int, rate: int, size: int = CHUNK_LINES) -> Iterator[Tuple[bytes, int]]:
    """Yield (bytes, line count) blocks of a flood log, ``size`` lines at a time."""
    made = 0
    conn = 0
    while made < lines:
        count = min(size, lines - made)
        out: List[bytes] = []
        for i in range(made, made + count):
            second = i if scenario == "idle" else i // rate
            prefix = _prefix(second)
            if scenario == "users":
                if i % 2 == 0:
                    conn += 1
                    out.append(prefix + b"New SMTP ICID %d interface Incoming (192.0.2.1) address %s "
                               b"reverse dns host unknown verified no\n" % (conn, _client(conn)))  # fmt: skip
                else:
                    out.append(prefix + b"SMTP Auth: (ICID %d) failed for user: guess%d@example.com using AUTH "
                               b"mechanism: LOGIN with profile: Corp\n" % (conn, conn))  # fmt: skip
            else:
                conn += 1
                if i % 4 == 3:
                    out.append(prefix + b"New SMTP DCID %d interface 192.0.2.1 address %s port 25\n"
                               % (conn, _client(conn)))  # fmt: skip
                else:
                    out.append(prefix + b"New SMTP ICID %d interface Incoming (192.0.2.1) address %s "
                               b"reverse dns host unknown verified no\n" % (conn, _client(conn)))  # fmt: skip
        made += count
        yield b"".join(out), count


def _reader(normalizer: Normalizer, objects: bool) -> Callable[[Stream, bytes], int]:
    """Read a block as the command line does (or with ``feed`` alone); return the number of events."""
    if objects:
        return lambda stream, data: len(normalizer.feed(stream, data))

    def read(stream: Stream, data: bytes) -> int:
        texts = [cim_text(event) for event in normalizer.feed(stream, data)]
        return len(texts)

    return read


def run(
    scenario: str,
    lines: int,
    max_sessions: int,
    timeout: float,
    rate: int,
    every: int,
    then: Optional[str] = None,
    objects: bool = False,
) -> Dict[str, object]:
    """Run one flood; return its figures (also printed as progress on stderr).

    Args:
        scenario: one of :data:`SCENARIOS`.
        lines: flood lines to feed.
        max_sessions: the session table bound.
        timeout: the idle timeout, seconds of log time.
        rate: flood lines per second of log time.
        every: progress report interval, in lines.
        then: a real log to feed after the flood, through the same (full) table,
            timed on its own: does a full table slow down normal reading?
        objects: time ``Normalizer.feed`` alone, not the command line's reading and JSON.
    """
    before = memory()
    normalizer = Normalizer(Settings(tz="UTC", max_sessions=max_sessions, session_timeout=timeout))
    read = _reader(normalizer, objects)
    stream = Stream("flood.log")
    fed = 0
    events = 0
    seconds = 0.0
    largest = 0
    progress: List[Dict[str, int]] = []
    next_report = every
    for data, count in chunks(scenario, lines, rate, min(CHUNK_LINES, every)):
        started = time.process_time()
        events += read(stream, data)
        seconds += time.process_time() - started
        fed += count
        largest = max(largest, len(normalizer.sessions))
        normalizer.take_diagnostics()
        if fed >= next_report or fed == lines:
            next_report += every
            row = {"lines": fed, "open": len(normalizer.sessions), "evictions": normalizer.sessions.evictions,
                   **memory()}  # fmt: skip
            progress.append(row)
            sys.stderr.write(" ".join(f"{k}={v}" for k, v in row.items()) + "\n")
    started = time.process_time()
    events += len(normalizer.end(stream))
    seconds += time.process_time() - started
    stats = normalizer.stats_dict()
    table = normalizer.sessions
    checkpoint_bytes = len(json.dumps(normalizer.state(), separators=(",", ":")))
    after: Dict[str, object] = {}
    if then:
        after = _then(normalizer, then, read)
    return {
        "scenario": scenario,
        "lines": fed,
        "max_sessions": max_sessions,
        "session_timeout": timeout,
        "largest_table": largest,
        "open_at_end": len(table),
        "evictions": stats["evictions"],
        "evicted_full": table.evicted_full,
        "evicted_idle": table.evicted_idle,
        "events": events,
        "stats": stats,
        "feed_seconds": round(seconds, 3),
        "lines_per_second": int(fed / seconds) if seconds else 0,
        "rss_before_kib": before["rss_kib"],
        "peak_rss_kib": memory()["peak_kib"],
        "checkpoint_state_bytes": checkpoint_bytes,
        "progress": progress,
        "then": after,
    }


def _then(normalizer: Normalizer, path: str, read: Callable[[Stream, bytes], int]) -> Dict[str, object]:
    """Feed a real log through the flooded normalizer; time the feed calls only."""
    stream = Stream(path)
    lines = events = 0
    seconds = 0.0
    with open(path, "rb") as handle:
        while True:
            data = handle.read(1 << 20)
            if not data:
                break
            lines += data.count(b"\n")
            started = time.process_time()
            events += read(stream, data)
            seconds += time.process_time() - started
            normalizer.take_diagnostics()
    started = time.process_time()
    events += len(normalizer.end(stream))
    seconds += time.process_time() - started
    return {"file": path, "lines": lines, "events": events, "lines_per_second": int(lines / seconds) if seconds else 0,
            "open_at_end": len(normalizer.sessions), "peak_rss_kib": memory()["peak_kib"]}  # fmt: skip


def main(argv: Optional[List[str]] = None) -> int:
    """Parse options, run one flood, print its figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=SCENARIOS, default="open")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--max-sessions", type=int, default=100_000)
    parser.add_argument("--timeout", type=float, default=3600.0, help="session timeout, seconds of log time")
    parser.add_argument("--rate", type=int, default=10_000, help="lines per second of log time (open, users)")
    parser.add_argument("--every", type=int, default=1_000_000, help="report progress every so many lines")
    parser.add_argument("--then", metavar="LOG", help="after the flood, time the reading of this real log")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--objects",
        action="store_true",
        help="time Normalizer.feed alone (event objects), not the command line's reading and JSON",
    )
    args = parser.parse_args(argv)
    if args.then and not os.path.isfile(args.then):
        parser.error(f"--then: no such file: {args.then}")
    figures = run(
        args.scenario, args.lines, args.max_sessions, args.timeout, args.rate, args.every, args.then, args.objects
    )
    figures["reading"] = "feed" if args.objects else "command line (feed and JSON)"
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
