"""The clock of a source: appliance wall-clock times to UTC, across daylight-saving changes.

ESA writes local time with no zone; a file opens with ``Time offset from UTC:
N seconds``, the offset when the file was started (docs/log-formats.md#H-OFFSET).
That offset is true only until the appliance's clock changes, and twice a
year a zone with daylight saving repeats an hour (autumn) or skips one
(spring). The rules, one per case (README, "Time"; docs/search-time.md):

* **A configured zone** (``--tz``, the input's ``timezone``) reads every line
  with the zone's rules. A file header's offset only checks the zone at the
  file's start: an offset the zone does not give at the first timed line after
  the header is one warning, and the zone is used.
* **No zone, a header**: the header's offset holds until the log shows the
  clock going back: a step back in local time of :data:`STEP_BACK_MIN` to
  :data:`DST_STEP` + :data:`REORDER_SLACK` seconds between two lines of one
  appliance is read as the end of daylight saving time (offset one hour less,
  once per header, one warning per file that a zone would make it exact). A
  step forward is no evidence (a quiet hour looks the same): without a zone a
  spring change is not seen, and the next file's header corrects the offset.
* **Neither**: UTC (the reader warns once).
* **The repeated hour** (with a zone): a time the zone gives twice is read in
  the first pass (daylight time) until the lines of that appliance step back
  inside the hour by more than :data:`REORDER_SLACK` seconds, or a line after
  the hour was seen: then in the second pass (standard time), until the hour
  is over. The pass is kept per appliance (host of the envelope) and per
  source, and in the saved state, so a run of the modular input that starts
  after the step back reads the second pass as such.
* **The skipped hour** (with a zone): a time the zone never shows is read with
  the offset in force before the change, with one warning per source.

Cost: the reader caches what an envelope says by its text (the lines of a
second share it). A time whose reading depends on the lines before it (the
repeated hour) is not cached (:data:`SKIP`); without a zone, the cache is
emptied (:data:`RESET`) when the offset changes and whenever the time leaves a
span of :data:`CACHE_SPAN` seconds, shorter than the least step back read as a
change, so that a cached time never hides one. With a zone, the offset of the
local hour at hand is kept: a time in an hour with no change is one subtraction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from .errors import StateError

#: A step back in one appliance's local time of at most this many seconds is lines written or relayed a little
#: out of order, not a change of the clock (the appliance's processes write in the same second; relays reorder).
REORDER_SLACK = 60
#: The clock change of daylight saving time, seconds (every zone the appliance offers but Australia/Lord_Howe,
#: whose 30 minutes a configured zone reads exactly).
DST_STEP = 3600
#: Without a zone, the least step back read as the end of daylight saving time: about an hour, as the step is
#: the hour less the time the log was quiet across the change (a quiet half hour or more hides the change).
STEP_BACK_MIN = 30 * 60
#: Without a zone, the local seconds the reader's envelope cache may span (less than STEP_BACK_MIN).
CACHE_SPAN = 15 * 60
#: Appliances whose state a source keeps at most (a syslog relay's hosts); the oldest is forgotten first.
MAX_HANDS = 1024

#: What the reader may do with a reading: keep it in its envelope cache, not keep it, or empty the cache first.
KEEP, SKIP, RESET = 0, 1, 2

_ORDINAL_1970 = 719163  # date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - wall-clock arithmetic


#: Days from 1970-01-01 of the dates read lately (None: no such date): a log holds a few dates and many times.
_DAYS: Dict[Tuple[int, int, int], Optional[int]] = {}
_UNSEEN = -(10**9)  # no date of years 1-9999 is that many days from 1970


def wall_seconds(year: int, month: int, day: int, hms: str) -> Optional[int]:
    """A wall-clock time as seconds since 1970-01-01 00:00 of the same clock (no zone): the unit of :class:`Clock`.

    None when no clock shows the time (``Feb 30``, ``24:00:00``), as building its ``datetime`` would fail; the
    day number is cached, since a log holds a few dates and many times.
    """
    key = (year, month, day)
    days = _DAYS.get(key, _UNSEEN)
    if days == _UNSEEN:
        try:
            days = date(year, month, day).toordinal() - _ORDINAL_1970
        except ValueError:
            days = None
        if len(_DAYS) >= 1024:
            _DAYS.clear()
        _DAYS[key] = days
    if days is None or len(hms) != 8 or hms[2] != ":" or hms[5] != ":":
        return None
    try:
        hour, minute, second = int(hms[:2]), int(hms[3:5]), int(hms[6:])
    except ValueError:
        return None
    if hour > 23 or minute > 59 or second > 59:
        return None
    return days * 86400 + hour * 3600 + minute * 60 + second


def _wall(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def _offsets(zone: tzinfo, seconds: int) -> Tuple[int, int]:
    """The zone's offsets at a wall-clock time: before and after a change (PEP 495 ``fold`` 0 and 1).

    Equal when the time is neither repeated nor skipped; before > after in the
    repeated hour, before < after in the skipped one.
    """
    moment = _wall(seconds).replace(tzinfo=zone)
    before = moment.utcoffset()
    after = moment.replace(fold=1).utcoffset()
    if before is None or after is None:  # pragma: no cover - parse_zone gives zones with offsets
        raise ValueError(f"zone {zone} has no offset")
    return int(before.total_seconds()), int(after.total_seconds())


@lru_cache(maxsize=1024)
def _steady_offset(zone: tzinfo, hour: int) -> Optional[int]:
    """The zone's offset through the local hour that starts at ``hour``; None if the hour holds a change.

    Changes fall on quarter hours at the finest, so the hour's ends tell. Cached across clocks: every source
    of a run (thousands of small files) asks it of the same few hours, and the answer is the zone's alone.
    """
    first, first_after = _offsets(zone, hour)
    if first == first_after and _offsets(zone, hour + 3599) == (first, first):
        return first
    return None


def _offset_at(zone: tzinfo, epoch: int) -> int:
    offset = datetime.fromtimestamp(epoch, timezone.utc).astimezone(zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def _repeated(zone: tzinfo, seconds: int, before: int, after: int) -> Tuple[int, int]:
    """The wall-clock span [start, end) that the change around ``seconds`` repeats."""
    low, high = seconds - before, seconds - after  # UTC: the first pass (old offset), the second (new)
    while high - low > 1:  # the change is the first UTC second with the new offset
        middle = (low + high) // 2
        if _offset_at(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high + after, high + before


def _signed(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


class _Hand:
    """The state of one appliance's clock in a source."""

    __slots__ = ("fold", "last", "shift")

    def __init__(self, last: Optional[int] = None, fold: Optional[int] = None, shift: int = 0) -> None:
        #: The local time of its last line read (seconds, see wall_seconds).
        self.last = last
        #: The start of the repeated hour whose second pass it is in.
        self.fold = fold
        #: Without a zone: seconds added to the header's offset (-DST_STEP after a step back).
        self.shift = shift


