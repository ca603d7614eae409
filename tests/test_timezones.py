"""Appliance time: zones, year inference, RFC 3339 output (offsets and clock changes: test_clock.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from esa_auth.errors import ConfigError
from esa_auth.timezones import infer_year, parse_zone, rfc3339


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("UTC", timedelta(0)),
        ("utc", timedelta(0)),
        ("Z", timedelta(0)),
        ("GMT", timedelta(0)),
        ("+02:00", timedelta(hours=2)),
        ("-0600", timedelta(hours=-6)),
        ("+5", timedelta(hours=5)),
        ("UTC+05:30", timedelta(hours=5, minutes=30)),
        ("-14:00", timedelta(hours=-14)),
        (" +01:00 ", timedelta(hours=1)),
    ],
)
def test_fixed_zones(text: str, offset: timedelta) -> None:
    assert parse_zone(text).utcoffset(None) == offset


def test_iana_zone_follows_daylight_saving() -> None:
    zone = parse_zone("Europe/Paris")
    assert zone.utcoffset(datetime(2024, 1, 15)) == timedelta(hours=1)  # noqa: DTZ001
    assert zone.utcoffset(datetime(2024, 7, 15)) == timedelta(hours=2)  # noqa: DTZ001


@pytest.mark.parametrize(
    "text", ["", "Mars/Olympus_Mons", "+15:00", "../../etc/passwd", "/etc/localtime", "2 hours", "UTC+25"]
)
def test_unknown_zones_raise_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="zone"):
        parse_zone(text)


@pytest.mark.parametrize(
    ("month", "day", "reference", "year"),
    [
        (12, 31, datetime(2025, 1, 1, 0, 5, tzinfo=timezone.utc), 2024),  # December read in January
        (1, 1, datetime(2025, 1, 1, 0, 5, tzinfo=timezone.utc), 2025),
        (6, 3, datetime(2024, 6, 3, 12, tzinfo=timezone.utc), 2024),
        (6, 4, datetime(2024, 6, 3, 12, tzinfo=timezone.utc), 2024),  # a day ahead: clock skew, zones
        (6, 10, datetime(2024, 6, 3, 12, tzinfo=timezone.utc), 2023),  # a week ahead: last year's
        (2, 29, datetime(2025, 3, 1, tzinfo=timezone.utc), 2024),  # no 29 February in 2025
        (2, 29, datetime(2024, 3, 1, tzinfo=timezone.utc), 2024),
    ],
)
def test_infer_year(month: int, day: int, reference: datetime, year: int) -> None:
    assert infer_year(month, day, reference) == year


@pytest.mark.parametrize(
    ("epoch", "text"),
    [
        (0.0, "1970-01-01T00:00:00Z"),
        (1240400688.0, "2009-04-22T11:44:48Z"),
        (1240400688.25, "2009-04-22T11:44:48.250000Z"),
        (-86400.0, "1969-12-31T00:00:00Z"),
    ],
)
def test_rfc3339(epoch: float, text: str) -> None:
    assert rfc3339(epoch) == text
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert parsed.timestamp() == epoch
