"""The pipeline: bytes -> lines -> envelope -> template -> sessions -> AuthEvent.

Pure: nothing here opens a file, reads a clock or the environment. Callers
(the command line, the modular input, the search command) feed bytes per
source with :meth:`Normalizer.feed`, end a source with :meth:`Normalizer.end`,
and save or restore state with :meth:`Normalizer.state` / ``Normalizer(state=...)``.

Speed matters (mail logs run to millions of lines a day): the hot loop looks
at raw bytes only, and decodes and matches a regex only for lines whose body
starts with a key of :data:`~esa_auth.patterns.DISPATCH`. Most mail-log lines
(``MID ...`` message lines) are dropped after a ``find`` and a dict lookup.
When the package was installed with a C compiler, ``esa_auth._speedups`` does
that walk in C (:meth:`Normalizer._scan_lines`), with the same results; the
Splunk app ships without it and reads with the Python loop.
"""

from __future__ import annotations

import hashlib
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Dict, List, Match, Optional, Tuple, Union, cast

from . import patterns as P
from .envelope import ENVELOPE_HEADS, Envelope, all_envelopes, body_start, parse_prefix, starts_envelope
from .errors import ConfigError, StateError
from .events import FIELD_ORDER, PRODUCT, VENDOR, AuthEvent
from .sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT, INBOUND, OUTBOUND, Session, SessionTable
from .text import clip, decode, is_ip
from .timezones import infer_year, local_to_epoch, parse_zone, rfc3339

# The compiled reading loop is not used: its event fields predate dest_interface
# (#21), and it is being removed (#13). The Python loop reads everything.
_built: Any = None
#: The compiled loop in use (see use_compiled_loop()), or None.
_speedups: Any = _built

DEFAULT_MAX_LINE_BYTES = 64 * 1024
#: Continuation lines joined to one log line at most (wrapped lines, section 1).
MAX_CONTINUATIONS = 16
STATE_VERSION = 1

#: Roles that make an appliance login privileged (catalogue section 6).
ADMIN_ROLES = frozenset({"admin", "administrator"})
#: The built-in account of every ESA.
DEFAULT_ACCOUNT = "admin"
#: SASL mechanisms that carry the password itself (RFC 4616 PLAIN; LOGIN).
CLEARTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})

_FILE_NAME = re.compile(r"^[^.@]+\.(?P<host>[^@]+?)\.(?:@\d{8}T\d{6}\.[A-Za-z]|current)$")
_REPLY_ITEM = re.compile(r"'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\"")
# An SMTP reply code is 2yz-5yz (RFC 5321 section 4.2.1); anything else is kept as text.
_REPLY = re.compile(r"^\(\s*'(?P<code>[2-5]\d\d)'\s*,\s*\[(?P<items>.*)\]\s*\)\s*$")
_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\b")
_NUMBER = re.compile(r"^[-+]?\d+(?:\.\d+)?$")
#: 9999-12-31T23:59:59Z, the last time RFC 3339 can write.
_MAX_EPOCH = 253402300799.0


def appliance_from_filename(name: str) -> Optional[str]:
    """The appliance name in a log file name written with the "hostname" option.

    ``authentication.esa01.example.com.@20220401T070622.s`` gives
    ``esa01.example.com``; ``mail.@20220401T070622.s`` gives None (section 2).
    """
    match = _FILE_NAME.match(name)
    return match.group("host") if match else None


