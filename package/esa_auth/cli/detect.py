"""``esa-auth detect [FILE ...]``: normalize the logs, run the Sigma rules, one JSON alert per line on stdout.

The events go to the engine's store as they are read (:mod:`esa_auth.detect`),
so memory does not grow with the input. While a long run goes on, a progress
line on stderr says what was read and found so far, when stderr is a terminal.
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterable, Iterator, Optional, cast

from ..detect import Engine, load_rules
from ..events import json_text
from ..pipeline import Normalizer
from .options import EXIT_OK, EXIT_UNREADABLE, PROG, add_reading_options, profile_map_from, settings_from
from .reading import read_sources

HELP = "run the detection rules (Sigma) over ESA logs; alerts as JSON lines"

#: Seconds between two progress lines.
PROGRESS_EVERY = 1.0


def add_options(parser: argparse.ArgumentParser) -> None:
    """The reading options of ``normalize``, and ``--rules``."""
    add_reading_options(parser)
    parser.add_argument(
        "--rules", type=Path, metavar="DIR",
        help="Sigma rules to run: a directory (every *.yml under it) or a file (default: the shipped rule set)",
    )  # fmt: skip


class Progress:
    """The progress line: rewritten in place on a terminal, at most once a :data:`PROGRESS_EVERY`; nothing elsewhere.

    Args:
        stderr: where it goes.
        lines: how many lines were read so far.
        clock: seconds, for the interval between two lines.
    """

    def __init__(self, stderr: IO[str], lines: Callable[[], int], clock: Callable[[], float] = time.monotonic) -> None:
        isatty = getattr(stderr, "isatty", None)
        self.enabled = bool(isatty is not None and isatty())
        self._stderr = stderr
        self._lines = lines
        self._clock = clock
        self._last = clock()
        self._shown = False
        self.events = 0

    def count(self, events: Iterable[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
        """Events passed through, counted; the line is shown as they are read."""
        for event in events:
            self.events += 1
            if self.enabled and not self.events % 256:
                self.show()
            yield event

    def show(self, rules: str = "", alerts: Optional[int] = None, force: bool = False) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if not force and now - self._last < PROGRESS_EVERY:
            return
        self._last = now
        text = f"{PROG}: {self._lines():,} lines read, {self.events:,} events"
        if rules:
            text += f", {rules}"
        if alerts is not None:
            text += f", {alerts:,} alerts"
        self._stderr.write(f"\r\x1b[K{text}")
        self._stderr.flush()
        self._shown = True

    def rules(self, done: int, total: int, alerts: int) -> None:
        """The engine's callback: rules judged so far and alerts found."""
        self.show(f"rules judged {done}/{total}", alerts, force=done == total)

    def clear(self) -> None:
        """Remove the line before anything else is written to stderr."""
        if self._shown:
            self._stderr.write("\r\x1b[K")
            self._stderr.flush()
            self._shown = False


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[str], stderr: IO[str]) -> int:
    """``detect``: normalize the logs, run the rules, one JSON alert per line on stdout."""
    # Rules first: a bad rule set is reported before any log is read.
    engine = Engine(load_rules(args.rules))
    for title, reason in engine.skipped:
        stderr.write(f"{PROG}: warning: rule {title!r} cannot run: {reason}\n")
    normalizer = Normalizer(settings_from(args, datetime.now(timezone.utc)))
    progress = Progress(stderr, lambda: normalizer.stats.lines)
    events, failures = read_sources(
        normalizer, args.files, stdin, cast(IO[str], _Cleared(stderr, progress)), profile_map_from(args)
    )
    untimed = 0

    def dicts() -> Iterator[Dict[str, Any]]:
        nonlocal untimed
        for event in events:
            if event.time is None:
                untimed += 1
            # The event's own field dict (unknown fields None, which the store writes as NULL,
            # as it does a field to_dict() leaves out): no copy per event.
            yield vars(event)

    alerts = 0
    with engine.store(progress.count(dicts())) as store:
        if untimed:
            progress.clear()
            stderr.write(f"{PROG}: warning: {untimed} event(s) have no time and take part in no rule\n")
        for alert in engine.alerts(store, progress.rules):
            stdout.write(json_text(alert.to_dict()))
            stdout.write("\n")
            alerts += 1
    stdout.flush()
    progress.clear()
    if args.stats:
        stats = dict(normalizer.stats_dict(), rules=len(engine.rules), alerts=alerts)
        stderr.write(" ".join(f"{k}={v}" for k, v in stats.items()) + "\n")
        for rule in engine.rules:
            counts = engine.diagnostics.get(rule.rule_id)
            if counts:
                detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                stderr.write(f"{PROG}: rule {rule.title!r}: {detail}\n")
    return EXIT_UNREADABLE if failures else EXIT_OK


class _Cleared:
    """stderr for the reader's warnings: the progress line is removed before each one."""

    def __init__(self, stderr: IO[str], progress: Progress) -> None:
        self._stderr = stderr
        self._progress = progress

    def write(self, text: str) -> int:
        self._progress.clear()
        return self._stderr.write(text)

    def flush(self) -> None:
        self._stderr.flush()
