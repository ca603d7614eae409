"""The pipeline: bytes -> lines -> envelope -> template -> sessions -> AuthEvent.

Pure: nothing here opens a file, reads a clock or the environment. Callers
(the command line, the modular input, the search command) feed bytes per
source with :meth:`Normalizer.feed`, end a source with :meth:`Normalizer.end`,
and save or restore state with :meth:`Normalizer.state` / ``Normalizer(state=...)``.

The stages are modules: :mod:`~esa_auth.framing` (a source's bytes and its
logical lines), :mod:`~esa_auth.envelope` (what comes before a body),
:mod:`~esa_auth.patterns` and :mod:`~esa_auth.scan` (the templates),
:mod:`~esa_auth.reader` (the reading loop), :mod:`~esa_auth.correlate` (SMTP
sessions), :mod:`~esa_auth.mapping` (events) and :mod:`~esa_auth.render`
(OCSF, ECS). This module is the front: settings, state and diagnostics.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Dict, List, Optional

from .correlate import Correlator
from .errors import ConfigError, StateError
from .framing import LogicalLine, Stream
from .reader import Reader
from .sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT
from .timezones import parse_zone

__all__ = ["Diagnostic", "LogicalLine", "Normalizer", "Settings", "Stats", "Stream", "appliance_from_filename"]

DEFAULT_MAX_LINE_BYTES = 64 * 1024
STATE_VERSION = 1

# <log>.<host>.@<stamp>.<status> and <log>.<host>[.@<stamp>].current (docs/log-formats.md#file-names): the
# log name is a subscription name (letters, digits, "_", "-"); the host is a DNS name with a letter in it (so
# that a date or a counter such as "mail.2024.current" is no host); the stamp is the appliance's
# YYYYMMDDTHHMMSS or a plain number (what collected archives and published samples have); the status is "s"
# (saved), "c" (current) or "current". Nothing else: a compressed copy (".s.gz") or a name without "@"
# before the stamp merely looks like one.
_FILE_NAME = re.compile(
    r"[A-Za-z0-9_-]+\.(?P<host>[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)"
    r"\.(?:@(?:\d{8}T\d{6}|\d{1,20})\.(?:[sc]|current)|current)"
)
_LETTER = re.compile(r"[A-Za-z]")


def appliance_from_filename(name: str) -> Optional[str]:
    """The appliance name in a log file name written with the "hostname" option.

    ``authentication.esa01.example.com.@20220401T070622.s`` and ``mail_logs.esa01.@1648796782.c`` give
    ``esa01.example.com`` and ``esa01``; ``mail.@20220401T070622.s`` and ``mail.current`` give None
    (docs/log-formats.md#file-names).
    """
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    host = match.group("host")
    return host if ".." not in host and _LETTER.search(host) else None


@dataclass(frozen=True)
class Settings:
    """How to read the logs. Validated on creation (bad values raise ConfigError).

    Attributes:
        tz: the appliance zone: an IANA name, ``UTC`` or an offset. It reads every
            line, daylight-saving changes included; a ``Time offset from UTC``
            header only checks it (esa_auth.clock). None: the header's offset,
            else UTC, with a warning.
        host: the appliance name when the lines do not carry one.
        year: the year of syslog dates (which have none); None: inferred from
            ``reference_time``.
        reference_time: when the logs were read (UTC); dates with no year are
            placed in the year that puts them at or before it.
        max_sessions: open SMTP sessions kept at most.
        session_timeout: seconds of log time after which a silent session is dropped.
        max_line_bytes: longer lines are cut to this length, with a warning.
    """

    tz: Optional[str] = None
    host: Optional[str] = None
    year: Optional[int] = None
    reference_time: Optional[datetime] = None
    max_sessions: int = DEFAULT_MAX_SESSIONS
    session_timeout: float = DEFAULT_TIMEOUT
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    zone: Optional[tzinfo] = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tz is not None:
            object.__setattr__(self, "zone", parse_zone(self.tz))
        if self.year is not None and not 1970 <= self.year <= 9999:
            raise ConfigError(f"year out of range: {self.year}")
        if self.max_sessions < 1:
            raise ConfigError(f"max sessions must be at least 1, not {self.max_sessions}")
        if not self.session_timeout > 0:
            raise ConfigError(f"session timeout must be positive, not {self.session_timeout}")
        if self.max_line_bytes < 256:
            raise ConfigError(f"max line bytes must be at least 256, not {self.max_line_bytes}")
        if self.host is not None and not self.host.strip():
            object.__setattr__(self, "host", None)


@dataclass(frozen=True)
class Diagnostic:
    """A warning about the input, with its place."""

    source: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.message}"


@dataclass
class Stats:
    """Counters of a run."""

    lines: int = 0
    events: int = 0
    context: int = 0
    skipped: int = 0
    warnings: int = 0

    def as_dict(self, evictions: int) -> Dict[str, int]:
        """The counters, with the session table's evictions."""
        return {
            "lines": self.lines,
            "events": self.events,
            "context": self.context,
            "skipped": self.skipped,
            "warnings": self.warnings,
            "evictions": evictions,
        }


class Normalizer(Reader):
    """Turns ESA log bytes into :class:`~esa_auth.events.AuthEvent` objects.

    Read with :meth:`feed`, :meth:`flush` and :meth:`end` (see :class:`~esa_auth.reader.Reader`).

    Args:
        settings: how to read the logs.
        state: what :meth:`state` returned earlier (open sessions), or None.
    """

    def __init__(self, settings: Optional[Settings] = None, state: Optional[Dict[str, Any]] = None) -> None:
        self.settings = settings or Settings()
        self.correlator = Correlator(self.settings.max_sessions, self.settings.session_timeout)
        #: The open SMTP sessions (owned by the correlator).
        self.sessions = self.correlator.table
        self.stats = Stats()
        self.diagnostics: List[Diagnostic] = []
        self._init_reader()
        if state is not None:
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise StateError("normalizer state has an unknown version")
            self.sessions.restore(state["sessions"])

    def state(self) -> Dict[str, Any]:
        """Open sessions and counters, JSON-able, for a checkpoint."""
        return {"version": STATE_VERSION, "sessions": self.sessions.to_state()}

    def stats_dict(self) -> Dict[str, int]:
        """Counters of everything read so far."""
        return self.stats.as_dict(self.sessions.evictions)

    def take_diagnostics(self) -> List[Diagnostic]:
        """Return the warnings gathered since the last call, and forget them."""
        out, self.diagnostics = self.diagnostics, []
        return out

    def _warn(self, stream: Stream, line: int, message: str) -> None:
        self.stats.warnings += 1
        self.diagnostics.append(Diagnostic(stream.source, line, message))
