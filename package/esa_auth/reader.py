"""The reading loop: blocks of bytes to events, session lines and header lines.

One rule reads a log line: its body is matched, at its body start, against the
templates of its dispatch key at once (:func:`esa_auth.scan.templates_of`); the
template that matched tells what the line is. Lines come to that rule in two
ways, by what their block holds:

* a block whose every physical line opens a log line (the usual case) is
  decoded once, and :data:`esa_auth.scan.CANDIDATE` finds the lines whose body
  starts with a dispatch key; the lines between them are counted and skipped,
  with no Python step per line (:meth:`Reader._block`);
* any other block (wrapped lines, blank or foreign lines, control bytes, lines
  over the limit, CR LF) is framed line by line into logical lines
  (:meth:`Reader._each_line`), each read by the same rule.

A block is read as Latin-1 text (one character a byte); a line of it that is
not printable ASCII (UTF-8, control characters) is read from its own bytes,
decoded with :func:`esa_auth.text.decode`, as every line framed one by one is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Dict, List, Match, Optional, Tuple

from . import patterns as P
from .clock import KEEP, SKIP, wall_seconds
from .envelope import ENVELOPE_HEADS, Envelope, Prefixes, all_envelopes, body_start, starts_envelope
from .framing import CONTROL, LEADING_CONTROL, MAX_CONTINUATIONS, EnvelopeRead, LogicalLine, Stream, lines_within, show
from .mapping import Line, make_event
from .scan import CANDIDATE, KEYS, Template, match, templates_of
from .text import clip, decode
from .timezones import infer_year, rfc3339

if TYPE_CHECKING:  # pragma: no cover
    from .correlate import Correlator
    from .events import AuthEvent
    from .pipeline import Settings, Stats

#: 9999-12-31T23:59:59Z, the last time RFC 3339 can write.
_MAX_EPOCH = 253402300799.0


_AUTH, _CONTEXT, _HEADER = P.AUTH, P.CONTEXT, P.HEADER
#: Not looked up yet (an effect may be None).
_UNKNOWN = object()

#: Bytes to marks: 0 for printable ASCII and the line end (what most of a log is made of), 1 for any other.
_MARKS = bytes(0 if 0x20 <= b < 0x7F or b == 0x0A else 1 for b in range(256))


class Reader:
    """Reads the sources of one run. The front is :class:`esa_auth.pipeline.Normalizer`.

    Subclasses set ``settings``, ``correlator``, ``stats`` and ``diagnostics``.
    """

    settings: Settings
    correlator: Correlator
    stats: Stats

    def _warn(self, stream: Stream, line: int, message: str) -> None:
        raise NotImplementedError  # pragma: no cover - the front defines it

    def _init_reader(self) -> None:
        self._times: Dict[float, str] = {}
        #: Envelopes read, by their text, for every source of the run (a new file's first lines share theirs).
        self._prefixes = Prefixes()

    # --- bytes to lines ------------------------------------------------------------
    def feed(self, stream: Stream, data: bytes, final: bool = False) -> List[AuthEvent]:
        """Read more bytes of a source; return the events of the lines completed.

        A line is complete at its newline; the last logical line is held back
        until the next line (it may be continued by wrapped lines), or until
        :meth:`flush` or :meth:`end`. ``final``: the caller flushes right after
        (no more bytes for now): the last line is then read with the lines
        before it, as :meth:`flush` would read it, and nothing is held back.
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
            events = self._each_line(stream, line + b"\n", 0, len(line) + 1, stream.offset, len(line) + stream.overflow)
            stream.offset += len(line) + stream.overflow + 1
            stream.overflow = 0
            if not data:
                return events
        buf = stream.partial + data if stream.partial else data
        end = buf.rfind(b"\n") + 1
        if end:
            events.extend(self._lines(stream, buf, end, stream.offset, final))
            stream.offset += end
        tail = buf[end:]
        if len(tail) > limit:
            stream.partial = tail[:limit]
            stream.overflow = len(tail) - limit
        else:
            stream.partial = tail
        return events

    def flush(self, stream: Stream) -> List[AuthEvent]:
        """Finish the held-back logical line (all complete lines are then read)."""
        pending = stream.pending
        stream.pending = None
        if pending is None:
            return []
        # A continuation line that comes now is too late for that line: it gets a warning.
        stream.flushed = True
        events: List[AuthEvent] = []
        self._read_line(events, stream, pending)
        return events

    def end(self, stream: Stream) -> List[AuthEvent]:
        """The source is finished: read a last line that has no newline, then flush."""
        events: List[AuthEvent] = []
        if stream.partial or stream.overflow:
            events.extend(self.feed(stream, b"\n"))
            stream.offset -= 1  # the newline was ours, not the source's
        events.extend(self.flush(stream))
        return events

    def _lines(self, stream: Stream, buf: bytes, end: int, offset: int, final: bool = False) -> List[AuthEvent]:
        """Read the complete lines of ``buf[:end]``; the first is at byte ``offset`` of the source."""
        limit = self.settings.max_line_bytes
        if final and buf.find(b"\r", 0, end) < 0 and lines_within(buf, end, limit) and all_envelopes(buf, end):
            # No line may continue the last one before the flush that follows: it is read in the block
            # (a source's last line, once per small file of a directory of thousands, is not read alone).
            return self._block(stream, buf, end, offset, final=True)
        last = buf.rfind(b"\n", 0, end - 1) + 1  # where the block's last line starts
        # The last line must open a log line too: else it continues the line before it. And it must be
        # within the limit: the warning about its cut comes before the line before it is read.
        if (
            last
            and end - last <= limit + 1
            and buf.find(b"\r", 0, last) < 0
            and lines_within(buf, last, limit)
            and all_envelopes(buf, end)
        ):
            events = self._block(stream, buf, last, offset)
        else:
            events = []
            last = 0
        # The last line may be continued by the next block's first lines: it is
        # read line by line, and held back if it may be an event.
        events += self._each_line(stream, buf, last, end, offset + last)
        return events

    def _block(self, stream: Stream, buf: bytes, end: int, offset: int, final: bool = False) -> List[AuthEvent]:
        """Read ``buf[:end]``, whose every line opens a log line (see the module's text).

        ``final``: its last line is read as :meth:`flush` reads a held-back line, which
        marks the source as flushed when the line was a candidate (a later continuation
        line is then too late for it, with a warning).
        """
        events: List[AuthEvent] = []
        if stream.pending is not None:
            # The block's first line opens a log line: the held-back line is whole.
            pending, stream.pending = stream.pending, None
            self._read_line(events, stream, pending)
        chunk = buf[:end] if end < len(buf) else buf
        # One character per byte: the C loops of the regex engine run on one-byte text, and a
        # position in the text is an offset in the source. A line that is not printable ASCII
        # (UTF-8 user names, control characters) is read from its own bytes, decoded as
        # text.decode() decodes them. ``unclean`` is where the next byte of such a line is, at or after
        # the line being read (``end`` if none): one translation of the block in C, and a search of
        # the marks only once a line has passed the last one found.
        marks = chunk.translate(_MARKS)
        unclean = marks.find(1)
        if unclean < 0:
            unclean = end
        text = chunk.decode("latin-1")
        first = stream.line
        counted_at = counted = 0  # newlines in text[:counted_at]

        def line_at(start: int) -> int:
            """The number of the line that starts at ``start`` (counted when a warning or a record needs it)."""
            nonlocal counted_at, counted
            counted += text.count("\n", counted_at, start)
            counted_at = start
            return first + counted + 1

        prefix = ""
        size = -1  # no prefix yet: the next line's envelope is read
        retimed = self._prefixes.retimed
        envelope: Optional[EnvelopeRead] = None  # of ``prefix``, once read
        # A session line's effect is called straight from here with the appliance and time of its
        # envelope (``session_at``, made once per envelope): most candidate lines are session lines.
        effects: Dict[Template, Any] = self.correlator.effects
        effect_of = self.correlator.effect
        session_at: Optional[Tuple[str, Optional[float]]] = None
        context = 0  # session lines applied
        read = 0  # candidate lines read
        read_from = -1  # where the last candidate line read starts
        pos = 0  # the first character not read yet
        for found in CANDIDATE.finditer(text):
            at = found.end() - 4  # dispatch keys are four characters
            if at < pos:
                continue  # one more key on a line already read
            start = text.rfind("\n", 0, at) + 1
            stop = text.find("\n", at)
            if at - start != size or not text.startswith(prefix, start):
                if not retimed(text, start, at):  # a new second of the last envelope: its body starts at ``at``
                    line_body = body_start(text[start:stop])
                    if line_body < 0 or start + line_body < at:
                        pos = stop + 1  # the key is inside the body (or no body): not this line's key
                        continue
                    if start + line_body > at:
                        continue  # a key before the level (a log name): the body comes later
                prefix, size, envelope, session_at = text[start:at], at - start, None, None
            pos = stop + 1
            read += 1
            read_from = start
            if unclean < start:
                unclean = marks.find(1, start)
                if unclean < 0:
                    unclean = end
            if unclean < stop:
                raw = buf[start:stop]
                bs = at - start
                line = LogicalLine(raw, bs, raw[bs : bs + 4].lower(), offset + start, line_at(start), None)
                self._read_line(events, stream, line)
                envelope = session_at = None  # it may have read a header (a new time offset)
                continue
            key = text[at : at + 4]
            regex, templates = KEYS.get(key) or templates_of(key)
            hit = regex.match(text, at, stop)
            if hit is None:
                self._unmatched(stream, text[at:stop], line_at(start))
                continue
            template = templates[hit.lastindex]  # type: ignore[index]
            effect = effects.get(template, _UNKNOWN)
            if effect is _UNKNOWN:
                effect = effect_of(template)
            if effect is not None:
                if session_at is None:
                    if envelope is None:
                        envelope = stream.envelopes.get(prefix) or self._envelope(stream, prefix, line_at, start)
                    session_at = (self._appliance(stream, envelope), envelope.epoch)
                effect(hit, *session_at)
                context += 1
                continue
            envelope = self._read(
                events, stream, template, hit, prefix, text[start:stop], offset + start, envelope, line_at, start
            )
            if envelope is None:
                session_at = None  # a header: the appliance or the time offset may have changed
        total = chunk.count(b"\n")
        self.stats.context += context
        stream.line = first + total
        stream.started = True
        stream.flushed = final and read_from == chunk.rfind(b"\n", 0, len(chunk) - 1) + 1
        self.stats.lines += total
        self.stats.skipped += total - read
        return events

    def _each_line(
        self, stream: Stream, buf: bytes, pos: int, end: int, offset: int, first_cut: int = 0
    ) -> List[AuthEvent]:
        """Frame the complete lines of ``buf[pos:end]`` one by one into logical lines, and read them."""
        events: List[AuthEvent] = []
        heads = ENVELOPE_HEADS
        keys = P.DISPATCH
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
            if not opens and CONTROL.search(line) is not None and line.strip():
                # Wrapped text holds no control bytes: this is no continuation. A
                # terminal escape or stray control bytes before an envelope are
                # taken off, and the line is read after them.
                lead = LEADING_CONTROL.match(line)
                rest = line[lead.end() :] if lead is not None else b""
                if rest and starts_envelope(rest):
                    self._warn(stream, lineno, f"{len(line) - len(rest)} control byte(s) before the envelope removed")
                    line = rest
                    opens = True
                elif started:
                    message = f"line holds control characters: no continuation of a line; skipped: {show(line)}"
                    self._warn(stream, lineno, message)
                    skipped += 1
                    line = b""
            if opens:
                started = True
                flushed = False
                if pending is not None:
                    self._read_line(events, stream, pending)
                    pending = None
                bs = body_start(line)
                key = line[bs : bs + 4].lower()
                if bs >= 0 and key in keys:
                    pending = LogicalLine(line, bs, key, offset, lineno, None)
                else:
                    skipped += 1
            elif line.strip():
                if pending is not None:
                    more = pending.more
                    if more is None:
                        pending = pending._replace(more=[line])
                    elif len(more) < MAX_CONTINUATIONS:
                        more.append(line)
                    else:
                        self._warn(stream, lineno, "too many continuation lines; line dropped")
                elif not started:
                    self._warn(stream, lineno, f"line does not start with an ESA log envelope; skipped: {show(line)}")
                    skipped += 1
                elif flushed:
                    # The line it continues was finished by flush() (a checkpoint) before it came.
                    message = f"continuation of a line already read (flushed); skipped: {show(line)}"
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

    # --- one line -------------------------------------------------------------------
    def _read_line(self, events: List[AuthEvent], stream: Stream, line: LogicalLine) -> None:
        """Read a logical line from its bytes (wrapped lines joined by a space)."""
        first, bs, _, offset, lineno, more = line
        body, problems = decode(first[bs:] if more is None else b" ".join([first[bs:]] + [m.strip() for m in more]))
        for problem in problems:
            self._warn(stream, lineno, problem)
        found = match(body)
        if found is None and more is not None:
            # The physical lines after it did not continue it (binary garbage,
            # a damaged line): the first line alone may still be a whole line.
            alone, _ = decode(first[bs:])
            found = match(alone)
            if found is not None:
                body = alone
                self._warn(stream, lineno, f"{len(more)} following line(s) are no continuation of this line; skipped")
        if found is None:
            self._unmatched(stream, body, lineno)
            return
        template, hit = found
        prefix, _ = decode(first[:bs])
        self._read(events, stream, template, hit, prefix, prefix + body, offset, None, lambda _: lineno, 0)

    def _read(
        self,
        events: List[AuthEvent],
        stream: Stream,
        template: Template,
        hit: Match[str],
        prefix: str,
        raw: str,
        offset: int,
        envelope: Optional[EnvelopeRead],
        line_of: Callable[[int], int],
        start: int,
    ) -> Optional[EnvelopeRead]:
        """What a line that matched ``template`` says: a header, a session line, an event, or nothing.

        ``envelope`` is what ``prefix`` says, if the caller has read it already; the line's number is
        ``line_of(start)``, counted only for a warning. Returns what ``prefix`` says as far as it was read
        (None after a header, which may change the file's time offset).
        """
        role = template.pattern.role
        if role == _HEADER:
            self.stats.context += 1
            self._header(stream, template.pattern.name, template.groups(hit), line_of(start))
            return None
        if role not in (_CONTEXT, _AUTH):
            self.stats.skipped += 1  # a look-alike (IGNORE): its time is not read
            return envelope
        if envelope is None:
            envelope = stream.envelopes.get(prefix) or self._envelope(stream, prefix, line_of, start)
        if role == _CONTEXT:
            self.stats.context += 1
            self.correlator.apply(template, hit, self._appliance(stream, envelope), envelope.epoch)
        else:
            events.append(self._event(stream, template, hit, raw, envelope, offset))
        return envelope

    def _appliance(self, stream: Stream, envelope: EnvelopeRead) -> str:
        """The appliance a session line belongs to: its envelope's host, else the source's."""
        return envelope.host or self.settings.host or stream.appliance or stream.serial or ""

    def _unmatched(self, stream: Stream, body: str, lineno: int) -> None:
        """A body under a dispatch key that no template matched."""
        self.stats.skipped += 1
        if P.DRIFT.search(body):
            self._warn(stream, lineno, f"unrecognised authentication line; skipped: {clip(body)}")

    def _event(
        self,
        stream: Stream,
        template: Template,
        hit: Match[str],
        raw: str,
        envelope: EnvelopeRead,
        offset: int,
    ) -> AuthEvent:
        epoch = envelope.epoch
        self.stats.events += 1
        line = Line(
            template.pattern, template.groups(hit), raw, epoch, self._time(epoch) if epoch is not None else None,
            envelope.host or self.settings.host or stream.appliance, stream.serial, stream.version, offset,
            envelope.log_name, envelope.time_text, envelope.utc_offset,
        )  # fmt: skip
        return make_event(line, self.correlator)

    # --- envelopes, time and headers ---------------------------------------------------
    def _envelope(self, stream: Stream, prefix: str, line_of: Callable[[int], int], start: int) -> EnvelopeRead:
        """What an envelope says, its time read (cached per source: the lines of a second share it).

        The line's number is ``line_of(start)``, counted only for a warning (a new second is no reason to count).
        """
        cached = stream.envelopes.get(prefix)
        if cached is not None:
            return cached
        envelope = self._prefixes.read(prefix)
        if envelope is None:
            self._warn(stream, line_of(start), f"unrecognised envelope {clip(prefix)!r}; time and host left out")
            result = EnvelopeRead(None, None, None, None)
        else:
            epoch, utc_offset, keep = self._epoch(stream, envelope, line_of, start)
            if stream.utc_offset is None or epoch is None:
                utc_offset = None  # the offset is given where a file header gave one
            result = EnvelopeRead(epoch, envelope.host, envelope.log_name, envelope.time_text or None, utc_offset)
            if keep != KEEP:
                if keep == SKIP:
                    return result  # its reading depends on the lines before it (the repeated hour)
                stream.envelopes.clear()  # the offset changed, or the cache would span too long (clock.py)
        if len(stream.envelopes) >= 4096:
            stream.envelopes.clear()
        stream.envelopes[prefix] = result
        return result

    def _epoch(
        self, stream: Stream, envelope: Envelope, line_of: Callable[[int], int], start: int
    ) -> Tuple[Optional[float], Optional[int], int]:
        """The envelope's time as an epoch, the offset it was read with, and what the cache may do (clock.py)."""
        if envelope.month == 0:
            return None, None, KEEP
        year = envelope.year or self.settings.year
        if year is None:
            reference = self.settings.reference_time
            if reference is None:
                if not stream.year_warned:
                    stream.year_warned = True
                    self._warn(
                        stream, line_of(start), "syslog dates carry no year and none is configured; time left out"
                    )
                return None, None, KEEP
            year = infer_year(envelope.month, envelope.day, reference)
        seconds = wall_seconds(year, envelope.month, envelope.day, envelope.hms)
        if seconds is None:
            self._warn(stream, line_of(start), f"impossible date {year}-{envelope.month}-{envelope.day} {envelope.hms}")
            return None, None, KEEP
        if stream.utc_offset is None and self.settings.zone is None and not stream.zone_warned:
            stream.zone_warned = True
            self._warn(
                stream,
                line_of(start),
                "no 'Time offset from UTC' header and no time zone configured: times read as UTC",
            )
        clock = stream.clock
        try:
            epoch, offset, keep = clock.read(seconds, envelope.host or "", self.settings.zone, stream.utc_offset)
        except (OverflowError, ValueError, OSError):  # a zone's rules far outside the years it knows
            epoch, offset, keep = -1, None, KEEP
        if clock.notes:
            for note in clock.notes:
                self._warn(stream, line_of(start), note)
            clock.notes.clear()
        # A year the line spells (E1, E6) can be anything: keep to times that RFC 3339
        # with four-digit years can write, from the epoch on (no ESA wrote earlier).
        if not 0 <= epoch <= _MAX_EPOCH:
            local = f"{year:04d}-{envelope.month:02d}-{envelope.day:02d}T{envelope.hms}"  # datetime.isoformat()
            self._warn(stream, line_of(start), f"time {local} is out of range in UTC; time left out")
            return None, None, KEEP
        return float(epoch), offset, keep

    def _time(self, epoch: float) -> str:
        """RFC 3339 form of a log time (cached: the events of a second share it)."""
        text = self._times.get(epoch)
        if text is None:
            if len(self._times) >= 4096:
                self._times.clear()
            text = self._times[epoch] = rfc3339(epoch)
        return text

    def _header(self, stream: Stream, name: str, groups: Dict[str, Optional[str]], lineno: int) -> None:
        if name == "H-VERSION":
            stream.version = groups["version"]
            stream.serial = groups["serial"]
        elif name == "H-OFFSET":
            offset = int(groups["offset"])  # type: ignore[arg-type]  # the template requires it
            # Real offsets lie within a day of UTC (-12 h to +14 h); anything else is damage.
            if abs(offset) > 86400:
                self._warn(stream, lineno, f"implausible 'Time offset from UTC' of {offset} seconds; ignored")
                return
            stream.utc_offset = offset
            stream.clock.header(offset)
            stream.envelopes.clear()
