"""Envelopes: what comes before the message body of an ESA log line.

A line is ``<envelope><Level>: <body>``. The same body arrives in every
envelope E1-E11 (docs/log-formats.md#envelopes); they differ in time
format, year, host and log name. This module only finds and reads envelopes;
it knows nothing of bodies.

Two speeds:

* :func:`body_start` works on raw bytes with ``find``, so that the pipeline can
  look at the first word of every body without decoding or matching a regex
  (most mail-log lines are skipped right there);
* :func:`parse_prefix` reads the envelope fully with a regex, only for lines
  that matter, and its results are cached by the caller (every line written
  in the same second by the same appliance shares one prefix).
"""

from __future__ import annotations

import re
from typing import Dict, NamedTuple, Optional, Tuple, Union, overload

from .shapes import alternation_tree

#: Levels ESA writes before the body (docs/log-formats.md#envelopes). Real logs vary in case.
LEVELS = frozenset({b"info", b"warning", b"critical", b"debug", b"trace"})
_TEXT_LEVELS = frozenset(level.decode() for level in LEVELS)

_WEEKDAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")
_LEVEL_HEADS = (b"Inf", b"War", b"Cri", b"Deb", b"Tra", b"INF", b"WAR", b"CRI", b"DEB", b"TRA")

#: The first three bytes of every envelope: weekday (E1, E1b, E11 file form),
#: month (E5-E8), level (E10). E2-E4 start with ``<PRI>``.
ENVELOPE_HEADS = frozenset(_WEEKDAYS + _MONTHS + _LEVEL_HEADS)


def starts_envelope(line: bytes) -> bool:
    """Tell whether a physical line opens a new log line.

    A line that does not is the continuation of the previous one: lines
    published in documents are wrapped this way (docs/log-formats.md#envelopes).
    """
    if line[:3] in ENVELOPE_HEADS:
        return True
    return line[:1] == b"<" and line[1:2].isdigit()


# A newline followed by a line that does not open a log line (the negation of
# starts_envelope() at every line start, so that a whole buffer is checked in C).
_NOT_ENVELOPE = re.compile(
    rb"\n(?!" + alternation_tree(h.decode("latin-1") for h in ENVELOPE_HEADS).encode("latin-1") + rb"|<\d)"
)


def all_envelopes(buf: bytes, end: int) -> bool:
    """Tell whether every line of ``buf[:end]`` opens a log line (see :func:`starts_envelope`).

    ``buf[:end]`` holds complete lines: ``buf[end - 1]`` is a newline. True
    means that the block has no continuation, blank or foreign line, which lets
    the pipeline skip its uninteresting lines by the run.
    """
    if end <= 0:
        return True
    # The last newline ends the block: looking past it would see the next line.
    return starts_envelope(buf[:3]) and _NOT_ENVELOPE.search(buf, 0, end - 1) is None


@overload
def body_start(line: bytes) -> int: ...
@overload
def body_start(line: str) -> int: ...
def body_start(line: Union[bytes, str]) -> int:
    """Return the index where the body begins (after ``Level: ``), or -1.

    The level is the first word followed by ``": "`` that is one of
    :data:`LEVELS`. In E1 it is the first such word; syslog forms put a
    log name (``mail_logs:``) before it; E8 relays add one more header.
    Times (``11:43:59``) and IPv6 hosts (``::ffff:192.0.2.1``) contain colons
    but never ``": "``. Reads bytes (a physical line) or text (a decoded one).
    """
    text = isinstance(line, str)
    colon, space, levels = (": ", " ", _TEXT_LEVELS) if text else (b": ", b" ", LEVELS)
    i = line.find(colon)  # type: ignore[arg-type]
    for _ in range(3):
        if i <= 0:
            return -1
        word = line[line.rfind(space, 0, i) + 1 : i]  # type: ignore[arg-type]
        if word.lower() in levels:
            i += 2
            while line[i : i + 1] == space:  # "Info:  body" (double space) seen in relayed logs
                i += 1
            return i
        i = line.find(colon, i + 2)  # type: ignore[arg-type]
    return -1


class Envelope(NamedTuple):
    """What an envelope says, before any time zone is applied.

    A named tuple: the reader reads one for every new second of a log (every line of
    some logs), and a frozen dataclass of nine fields costs several times as much to build.

    Attributes:
        month: 1-12, or 0 when the line carries no time (E10).
        day: day of the month.
        hms: ``HH:MM:SS`` wall-clock time, appliance local.
        year: four-digit year (E1, E6) or None (syslog forms).
        host: the appliance as the line names it (syslog host, or the E8 original address).
        log_name: the subscription name (``mail_logs``, anything: E9). Never keyed on.
        level: ``Info``, ``Warning`` ... as written.
        form: the id of the envelope in docs/log-formats.md (``E1``, ``E2`` ...).
        time_text: the time as the line writes it (``Wed Apr 22 11:44:48 2009``,
            ``Jan  6 10:00:03``); empty when it has none (E10).
    """

    month: int
    day: int
    hms: str
    year: Optional[int]
    host: Optional[str]
    log_name: Optional[str]
    level: str
    form: str
    time_text: str = ""


_MONTH_NUM = {m.decode(): i + 1 for i, m in enumerate(_MONTHS)}
_MON = r"(?P<mon>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_LEVEL = r"(?P<level>(?i:info|warning|critical|debug|trace)):"

# E1 / E1b: "Wed Apr 22 11:44:48 2009 Info:" and "Tue Apr 6 14:38:34 2004 Info:"
_NATIVE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)\ " + _MON + r"\ {1,2}(?P<day>\d{1,2})\ (?P<hms>\d{2}:\d{2}:\d{2})"
    r"\ (?P<year>\d{4})\ +" + _LEVEL + r"\ *$",
    re.VERBOSE,
)

