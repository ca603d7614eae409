"""IPv4-mapped IPv6 addresses are written as IPv4 in the events (#19): one client is one ``src``."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from esa_auth import Normalizer, Settings, Stream
from esa_auth.text import unmapped


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("::ffff:192.0.2.13", "192.0.2.13"),
        ("::FFFF:192.0.2.13", "192.0.2.13"),
        ("0:0:0:0:0:ffff:192.0.2.13", "192.0.2.13"),
        ("::ffff:c000:20d", "192.0.2.13"),  # the same address in hexadecimal groups
        ("192.0.2.13", "192.0.2.13"),
        ("2001:db8::1", "2001:db8::1"),
        ("::192.0.2.13", "::192.0.2.13"),  # IPv4-compatible (deprecated), not mapped: left alone
        ("mail.example.com", "mail.example.com"),
        ("::ffff:999.0.2.13", "::ffff:999.0.2.13"),  # not an address: left as logged
    ],
)
def test_unmapped(value: str, expected: str) -> None:
    assert unmapped(value) == expected


def test_events_carry_the_ipv4_form_of_a_mapped_client() -> None:
    log = (
        b"Mon Jan  6 10:00:00 2025 Info: New SMTP ICID 7 interface Mail (::ffff:192.0.2.10) address "
        b"::ffff:203.0.113.9 reverse dns host unknown verified no\n"
        b"Mon Jan  6 10:00:01 2025 Info: SMTP Auth: (ICID 7) failed for user: bob using AUTH mechanism: LOGIN "
        b"with profile: Corp\n"
        b"Mon Jan  6 10:00:02 2025 Info: User admin from ::ffff:192.0.2.77 failed authentication.\n"
    )
    normalizer = Normalizer(Settings(tz="UTC", reference_time=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    stream = Stream("mail.log")
    smtp, admin = [e.to_dict() for e in normalizer.feed(stream, log) + normalizer.end(stream)]
    assert (smtp["src"], smtp["src_ip"], smtp["dest"], smtp["dest_ip"]) == ("203.0.113.9",) * 2 + ("192.0.2.10",) * 2
    assert (admin["src"], admin["src_ip"]) == ("192.0.2.77", "192.0.2.77")
    # The line itself is kept as written.
    assert "::ffff:203.0.113.9" not in smtp["raw"]
    assert "::ffff:192.0.2.77" in admin["raw"]
