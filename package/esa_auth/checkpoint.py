"""The checkpoint of one input on disk: a snapshot, and a journal of what changed since.

What a checkpoint holds is :class:`~esa_auth.follow.Follower`'s business (the
known files and the open SMTP sessions, as JSON-able data); this module keeps
it on disk cheaply and safely. A run saves after every file and every few
megabytes read, and most of the session table is the same from one save to the
next when it is large (the table a flood fills, or a long ``session_timeout``):
so a save appends only what changed to a journal, and the whole state is
written again (a snapshot) only when what the journal holds in vain (entries
and rows written again or dropped since, what every record repeats) has grown
as large as the last snapshot: that bounds the journal by the state and the
snapshot, and so the work of reading it back, while a table that only grows
(a first run over thousands of files) is not written whole again and again.

Files, beside the checkpoint ``<name>.json``:

* ``<name>.json``: the snapshot, the state as one JSON object, with a
  ``generation`` (random) that names it. It is replaced atomically
  (temporary file, fsync, ``os.replace``, fsync of the directory), as before
  the journal existed; a snapshot without a generation (written by 0.1.0)
  is read as a whole state.
* ``<name>.json.journal``: records, one a line, appended and fsynced, each
  ``<crc32 in hex> <JSON>``: its snapshot's generation, its number (1, 2, ...),
  and the changes: the file entries (the entries that changed, by index, the
  new ones after them, or, when files went or moved, by key with the keys in
  order), the session rows dropped and the
  rows written since (in table order: a row written again moves to the end,
  as the table's own order does), and the rest of the normalizer state.

Crash safety. A save is complete once its line is on disk whole; a run killed
while appending leaves a last line cut short or never flushed, which the next
load drops (and cuts off the file): the state is then that of the save
before, whose events all came before it, so events are repeated (with their
ids) and none is lost, as with a snapshot replaced too late. A bad line
before the last one, a record of another snapshot after one of this
snapshot, or numbers out of sequence are damage (:class:`StateError`): the
caller sets the checkpoint aside and starts again, as for a damaged
snapshot. A journal left from an older snapshot (a run killed between
writing a new snapshot and removing the journal) is recognised by its
generation and removed.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import zlib
from typing import Any, Dict, List, Optional, Tuple

from .errors import StateError

#: The format written. 1: 0.1.0 (file entries without ``compression``); 2:
#: file entries may name their compression, and event ids no longer depend on
#: the entries' keys; 3: file entries leave out what defaults say (unset
#: fields, a stream's source and key where they are the entry's path and key:
#: :meth:`esa_auth.entries.FileEntry.to_state`). An older checkpoint is read as
#: it is (its positions hold) and saved in the current format from then on; a
#: newer one is refused.
CHECKPOINT_VERSION = 3
#: The formats read.
READ_VERSIONS = (1, 2, 3)
#: The journal is folded into a new snapshot once what it holds that the state
#: no longer needs (entries and rows written again, or dropped, the small state
#: every record repeats) is larger than the last snapshot, or than this,
#: whichever is more (a small table is cheap to rewrite).
COMPACT_BYTES = 64 << 10

#: A session row's key: (appliance, kind, number), its first three items (sessions.SessionTable.to_state).
RowKey = Tuple[Any, Any, Any]


class NewerCheckpointError(StateError):
    """A checkpoint written by a newer release: left as it is, and not read."""


def load_checkpoint(path: str) -> Optional[Dict[str, Any]]:
    """Read a checkpoint (its snapshot and journal) as one state; None when there is none yet.

    Only reads: a journal to cut off or remove is left as it is (a run may be writing it).

    Raises:
        StateError: the checkpoint exists but cannot be used.
    """
    return CheckpointStore(path).load(repair=False)


def save_checkpoint(path: str, data: Dict[str, Any]) -> None:
    """Replace a file with JSON atomically: a reader sees the old one or the new one, whole."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        # dumps, not dump: json.dump encodes in Python, piece by piece; dumps uses the C encoder.
        handle.write(json.dumps(data, separators=(",", ":"), ensure_ascii=True))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _sync_directory(path)


