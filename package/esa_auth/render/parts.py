"""What the OCSF and ECS renderers read out of an event's values the same way.

Each rule here exists once, for both renderers: how a logged address splits
into an IP address and a host name, what a logged user name says about the
user's mailbox and directory, and which channels are remote. The values repeat
from event to event (the same clients, users and appliances), so the answers
are cached: a renderer then costs about one dictionary build per event.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional, Tuple

from ..text import is_ip

#: Cache size of each helper: far more distinct values than a log's hot set, bounded all the same.
CACHE = 4096

#: Channels that are reached over the network whatever the line says: SMTP, the
#: web interface (GUI, Spam Quarantine), the REST API and SSH. A CLI login or one
#: whose channel is not logged (``esa``) is remote when a client address is logged.
REMOTE_APPS = frozenset({"smtp", "esa:gui", "esa:ssh", "esa:api", "esa:quarantine"})

# An e-mail address as OCSF ``email_t`` defines it (dictionary ``types``, its
# regex): a name is an address only when OCSF would accept it as one.
_EMAIL = re.compile(r"[a-zA-Z0-9!#$%&'*+\-/=?^_`{|}~.]+@(?P<domain>[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+)")
# A down-level Windows logon name ``DOMAIN\name`` (NetBIOS domain, one backslash).
_DOWN_LEVEL = re.compile(r"(?P<domain>[^\\\s]+)\\[^\\]+")


@lru_cache(maxsize=CACHE)
def split_address(
    address: Optional[str], ip: Optional[str], host: Optional[str]
) -> Tuple[Optional[str], Optional[str]]:
    """The (ip, host name) of one side: CIM keeps the address (IP, else name) apart from both.

    Args:
        address: CIM ``src``/``dest``: the IP address, else the name, as logged.
        ip: CIM ``src_ip``/``dest_ip``.
        host: CIM ``src_host``/``dest_host``.

    Returns:
        ``ip``, else the address when it is an IP; ``host``, else the address when it is not that IP.
    """
    if ip is None and address is not None and is_ip(address):
        ip = address
    if host is None and address is not None and address != ip:
        host = address
    return ip, host


@lru_cache(maxsize=CACHE)
def user_parts(user: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    """(e-mail address, domain) that a logged account name states, each None when it states none.

    ``jdoe@example.com`` is a mailbox (address, domain ``example.com``), as SMTP AUTH
    users often are; ``CORP\\svc-scan`` names its Windows domain (``CORP``). The
    name itself stays the user name as logged.
    """
    if user is None:
        return None, None
    match = _EMAIL.fullmatch(user)
    if match is not None:
        return user, match.group("domain")
    match = _DOWN_LEVEL.fullmatch(user)
    if match is not None:
        return None, match.group("domain")
    return None, None


def is_remote(app: str, src: Optional[str]) -> Optional[bool]:
    """True when the authentication came over the network (see :data:`REMOTE_APPS`), else None (not known)."""
    return True if app in REMOTE_APPS or src is not None else None
