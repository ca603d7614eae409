"""Durations in settings: ``90``, ``90s``, ``30m``, ``1h``, ``2d``.

Shared by the command line, the modular input and the search command, so that
``session_timeout`` means the same everywhere.
"""

from __future__ import annotations

import re

from .errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Read a duration: seconds (``90``) or with a unit (``30m``, ``1h``, ``2d``).

    Raises:
        ConfigError: not a positive duration.
    """
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"not a positive duration: {text!r} (use 90, 90s, 30m, 1h, 2d)")
    return float(match.group(1)) * _UNITS[match.group(2).lower()]
