"""Framing: the state of one source as its bytes arrive, and the logical lines they make.

A source is read in blocks of bytes. Lines end at a newline; a line that does
not open a log line (no envelope at its start) continues the one before it, as
lines wrapped in published documents do (docs/log-formats.md#envelopes). The
reader holds the last logical line of a block back until the next physical line
shows that it is whole (or the source ends, or is flushed).
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, NamedTuple, Optional

from .clock import Clock
from .errors import StateError
from .text import clip, decode

#: Continuation lines joined to one log line at most (wrapped lines).
MAX_CONTINUATIONS = 16

#: Bytes of a source read and handed to the reader at a time (a block of its block loop): the follow engine,
#: the command line and the ``esaauth`` command read this much at once.
CHUNK = 1 << 20

# Bytes that wrapped text never holds: C0 controls but TAB, and DEL.
CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
# What a terminal or a relay may put before an envelope: ANSI escape sequences
# (CSI "ESC [ ... final", two-byte "ESC x") and other control bytes.
LEADING_CONTROL = re.compile(rb"(?:\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]|[\x00-\x08\x0a-\x1f\x7f])+")


def lines_within(buf: bytes, end: int, limit: int) -> bool:
    """Whether every line of ``buf[:end]`` (complete lines) is at most ``limit`` bytes long.

    Looks at each window of ``limit`` bytes once: after a line that ends within
    the window, it goes on from the last newline of the window.
    """
    pos = 0
    while pos < end:
        window = min(pos + limit + 1, end)
        if buf.find(b"\n", pos, window) < 0:
            return False
        pos = buf.rfind(b"\n", pos, window) + 1
    return True


def show(line: bytes) -> str:
    """The start of a physical line, as text fit for a warning."""
    text, _ = decode(line[:120])
    return clip(text)


class EnvelopeRead(NamedTuple):
    """What a line's envelope says, its time read (cached per source and envelope text).

    Attributes:
        epoch: the time, seconds since the epoch (UTC); None when unknown.
        host: the appliance as the envelope names it.
        log_name: the log subscription a syslog envelope names.
        time_text: the time as the line writes it.
        utc_offset: the offset the time was read with, when the source has a
            ``Time offset from UTC`` header (the zone's at that time, when one is configured).
    """

    epoch: Optional[float]
    host: Optional[str]
    log_name: Optional[str]
    time_text: Optional[str]
    utc_offset: Optional[int] = None


class LogicalLine(NamedTuple):
    """A log line as the physical lines of a source give it.

    Attributes:
        first: its first physical line (bytes, without the line end).
        body: where its body starts in ``first`` (after ``Level: ``).
        key: the body's dispatch key (its first four bytes, lower-cased).
        offset: the byte offset of ``first`` in the source.
        line: the number of ``first`` in the source (from 1).
        more: the wrapped lines that continue it, if any.
    """

    first: bytes
    body: int
    key: bytes
    offset: int
    line: int
    more: Optional[List[bytes]]


class Stream:
    """The reading state of one source (a file, standard input, a search).

    Args:
        source: the name used in warnings (a path, ``-``).
        key: the source's identity for its owner (the follower's checkpoint);
            defaults to ``source``. Event ids do not use it (#17: they are the
            header's serial, the line's offset and the line).
        appliance: the appliance name the source implies (from its file name).
    """

    # Slots: a follower keeps a stream for each file it knows (thousands, in a directory of small files).
    __slots__ = (
        "appliance", "clock", "envelopes", "flushed", "key", "line", "offset", "overflow", "partial",
        "pending", "serial", "source", "started", "utc_offset", "version", "year_warned", "zone_warned",
    )  # fmt: skip

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
        self.pending: Optional[LogicalLine] = None
        self.started = False
        self.utc_offset: Optional[int] = None
        self.version: Optional[str] = None
        self.serial: Optional[str] = None
        self.zone_warned = False
        self.year_warned = False
        #: A logical line was finished by :meth:`Normalizer.flush` and no line opened since.
        self.flushed = False
        self.envelopes: Dict[str, EnvelopeRead] = {}
        #: Its local times to UTC, with what the order of its lines said (daylight-saving changes).
        self.clock = Clock()

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
            "clock": self.clock.to_state(),
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
            stream.clock = Clock.from_state(state.get("clock"))
        except (KeyError, TypeError, ValueError, UnicodeError) as exc:
            raise StateError(f"stream state is damaged: {exc}") from exc
        return stream
