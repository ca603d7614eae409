"""``esa-auth normalize [FILE ...]``: one JSON object per event on stdout."""

from __future__ import annotations

import argparse
from datetime import datetime, timezone
from typing import IO

from ..events import cim_text, json_text
from ..pipeline import Normalizer
from .options import EXIT_OK, EXIT_UNREADABLE, add_reading_options, profile_map_from, settings_from
from .reading import read_sources

HELP = "normalize ESA log lines into authentication events (JSON lines)"

#: Output formats (the renderers of :mod:`esa_auth.render`, imported when one is asked for: CIM needs none).
FORMATS = ("cim", "ecs", "ocsf")


def add_options(parser: argparse.ArgumentParser) -> None:
    """The reading options, and ``--format``."""
    add_reading_options(parser)
    parser.add_argument("--format", choices=FORMATS, default="cim", help="output schema (default: cim)")


def run(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[str], stderr: IO[str]) -> int:
    """``normalize``: one JSON object per event on stdout."""
    normalizer = Normalizer(settings_from(args, datetime.now(timezone.utc)))
    write = stdout.write
    events, failures = read_sources(normalizer, args.files, stdin, stderr, profile_map_from(args))
    if args.format == "cim":
        # CIM is the event's own form (to_dict()).
        for event in events:
            write(cim_text(event) + "\n")
    else:
        from ..render import RENDERERS

        render = RENDERERS[args.format]
        for event in events:
            write(json_text(render(event)) + "\n")
    stdout.flush()
    if args.stats:
        stats = normalizer.stats_dict()
        stderr.write(" ".join(f"{k}={v}" for k, v in stats.items()) + "\n")
    return EXIT_UNREADABLE if failures else EXIT_OK