# E2-E8: "<PRI>" (optional), "Mmm dd HH:MM:SS", a year (E6), a host (E3-E8; may be
# an IPv4-mapped IPv6 address), a log name ending in ":" (E2, E3, E5, E6), then the
# level. E8 relays prepend "relay Original Address=IP " and a second header.
_SYSLOG = re.compile(
    r"(?:<(?P<pri>\d{1,3})>)?" + _MON + r"\ {1,2}(?P<day>\d{1,2})\ (?P<hms>\d{2}:\d{2}:\d{2})"
    r"(?:\ (?P<year>\d{4}))?\ {1,2}"
    r"(?:\S+\ Original\ Address=(?P<orig>\S+)\ (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r"\ {1,2}\d{1,2}\ \d{2}:\d{2}:\d{2}(?:\ \d{4})?\ {1,2})?"
    r"(?:(?P<host>\S*[^\s:])\ +)?"
    r"(?:(?P<logname>\S+):\ +)?" + _LEVEL + r"\ *$",
    re.VERBOSE,
)

# E10: the body as pasted in tickets: "Info: SMTP Auth: ..." with no time.
_BARE = re.compile(_LEVEL + r"\ *$")


def parse_prefix(prefix: str) -> Optional[Envelope]:
    """Read an envelope (the text before the body, level and colon included).

    Returns:
        The envelope, or None when the prefix is none of E1-E10.
    """
    read = _parse(prefix)
    return read[0] if read is not None else None


def _parse(prefix: str) -> Optional[Tuple[Envelope, int, int]]:
    """:func:`parse_prefix`, with where its ``HH:MM:SS`` and its time text start in ``prefix`` (-1: none)."""
    match = _NATIVE.match(prefix)
    if match:
        envelope = Envelope(
            _MONTH_NUM[match["mon"]], int(match["day"]), match["hms"], int(match["year"]),
            None, None, match["level"], "E1", prefix[: match.end("year")],
        )  # fmt: skip
        return envelope, match.start("hms"), 0
    match = _SYSLOG.match(prefix)
    if match:
        host = match["orig"] or match["host"]
        if match["orig"]:
            form = "E8"
        elif match["pri"] is not None:
            form = "E4" if match["logname"] is None else ("E3" if match["host"] else "E2")
        elif match["year"]:
            form = "E6"
        else:
            form = "E5" if match["logname"] else "E7"
        year = int(match["year"]) if match["year"] else None
        envelope = Envelope(
            _MONTH_NUM[match["mon"]], int(match["day"]), match["hms"], year,
            host, match["logname"], match["level"], form,
            prefix[match.start("mon") : match.end("year" if match["year"] else "hms")],
        )  # fmt: skip
        return envelope, match.start("hms"), match.start("mon")
    match = _BARE.match(prefix)
    if match:
        return Envelope(0, 0, "", None, None, None, match["level"], "E10"), -1, -1
    return None


#: The wall-clock time of E1-E8, as their regexes read it (``\d`` is any decimal digit, as ``str.isdecimal``).
_HMS = re.compile(r"\d{2}:\d{2}:\d{2}")


class Prefixes:
    """Reads the envelopes of a run (:func:`parse_prefix`), each text once while it is recent.

    A quiet appliance writes each line in a new second, and a relay's lines name a new second
    every few lines: most new envelopes differ from the last one read only in their ``HH:MM:SS``.
    Such an envelope is the last one with that time, and the regexes are not run again: every
    form reads the time as two decimal digits, a colon, two, a colon and two, between texts that
    do not depend on it, so eight such characters in its place give the same reading.
    """

    __slots__ = ("_head", "_hms", "_known", "_last", "_tail", "_time")

    #: Envelope texts kept at most (the lines of a second share one; a relay's hosts each have theirs).
    SIZE = 4096

    def __init__(self) -> None:
        self._known: Dict[str, Envelope] = {}
        self._last: Optional[Envelope] = None
        self._hms = -1  # where the last envelope's HH:MM:SS starts in its text
        self._time = 0  # where its time text starts
        self._head = self._tail = ""  # its text before and after HH:MM:SS

    def retimed(self, text: str, start: int, end: int) -> bool:
        """Whether ``text[start:end]`` is the last envelope read with another ``HH:MM:SS``.

        Every text read here ends where :func:`body_start` put the body of its line, and a line that
        differs only in those eight characters (digits and colons: no ``": "`` made or lost, no level
        word changed) has its body at the same place: the reader need not look for it again.
        """
        at = self._hms
        return (
            self._last is not None
            and end - start == at + 8 + len(self._tail)
            and text.startswith(self._head, start)
            and text.startswith(self._tail, start + at + 8)
            and _HMS.fullmatch(text, start + at, start + at + 8) is not None
        )

    def read(self, prefix: str) -> Optional[Envelope]:
        """What ``prefix`` says, as :func:`parse_prefix` reads it."""
        known = self._known.get(prefix)
        if known is not None:
            return known
        last, at = self._last, self._hms
        if last is not None and self.retimed(prefix, 0, len(prefix)):
            time = self._time
            month, day, _, year, host, log_name, level, form, time_text = last
            envelope = Envelope(
                month, day, prefix[at : at + 8], year, host, log_name, level, form,
                prefix[time : time + len(time_text)],
            )  # fmt: skip
        else:
            read = _parse(prefix)
            if read is None:
                return None
            envelope, at, time = read
            if at >= 0:
                self._last, self._hms, self._time = envelope, at, time
                self._head, self._tail = prefix[:at], prefix[at + 8 :]
        texts = self._known
        if len(texts) >= self.SIZE:
            texts.clear()
        texts[prefix] = envelope
        return envelope
