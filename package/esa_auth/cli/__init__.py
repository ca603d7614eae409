"""The command line tool: ``esa-auth COMMAND [FILE ...]``.

The edge of the library: it reads files and the clock, and writes JSON lines
on stdout and ``FILE:LINE: message`` warnings on stderr. Exit status: 0 when
the input was read (skipped lines are not errors), 1 when a file cannot be
read, 2 on bad usage; each failure is one line on stderr, never a traceback.

One module per command (:mod:`.normalize`, :mod:`.detect`), each with
``HELP``, ``add_options(parser)`` and ``run(args, stdin, stdout, stderr)``;
:mod:`.options` and :mod:`.reading` hold what they share. Nothing outside
this package imports it, and the Splunk app does not ship it.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from types import ModuleType
from typing import IO, Dict, Iterable, Optional, Tuple

from .._version import __version__
from ..errors import ConfigError
from .normalize import FORMATS
from .options import EXIT_OK, EXIT_UNREADABLE, EXIT_USAGE, PROG, Parser, add_reading_options, settings_from
from .reading import read_sources

#: Commands: name -> (help, module). A command's module is imported only when its options are set up,
#: so that ``normalize`` does not pay at every start for what ``detect`` imports.
COMMANDS: Dict[str, Tuple[str, str]] = {
    "normalize": ("normalize ESA log lines into authentication events (JSON lines)", "normalize"),
    "detect": ("run the detection rules (Sigma) over ESA logs; alerts as JSON lines", "detect"),
}


def _command(name: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{COMMANDS[name][1]}")


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The argument parser of the tool.

    Args:
        command: the subcommand the arguments name, if known: only its options
            are set up (another command's may import more modules, which
            ``normalize`` would pay for at every start); None sets up all.
    """
    parser = Parser(prog=PROG, description="Normalized authentication events from Cisco ESA logs.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, (help_text, _) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command is None or name == command:
            _command(name).add_options(command_parser)
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
        return int(_command(args.command).run(args, sys.stdin.buffer, stdout, stderr))
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


__all__ = [
    "COMMANDS",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "EXIT_USAGE",
    "FORMATS",
    "PROG",
    "add_reading_options",
    "build_parser",
    "main",
    "read_sources",
    "settings_from",
]
