"""The account behind an outbound SMTP AUTH profile, as the administrator knows it.

When the appliance authenticates to a smart host (T10, T11: docs/log-formats.md#T10), it logs the name of the
SMTP AUTH profile and never the account the profile holds: the event has ``authentication_service`` and no
``user``. An administrator who knows the account writes it in a CSV file, ``profile,user``, one profile a row:
the same file serves the command line (``--profile-map FILE``) and the search-time lookup
``esa_auth_profile_users`` (``lookups/esa_auth_profile_users.csv``), so that both give the same ``user``.

Rules, the same in both places: only outbound SMTP AUTH events take a user from the map, only when they have
none, and the profile name must match exactly (case included). A row with no user says nothing.

Pure: the caller reads the file and hands its text to :func:`parse_profile_map`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Dict, Mapping, Optional

from .errors import ConfigError
from .events import AuthEvent

#: The columns a profile map must have (others are allowed, and ignored).
COLUMNS = ("profile", "user")


@dataclass(frozen=True)
class ProfileMap:
    """Outbound SMTP AUTH profile name -> the account it authenticates as."""

    users: Mapping[str, str]

    def user_of(self, event: AuthEvent) -> Optional[str]:
        """The user the map gives the event, or None (not outbound, has a user, or profile not mapped)."""
        if event.direction != "outbound" or event.user is not None or event.authentication_service is None:
            return None
        return self.users.get(event.authentication_service)

    def apply(self, event: AuthEvent) -> AuthEvent:
        """The event with the user its profile maps to; the event itself when the map gives none."""
        user = self.user_of(event)
        if user is None:
            return event
        return AuthEvent.from_fields(dict(event.__dict__, user=user), event.epoch, event.offset)


def parse_profile_map(text: str, source: str = "profile map") -> ProfileMap:
    """Read a profile map (CSV with a header row naming ``profile`` and ``user``).

    Cells are taken without the spaces around them; empty lines and rows with no user are skipped.

    Raises:
        ConfigError: no header with both columns, a row with a user and no profile, a profile given twice,
            or text that is no CSV; the message names the source and the line.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""), strict=True)
    try:
        header = [name.strip() for name in reader.fieldnames or ()]
        missing = [name for name in COLUMNS if name not in header]
        if missing:
            raise ConfigError(f"{source}: the header row must name the columns profile and user (missing: "
                              f"{', '.join(missing)})")  # fmt: skip
        reader.fieldnames = header
        users: Dict[str, str] = {}
        lines: Dict[str, int] = {}
        for row in reader:
            profile = (row.get("profile") or "").strip()
            user = (row.get("user") or "").strip()
            if not user:
                continue
            if not profile:
                raise ConfigError(f"{source}:{reader.line_num}: user {user!r} has no profile")
            if profile in users:
                raise ConfigError(
                    f"{source}:{reader.line_num}: profile {profile!r} is already mapped on line {lines[profile]}"
                )
            users[profile] = user
            lines[profile] = reader.line_num
    except csv.Error as exc:
        raise ConfigError(f"{source}:{reader.line_num}: not CSV: {exc}") from None
    return ProfileMap(users)
