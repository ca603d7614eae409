"""What every command of the tool shares: its name, exit statuses, usage errors and reading options."""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from typing import NoReturn, Optional

from ..durations import parse_duration
from ..errors import ConfigError
from ..pipeline import Settings
from ..profiles import ProfileMap, parse_profile_map

PROG = "esa-auth"

EXIT_OK = 0
EXIT_UNREADABLE = 1
EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
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
    parser.add_argument("--tz", help="appliance time zone (IANA name such as Europe/Paris, UTC, or an offset such "
                        "as +02:00): read every line with its daylight-saving rules; a file's 'Time offset from "
                        "UTC' header only checks it (default: the header's offset, else UTC)")  # fmt: skip
    parser.add_argument("--host", help="appliance name when the lines do not carry one")
    parser.add_argument("--year", type=_year, help="year of syslog dates (default: inferred from today)")
    parser.add_argument("--max-sessions", type=_positive_int, default=100_000, metavar="N",
                        help="open SMTP sessions kept at most (default: 100000)")  # fmt: skip
    parser.add_argument("--session-timeout", type=_duration, default=3600.0, metavar="DURATION",
                        help="drop a session silent for this long, in log time (default: 1h)")  # fmt: skip
    parser.add_argument("--max-line-bytes", type=_positive_int, default=64 * 1024, metavar="N",
                        help="cut longer lines to this length, with a warning (default: 65536)")  # fmt: skip
    parser.add_argument("--stats", action="store_true", help="print counters on stderr at the end")
    parser.add_argument("--profile-map", metavar="FILE",
                        help="CSV file (header profile,user) giving the account of each outbound SMTP AUTH profile: "
                             "outbound events of a listed profile get its user")  # fmt: skip


def profile_map_from(args: argparse.Namespace) -> Optional[ProfileMap]:
    """The ``--profile-map`` file, read (raises ConfigError when it cannot be read or is not a profile map)."""
    name = args.profile_map
    if name is None:
        return None
    try:
        with open(name, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"cannot read the profile map {name}: {detail}") from None
    return parse_profile_map(text, name)


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