def _sync_directory(path: str) -> None:
    """Make a rename or a new file in ``path``'s directory durable (POSIX); not possible everywhere."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _rows_of(data: Dict[str, Any]) -> List[List[Any]]:
    rows = data["normalizer"]["sessions"]["sessions"]
    if not isinstance(rows, list):
        raise TypeError("sessions is not a list")
    return rows


def _meta_of(data: Dict[str, Any]) -> Dict[str, Any]:
    """The normalizer state without its session rows (small: versions, clock, counters)."""
    normalizer = data["normalizer"]
    meta = {name: value for name, value in normalizer.items() if name != "sessions"}
    meta["sessions"] = {name: value for name, value in normalizer["sessions"].items() if name != "sessions"}
    return meta


def _key(row: List[Any]) -> RowKey:
    return (row[0], row[1], row[2])


def _file_changes(saved: List[Dict[str, Any]], files: List[Dict[str, Any]]) -> Dict[str, Any]:
    """What a record says to turn the saved file entries into ``files``.

    The same files in the same order: the entries that changed, by index.
    New files after the same ones: those, and the others that changed, by index.
    Files come, go or change places (the follower lists them oldest first,
    so a file written to moves to the end): their keys in order, and the
    entries that are new or changed, by key. Keys that repeat: the whole list.
    """
    keys = [entry.get("key") for entry in files]
    old_keys = [entry.get("key") for entry in saved]
    if keys == old_keys:
        changes = [[index, entry] for index, (entry, old) in enumerate(zip(files, saved)) if entry != old]
        return {"file_changes": changes} if changes else {}
    if len(set(keys)) != len(keys) or len(set(old_keys)) != len(old_keys):
        return {"files": files}
    count = len(old_keys)
    if len(keys) > count and keys[:count] == old_keys:  # (the keys are unique: the new ones are new)
        # New files after the same ones (a first run, which lists its files oldest first): they are appended,
        # and the order of thousands of keys is not written again at every save.
        found: Dict[str, Any] = {"file_append": files[count:]}
        changes = [[index, entry] for index, (entry, old) in enumerate(zip(files, saved)) if entry != old]
        if changes:
            found["file_changes"] = changes
        return found
    by_key = dict(zip(old_keys, saved))
    entries = {key: entry for key, entry in zip(keys, files) if by_key.get(key) != entry}
    return {"file_order": keys, "file_entries": entries} if entries else {"file_order": keys}


def _session_changes(
    order: List[RowKey], saved: Dict[RowKey, List[Any]], rows: List[List[Any]], keys: List[RowKey]
) -> Tuple[List[RowKey], List[List[Any]]]:
    """The rows to drop and to write again so that the saved table becomes ``rows``.

    A table touches a session by moving it to the end (least recently active
    first), so the sessions untouched since the last save come first, in
    their saved order, with their saved rows: that prefix is skipped, and the
    rest is written again in order (replayed, each row moves to the end).
    Sessions saved but gone are dropped.
    """
    old, p, i, count = len(order), 0, 0, len(rows)
    while i < count:
        key = keys[i]
        while p < old and order[p] != key:
            p += 1  # gone, or touched since (then it is further on)
        if p == old or saved[key] != rows[i]:
            break
        p += 1
        i += 1
    present = set(keys)
    drop = [key for key in order if key not in present]
    return drop, rows[i:]


class CheckpointStore:
    """The checkpoint of one input: :meth:`load` once, then :meth:`save` as often as needed.

    The caller holds the input's lock: one store writes a checkpoint at a time.

    Args:
        path: the snapshot's file; the journal is beside it (``<path>.journal``).
        compact_bytes: the least journal size that is folded into a snapshot.
    """

    def __init__(self, path: str, compact_bytes: int = COMPACT_BYTES) -> None:
        self.path = path
        self.journal = f"{path}.journal"
        self.compact_bytes = compact_bytes
        #: The generation of the snapshot on disk; None until one was read or written.
        self.generation: Optional[str] = None
        self._number = 0
        self._snapshot_bytes = 0
        self._journal_bytes = 0
        #: The part of the journal that the state no longer needs, estimated (see _save).
        self._spent_bytes = 0
        # What is on disk, as the last load or save left it.
        self._head: Dict[str, Any] = {}
        self._files: List[Any] = []
        self._meta: Dict[str, Any] = {}
        self._order: List[RowKey] = []
        self._rows: Dict[RowKey, List[Any]] = {}
        self._repair = True
        #: The older format version the loaded checkpoint was written in (None: the current one).
        self.migrated_from: Optional[int] = None
        #: Snapshots and journal records written (for tests and statistics).
        self.snapshots = 0
        self.records = 0

    # --- reading -------------------------------------------------------------------
    def load(self, repair: bool = True) -> Optional[Dict[str, Any]]:
        """The saved state (snapshot with the journal applied); None when there is none.

        Args:
            repair: cut off a last record cut short, remove a journal that is not the
                snapshot's (so that saves can follow); only under the input's lock.

        Raises:
            StateError: the snapshot or the journal is damaged (nothing was changed on disk).
        """
        self._repair = repair
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
            data = json.loads(text)
        except FileNotFoundError:
            if self._repair:
                self._remove_journal()  # the checkpoint was deleted to read everything again
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"checkpoint {self.path} cannot be read: {exc}") from exc
        version = data.get("version") if isinstance(data, dict) else None
        if isinstance(version, int) and not isinstance(version, bool) and version > CHECKPOINT_VERSION:
            raise NewerCheckpointError(
                f"checkpoint {self.path} was written by a newer release (format {version}; this one reads "
                f"{', '.join(map(str, READ_VERSIONS))}): not read, and left as it is; install that release again, "
                "or move the checkpoint away to read the files from the start"
            )
        if version not in READ_VERSIONS:
            raise StateError(f"checkpoint {self.path} has an unknown version")
        generation = data.get("generation")
        try:
            self._take(data, len(text))
            if isinstance(generation, str):
                self.generation = generation
                self._replay()
            elif self._repair:  # 0.1.0 wrote whole snapshots only: a journal beside one is not its own
                self._remove_journal()
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise StateError(f"checkpoint {self.path} is damaged: {exc!r}") from exc
        if version != CHECKPOINT_VERSION:
            # Saved whole in the current format at the first save (a journal never extends an older snapshot).
            self.migrated_from = version
            self.generation = None
        return self._state()

    def _take(self, data: Dict[str, Any], size: int) -> None:
        """Hold a whole state as what is on disk."""
        rows = _rows_of(data)
        keys = [_key(row) for row in rows]
        self._head = {name: value for name, value in data.items() if name not in ("files", "normalizer")}
        files = data["files"]
        self._files = list(files) if isinstance(files, list) else files
        self._meta = _meta_of(data)
        self._order = keys
        self._rows = dict(zip(keys, rows))
        self._snapshot_bytes = size
        self._number = 0
        self._journal_bytes = 0
        self._spent_bytes = 0

    def _replay(self) -> None:
        try:
            with open(self.journal, "rb") as handle:
                lines = handle.read().split(b"\n")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"checkpoint journal {self.journal} cannot be read: {exc}") from exc
        # The text after the last newline is a record cut short (or nothing).
        complete, good = lines[:-1], 0
        for index, line in enumerate(complete):
            record = self._record(line)
            if record is None or record.get("g") != self.generation:
                if index == 0 and record is not None:
                    if self._repair:
                        self._remove_journal()  # of an older snapshot, folded into this one
                    return
                if index == len(complete) - 1:
                    break  # the last line: a record cut short by a crash, dropped below
                raise StateError(f"journal record {index + 1} of {len(complete)} is damaged or out of place")
            if record.get("n") != self._number + 1:
                raise StateError(f"journal record {index + 1} is numbered {record.get('n')!r}")
            self._apply(record)
            self._number += 1
            good += len(line) + 1
        self._journal_bytes = good
        self._spent_bytes = good  # not known of records read back: all of it, so the first save may fold it
        if self._repair and good != sum(len(line) + 1 for line in complete) + len(lines[-1]):
            # Cut off what a killed run left half-written, so that records are appended after whole ones.
            try:
                os.truncate(self.journal, good)
            except OSError as exc:
                raise StateError(f"checkpoint journal {self.journal} cannot be repaired: {exc}") from exc

    @staticmethod
    def _record(line: bytes) -> Optional[Dict[str, Any]]:
        """A journal line's record, or None when it is not one whole record."""
        crc, _, body = line.partition(b" ")
        try:
            if len(crc) != 8 or int(crc, 16) != zlib.crc32(body):
                return None
            record = json.loads(body)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def _apply(self, record: Dict[str, Any]) -> None:
        if "files" in record:
            if not isinstance(record["files"], list):
                raise TypeError("files is not a list")
            self._files = record["files"]
        if "file_order" in record:
            known = {entry["key"]: entry for entry in self._files}
            known.update(record.get("file_entries", {}))
            self._files = [known[key] for key in record["file_order"]]
        for index, entry in record.get("file_changes", []):
            if not 0 <= index < len(self._files):
                raise IndexError(f"file change at {index} of {len(self._files)}")
            self._files[index] = entry
        if "file_append" in record:
            if not isinstance(record["file_append"], list):
                raise TypeError("file_append is not a list")
            self._files = [*self._files, *record["file_append"]]
        for key in record.get("drop", []):
            self._rows.pop(_key(key), None)
        for row in record.get("rows", []):
            key = _key(row)
            self._rows.pop(key, None)
            self._rows[key] = row
        self._meta = record["meta"]
        self._head["path"] = record.get("path", self._head.get("path"))
        self._order = list(self._rows)

    def _state(self) -> Dict[str, Any]:
        normalizer = dict(self._meta)
        normalizer["sessions"] = {**self._meta["sessions"], "sessions": [self._rows[key] for key in self._order]}
        return {**self._head, "files": self._files, "normalizer": normalizer}

    # --- writing -------------------------------------------------------------------
    def save(self, data: Dict[str, Any]) -> None:
        """Save a state (``version``, ``path``, ``files``, ``normalizer``): a journal record, or a snapshot.

        Returns when it is on disk (fsync). Nothing is written when nothing changed.

        Raises:
            StateError: the checkpoint cannot be written (a full disk, no permission); the message names the file.
        """
        try:
            self._save(data)
        except OSError as exc:
            name = exc.filename or self.path
            raise StateError(f"cannot write the checkpoint {name}: {exc.strerror or exc}") from exc

    def _save(self, data: Dict[str, Any]) -> None:
        # Folded when what the journal holds in vain outgrows the snapshot: a journal that holds mostly new
        # entries and rows (a first run over thousands of files) is the state itself, and a snapshot of it
        # at every few saves would write the table again and again as it grows.
        if self.generation is None or self._spent_bytes > max(self.compact_bytes, self._snapshot_bytes):
            self._snapshot(data)
            return
        rows = _rows_of(data)
        keys = [_key(row) for row in rows]
        record: Dict[str, Any] = {"g": self.generation, "n": self._number + 1}
        files = data["files"]
        record.update(_file_changes(self._files, files))
        drop, written = _session_changes(self._order, self._rows, rows, keys)
        if drop:
            record["drop"] = drop
        if written:
            record["rows"] = written
        meta = _meta_of(data)
        if len(record) == 2 and meta == self._meta and data.get("path") == self._head.get("path"):
            return  # nothing changed since the last save
        record["meta"] = meta
        record["path"] = data.get("path")
        body = json.dumps(record, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        line = b"%08x %s\n" % (zlib.crc32(body), body)
        spent = len(line) - self._new_share(record, keys[len(keys) - len(written) :], len(line))
        new = self._journal_bytes == 0
        try:
            with open(self.journal, "ab") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            # A full disk may take part of the line: cut it off (the next load would
            # too), so that this store or the next run appends after whole records.
            with contextlib.suppress(OSError):
                os.truncate(self.journal, self._journal_bytes)
            raise OSError(exc.errno, exc.strerror, self.journal) from exc
        if new:
            _sync_directory(self.journal)
        self._journal_bytes += len(line)
        self._spent_bytes += spent
        self._number += 1
        self.records += 1
        self._files = list(files)
        self._meta = meta
        self._head["path"] = data.get("path")
        self._order = keys
        self._rows = dict(zip(keys, rows))

    def _new_share(self, record: Dict[str, Any], written: List[RowKey], size: int) -> int:
        """The bytes of a record that hold what the saved state did not have (new files, new sessions).

        Estimated by counting: the record's size shared out among its items (entries, rows, dropped rows,
        the small state every record repeats, and a tenth of an item per key of a file order).
        """
        known_files = {entry.get("key") for entry in self._files}
        if "files" in record:
            entries = record["files"]
            new = sum(1 for entry in entries if entry.get("key") not in known_files)
        else:
            entries = record.get("file_entries", {})
            new = sum(1 for key in entries if key not in known_files) + len(record.get("file_append", ()))
        count = len(entries) + len(record.get("file_changes", ())) + len(record.get("file_append", ()))
        new += sum(1 for key in written if key not in self._rows)
        items = count + len(written) + len(record.get("drop", ())) + 1 + len(record.get("file_order", ())) / 10
        return int(size * new / items)

    def _snapshot(self, data: Dict[str, Any]) -> None:
        generation = os.urandom(8).hex()
        whole = {**data, "generation": generation}
        save_checkpoint(self.path, whole)
        # The journal belongs to the snapshot replaced: gone now (a load would skip it anyway).
        self._remove_journal()
        self.generation = generation
        self._take(whole, os.path.getsize(self.path))
        self.snapshots += 1

    def _remove_journal(self) -> None:
        try:
            os.remove(self.journal)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise StateError(f"checkpoint journal {self.journal} cannot be removed: {exc}") from exc

    def set_aside(self, suffix: str = ".damaged") -> str:
        """Move a damaged checkpoint (and its journal) aside for a post-mortem; return the snapshot's new name.

        Raises:
            OSError: the snapshot cannot be moved.
        """
        aside = self.path + suffix
        os.replace(self.path, aside)
        with contextlib.suppress(FileNotFoundError):
            os.replace(self.journal, self.journal + suffix)
        return aside
