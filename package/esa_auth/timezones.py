"""Appliance time: local wall-clock times, zones and years.

ESA writes appliance local time with no zone (docs/log-formats.md#headers-and-time).
A file header says ``Time offset from UTC: N seconds`` (local minus UTC);
syslog forms carry neither offset nor year, so the zone is a setting and the
year is inferred from a reference time given by the caller. Which offset a
time is read with (the zone, the header, daylight-saving changes) is
:mod:`esa_auth.clock`'s rule.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo

from .errors import ConfigError

try:  # Python 3.9+ has zoneinfo; tzdata may be absent on minimal systems.
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - every supported Python has zoneinfo
    ZoneInfo = None  # type: ignore[assignment,misc]
    ZoneInfoNotFoundError = KeyError  # type: ignore[assignment,misc]

MONTHS = {
    "Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
    "Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}  # fmt: skip

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)

#: How far ahead of the reference time a syslog date may lie before it is read
#: as last year's: a little clock skew and any zone difference (up to 14 hours)
#: must not flip the year, while December lines read in January must.
YEAR_ROLLBACK_SLACK = timedelta(days=2)

# Appliance times are wall-clock times with no zone: naive datetimes on purpose.
_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001


def parse_zone(value: str) -> tzinfo:
    """Read a configured zone: an IANA name, ``UTC``, or a fixed offset.

    Accepted offsets: ``+02:00``, ``-0600``, ``+5``, ``UTC+01:00``.

    Raises:
        ConfigError: the value names no known zone.
    """
    text = value.strip()
    if text.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    match = _OFFSET.match(text)
    if match:
        sign, hours, minutes = match.groups()
        delta = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > timedelta(hours=14):
            raise ConfigError(f"time zone offset out of range: {value!r}")
        return timezone(-delta if sign == "-" else delta)
    if ZoneInfo is not None and text and ".." not in text and not text.startswith("/"):
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ConfigError(f"unknown time zone {value!r}: use an IANA name (Europe/Paris), UTC, or an offset (+02:00)")


def infer_year(month: int, day: int, reference: datetime) -> int:
    """Pick the year of a syslog date that has none.

    The date is placed in the reference's year unless that puts it well into
    the future, in which case it belongs to the year before (December lines
    read in January).
    """
    year = reference.year
    try:
        candidate = datetime(year, month, day)  # noqa: DTZ001 - naive wall-clock date
    except ValueError:  # 29 February in a year that has none
        return year - 1
    if candidate - reference.replace(tzinfo=None) > YEAR_ROLLBACK_SLACK:
        return year - 1
    return year


def rfc3339(epoch: float) -> str:
    """Format seconds since the epoch as RFC 3339 UTC (``2009-04-22T11:44:48Z``, ``...:48.500000Z``).

    ``isoformat`` writes the fraction only when there is one, as six digits, and the year as four
    digits; it costs a third of ``strftime`` (an event of a quiet appliance's log has a second of its own).
    """
    return (_EPOCH + timedelta(seconds=epoch)).isoformat() + "Z"
