"""Turning untrusted bytes into safe text.

ESA log files arrive by FTP, SCP or syslog relays; nothing guarantees that a
line is valid UTF-8, or free of NUL bytes and terminal escapes. Every string
that leaves the library (JSON, Splunk XML) comes through :func:`decode`.
"""

from __future__ import annotations

import re
from typing import List, Tuple

#: Characters that are not allowed in XML 1.0 or that could forge a line in a log
#: (and that no log field needs): C0 controls except TAB (so CR and LF too: a line
#: never holds them, and a warning quoting one must not start a line of its own),
#: DEL and the C1 controls, lone surrogates, U+FFFE/U+FFFF. Replacing them here
#: keeps every sink (JSON lines, Splunk's XML stream, warnings) one line and valid.
_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")

REPLACEMENT = "\ufffd"


def decode(raw: bytes) -> Tuple[str, List[str]]:
    """Decode one line of log bytes into text that is safe in JSON and XML.

    Invalid UTF-8 sequences become U+FFFD, and so do control characters
    (NUL, ESC of ANSI sequences, ...). Nothing is dropped, so a line's length
    and shape stay visible to an analyst.

    Args:
        raw: the bytes of one line, without its line terminator.

    Returns:
        The text, and a list of problems found (empty for clean input).
    """
    if raw.isascii():
        # Most log lines: printable ASCII decodes as is (isprintable() is False
        # for every control character, TAB included: those take the full way).
        text = raw.decode("ascii")
        if text.isprintable():
            return text, []
    problems: List[str] = []
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"invalid UTF-8 at byte {exc.start} of the line; replaced with U+FFFD")
        text = raw.decode("utf-8", errors="replace")
    if _UNSAFE.search(text):
        problems.append("control characters replaced with U+FFFD")
        text = _UNSAFE.sub(REPLACEMENT, text)
    return text, problems


def clip(text: str, limit: int = 80) -> str:
    """Shorten a line for a warning message (the whole line stays in the event).

    Warnings are lines in a log of their own (stderr, splunkd.log): anything
    not printable, line separators (U+2028, U+2029) included, is replaced so
    that a quoted log line can never start a forged line there.
    """
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else REPLACEMENT for c in text)


# A dotted-quad IPv4 address as ipaddress reads it (RFC 791 section 3.2 text
# form: four decimal octets 0-255, no leading zeros): the usual case, without
# building an address object. Everything else is left to ipaddress.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"(?:{_OCTET}\.){{3}}{_OCTET}")


def is_ip(value: str) -> bool:
    """Whether a value is an IP address (IPv4, IPv6 or IPv4-mapped IPv6) rather than a name."""
    if _IPV4.fullmatch(value) is not None:
        return True
    import ipaddress  # here: most addresses are dotted quads, and start-up is shorter without it

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def unmapped(value: str) -> str:
    """An IPv4-mapped IPv6 address (``::ffff:192.0.2.13``, RFC 4291 section 2.5.5.2) as its IPv4 address; any other
    value unchanged. A dual-stack listener logs IPv4 clients in the mapped form, and one client must be one ``src``
    whichever form a line has (rules count sources; #19)."""
    if ":" not in value:
        return value
    import ipaddress  # only for IPv6 text (a colon): dotted quads, the usual case, return above

    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return value
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped) if mapped is not None else value
