"""The table of open SMTP sessions, keyed by (appliance, ICID) and (appliance, DCID).

ICID and DCID counters are per appliance and restart from small numbers
(docs/log-formats.md#correlation), so the appliance is part of the key. The table is
bounded twice, because an attacker can open connections and never close them:
at most ``max_sessions`` entries (the least recently active is evicted) and
an idle timeout measured in log time (not wall-clock time, which the library
never reads). Its state goes out as plain JSON-able data and comes back in.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type, TypeVar, cast

from .errors import StateError

#: (appliance, "i" or "d", ICID/DCID number)
SessionKey = Tuple[str, str, int]
#: A session line kept unread: (template name, the values of the groups the session needs).
Raw = Tuple[str, Tuple[Optional[str], ...]]

INBOUND = "i"
OUTBOUND = "d"

DEFAULT_MAX_SESSIONS = 100_000
#: ESA closes idle SMTP connections after minutes (listener and delivery
#: timeouts); an hour without a line on a session means it is gone.
DEFAULT_TIMEOUT = 3600.0

STATE_VERSION = 1


_T = TypeVar("_T")


def _slotted(cls: Type[_T]) -> Type[_T]:
    """A dataclass again, its fields held in ``__slots__`` (``dataclass(slots=True)``, which Python 3.9 lacks).

    A table of a hundred thousand sessions is the table a flood fills: a session
    with slots takes less memory than one with an attribute dict. The generated
    ``__init__`` holds the defaults itself, so the class attributes that held
    them can go.
    """
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    body = {key: value for key, value in cls.__dict__.items() if key not in (*names, "__dict__", "__weakref__")}
    body["__slots__"] = names
    return cast(Type[_T], type(cls.__name__, cls.__bases__, body))


@_slotted
@dataclass
class Session:
    """What the session lines said about one SMTP connection.

    Attributes:
        opened: log time (epoch seconds) of the open line, if seen.
        seen: log time of the latest line of the session.
        client_ip: inbound: the SMTP client (C1 ``address``).
        client_host: inbound: reverse DNS name, only when ``verified yes``.
        listener: inbound: listener name (C1 ``interface``).
        listener_ip: inbound: the listener's address.
        sender_group: inbound: sender group of the HAT verdict (C2).
        sbrs: inbound: SenderBase reputation score, as logged.
        country: inbound: the client's country, as the verdict line names it (C2 ``country``).
        local_ip: outbound: the ESA interface (C7 ``interface``).
        remote_ip: outbound: the remote server (C7 ``address``).
        remote_port: outbound: the remote port (C7 ``port``).
        tls: True once ``TLS success`` was logged on the session.
        tls_protocol: TLS protocol of that line.
        tls_cipher: TLS cipher of that line.
        mid: the latest message started on the session.
        raw_open: an open line (C1, C7) not yet read into the fields above (:data:`Raw`).
        raw_verdict: a verdict line (C2) not yet read.
        raw_tls: a ``TLS success`` line (C4, C8t) not yet read.

    The ``raw_`` bodies make session lines cheap: most sessions never see an
    authentication line, so their lines are only checked when read, and parsed
    into the fields when an event or a checkpoint needs them
    (:attr:`SessionTable.resolve`). They are never saved themselves.
    """

    opened: Optional[float] = None
    seen: float = 0.0
    client_ip: Optional[str] = None
    client_host: Optional[str] = None
    listener: Optional[str] = None
    listener_ip: Optional[str] = None
    sender_group: Optional[str] = None
    sbrs: Optional[str] = None
    country: Optional[str] = None
    local_ip: Optional[str] = None
    remote_ip: Optional[str] = None
    remote_port: Optional[int] = None
    tls: bool = False
    tls_protocol: Optional[str] = None
    tls_cipher: Optional[str] = None
    mid: Optional[int] = None
    raw_open: Optional[Raw] = field(default=None, repr=False, compare=False)
    raw_verdict: Optional[Raw] = field(default=None, repr=False, compare=False)
    raw_tls: Optional[Raw] = field(default=None, repr=False, compare=False)


#: The fields a checkpoint saves (the ``raw_`` bodies are resolved before).
_FIELDS = tuple(f.name for f in fields(Session) if not f.name.startswith("raw_"))

#: The saved fields of a session, in :data:`_FIELDS` order, as a tuple.
_VALUES = operator.attrgetter(*_FIELDS)

#: What each saved field may hold: a checkpoint is a file, and files get damaged.
_NUMBER_FIELDS = frozenset({"opened", "seen"})
_INT_FIELDS = frozenset({"remote_port", "mid"})
_BOOL_FIELDS = frozenset({"tls"})


def _checked(name: str, value: Any) -> Any:
    """A saved session field, if it has its type; raises TypeError otherwise."""
    if name in _BOOL_FIELDS:
        if isinstance(value, bool):
            return value
    elif value is None:
        if name != "seen":
            return None
    elif isinstance(value, bool):
        pass  # bool is an int subclass: never a valid number here
    elif name in _NUMBER_FIELDS:
        # Log times are finite: json reads NaN and Infinity, which would make a
        # session never idle, or always.
        if isinstance(value, (int, float)) and math.isfinite(value):
            return float(value)
    elif name in _INT_FIELDS:
        if isinstance(value, int):
            return value
    elif isinstance(value, str):
        return value
    raise TypeError(f"session field {name} holds {type(value).__name__}")


class SessionTable:
    """Open sessions, least recently active first.

    Args:
        max_sessions: most sessions kept; beyond it the least recently active goes.
        timeout: seconds of log time after which a silent session is dropped.
    """

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, timeout: float = DEFAULT_TIMEOUT) -> None:
        if max_sessions < 1:
            raise StateError(f"max_sessions must be at least 1, not {max_sessions}")
        if timeout <= 0:
            raise StateError(f"session timeout must be positive, not {timeout}")
        self.max_sessions = max_sessions
        self.timeout = timeout
        self._open: OrderedDict[SessionKey, Session] = OrderedDict()
        #: Sessions dropped because the table was full.
        self.evicted_full = 0
        #: Sessions dropped because they were idle too long.
        self.evicted_idle = 0
        #: The newest log time seen; idle sessions are judged against it.
        self.clock = 0.0
        #: Reads a session's ``raw_`` bodies into its fields (set by the pipeline,
        #: which knows the templates); called for every session before it is saved.
        self.resolve: Optional[Callable[[Session], None]] = None

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[SessionKey]:
        return iter(self._open)

    @property
    def evictions(self) -> int:
        """All sessions dropped before their close line."""
        return self.evicted_full + self.evicted_idle

    def open(self, key: SessionKey, when: Optional[float]) -> Session:
        """Start a session; a reused key replaces the old session (its close was lost)."""
        sessions = self._open
        sessions.pop(key, None)
        session = Session(opened=when, seen=when or self.clock)
        sessions[key] = session
        if when is not None and when > self.clock:
            self.advance(when)
        if len(sessions) > self.max_sessions:
            sessions.popitem(last=False)
            self.evicted_full += 1
        return session

    def get(self, key: SessionKey, when: Optional[float]) -> Optional[Session]:
        """Find an open session and mark it active; None if unknown or expired."""
        session = self._open.get(key)
        if when is None:
            if session is not None:
                self._open.move_to_end(key)
            return session
        if session is not None:
            if when - session.seen > self.timeout:
                # Idle longer than the timeout: whatever this line is, it cannot
                # be trusted to belong to that session.
                del self._open[key]
                self.evicted_idle += 1
                session = None
            else:
                if when > session.seen:
                    session.seen = when
                self._open.move_to_end(key)
        if when > self.clock:
            self.advance(when)
        return session

    def close(self, key: SessionKey) -> Optional[Session]:
        """End a session (close or lost line)."""
        return self._open.pop(key, None)

    def advance(self, when: Optional[float]) -> None:
        """Move the log clock on to ``when``; drop the sessions idle for longer than the timeout by then."""
        if when is None or when <= self.clock:
            return
        self.clock = when
        limit = when - self.timeout
        # The least recently active sessions are first: stop at the first live one.
        while self._open:
            key, session = next(iter(self._open.items()))
            if session.seen >= limit:
                break
            del self._open[key]
            self.evicted_idle += 1

    def to_state(self) -> Dict[str, Any]:
        """The table as JSON-able data (for a checkpoint)."""
        rows: List[List[Any]] = []
        resolve = self.resolve
        values = _VALUES  # one C call per session, not one getattr per field (a save reads every session)
        for (appliance, kind, number), session in self._open.items():
            if resolve is not None:
                resolve(session)
            rows.append([appliance, kind, number, *values(session)])
        return {
            "version": STATE_VERSION,
            "fields": list(_FIELDS),
            "clock": self.clock,
            "evicted_full": self.evicted_full,
            "evicted_idle": self.evicted_idle,
            "sessions": rows,
        }

    def restore(self, state: Dict[str, Any]) -> None:
        """Load what :meth:`to_state` produced. Bounds stay those of this table.

        Raises:
            StateError: the state is of another version or shape.
        """
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise StateError("session state has an unknown version")
        names = state.get("fields")
        # A state saved by an earlier release lacks the fields added since (``country``, #19): they
        # take their defaults. A field this release does not know is damage, or a newer release's.
        if (
            not isinstance(names, list)
            or not all(isinstance(name, str) and name in _FIELDS for name in names)
            or len(set(names)) != len(names)
            or "seen" not in names
        ):
            raise StateError("session state has unknown fields")
        try:
            clock = float(state["clock"])
            if not math.isfinite(clock):
                raise ValueError("the session clock is not a finite time")
            self.clock = clock
            self.evicted_full = int(state["evicted_full"])
            self.evicted_idle = int(state["evicted_idle"])
            self._open.clear()
            for row in state["sessions"]:
                appliance, kind, number = str(row[0]), str(row[1]), int(row[2])
                if len(row) != 3 + len(names):
                    raise ValueError("a session row has the wrong length")
                session = Session(**{name: _checked(name, value) for name, value in zip(names, row[3:])})
                self._open[(appliance, kind, number)] = session
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise StateError(f"session state is damaged: {exc}") from exc
        while len(self._open) > self.max_sessions:
            self._open.popitem(last=False)
            self.evicted_full += 1
