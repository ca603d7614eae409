"""The command line tool: ``esa-auth normalize [FILE ...]``.

The edge of the library: it reads files and the clock, and writes JSON lines
on stdout and ``FILE:LINE: message`` warnings on stderr. Exit status: 0 when
the input was read (skipped lines are not errors), 1 when a file cannot be
read, 2 on bad usage; each failure is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime, timezone
from typing import IO, Callable, Dict, Iterable, Iterator, List, NoReturn, Optional, Sequence, Tuple

from ._version import __version__
from .durations import parse_duration
from .errors import ConfigError
from .events import AuthEvent, cim_text, json_text
from .pipeline import Normalizer, Settings, Stream, appliance_from_filename

PROG = "esa-auth"
CHUNK = 1 << 20

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2), as the tool promises."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: error: {message} (see {PROG} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text!r}")
    return value


def _duration(text: str) -> float:
    try:
        return parse_duration(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _year(text: str) -> int:
    if not re.match(r"^\d{4}$", text) or not 1970 <= int(text) <= 9999:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}")
    return int(text)


def add_reading_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by every command that reads ESA logs."""
    parser.add_argument("files", nargs="*", metavar="FILE", help="ESA log files; none or - reads standard input")
    parser.add_argument("--tz", help="appliance time zone when a file has no 'Time offset from UTC' header "
                        "(IANA name such as Europe/Paris, UTC, or an offset such as +02:00)")  # fmt: skip
    parser.add_argument("--host", help="appliance name when the lines do not carry one")
    parser.add_argument("--year", type=_year, help="year of syslog dates (default: inferred from today)")
    parser.add_argument("--max-sessions", type=_positive_int, default=100_000, metavar="N",
                        help="open SMTP sessions kept at most (default: 100000)")  # fmt: skip
    parser.add_argument("--session-timeout", type=_duration, default=3600.0, metavar="DURATION",
                        help="drop a session silent for this long, in log time (default: 1h)")  # fmt: skip
    parser.add_argument("--max-line-bytes", type=_positive_int, default=64 * 1024, metavar="N",
                        help="cut longer lines to this length, with a warning (default: 65536)")  # fmt: skip
    parser.add_argument("--stats", action="store_true", help="print counters on stderr at the end")


def settings_from(args: argparse.Namespace, now: datetime) -> Settings:
    """Build :class:`Settings` from parsed options (raises ConfigError)."""
    return Settings(
        tz=args.tz,
        host=args.host,
        year=args.year,
        reference_time=now,
        max_sessions=args.max_sessions,
        session_timeout=args.session_timeout,
        max_line_bytes=args.max_line_bytes,
    )


def read_sources(
    normalizer: Normalizer, files: Sequence[str], stdin: IO[bytes], stderr: IO[str]
) -> Tuple[Iterator[AuthEvent], List[str]]:
    """Normalize files (``-`` or none: standard input) in order, sharing sessions.

    Returns:
        An iterator of events, and the list it fills with unreadable files.
    """
    failures: List[str] = []

    def warn() -> None:
        for diagnostic in normalizer.take_diagnostics():
            stderr.write(f"{diagnostic}\n")

    def events() -> Iterator[AuthEvent]:
        for name in files or ["-"]:
            if name == "-":
                handle: IO[bytes] = stdin
                stream = Stream("-")
            else:
                try:
                    handle = open(name, "rb")  # noqa: SIM115 - closed below, chunks are streamed
                except OSError as exc:
                    stderr.write(f"{PROG}: cannot read {name}: {exc.strerror or exc}\n")
                    failures.append(name)
                    continue
                stream = Stream(name, appliance=appliance_from_filename(os.path.basename(name)))
            try:
                while True:
                    try:
                        chunk = handle.read(CHUNK)
                    except OSError as exc:
                        stderr.write(f"{PROG}: cannot read {name}: {exc.strerror or exc}\n")
                        failures.append(name)
                        break
                    if not chunk:
                        break
                    yield from normalizer.feed(stream, chunk)
                    warn()
                yield from normalizer.end(stream)
                warn()
            finally:
                if handle is not stdin:
                    handle.close()

    return events(), failures


