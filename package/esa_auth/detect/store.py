"""The events of one run, in SQLite on a temporary file.

Events go in by batches as they are read, so memory holds one batch and
SQLite's page cache, whatever the input's length; the file is deleted when
the store is closed. Columns follow :class:`~esa_auth.events.AuthEvent`: numbers
stay numbers and text compares without case (``COLLATE NOCASE``), as Sigma
compares strings; ``_time`` holds seconds since the epoch, as Splunk's.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, get_args, get_type_hints

from ..events import FIELD_ORDER, AuthEvent
from .compiler import ID_FIELD, TABLE, TIME_FIELD
from .networks import FIELD as NETWORK_FIELD
from .networks import source_network

#: Events written to SQLite at once.
BATCH = 5000
#: SQLite's page cache, in KiB: what a run keeps in memory of the events, and of the sorts it asks for.
#: The cache fills up to this as the file grows; the operating system caches the file anyway, and a
#: larger cache (16 MiB, 32 MiB) made the 3,000,000-line benchmark no faster, only its peak RSS larger.
CACHE_KIB = 2 * 1024


def _column_types() -> Dict[str, str]:
    """SQLite column types of the event fields: numbers stay numbers, text compares without case."""
    hints = get_type_hints(AuthEvent)
    types: Dict[str, str] = {}
    for name in FIELD_ORDER:
        kinds = get_args(hints[name]) or (hints[name],)
        types[name] = "NUMERIC" if any(k in (int, float) for k in kinds) else "TEXT COLLATE NOCASE"
    return types


COLUMNS = _column_types()
#: Fields the rules may name that no event carries, derived from one that it does: (field, source, function).
#: ``src_net`` is the client's /24 or /64 (:mod:`.networks`; the searches set it with a macro).
DERIVED = ((NETWORK_FIELD, "src", source_network),)


def quote(name: str) -> str:
    """An SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def group_key(column: str) -> str:
    """A group-by value as the backend computes it: text in lower case (Sigma compares without case; SQLite: ASCII)."""
    return f"CASE WHEN typeof({column})='text' THEN lower({column}) ELSE {column} END"


def epoch(text: Any) -> Optional[float]:
    """Seconds since the epoch of an event's RFC 3339 ``time``; None when it has none."""
    if not isinstance(text, str):
        return None
    # The reader's own form (timezones.rfc3339: UTC, "Z", six fraction digits or none) is read by
    # fromisoformat, many times faster than strptime; any other text the slow, strict way.
    if len(text) in (20, 27) and text[10] == "T" and text[-1] == "Z":
        try:
            return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            pass
    try:
        moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return moment.astimezone(timezone.utc).timestamp()


def _value(value: Any) -> Any:
    # JSON booleans as Splunk sees them with KV_MODE = json; the backend's predicates accept 'true' and 1.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


class Store:
    """A temporary SQLite database holding the events of one run.

    Args:
        directory: where the temporary file goes (default: the system's temporary directory).
        fields: the event fields kept (default: all); the rules' fields are enough, and an event is
            written faster for each one left out. ``event_id`` is always kept.

    Attributes:
        connection: the database (the table ``logs``).
        events: events added so far.
    """

    def __init__(self, directory: Optional[str] = None, fields: Optional[Iterable[str]] = None) -> None:
        self._directory = tempfile.mkdtemp(prefix="esa-auth-detect-", dir=directory)
        self.connection = sqlite3.connect(os.path.join(self._directory, "events.sqlite3"))
        for pragma in (
            # A scratch database: nothing to recover after a crash, so no journal and no sync.
            "journal_mode = OFF",
            "synchronous = OFF",
            # Sorts and temporary tables on disk too, within the page cache below.
            "temp_store = FILE",
            f"cache_size = -{CACHE_KIB}",
        ):
            self.connection.execute(f"PRAGMA {pragma}")
        kept = {*COLUMNS, *(d[0] for d in DERIVED)} if fields is None else {*fields, ID_FIELD}
        self._names: List[str] = [name for name in COLUMNS if name in kept]
        self._derived = [(name, source, derive) for name, source, derive in DERIVED if name in kept]
        columns = ", ".join(
            [f"{quote(n)} {COLUMNS[n]}" for n in self._names]
            + [f"{quote(name)} TEXT COLLATE NOCASE" for name, _, _ in self._derived]
        )
        names = [*self._names, *(name for name, _, _ in self._derived)]
        self.connection.execute(f"CREATE TABLE {TABLE} ({quote(TIME_FIELD)} REAL, {columns})")
        self._insert = (
            f"INSERT INTO {TABLE} ({quote(TIME_FIELD)}, {', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in range(len(names) + 1))})"
        )
        self.events = 0

    def add(self, events: Iterable[Dict[str, Any]]) -> None:
        """Add events (CIM dicts, as :meth:`AuthEvent.to_dict` gives them), written by batches."""
        names = self._names
        batch: List[Sequence[Any]] = []
        plain = (str, int, float, type(None))
        for event in events:
            row: List[Any] = [epoch(event.get("time"))]
            for name in names:
                value = event.get(name)
                row.append(value if type(value) in plain else _value(value))
            for _, source, derive in self._derived:
                row.append(derive(event.get(source)))
            batch.append(row)
            if len(batch) >= BATCH:
                self._write(batch)
                batch = []
        if batch:
            self._write(batch)

    def _write(self, batch: List[Sequence[Any]]) -> None:
        self.connection.executemany(self._insert, batch)
        self.events += len(batch)

    def ensure_fields(self, fields: Iterable[str]) -> None:
        """Fields a rule names that no event has become NULL columns (a condition on them matches nothing)."""
        cursor = self.connection.execute(f"SELECT * FROM {TABLE} LIMIT 0")
        existing = {d[0].lower() for d in cursor.description}
        for field in fields:
            if field.lower() not in existing and field.lower() != "rowid":
                self.connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {quote(field)} TEXT COLLATE NOCASE")
                existing.add(field.lower())

    def close(self) -> None:
        """Close the database and delete its file."""
        try:
            self.connection.close()
        finally:
            shutil.rmtree(self._directory, ignore_errors=True)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["BATCH", "CACHE_KIB", "COLUMNS", "ID_FIELD", "Store", "epoch", "group_key", "quote"]