@dataclass(frozen=True)
class Settings:
    """How to read the logs. Validated on creation (bad values raise ConfigError).

    Attributes:
        tz: the appliance zone when a file has no ``Time offset from UTC``
            header: an IANA name, ``UTC`` or an offset; None: UTC, with a warning.
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


# A logical line being assembled: first physical line, body start, dispatch
# key, byte offset, line number, continuation lines.
_Pending = Tuple[bytes, int, bytes, int, int, Optional[List[bytes]]]


class Stream:
    """The reading state of one source (a file, standard input, a search).

    Args:
        source: the name used in warnings (a path, ``-``).
        key: the identity used in event ids; defaults to ``source``. Give the
            same key to the same content under another name (a rotated file).
        appliance: the appliance name the source implies (from its file name).
    """

    def __init__(self, source: str, key: Optional[str] = None, appliance: Optional[str] = None) -> None:
        self.source = source
        self.key = key if key is not None else source
        self.appliance = appliance
        #: Byte offset of the first byte not yet consumed (the partial line's start).
        self.offset = 0
        #: Physical lines consumed.
        self.line = 0
        self.partial = b""
        self.overflow = 0
        self.pending: Optional[_Pending] = None
        self.started = False
        self.utc_offset: Optional[int] = None
        self.version: Optional[str] = None
        self.serial: Optional[str] = None
        self.zone_warned = False
        self.year_warned = False
        #: A logical line was finished by :meth:`Normalizer.flush` and no line opened since.
        self.flushed = False
        self.envelopes: Dict[bytes, Tuple[Optional[float], Optional[str]]] = {}

    def to_state(self) -> Dict[str, Any]:
        """The stream's position and file metadata, JSON-able. The pending
        line is not kept: save after :meth:`Normalizer.flush`."""
        return {
            "source": self.source, "key": self.key, "appliance": self.appliance,
            "offset": self.offset, "line": self.line,
            "partial": self.partial.decode("latin-1"), "overflow": self.overflow,
            "started": self.started, "utc_offset": self.utc_offset,
            "version": self.version, "serial": self.serial,
            "zone_warned": self.zone_warned, "year_warned": self.year_warned, "flushed": self.flushed,
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> Stream:
        """Rebuild a stream saved by :meth:`to_state`.

        Raises:
            StateError: the state is damaged.
        """
        if not isinstance(state, dict):
            raise StateError("stream state is damaged: not a mapping")
        for name in ("appliance", "version", "serial"):
            if state.get(name) is not None and not isinstance(state[name], str):
                raise StateError(f"stream state is damaged: {name} is not text")
        try:
            stream = cls(str(state["source"]), str(state["key"]), state.get("appliance"))
            stream.offset = int(state["offset"])
            stream.line = int(state["line"])
            stream.partial = str(state["partial"]).encode("latin-1")
            stream.overflow = int(state.get("overflow", 0))
            stream.started = bool(state["started"])
            offset = state.get("utc_offset")
            stream.utc_offset = None if offset is None else int(offset)
            stream.version = state.get("version")
            stream.serial = state.get("serial")
            stream.zone_warned = bool(state.get("zone_warned", False))
            stream.year_warned = bool(state.get("year_warned", False))
            stream.flushed = bool(state.get("flushed", False))
        except (KeyError, TypeError, ValueError, UnicodeError) as exc:
            raise StateError(f"stream state is damaged: {exc}") from exc
        return stream


def use_compiled_loop(enabled: bool = True) -> bool:
    """Read with the compiled loop (``esa_auth._speedups``) when it is built, or not.

    The compiled loop is built when the package is installed with a C compiler
    at hand; it reads exactly as the Python loop does, only faster. Returns
    whether it is in use now.
    """
    global _speedups
    _speedups = _built if enabled else None
    return _speedups is not None


def compiled_loop() -> bool:
    """Whether the compiled reading loop is in use (built, and not turned off)."""
    return _speedups is not None


class Normalizer:
    """Turns ESA log bytes into :class:`AuthEvent` objects.

    Args:
        settings: how to read the logs.
        state: what :meth:`state` returned earlier (open sessions), or None.
    """

    def __init__(self, settings: Optional[Settings] = None, state: Optional[Dict[str, Any]] = None) -> None:
        self.settings = settings or Settings()
        self.sessions = SessionTable(self.settings.max_sessions, self.settings.session_timeout)
        self.sessions.resolve = self._resolve
        self._times: Dict[float, str] = {}
        #: Session fields of kept session-line bodies (see _fill_from).
        self._parsed: Dict[Tuple[str, bytes], Tuple[Tuple[str, Any], ...]] = {}
        self.stats = Stats()
        self.diagnostics: List[Diagnostic] = []
        #: Set by feed_text(): the compiled loop may write events as their CIM JSON text.
        self._text_events = False
        if state is not None:
            if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
                raise StateError("normalizer state has an unknown version")
            self.sessions.restore(state["sessions"])

    # --- state -----------------------------------------------------------------
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

    # --- reading -----------------------------------------------------------------
    def feed(self, stream: Stream, data: bytes) -> List[AuthEvent]:
        """Read more bytes of a source; return the events of the lines completed.

        A line is complete at its newline; the last logical line is held back
        until the next line (it may be continued by wrapped lines), or until
        :meth:`flush` or :meth:`end`.
        """
        if not data:
            return []
        limit = self.settings.max_line_bytes
        events: List[AuthEvent] = []
        if stream.overflow:
            # The current line is already over the limit: drop bytes up to its end.
            cut = data.find(b"\n")
            if cut < 0:
                stream.overflow += len(data)
                return []
            stream.overflow += cut
            line = stream.partial
            stream.partial = b""
            data = data[cut + 1 :]
            events = self._lines(stream, line + b"\n", len(line) + 1, stream.offset, len(line) + stream.overflow)
            stream.offset += len(line) + stream.overflow + 1
            stream.overflow = 0
            if not data:
                return events
        buf = stream.partial + data if stream.partial else data
        end = buf.rfind(b"\n") + 1
        if end:
            events.extend(self._lines(stream, buf, end, stream.offset))
            stream.offset += end
        tail = buf[end:]
        if len(tail) > limit:
            stream.partial = tail[:limit]
            stream.overflow = len(tail) - limit
        else:
            stream.partial = tail
        return events

    def feed_text(self, stream: Stream, data: bytes) -> List[Union[AuthEvent, str]]:
        """:meth:`feed`, where an event may come as its CIM JSON text instead of an :class:`AuthEvent`.

        The text is what the command line writes for the event: ``json.dumps`` of
        :meth:`AuthEvent.to_dict` with ``ensure_ascii=False`` and no spaces. The
        compiled loop writes the events of the usual forms of T1, T2 and T10
        that way, without making the event object; other events, and all of
        them with the Python loop, come as objects. Same events, same order.
        """
        self._text_events = True
        try:
            return cast(List[Union[AuthEvent, str]], self.feed(stream, data))
        finally:
            self._text_events = False

    def flush(self, stream: Stream) -> List[AuthEvent]:
        """Finish the held-back logical line (all complete lines are then read)."""
        pending = stream.pending
        stream.pending = None
        if pending is None:
            return []
        # A continuation line that comes now is too late for that line: it gets a warning.
        stream.flushed = True
        event = self._finish(stream, pending)
        return [event] if event is not None else []

    def end(self, stream: Stream) -> List[AuthEvent]:
        """The source is finished: read a last line that has no newline, then flush."""
        events: List[AuthEvent] = []
        if stream.partial or stream.overflow:
            events.extend(self.feed(stream, b"\n"))
            stream.offset -= 1  # the newline was ours, not the source's
        events.extend(self.flush(stream))
        return events

    def _lines(self, stream: Stream, buf: bytes, end: int, offset: int, first_cut: int = 0) -> List[AuthEvent]:
        """Read the complete lines of ``buf[:end]``; the first is at byte ``offset`` of the source.

        ``first_cut`` is the length of a single line whose end ``feed`` dropped
        (over the limit). A block whose every line opens a log line (the usual
        case) is read by the loop below: one regex scan (:data:`_SCAN`) finds
        the lines whose body may start with a dispatch key, and the lines
        between them are skipped as runs, with no Python step per line. Session
        lines in their usual form are applied to the session table right there
        (see :data:`_FAST_FORMS`); other found lines take the full way
        (:meth:`_finish`). Line numbers are counted only where a line needs one.
        Anything else goes through :meth:`_each_line`, which reads line by line.
        """
        if end <= 0:
            return []
        if first_cut or not (
            _speedups.all_envelopes(buf, end, _ENVELOPE_HEADS) if _speedups is not None else all_envelopes(buf, end)
        ):
            return self._each_line(stream, buf, 0, end, offset, first_cut)
        if _speedups is not None:
            return self._scan_lines(stream, buf, end, offset)
        events: List[AuthEvent] = []
        finish = self._finish_into
        dispatch = P.DISPATCH
        actions = _ACTION_OF_GROUP
        sessions = self.sessions
        table = sessions._open
        max_sessions, timeout = sessions.max_sessions, sessions.timeout
        limit = self.settings.max_line_bytes
        header_keys = _HEADER_KEYS
        pending = stream.pending
        first = stream.line
        # Line numbers: ``lineno`` lines of the source end before byte ``synced``.
        lineno = first
        synced = 0
        handed = 0  # lines read by _each_line (they count themselves)
        pended = 0  # lines held for _finish (it counts them)
        fast = 0  # session lines applied here (context lines)
        # The envelope of the last line read, up to its body: the lines of one
        # second share it, and a line that starts with it has its body right
        # after it unless more spaces follow (see body_start()). ``nlprefix`` is
        # it after a newline: a match there is a line start. No match until a
        # first envelope is read.
        prefix = b"\n"
        nlprefix = b"\n\n"
        size = 1
        # Time and session appliance of ``prefix`` (``envelope_of is prefix``):
        # forgotten after _finish reads a line that may be a header, which can
        # change them (H-OFFSET, H-VERSION).
        envelope_of: Optional[bytes] = None
        when: Optional[float] = None
        appliance = ""
        timed = ahead = False
        now = opened = 0.0
        pos = 0
        open_verb, close_verb, verdict_verb, tls_verb, mid_verb = _OPEN, _CLOSE, _VERDICT, _TLS, _MID
        for match in _SCAN.finditer(buf, 0, end):
            group = match.lastindex
            action = actions[group]  # type: ignore[index]  # every alternative of _SCAN is a group
            if action is not None:
                # A session line in a fast form; the match ends after its newline.
                body, tail = match.span(group)  # type: ignore[arg-type]
                start = body - size
                after = match.end()
                if (
                    start >= pos  # not on a line already read (nor before the block: start - 1 >= -1)
                    and buf.startswith(nlprefix, start - 1)  # the envelope of the last line read
                    and after < end  # not the last line of the block (it may be wrapped)
                    and after - pos <= limit  # no line over the limit on the way (else: the full way)
                    # Reading a new envelope may warn: not before the cut of a next line over the
                    # limit, which the full way reports first (it finishes a line at the next). A
                    # held-back header line, finished below, makes the envelope new again.
                    and (
                        (envelope_of is prefix and (pending is None or pending[2] not in header_keys))
                        or buf.find(b"\n", after) - after <= limit
                    )
                ):
                    if pending is not None:
                        if finish(events, stream, pending):
                            envelope_of = None
                        pending = None
                    pos = after
                    # What _finish and _context do for the line, without decoding it
                    # or matching its template. The session table's open(), get()
                    # and close() are written out here (the hot loop of a mail
                    # log); tests/test_fast_path.py holds them to the full way,
                    # which calls them.
                    if envelope_of is not prefix:
                        lineno += buf.count(b"\n", synced, start)
                        synced = start
                        when, host = self._envelope(stream, prefix, lineno + 1)
                        appliance = host or self.settings.host or stream.appliance or stream.serial or ""
                        envelope_of = prefix
                        timed = when is not None
                        now = when if when is not None else 0.0
                        # The clock moves at most once per envelope (it never goes back).
                        ahead = timed and now > sessions.clock
                        opened = when or sessions.clock
                    fast += 1
                    verb, direction, number_group, mid_group = action
                    key = (appliance, direction, int(match.group(number_group)))
                    if verb == close_verb:
                        table.pop(key, None)
                        continue
                    if verb == open_verb:
                        table.pop(key, None)
                        session = Session(when, opened)
                        session.raw_open = buf[body:tail]
                        table[key] = session
                        if ahead:
                            sessions.advance(when)
                            ahead = False
                        if len(table) > max_sessions:
                            table.popitem(last=False)
                            sessions.evicted_full += 1
                        continue
                    found = table.get(key)
                    if found is not None:
                        if timed and now - found.seen > timeout:
                            # Idle longer than the timeout: not that session's line.
                            del table[key]
                            sessions.evicted_idle += 1
                        else:
                            if timed and now > found.seen:
                                found.seen = now
                            table.move_to_end(key)
                            if verb == verdict_verb:
                                found.raw_verdict = buf[body:tail]
                            elif verb == tls_verb:
                                found.raw_tls = buf[body:tail]
                            elif verb == mid_verb:
                                found.mid = int(match.group(mid_group))
                    if ahead:
                        sessions.advance(when)
                        ahead = False
                    continue
            # Any other line found (a fast form too, when its envelope is new or
            # it is the last line): the full way.
            at = match.start()
            if at < pos:
                continue  # one more key on a line already read
            start = buf.rfind(b"\n", 0, at) + 1
            stop = buf.find(b"\n", at)
            if start - pos > limit or stop - start > limit:
                # A line over the limit may be there: read these one by one.
                lineno += buf.count(b"\n", synced, pos)
                stream.pending, stream.line, stream.started = pending, lineno, True
                events += self._each_line(stream, buf, pos, stop + 1, offset + pos)
                handed += stream.line - lineno
                pending, lineno, synced = stream.pending, stream.line, stop + 1
                envelope_of = None
                pos = stop + 1
                continue
            # Lines between the last one read and this one open a log line
            # with a body no template starts: each ends the logical line
            # before it and is skipped (counted at the end).
            if pending is not None:
                if finish(events, stream, pending):
                    envelope_of = None
                pending = None
            lineno += buf.count(b"\n", synced, start)
            synced = start
            line = buf[start:stop]
            if line[-1:] == b"\r":
                line = line[:-1]
            if line.startswith(prefix) and line[size : size + 1] != b" ":
                bs = size
            else:
                bs = body_start(line)
                if bs > 0:
                    prefix = line[:bs]
                    nlprefix = b"\n" + prefix
                    size = bs
            pos = stop + 1
            if bs >= 0:
                dispatch_key = line[bs : bs + 4].lower()
                if dispatch_key in dispatch:
                    pending = (line, bs, dispatch_key, offset + start, lineno + 1, None)
                    pended += 1
        if end - pos > limit:
            lineno += buf.count(b"\n", synced, pos)
            stream.pending, stream.line, stream.started = pending, lineno, True
            events += self._each_line(stream, buf, pos, end, offset + pos)
            handed += stream.line - lineno
            pending = stream.pending
        elif end > pos and pending is not None:
            finish(events, stream, pending)
            pending = None
        self._end_block(stream, pending, first, buf.count(b"\n", 0, end), handed, pended, fast)
        return events

    def _scan_lines(self, stream: Stream, buf: bytes, end: int, offset: int) -> List[AuthEvent]:
        """:meth:`_lines` with the compiled loop of ``esa_auth._speedups`` (same results).

        Every line of the block opens a log line, so a held-back line is whole
        as soon as another line follows it: it is finished at once, and the
        compiled loop (``_speedups.scan``) never meets one. That loop skips the
        lines no template starts and applies session lines of the fast forms;
        it returns at each other line, which is read here as in :meth:`_lines`.
        """
        assert _speedups is not None
        scan = _speedups.scan
        events: List[AuthEvent] = []
        finish = self._finish_into
        dispatch = P.DISPATCH
        keys = _DISPATCH_KEYS
        sessions = self.sessions
        table = sessions._open
        # The compiled loop takes sizes as C integers: larger settings mean "no limit" all the same.
        max_sessions, timeout = min(sessions.max_sessions, sys.maxsize), sessions.timeout
        limit = min(self.settings.max_line_bytes, sys.maxsize)
        pending = stream.pending
        lineno = first = stream.line
        handed = pended = fast = 0
        prefix = b""  # no envelope read yet: the first line is read here
        size = 0
        #: (time, opened, session appliance, clock ahead, dvc, serial, version): see _speedups.scan.
        envelope: Optional[Tuple[Any, ...]] = None
        pos = 0
        # Events the compiled loop writes as text (feed_text), with what it needs for them.
        text_events = (
            (events, stream.key.encode("utf-8", "replace"), offset, is_ip, self._resolve, self._time,
             CLEARTEXT_MECHANISMS, VENDOR, PRODUCT, FIELD_ORDER, *_TEXT_TEMPLATES)
            if self._text_events else None
        )  # fmt: skip
        if pending is not None and buf.find(b"\n") <= limit:
            # The block's first line opens a log line: the held-back line is whole.
            # (Before a line over the limit it is finished by _each_line, after
            # the warning about the cut, as the full way does.)
            finish(events, stream, pending)
            pending = None
        while True:
            code, pos, lines, found, full, idle, ahead, written = scan(
                buf, pos, end, limit, prefix, keys, table, sessions, Session, max_sessions, timeout, envelope,
                text_events,
            )  # fmt: skip
            lineno += lines
            fast += found
            if written:
                pended += written  # event lines, counted as events here, not as skipped
                self.stats.events += written
            sessions.evicted_full += full
            sessions.evicted_idle += idle
            if code == _SCAN_DONE:
                break
            if envelope is not None and envelope[3] and not ahead:
                envelope = (*envelope[:3], False, *envelope[4:])
            if code == _SCAN_ENVELOPE:
                # What the Python loop does at the first fast line of an envelope,
                # and what _finish gives the events of its lines.
                when, host = self._envelope(stream, prefix, lineno + 1)
                dvc = host or self.settings.host or stream.appliance
                ahead = when is not None and when > sessions.clock
                envelope = (
                    when, when or sessions.clock, dvc or stream.serial or "", ahead, dvc, stream.serial, stream.version
                )  # fmt: skip
                continue
            stop = buf.find(b"\n", pos)  # the line handed back ends there
            if code == _SCAN_LONG:
                stream.pending, stream.line, stream.started = pending, lineno, True
                events += self._each_line(stream, buf, pos, stop + 1, offset + pos)
                handed += stream.line - lineno
                pending, lineno = stream.pending, stream.line
                envelope = None
            else:
                lineno += 1
                line = buf[pos:stop]
                if line[-1:] == b"\r":
                    line = line[:-1]
                if size and line.startswith(prefix) and line[size : size + 1] != b" ":
                    bs = size
                else:
                    bs = body_start(line)
                    if bs > 0 and line[:bs] != prefix:
                        prefix = line[:bs]
                        size = bs
                        envelope = None
                        if line[bs : bs + 4].lower() in dispatch:
                            # A new envelope (a new second, another host or level): the
                            # compiled loop reads the line again, now under it; it may be
                            # a session line of a fast form.
                            lineno -= 1
                            continue
                if bs >= 0:
                    dispatch_key = line[bs : bs + 4].lower()
                    if dispatch_key in dispatch:
                        pending = (line, bs, dispatch_key, offset + pos, lineno, None)
                        pended += 1
            pos = stop + 1
            if pending is not None and pos < end and buf.find(b"\n", pos) - pos <= limit:
                # Another line follows: the held-back line is whole (see above for a long one).
                if finish(events, stream, pending):
                    envelope = None
                pending = None
        # Every line of the block was counted on the way.
        self._end_block(stream, pending, first, lineno - first, handed, pended, fast)
        return events

    def _end_block(
        self, stream: Stream, pending: Optional[_Pending], first: int, total: int, handed: int, pended: int, fast: int
    ) -> None:
        """Leave the stream after a block read by the scan: ``total`` lines from line ``first`` on.

        ``handed`` lines were read (and counted) by :meth:`_each_line`, ``pended``
        were held for :meth:`_finish` (which counts them), ``fast`` were session
        lines applied on the way; the others were skipped.
        """
        stream.pending = pending
        stream.line = first + total
        stream.started = True
        stream.flushed = False
        self.stats.lines += total - handed
        self.stats.context += fast
        self.stats.skipped += total - handed - pended - fast

    def _each_line(
        self, stream: Stream, buf: bytes, pos: int, end: int, offset: int, first_cut: int = 0
    ) -> List[AuthEvent]:
        """Read the complete lines of ``buf[pos:end]`` one by one (see :meth:`_lines`)."""
        events: List[AuthEvent] = []
        dispatch = P.DISPATCH
        heads = ENVELOPE_HEADS
        limit = self.settings.max_line_bytes
        pending = stream.pending
        lineno = first = stream.line
        started = stream.started
        flushed = stream.flushed
        skipped = 0
        while pos < end:
            stop = buf.find(b"\n", pos)
            lineno += 1
            length = stop - pos
            if length > limit:
                line = buf[pos : pos + limit]
                cut = length
            else:
                line = buf[pos:stop]
                cut = first_cut
            pos = stop + 1
            if line[-1:] == b"\r":
                line = line[:-1]
            if cut:
                self._warn(stream, lineno, f"line of {cut} bytes cut to {len(line)} bytes")
            head = line[:3]
            opens = head in heads or (head[:1] == b"<" and head[1:2].isdigit())
            if not opens and _CONTROL.search(line) is not None and line.strip():
                # Wrapped text holds no control bytes: this is no continuation. A
                # terminal escape or stray control bytes before an envelope are
                # taken off, and the line is read after them.
                lead = _LEADING_CONTROL.match(line)
                rest = line[lead.end() :] if lead is not None else b""
                if rest and starts_envelope(rest):
                    self._warn(stream, lineno, f"{len(line) - len(rest)} control byte(s) before the envelope removed")
                    line = rest
                    opens = True
                elif started:
                    message = f"line holds control characters: no continuation of a line; skipped: {_show(line)}"
                    self._warn(stream, lineno, message)
                    skipped += 1
                    line = b""
            if opens:
                started = True
                flushed = False
                if pending is not None:
                    self._finish_into(events, stream, pending)
                    pending = None
                bs = body_start(line)
                if bs < 0:
                    skipped += 1
                else:
                    key = line[bs : bs + 4].lower()
                    if key in dispatch:
                        pending = (line, bs, key, offset, lineno, None)
                    else:
                        skipped += 1
            elif line.strip():
                if pending is not None:
                    more = pending[5]
                    if more is None:
                        pending = (pending[0], pending[1], pending[2], pending[3], pending[4], [line])
                    elif len(more) < MAX_CONTINUATIONS:
                        more.append(line)
                    else:
                        self._warn(stream, lineno, "too many continuation lines; line dropped")
                elif not started:
                    self._warn(stream, lineno, f"line does not start with an ESA log envelope; skipped: {_show(line)}")
                    skipped += 1
                elif flushed:
                    # The line it continues was finished by flush() (a checkpoint) before it came.
                    message = f"continuation of a line already read (flushed); skipped: {_show(line)}"
                    self._warn(stream, lineno, message)
                    skipped += 1
            offset += (cut or length) + 1
        stream.pending = pending
        stream.line = lineno
        stream.started = started
        stream.flushed = flushed
        self.stats.lines += lineno - first
        self.stats.skipped += skipped
        return events

    # --- one logical line ---------------------------------------------------------
    def _finish_into(self, events: List[AuthEvent], stream: Stream, pending: _Pending) -> bool:
        """Finish a held-back line (:meth:`_finish`), adding its event, if any, to ``events``.

        Returns whether the line was under a header key: a header may change the
        file's time offset or serial, so an envelope read before it is stale.
        """
        event = self._finish(stream, pending)
        if event is not None:
            events.append(event)
        return pending[2] in _HEADER_KEYS

    def _finish(self, stream: Stream, pending: _Pending) -> Optional[AuthEvent]:
        first, bs, key, offset, lineno, more = pending
        body_bytes = first[bs:] if more is None else b" ".join([first[bs:]] + [m.strip() for m in more])
        body, problems = decode(body_bytes)
        for problem in problems:
            self._warn(stream, lineno, problem)
        found = P.match(body, key)
        if found is None and more is not None:
            # The physical lines after it did not continue it (binary garbage,
            # a damaged line): the first line alone may still be a whole line.
            alone, _ = decode(first[bs:])
            found = P.match(alone, key)
            if found is not None:
                body = alone
                self._warn(stream, lineno, f"{len(more)} following line(s) are no continuation of this line; skipped")
        if found is None:
            self.stats.skipped += 1
            if P.DRIFT.search(body):
                self._warn(stream, lineno, f"unrecognised authentication line; skipped: {clip(body)}")
            return None
        pattern, groups = found
        role = pattern.role
        # Header and look-alike lines need no time: reading their envelope would
        # warn about a missing zone before the header's own offset line arrives.
        if role == P.HEADER:
            self.stats.context += 1
            self._header(stream, pattern.name, groups, lineno)
            return None
        if role != P.AUTH and role != P.CONTEXT:
            self.stats.skipped += 1
            return None
        prefix = first[:bs]
        epoch, host = self._envelope(stream, prefix, lineno)
        appliance = host or self.settings.host or stream.appliance
        if role == P.CONTEXT:
            self.stats.context += 1
            self._context(pattern.name, groups, appliance or stream.serial or "", epoch)
            return None
        prefix_text, _ = decode(prefix)
        raw = prefix_text + body
        # The envelope again for what the event tells of it (#21): read once per event, not cached per prefix.
        event = self._event(stream, pattern, groups, epoch, appliance, raw, offset, parse_prefix(prefix_text))
        self.stats.events += 1
        return event

    def _envelope(self, stream: Stream, prefix: bytes, lineno: int) -> Tuple[Optional[float], Optional[str]]:
        cached = stream.envelopes.get(prefix)
        if cached is not None:
            return cached
        text, _ = decode(prefix)
        envelope = parse_prefix(text)
        if envelope is None:
            self._warn(stream, lineno, f"unrecognised envelope {clip(text)!r}; time and host left out")
            result: Tuple[Optional[float], Optional[str]] = (None, None)
        else:
            result = (self._epoch(stream, envelope, lineno), envelope.host)
        if len(stream.envelopes) >= 4096:
            stream.envelopes.clear()
        stream.envelopes[prefix] = result
        return result

    def _epoch(self, stream: Stream, envelope: Envelope, lineno: int) -> Optional[float]:
        if envelope.month == 0:
            return None
        year = envelope.year or self.settings.year
        if year is None:
            reference = self.settings.reference_time
            if reference is None:
                if not stream.year_warned:
                    stream.year_warned = True
                    self._warn(stream, lineno, "syslog dates carry no year and none is configured; time left out")
                return None
            year = infer_year(envelope.month, envelope.day, reference)
        try:
            hour, minute, second = (int(x) for x in envelope.hms.split(":"))
            local = datetime(year, envelope.month, envelope.day, hour, minute, second)  # noqa: DTZ001 - wall clock
        except ValueError:
            self._warn(stream, lineno, f"impossible date {year}-{envelope.month}-{envelope.day} {envelope.hms}")
            return None
        if stream.utc_offset is None and self.settings.zone is None and not stream.zone_warned:
            stream.zone_warned = True
            self._warn(
                stream, lineno, "no 'Time offset from UTC' header and no time zone configured: times read as UTC"
            )
        try:
            epoch = local_to_epoch(local, self.settings.zone, stream.utc_offset)
        except (OverflowError, ValueError):
            epoch = None
        # A year the line spells (E1, E6) can be anything: keep to times that RFC 3339
        # with four-digit years can write, from the epoch on (no ESA wrote earlier).
        if epoch is None or not 0 <= epoch <= _MAX_EPOCH:
            self._warn(stream, lineno, f"time {local.isoformat()} is out of range in UTC; time left out")
            return None
        return epoch

    def _time(self, epoch: float) -> str:
        """RFC 3339 form of a log time (cached: the events of a second share it)."""
        text = self._times.get(epoch)
        if text is None:
            if len(self._times) >= 4096:
                self._times.clear()
            text = self._times[epoch] = rfc3339(epoch)
        return text

    def _header(self, stream: Stream, name: str, groups: Match[str], lineno: int) -> None:
        if name == "H-VERSION":
            stream.version = groups["version"]
            stream.serial = groups["serial"]
        elif name == "H-OFFSET":
            offset = int(groups["offset"])
            # Real offsets lie within a day of UTC (-12 h to +14 h); anything else is damage.
            if abs(offset) > 86400:
                self._warn(stream, lineno, f"implausible 'Time offset from UTC' of {offset} seconds; ignored")
                return
            stream.utc_offset = offset
            stream.envelopes.clear()

    def _context(self, name: str, groups: Match[str], appliance: str, when: Optional[float]) -> None:
        sessions = self.sessions
        if name == "C1":
            _fill(sessions.open((appliance, INBOUND, int(groups["icid"])), when), name, groups)
        elif name == "C7":
            _fill(sessions.open((appliance, OUTBOUND, int(groups["dcid"])), when), name, groups)
        elif name in ("C5", "C8c"):
            kind = INBOUND if name == "C5" else OUTBOUND
            sessions.close((appliance, kind, int(groups["icid" if name == "C5" else "dcid"])))
        else:
            kind, number = (OUTBOUND, groups["dcid"]) if name in ("C8", "C8t", "C9") else (INBOUND, groups["icid"])
            found = sessions.get((appliance, kind, int(number)), when)
            if found is None:
                return
            if name in ("C2", "C4", "C8t"):
                _fill(found, name, groups)
            else:  # C6, C8: a message starts on the session; C9: its delivery ended
                found.mid = int(groups["mid"])

    def _resolve(self, session: Session) -> None:
        """Read the session lines kept unread in a session (see ``_FAST_FORMS``) into its fields."""
        raw_open, raw_verdict, raw_tls = session.raw_open, session.raw_verdict, session.raw_tls
        session.raw_open = session.raw_verdict = session.raw_tls = None
        # The fast form that kept a body tells its template (C1 or C7, C2, C4 or
        # C8t); printable ASCII (the forms ask for it) decodes to the same text.
        cache = self._parsed
        if raw_open is not None:
            _fill_from(session, "C1" if raw_open.startswith(b"New SMTP ICID") else "C7", raw_open, cache)
        if raw_verdict is not None:
            _fill_from(session, "C2", raw_verdict, cache)
        if raw_tls is not None:
            _fill_from(session, "C4" if raw_tls.startswith(b"ICID") else "C8t", raw_tls, cache)

    def _event(
        self,
        stream: Stream,
        pattern: P.LinePattern,
        groups: Match[str],
        epoch: Optional[float],
        appliance: Optional[str],
        raw: str,
        offset: int,
        envelope: Optional[Envelope] = None,
    ) -> AuthEvent:
        names = groups.groupdict()
        # The event's fields, given straight to AuthEvent.from_fields (a field
        # left None takes its default: None, or the vendor names).
        values: Dict[str, Any]
        user = _clean(names.get("user"))
        if user == "-":
            user = None
        direction = pattern.direction
        dvc = appliance
        if direction == "inbound":
            icid = int(names["icid"])
            mechanism = _clean(names.get("mech"))
            values = {
                "icid": icid, "session_id": str(icid), "authentication_method": mechanism,
                "authentication_service": _clean(names.get("profile")),
            }  # fmt: skip
            session = self.sessions.get((appliance or stream.serial or "", INBOUND, icid), epoch)
            if session is not None:
                self._resolve(session)
                sbrs = float(session.sbrs) if session.sbrs is not None else None
                if sbrs is not None and not -10.0 <= sbrs <= 10.0:
                    sbrs = None
                client, listener_ip = session.client_ip, session.listener_ip
                values["src"] = client
                values["src_ip"] = client if client and is_ip(client) else None
                values["src_host"] = session.client_host
                values["dest"] = listener_ip
                values["dest_ip"] = listener_ip if listener_ip and is_ip(listener_ip) else None
                # C1's "interface NAME" is the appliance's IP interface (#21), kept in
                # Session.listener (the checkpoint's field name).
                values["dest_interface"] = session.listener
                values["sender_group"] = session.sender_group
                values["sbrs"] = sbrs
                values["tls"] = session.tls
                values["tls_protocol"] = session.tls_protocol
                values["tls_cipher"] = session.tls_cipher
                values["mid"] = session.mid
                if mechanism is not None:
                    values["cleartext"] = mechanism.upper() in CLEARTEXT_MECHANISMS and not session.tls
            if values.get("dest") is None and dvc:
                values["dest"] = dvc
            if names.get("server"):
                detail = _clean(names.get("detail"))
                server = names["server"].strip()
                values["reason"] = f"could not reach forwarding server {server}" + (f": {detail}" if detail else "")
        elif direction == "outbound":
            dcid = int(names["dcid"])
            ip = names["ip"]
            values = {
                "dcid": dcid, "session_id": str(dcid), "authentication_service": _clean(names.get("profile")),
                "dest": ip, "dest_ip": ip if ip and is_ip(ip) else None,
            }  # fmt: skip
            session = self.sessions.get((appliance or stream.serial or "", OUTBOUND, dcid), epoch)
            if session is not None:
                self._resolve(session)
                local = session.local_ip
                values["src"] = local
                values["src_ip"] = local if local and is_ip(local) else None
                values["dest_port"] = session.remote_port
                values["tls"] = session.tls
                values["tls_protocol"] = session.tls_protocol
                values["tls_cipher"] = session.tls_cipher
                values["mid"] = session.mid
            if values.get("src") is None and dvc:
                values["src"] = dvc
            if names.get("tail"):
                values.update(_smtp_reply(names["tail"]))
        else:
            values = _admin(pattern, names, user)
            audit_appliance = _clean(names.get("appliance"))
            if dvc is None and audit_appliance:
                dvc = audit_appliance
            if values.get("dest") is None and dvc:
                values["dest"] = dvc
        if pattern.reason and values.get("reason") is None:
            values["reason"] = pattern.reason
        # BLAKE2b of 16 bytes; the compiled loop computes the same (_speedups.event_digest).
        values["event_id"] = hashlib.blake2b(
            f"{stream.key}\x00{offset}\x00{raw}".encode("utf-8", "replace"), digest_size=16
        ).hexdigest()
        values["action"] = pattern.action
        values["activity"] = pattern.activity
        values["app"] = values.get("app") or pattern.app
        values["signature"] = pattern.signature
        values["signature_id"] = pattern.signature_id
        values["raw"] = raw
        values["time"] = self._time(epoch) if epoch is not None else None
        values["direction"] = direction or None
        values["user"] = user
        values["dvc"] = dvc
        values["dvc_serial"] = stream.serial
        values["product_version"] = stream.version
        if envelope is not None:
            values["log_name"] = envelope.log_name
            values["original_time"] = envelope.time_text or None
        # The header's offset is the one the time was read with (it wins over a configured zone).
        values["utc_offset"] = stream.utc_offset if epoch is not None else None
        return AuthEvent.from_fields(values)


# Lines whose body may begin with a dispatch key: a ": " (the level's), spaces,
# then a key in any case. It finds more than those (the key may follow any
# ": " of the line): each line found is read exactly, and the lines between are
# counted and skipped as a run, without a Python step per line. Most lines of a
# mail log (``MID ...``) are in such runs. The lookahead on the keys' first
# letters lets the regex engine drop most candidates at one byte.
_KEYS = sorted(P.DISPATCH)
_KEY_HEADS = bytes(sorted({key[0] for key in _KEYS + [key.upper() for key in _KEYS]}))
_KEY_ALTERNATIVES = rb"(?i:" + b"|".join(re.escape(key) for key in _KEYS) + rb")"

#: The dispatch keys as ``_speedups.scan`` takes them: four bytes each, one after the other.
_DISPATCH_KEYS = b"".join(sorted(P.DISPATCH))
_SCAN_DONE, _SCAN_LINE, _SCAN_LONG, _SCAN_ENVELOPE = 0, 1, 2, 3

#: envelope.ENVELOPE_HEADS as ``_speedups.all_envelopes`` takes them: three bytes each, one after the other.
_ENVELOPE_HEADS = b"".join(sorted(ENVELOPE_HEADS))
#: What the templates whose events the compiled loop writes give them, in its order.
_TEXT_TEMPLATES = tuple(
    (p.action, p.activity, p.app, p.direction, p.signature, p.signature_id, p.reason)
    for p in (P.BY_NAME["T1"], P.BY_NAME["T2"], P.BY_NAME["T10"])
)

#: Dispatch keys of the header templates (a line under one may change the file's offset or serial).
_HEADER_KEYS = frozenset(key for key, found in P.DISPATCH.items() if any(p.role == P.HEADER for p in found))

# Session lines in their usual form (a third of a mail log): the ICID/DCID
# lines of catalogue section 5 as AsyncOS writes them, one space between words,
# in printable ASCII. Each form only accepts bodies that its template
# (patterns.py) matches and that no template before it under the same dispatch
# key matches: a line of such a form is that template's line for sure, and it
# decodes to the same text with no warning. So the pipeline applies it to the
# session table without decoding it or running the template: it keeps the
# body of the open (C1, C7), verdict (C2) and TLS success (C4, C8t) lines in
# the session, and the template reads them only when an authentication line
# or a checkpoint needs the session (Normalizer._resolve). Lines in any other
# form (odd case, double spaces, other bytes) take the full way.
# In the forms: [!-~]+ stands for \S of a template, [ -~]* for its ".", both in
# printable ASCII; a form ends where the line does (the scan takes the newline too).
_FAST_FORMS = (
    # C1 (dispatch key "new ": C1 first): listener and rDNS are free text there.
    ("c1", rb"New SMTP ICID (?P<c1n>\d{1,18}) interface [ -~]+ address [!-~]+"
           rb"(?: reverse dns host [ -~]*? verified (?:yes|no))?"),
    # C7 (after C1, which wants ICID).
    ("c7", rb"New SMTP DCID (?P<c7n>\d{1,18}) interface [!-~]+ address [!-~]+(?: port \d{1,18})?"),
    # C2 (key "icid": C2, C4, C5): the rule, SBRS and country parts are optional.
    ("c2", rb"ICID (?P<c2n>\d{1,18}) (?:ACCEPT|REJECT|TCPREFUSE|RELAY) SG [ -~]*? match(?: [ -~]*)?"),
    # C4: anything may follow the result (protocol, cipher, an error text).
    ("c4s", rb"ICID (?P<c4sn>\d{1,18}) TLS success[ -~]*"),
    ("c4f", rb"ICID (?P<c4fn>\d{1,18}) TLS failed[ -~]*"),
    ("c5", rb"ICID (?P<c5n>\d{1,18}) (?:close|lost)"),
    # C6 (key "star").
    ("c6", rb"Start MID (?P<c6m>\d{1,18}) ICID (?P<c6n>\d{1,18})"),
    # C8 (key "deli"): the template stops after the MID.
    ("c8", rb"Delivery start DCID (?P<c8n>\d{1,18}) MID (?P<c8m>\d{1,18})[ -~]*"),
    # C8c, C8t (key "dcid": T10 and T11 want "DCID:", C8c comes before C8t).
    ("c8c", rb"DCID (?P<c8cn>\d{1,18}) close"),
    ("c8ts", rb"DCID (?P<c8tsn>\d{1,18}) TLS success[ -~]*"),
    ("c8tf", rb"DCID (?P<c8tfn>\d{1,18}) TLS failed[ -~]*"),
)  # fmt: skip

# What a session line of a fast form does (as Normalizer._context does for its
# template): the verb, the session direction, the group of its ICID/DCID and
# the group of its MID.
_OPEN, _CLOSE, _VERDICT, _TLS, _MID, _TOUCH = range(6)
_Action = Tuple[int, str, str, str]
_FAST_ACTIONS: Dict[str, _Action] = {
    "c1": (_OPEN, INBOUND, "c1n", ""),
    "c7": (_OPEN, OUTBOUND, "c7n", ""),
    "c2": (_VERDICT, INBOUND, "c2n", ""),
    "c4s": (_TLS, INBOUND, "c4sn", ""),
    "c4f": (_TOUCH, INBOUND, "c4fn", ""),
    "c5": (_CLOSE, INBOUND, "c5n", ""),
    "c6": (_MID, INBOUND, "c6n", "c6m"),
    "c8": (_MID, OUTBOUND, "c8n", "c8m"),
    "c8c": (_CLOSE, OUTBOUND, "c8cn", ""),
    "c8ts": (_TLS, OUTBOUND, "c8tsn", ""),
    "c8tf": (_TOUCH, OUTBOUND, "c8tfn", ""),
}

#: The fast forms by their first byte, in order (forms of different first
#: bytes never match the same line, so their order does not matter).
_FORMS_BY_HEAD: Dict[bytes, List[bytes]] = {}
for _name, _form in _FAST_FORMS:
    _FORMS_BY_HEAD.setdefault(_form[:1], []).append(b"(?P<" + _name.encode() + b">" + _form + rb")\r?\n")

#: The scan of :meth:`Normalizer._lines`: a fast form (its group names the
#: form) or else any dispatch key (group ``key``). A lookahead on its first byte
#: lets the regex engine try only the forms that may match.
_SCAN = re.compile(
    rb": +(?=[" + re.escape(_KEY_HEADS) + rb"])(?:"
    + b"|".join(b"(?=" + head + b")(?:" + b"|".join(forms) + b")" for head, forms in _FORMS_BY_HEAD.items())
    + rb"|(?P<key>" + _KEY_ALTERNATIVES + rb"))"
)  # fmt: skip

#: The action of a fast form by the index of its group in :data:`_SCAN` (the
#: match's ``lastindex``), with the indexes of its ICID/DCID and MID groups;
#: None for any other group.
_ACTION_OF_GROUP: List[Optional[Tuple[int, str, int, int]]] = [None] * (_SCAN.groups + 1)
for _name, (_verb, _direction, _number, _mid) in _FAST_ACTIONS.items():
    _ACTION_OF_GROUP[_SCAN.groupindex[_name]] = (
        _verb, _direction, _SCAN.groupindex[_number], _SCAN.groupindex[_mid] if _mid else 0
    )  # fmt: skip


def _fill(session: Session, name: str, groups: Match[str]) -> None:
    """Set what an open (C1, C7), verdict (C2) or TLS (C4, C8t) line says about its session."""
    for attribute, value in _session_values(name, groups):
        setattr(session, attribute, value)


def _session_values(name: str, groups: Match[str]) -> Tuple[Tuple[str, Any], ...]:
    """The session fields an open (C1, C7), verdict (C2) or TLS (C4, C8t) line sets, with their values."""
    if name == "C1":
        rdns = groups["rdns"]
        verified = groups["verified"] and groups["verified"].lower() == "yes" and rdns and rdns.lower() != "unknown"
        return (
            ("client_ip", groups["client"]),
            ("listener", groups["listener"].strip() or None),
            ("listener_ip", groups["listener_ip"] or None),
        ) + ((("client_host", rdns),) if verified else ())
    if name == "C7":
        port = int(groups["port"]) if groups["port"] else 0
        return (
            ("local_ip", groups["local_ip"]),
            ("remote_ip", groups["remote_ip"]),
            ("remote_port", port if 0 < port < 65536 else None),
        )
    if name == "C2":
        group = groups["sg"].strip()
        sbrs = groups["sbrs"]
        return (
            ("sender_group", group if group and group != "None" else None),
            ("sbrs", sbrs if sbrs and _NUMBER.match(sbrs) else None),
            ("raw_verdict", None),  # older than this line
        )
    if groups["result"].lower() == "success":  # C4, C8t
        return (
            ("tls", True),
            ("tls_protocol", groups["proto"]),
            ("tls_cipher", groups["cipher"]),
            ("raw_tls", None),  # older than this line
        )
    return ()


# Bytes that wrapped text never holds: C0 controls but TAB, and DEL.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# What a terminal or a relay may put before an envelope: ANSI escape sequences
# (CSI "ESC [ ... final", two-byte "ESC x") and other control bytes.
_LEADING_CONTROL = re.compile(rb"(?:\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0a-\x1f\x7f])+")


#: Where the ICID/DCID number starts in the body a fast form kept, by template.
_NUMBER_AT = {"C1": len(b"New SMTP ICID "), "C7": len(b"New SMTP DCID "), "C2": 5, "C4": 5, "C8t": 5}


def _fill_from(
    session: Session, name: str, raw: bytes, cache: Dict[Tuple[str, bytes], Tuple[Tuple[str, Any], ...]]
) -> None:
    """Fill a session from the body of a session line kept by a fast form of template ``name``.

    What a line says about its session does not depend on its ICID/DCID
    number (each template reads it apart, then one or more spaces): ``cache``
    keeps the fields by template and by the rest of the body, which repeats
    (the same TLS protocol and cipher, smart host, sender group).
    """
    # A fast form writes the number then one space.
    key = (name, raw[raw.index(b" ", _NUMBER_AT[name]) :])
    values = cache.get(key)
    if values is None:
        found = P.BY_NAME[name].regex.match(raw.decode("ascii"))
        # Always a match: a fast form only takes lines its template matches.
        values = _session_values(name, found) if found is not None else ()
        if len(cache) >= 4096:
            cache.clear()
        cache[key] = values
    for attribute, value in values:
        setattr(session, attribute, value)


def _show(line: bytes) -> str:
    text, _ = decode(line[:120])
    return clip(text)


def _ip(value: Optional[str]) -> Optional[str]:
    """The value if it is an IP address (IPv4, IPv6, IPv4-mapped IPv6), else None."""
    return value if value and is_ip(value) else None


def _clean(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _smtp_reply(tail: str) -> Dict[str, Any]:
    """Read the Python-repr reply of an outbound failure (T11):
    ``('535', ['5.7.8 Error: authentication failed: ...'])``."""
    match = _REPLY.match(tail.strip())
    if not match:
        return {"reason": tail.strip() or None}
    items = [a if a else b for a, b in _REPLY_ITEM.findall(match["items"])]
    text = " ".join(item.strip() for item in items if item.strip())
    out: Dict[str, Any] = {"reply_code": match["code"], "reason": text or None}
    if items:
        status = _ENHANCED.match(items[0].strip())
        if status:
            out["enhanced_status"] = status.group(1)
    return out


_APP_BY_PROTOCOL = {"HTTPS": "esa:gui", "HTTP": "esa:gui", "SSH": "esa:ssh"}
_APP_BY_MODE = {"GUI": "esa:gui", "CLI": "esa:cli", "API": "esa:api"}


def _admin(pattern: P.LinePattern, names: Dict[str, Optional[str]], user: Optional[str]) -> Dict[str, Any]:
    src = _clean(names.get("src"))
    role = _clean(names.get("role"))
    proto = (names.get("proto") or "").upper()
    mode = (names.get("mode") or "").upper()
    app = pattern.app or _APP_BY_PROTOCOL.get(proto) or _APP_BY_MODE.get(mode) or "esa"
    method = _clean(names.get("method"))
    values: Dict[str, Any] = {
        "app": app,
        "src": src,
        "src_ip": _ip(src),
        "user_role": role,
        "session_id": _clean(names.get("session")),
        "authentication_method": " ".join(method.split()) if method else None,
        "dest": _clean(names.get("dest_ip")),
        "dest_ip": _ip(_clean(names.get("dest_ip"))),
        "reason": _clean(names.get("detail")),
    }
    is_default = None if user is None else user == DEFAULT_ACCOUNT
    values["default_account"] = is_default
    if is_default or (role is not None and role.lower() in ADMIN_ROLES):
        values["privileged"] = True
    elif role is not None:
        values["privileged"] = False
    # No role logged and not the built-in account: privilege unknown, left out.
    return values