#: Output formats (the renderers of :mod:`esa_auth.render`, imported when one is asked for: CIM needs none).
FORMATS = ("cim", "ecs", "ocsf")


def cmd_normalize(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[str], stderr: IO[str]) -> int:
    """``normalize``: one JSON object per event on stdout."""
    normalizer = Normalizer(settings_from(args, datetime.now(timezone.utc)))
    write = stdout.write
    events, failures = read_sources(normalizer, args.files, stdin, stderr)
    if args.format == "cim":
        # CIM is the event's own form (to_dict()).
        for event in events:
            write(cim_text(event) + "\n")
    else:
        from .render import RENDERERS

        render = RENDERERS[args.format]
        for event in events:
            write(json_text(render(event)) + "\n")
    stdout.flush()
    if args.stats:
        stats = normalizer.stats_dict()
        stderr.write(" ".join(f"{k}={v}" for k, v in stats.items()) + "\n")
    return EXIT_UNREADABLE if failures else EXIT_OK


#: Subcommands: name -> (help, options, handler). Other commands register here.
Command = Tuple[str, Callable[[argparse.ArgumentParser], None], Callable[..., int]]


def _normalize_options(parser: argparse.ArgumentParser) -> None:
    add_reading_options(parser)
    parser.add_argument("--format", choices=FORMATS, default="cim", help="output schema (default: cim)")


def _detect_options(parser: argparse.ArgumentParser) -> None:
    # detect.py imports pySigma only when it runs, so normalize does not pay for it.
    from .detect import add_detect_options

    add_detect_options(parser)


def _cmd_detect(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[str], stderr: IO[str]) -> int:
    from .detect import cmd_detect

    return cmd_detect(args, stdin, stdout, stderr)


COMMANDS: Dict[str, Command] = {
    "normalize": ("normalize ESA log lines into authentication events (JSON lines)", _normalize_options, cmd_normalize),
    "detect": ("run the detection rules (Sigma) over ESA logs; alerts as JSON lines", _detect_options, _cmd_detect),
}


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser of the tool.

    Args:
        command: the subcommand the arguments name, if known: only its options
            are set up (another command's may import more modules, which
            ``normalize`` would pay for at every start); None sets up all.
    """
    parser = _Parser(prog=PROG, description="Normalized authentication events from Cisco ESA logs.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name, (help_text, options, _) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            options(command_parser)
    return parser


def _utf8(stream: IO[str]) -> IO[str]:
    """JSON lines are UTF-8 whatever the locale says: an ASCII stdout (``PYTHONIOENCODING=ascii``,
    a C locale on an old system) would stop with a traceback at the first non-ASCII user name."""
    reconfigure = getattr(stream, "reconfigure", None)
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    if reconfigure is not None and encoding != "utf8":
        reconfigure(encoding="utf-8")
    return stream


def main(argv: Optional[Iterable[str]] = None) -> int:
    """Run the tool; return its exit status."""
    arguments = list(argv) if argv is not None else sys.argv[1:]
    # The tool's own options come before the command, and it has only --version
    # and --help: the first argument names the command whenever one is given.
    command = arguments[0] if arguments and arguments[0] in COMMANDS else None
    args = build_parser(command).parse_args(arguments)
    stdout, stderr = _utf8(sys.stdout), sys.stderr
    try:
        return int(COMMANDS[args.command][2](args, sys.stdin.buffer, stdout, stderr))
    except ConfigError as exc:
        stderr.write(f"{PROG}: error: {exc}\n")
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader went away (``| head``): not an error of ours.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        stderr.write(f"{PROG}: interrupted\n")
        return 130