class Clock:
    """Turns the local times of one source into epochs, and keeps what the order of its lines said.

    The reader calls :meth:`read` for each time it has not cached, and
    :meth:`header` for each ``Time offset from UTC`` line; warnings gather in
    :attr:`notes`, for the reader to give with the line they concern.
    """

    # Slots: each source has a clock (thousands, in a directory of small files).
    __slots__ = ("_cache_from", "_repeat", "_span", "_span_zone", "change_warned", "check", "gap_warned", "hands",
                 "notes")  # fmt: skip

    def __init__(self) -> None:
        self.hands: Dict[str, _Hand] = {}
        #: A header's offset to check against the zone at the next timed line.
        self.check: Optional[int] = None
        self.gap_warned = False
        self.change_warned = False
        #: Warnings of the last read, to give (and clear) by the caller.
        self.notes: List[str] = []
        self._span = (1, 0, 0)  # an hour of local time with one offset: start, end, offset (none yet)
        self._span_zone: Optional[tzinfo] = None
        self._repeat: Tuple[int, int] = (1, 0)  # the repeated hour last found: start, end
        self._cache_from: Optional[int] = None

    def header(self, offset: int) -> None:
        """A ``Time offset from UTC`` line (a new file): its offset holds anew, and is checked."""
        self.check = offset
        for hand in self.hands.values():
            hand.shift = 0
        self.gap_warned = self.change_warned = False
        self._cache_from = None

    def read(
        self, seconds: int, host: str, zone: Optional[tzinfo], header: Optional[int]
    ) -> Tuple[int, Optional[int], int]:
        """Read a wall-clock time (:func:`wall_seconds`) of the appliance ``host``.

        Args:
            zone: the configured zone, or None.
            header: the offset of the source's last ``Time offset from UTC`` line, or None.

        Returns:
            The epoch, the offset it was read with (None: UTC for want of either),
            and :data:`KEEP`, :data:`SKIP` or :data:`RESET` for the reader's cache.
        """
        hand = self.hands.get(host)
        if hand is None:
            if len(self.hands) >= MAX_HANDS:
                del self.hands[next(iter(self.hands))]
            hand = self.hands[host] = _Hand()
        if zone is not None:
            if self.check is not None:
                self._check(seconds, zone)
            start, end, offset = self._span
            if start <= seconds < end and self._span_zone is zone:
                hand.last = seconds
                return seconds - offset, offset, KEEP
            return self._zone(seconds, hand, zone)
        if header is None:
            return seconds, None, KEEP
        last, hand.last = hand.last, seconds
        base = self._cache_from
        if (
            (last is None or last - seconds < STEP_BACK_MIN)
            and base is not None
            and base <= seconds < base + CACHE_SPAN
        ):
            offset = header + hand.shift  # no step back, and within the span the cache may hold
            return seconds - offset, offset, KEEP
        return self._header(seconds, last, hand, header)

    def _check(self, seconds: int, zone: tzinfo) -> None:
        header, self.check = self.check, None
        before, after = _offsets(zone, seconds)
        if header not in (before, after):
            self.notes.append(
                f"'Time offset from UTC: {header} seconds' disagrees with time zone {zone} "
                f"({_signed(before)} at {_wall(seconds)}): times read with the zone"
            )

    def _zone(self, seconds: int, hand: _Hand, zone: tzinfo) -> Tuple[int, Optional[int], int]:
        last, hand.last = hand.last, seconds
        hour = seconds - seconds % 3600
        first = _steady_offset(zone, hour)
        if first is not None:
            self._span, self._span_zone = (hour, hour + 3600, first), zone
            return seconds - first, first, KEEP
        before, after = _offsets(zone, seconds)
        if before == after:
            return seconds - before, before, KEEP
        if before < after:
            if not self.gap_warned:
                self.gap_warned = True
                self.notes.append(
                    f"time {_wall(seconds)} does not exist in {zone} (the clock skips it): "
                    f"read with the offset before the change ({_signed(before)})"
                )
            return seconds - before, before, KEEP
        start, end = self._repeat
        if not start <= seconds < end:
            start, end = self._repeat = _repeated(zone, seconds, before, after)
        if (
            hand.fold != start
            and last is not None
            and ((start <= last < end and last - seconds > REORDER_SLACK) or end <= last < end + DST_STEP)
        ):
            hand.fold = start  # it stepped back inside the hour, or was past it: the second pass
        offset = after if hand.fold == start else before
        return seconds - offset, offset, SKIP

    def _header(self, seconds: int, last: Optional[int], hand: _Hand, header: int) -> Tuple[int, Optional[int], int]:
        keep = KEEP
        if last is not None and hand.shift == 0 and STEP_BACK_MIN <= last - seconds <= DST_STEP + REORDER_SLACK:
            hand.shift = -DST_STEP
            keep = RESET
            if not self.change_warned:
                self.change_warned = True
                self.notes.append(
                    f"local time steps back from {_wall(last)} to {_wall(seconds)}: read as the end of daylight "
                    f"saving time, offset {header - DST_STEP} seconds from here; a configured time zone reads "
                    "clock changes exactly"
                )
        base = self._cache_from
        if base is None or not base <= seconds < base + CACHE_SPAN:
            keep = RESET
        if keep == RESET:
            self._cache_from = seconds
        offset = header + hand.shift
        return seconds - offset, offset, keep

    # --- saved state ------------------------------------------------------------------
    def to_state(self) -> Dict[str, Any]:
        """JSON-able: each appliance's last time, pass and shift; the pending check; the warnings given."""
        return {
            "hands": {host: [hand.last, hand.fold, hand.shift] for host, hand in self.hands.items()},
            "check": self.check,
            "gap_warned": self.gap_warned,
            "change_warned": self.change_warned,
        }

    @classmethod
    def from_state(cls, state: Any) -> Clock:
        """Rebuild a clock saved by :meth:`to_state`.

        Raises:
            StateError: the state is damaged.
        """
        clock = cls()
        if state is None:
            return clock  # saved before clocks were kept
        try:
            hands = state["hands"]
            if not isinstance(hands, dict):
                raise TypeError("hands is not a mapping")
            for host, (last, fold, shift) in hands.items():
                if shift not in (0, -DST_STEP) or isinstance(shift, bool):
                    raise ValueError(f"shift {shift!r}")
                clock.hands[str(host)] = _Hand(_int(last), _int(fold), shift)
            clock.check = _int(state.get("check"))
            clock.gap_warned = bool(state.get("gap_warned", False))
            clock.change_warned = bool(state.get("change_warned", False))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"clock state is damaged: {exc!r}") from exc
        return clock


def _int(value: Any) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{value!r} is not an integer")
    return value
