"""Following ESA log files across runs: positions, rotation, checkpoints.

An edge of the library (it opens files; it never reads the clock): the Splunk
modular input runs one :meth:`Follower.run` per interval, and each run reads
what was appended since the last one.

How a file is recognised. A name says little: the ESA writes ``<name>.current``
and rolls it to ``<name>.@<timestamp>.s`` (or ``.c``) by renaming it, then
creates a new ``.current`` (docs/log-formats.md#file-names); a relay may copy a
file and truncate it (copy-truncate), or replace it with a copy (rsync). So a
file is known by its identity, device and inode, *and* by a hash of its first
bytes (:data:`HEAD_BYTES`): a renamed file keeps both, a truncated or reused
inode loses the hash, and a copy keeps the hash. Each known file keeps the
:class:`~esa_auth.pipeline.Stream` key it was given when first seen, so a
rotated file keeps its event ids.

Checkpoint. One per input holds every known file's position and partial
last line, and the open SMTP sessions
(:meth:`~esa_auth.pipeline.Normalizer.state`). It is saved only after the
events before it were handed to the sink (which returns once they are
written), so a crash repeats at most the events after the last checkpoint,
with the same ``event_id``, and loses none. On disk it is a snapshot replaced
atomically and a journal of the changes since, appended and fsynced
(:mod:`esa_auth.checkpoint`): a save writes what changed, not the whole
session table.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import stat
from dataclasses import dataclass
from typing import IO, Any, Callable, Dict, List, Optional, Tuple

from .checkpoint import CHECKPOINT_VERSION, CheckpointStore
from .checkpoint import load_checkpoint as load_checkpoint  # callers import it from here
from .envelope import ENVELOPE_HEADS, body_start, starts_envelope
from .errors import ConfigError, StateError
from .events import AuthEvent
from .pipeline import Normalizer, Settings, Stream, appliance_from_filename

try:  # POSIX only: on Windows a second run of the same input is not excluded.
    import fcntl
except ImportError:  # pragma: no cover - Splunk forwarders on Windows
    fcntl = None  # type: ignore[assignment]

#: Bytes hashed to recognise a file's content. An ESA file opens with three
#: header lines (``Begin Logfile``, ``Version:``, ``Time offset from UTC:``)
#: that every log of an appliance rolled in the same second shares, so the
#: hash must reach well past them before it may stand for the file alone.
HEAD_BYTES = 1024
#: Bytes read at a time.
CHUNK = 1 << 20
#: Listings of the directory taken at most, one run, to see it between two rotations (Follower._scan).
SCAN_TRIES = 5
#: A run saves its checkpoint after each file it read, and inside a file every
#: so many bytes (at least this, and :data:`BYTES_PER_SESSION` per open
#: session): a crash repeats at most what was read since (with the same ids).
#: A save costs about the size of the session table (each session's lines are
#: read into its fields, then its changes written), reading costs about the
#: bytes read: so the interval grows with the table, which keeps saves a small
#: share of the time of a run through a large file.
CHECKPOINT_BYTES = 8 << 20
#: Bytes read between saves per session open at the last save (2,500 sessions: 40 MiB).
BYTES_PER_SESSION = 16 << 10
#: When starting at the end of existing files, the header lines at the start
#: of each file (time offset, version) are still read from this many bytes.
HEADER_SCAN_BYTES = 8192

START_BEGINNING = "beginning"
START_END = "end"
STARTS = (START_BEGINNING, START_END)

#: Receives the events of one block read (never an empty list) and the path of
#: the file they came from; it returns once they are written (the checkpoint
#: that follows counts on it). A sink may write them as one batch.
Emit = Callable[[List[AuthEvent], str], None]
#: Receives a level (``INFO``, ``WARN``, ``ERROR``) and a one-line message.
Log = Callable[[str, str], None]


def _hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_key(dev: int, ino: int, head_hash: str) -> str:
    """The stream key (event id seed) of a file first seen with this identity and head."""
    return "f" + hashlib.blake2b(f"{dev}:{ino}:{head_hash}".encode(), digest_size=10).hexdigest()


def looks_like_esa(head: bytes) -> Optional[bool]:
    """Tell whether a file's first bytes look like an ESA log (recognised from content).

    The first non-blank line must open with an envelope
    (docs/log-formats.md#envelopes) and, when it is complete, carry a level (``Info:``).
    None when the bytes cannot tell yet: no non-blank line so far, or a first
    line still being written whose few bytes may still become an envelope's
    start (a writer flushes buffers, not lines: a new file may hold ``Su``).
    """
    lines = head.split(b"\n")
    for index, line in enumerate(lines):
        line = line.rstrip(b"\r")
        complete = index < len(lines) - 1
        if not complete and _BOM.startswith(line):
            return None  # nothing yet, or part of a byte-order mark
        if line.startswith(_BOM):
            line = line[3:]
        if not line.strip():
            continue
        if not starts_envelope(line):
            if not complete and len(line) < _HEAD and any(start.startswith(line) for start in _STARTS):
                return None
            return False
        return body_start(line) >= 0 or not complete
    return None


_BOM = b"\xef\xbb\xbf"
#: What the first bytes of a line that opens a log line may be (envelope.starts_envelope), and their length.
_STARTS = tuple(ENVELOPE_HEADS) + tuple(b"<%d" % digit for digit in range(10))
_HEAD = 3


def list_files(spec: str) -> List[str]:
    """The paths a ``path`` setting names: a file, a directory's files, or a glob.

    Hidden files (``.name``) are left out: transfers write them before renaming.
    """
    if glob.has_magic(spec):
        paths = glob.glob(spec)
    elif os.path.isdir(spec):
        try:
            paths = [os.path.join(spec, name) for name in os.listdir(spec)]
        except OSError:
            return []
    else:
        paths = [spec]
    return sorted(p for p in paths if not os.path.basename(p).startswith("."))


def _watched_dir(spec: str) -> Optional[str]:
    """The real directory a directory or glob setting watches; None for a single file.

    A link named as the setting itself is the admin's choice and is followed; links
    found inside the directory may only point inside it.
    """
    base = spec
    if glob.has_magic(spec):
        while glob.has_magic(base):
            base = os.path.dirname(base)
    elif not os.path.isdir(spec):
        return None
    return os.path.realpath(base)


def check_path(spec: str) -> None:
    """Check a ``path`` setting when an input is created.

    Raises:
        ConfigError: the path is empty, relative, or names nothing that exists.
    """
    if not spec or not spec.strip():
        raise ConfigError("path is empty: give a log file, a directory or a glob pattern")
    if not os.path.isabs(spec):
        raise ConfigError(f"path must be absolute: {spec!r}")
    if glob.has_magic(spec):
        # Files may come later, but the directory they come into must exist.
        base = spec
        while glob.has_magic(base):
            base = os.path.dirname(base)
        if not os.path.isdir(base):
            raise ConfigError(f"path: directory {base!r} of the pattern {spec!r} does not exist")
        return
    if not os.path.exists(spec):
        raise ConfigError(f"path does not exist: {spec!r}")
    if not (os.path.isdir(spec) or os.path.isfile(spec)):
        raise ConfigError(f"path is neither a file nor a directory: {spec!r}")


@dataclass
class FileEntry:
    """A file known to the checkpoint.

    Attributes:
        key: the stream key given when the file was first seen (kept across renames).
        path: where it was last seen.
        dev: device number.
        ino: inode number.
        head_len: bytes hashed into ``head_hash`` (grows up to :data:`HEAD_BYTES`).
        head_hash: SHA-256 of the first ``head_len`` bytes.
        size: size when last read.
        mtime_ns: modification time when last read.
        ignored: the content is not an ESA log; the file is skipped.
        stream: the reading state (position, partial line, file header).
    """

    key: str
    path: str
    dev: int
    ino: int
    head_len: int
    head_hash: str
    size: int
    mtime_ns: int
    ignored: bool
    stream: Stream

    @property
    def position(self) -> int:
        """Bytes of the file consumed (the next read starts here)."""
        stream = self.stream
        return stream.offset + len(stream.partial) + stream.overflow

    def to_state(self) -> Dict[str, Any]:
        """JSON-able form. A held-back line is given back to the file (re-read next time)."""
        stream_state = self.stream.to_state()
        pending = self.stream.pending
        if pending is not None:
            # Rewind to the held-back line, which has not touched the sessions yet.
            stream_state.update(offset=pending.offset, line=pending.line - 1, partial="", overflow=0)
        return {
            "key": self.key, "path": self.path, "dev": self.dev, "ino": self.ino,
            "head_len": self.head_len, "head_hash": self.head_hash, "size": self.size,
            "mtime_ns": self.mtime_ns, "ignored": self.ignored, "stream": stream_state,
        }  # fmt: skip

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> FileEntry:
        """Rebuild an entry saved by :meth:`to_state` (StateError if damaged)."""
        try:
            entry = cls(
                key=str(state["key"]), path=str(state["path"]), dev=int(state["dev"]), ino=int(state["ino"]),
                head_len=int(state["head_len"]), head_hash=str(state["head_hash"]), size=int(state["size"]),
                mtime_ns=int(state["mtime_ns"]), ignored=bool(state["ignored"]),
                stream=Stream.from_state(state["stream"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, StateError) as exc:
            raise StateError(f"file entry is damaged: {exc}") from exc
        stream = entry.stream
        if min(stream.offset, stream.line, stream.overflow, entry.head_len, entry.size) < 0:
            raise StateError(f"file entry of {entry.path} is damaged: negative position or size")
        if entry.head_len > HEAD_BYTES:
            raise StateError(f"file entry of {entry.path} is damaged: head of {entry.head_len} bytes")
        return entry


class _Candidate:
    """A file found on disk in this run, opened lazily.

    It is the file ``stat`` saw (device and inode), not whatever bears its name
    when it is opened: ``mail.current`` may have been rotated since, and
    another file is ``mail.current`` now. Then the file is looked for under
    its new name (``find``), so that its rest is read, in its turn.
    """

    def __init__(self, path: str, st: os.stat_result, find: Callable[[int, int], Optional[str]]) -> None:
        self.path = path
        self.st = st
        self.handle: Optional[IO[bytes]] = None
        self._heads: Dict[int, bytes] = {}
        self._find = find

    def open(self) -> IO[bytes]:
        if self.handle is None:
            path: Optional[str] = self.path
            while path is not None:
                handle = open(path, "rb")  # noqa: SIM115 - closed by Follower.run
                st = os.fstat(handle.fileno())
                if (st.st_dev, st.st_ino) == (self.st.st_dev, self.st.st_ino):
                    self.handle, self.path = handle, path
                    return handle
                handle.close()
                moved = self._find(self.st.st_dev, self.st.st_ino)
                path = None if moved == path else moved
            raise FileNotFoundError(errno.ENOENT, "gone since the directory was listed", self.path)
        return self.handle

    def head(self, length: int) -> bytes:
        """The first ``length`` bytes (fewer if the file is shorter)."""
        cached = self._heads.get(length)
        if cached is None:
            handle = self.open()
            handle.seek(0)
            cached = handle.read(length)
            self._heads[length] = cached
        return cached

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


@dataclass
class RunStats:
    """What one run did."""

    files: int = 0
    files_read: int = 0
    bytes_read: int = 0
    events: int = 0
    warnings: int = 0
    checkpoints: int = 0

    def __str__(self) -> str:
        return (
            f"files={self.files} files_read={self.files_read} bytes_read={self.bytes_read} "
            f"events={self.events} warnings={self.warnings} checkpoints={self.checkpoints}"
        )


class Follower:
    """Reads the files of one input, from where the last run stopped.

    Args:
        spec: a file, a directory or a glob pattern of ESA logs.
        settings: how to read the logs.
        checkpoint: the checkpoint file of this input.
        start: where to start in files that exist at the first run:
            ``beginning`` or ``end``.
        chunk_size: bytes read at a time.
        checkpoint_bytes: inside a file, a run saves no more often than every so many bytes read.
        bytes_per_session: ... nor than every so many bytes per session open at the last save.
    """

    def __init__(
        self,
        spec: str,
        settings: Settings,
        checkpoint: str,
        start: str = START_BEGINNING,
        chunk_size: int = CHUNK,
        checkpoint_bytes: int = CHECKPOINT_BYTES,
        bytes_per_session: int = BYTES_PER_SESSION,
    ) -> None:
        if start not in STARTS:
            raise ConfigError(f"start_from must be one of {', '.join(STARTS)}, not {start!r}")
        self.spec = spec
        self.settings = settings
        self.checkpoint = checkpoint
        self.start = start
        self.chunk_size = max(1, chunk_size)
        self.checkpoint_bytes = max(1, checkpoint_bytes)
        self.bytes_per_session = max(0, bytes_per_session)
        #: Bytes read since the last save, and how many make the next one.
        self._unsaved = 0
        self._interval = self.checkpoint_bytes
        self.entries: List[FileEntry] = []
        self.changed = False
        self.normalizer = Normalizer(settings)
        self.stats = RunStats()
        self.store = CheckpointStore(checkpoint)

    # --- checkpoint ------------------------------------------------------------
    def _load(self, log: Log) -> bool:
        """Load the checkpoint; return True if there was one."""
        # A run killed between writing and renaming its checkpoint leaves <checkpoint>.<pid>.tmp;
        # this run holds the lock, so no other run is writing one.
        for stale in glob.glob(glob.escape(self.checkpoint) + ".*.tmp"):
            with contextlib.suppress(OSError):
                os.remove(stale)
        self.store = CheckpointStore(self.checkpoint)
        try:
            data = self.store.load()
            if data is None:
                return False
            entries = [FileEntry.from_state(item) for item in data["files"]]
            normalizer = Normalizer(self.settings, state=data["normalizer"])
        except (StateError, KeyError, TypeError) as exc:
            # Keep the damaged file for a post-mortem and start again as on a first run:
            # events may come twice (same event_id), none is lost for lack of a position.
            aside = f"{self.checkpoint}.damaged"
            log("ERROR", f"{exc}; moved to {aside}, starting as on a first run")
            try:
                self.store.set_aside()
            except OSError as move_error:
                raise StateError(f"checkpoint {self.checkpoint} is damaged and cannot be moved: {move_error}") from exc
            self.store = CheckpointStore(self.checkpoint)
            return False
        self.entries = entries
        self.normalizer = normalizer
        return True

    def _save(self) -> None:
        data = {
            "version": CHECKPOINT_VERSION,
            "path": self.spec,
            "files": [entry.to_state() for entry in self.entries],
            "normalizer": self.normalizer.state(),
        }
        self.store.save(data)
        self.stats.checkpoints += 1
        self._unsaved = 0
        self._interval = max(self.checkpoint_bytes, self.bytes_per_session * len(self.normalizer.sessions))

    # --- one run -----------------------------------------------------------------
    def run(self, emit: Emit, log: Log) -> RunStats:
        """Read everything appended since the last run, emit its events, checkpoint.

        Raises:
            StateError: the checkpoint cannot be written or moved aside.
            OSError: the checkpoint directory is not usable.
        """
        self.stats = RunStats()
        lock = self._lock(log)
        if lock is None:
            return self.stats
        candidates: List[_Candidate] = []
        try:
            first_run = not self._load(log)
            candidates = self._scan(log)
            self.stats.files = len(candidates)
            work = self._match(candidates, first_run, log)
            if self.changed:
                # New files get their keys on disk before any of their events leaves:
                # a crash then replays them under the same ids.
                self._save()
            for entry, candidate in work:
                self._read(entry, candidate, emit, log)
            return self.stats
        finally:
            for candidate in candidates:
                candidate.close()
            lock.close()

    def _lock(self, log: Log) -> Optional[IO[str]]:
        handle = open(f"{self.checkpoint}.lock", "a", encoding="utf-8")  # noqa: SIM115 - returned
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                handle.close()
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    log("WARN", "another run of this input is still reading; this run does nothing")
                    return None
                raise
        return handle

    def _scan(self, log: Log) -> List[_Candidate]:
        """The files to read, oldest first, as one listing of the directory saw them.

        A file rotated between the listing and its ``stat`` is missed: its new
        name was not listed, and ``mail.current`` is already its successor,
        whose lines would then be read before the rest of it (its sessions
        not open yet). So the listing is taken again after the ``stat`` calls,
        until it holds still (a few times at most: a rotation takes moments).
        """
        paths = list_files(self.spec)
        for _ in range(SCAN_TRIES):
            warnings: List[str] = []
            found = self._stat_all(paths, warnings)
            again = list_files(self.spec)
            if again == paths:
                break
            paths = again
        for warning in warnings:  # those of the listing kept, not of each attempt
            log("WARN", warning)
        return found

    def _stat_all(self, paths: List[str], warnings: List[str]) -> List[_Candidate]:
        found: List[_Candidate] = []
        inodes = set()
        watched = _watched_dir(self.spec)
        # Real files first, so that a symbolic link to one of them is the duplicate.
        for path in sorted(paths, key=lambda p: (os.path.islink(p), p)):
            try:
                st = os.stat(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    warnings.append(f"cannot read {path}: {exc.strerror or exc}")
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if os.path.abspath(path).startswith(os.path.abspath(self.checkpoint)):
                continue  # a checkpoint inside the watched directory is not a log
            # Every path, not only links: a glob such as /logs/*/* also walks through a
            # linked directory, and what lies behind it is outside what was configured.
            if watched is not None and os.path.commonpath([os.path.realpath(path), watched]) != watched:
                warnings.append(f"{path}: a symbolic link out of the watched directory (it resolves outside); skipped")
                continue
            if (st.st_dev, st.st_ino) in inodes:
                continue  # another name of a file already listed (a link): read once
            inodes.add((st.st_dev, st.st_ino))
            found.append(_Candidate(path, st, self._find))
        # Oldest first: a rolled file is finished before its successor is read,
        # so sessions run on across the rotation.
        found.sort(key=lambda c: (c.st.st_mtime_ns, c.path))
        return found

    def _find(self, dev: int, ino: int) -> Optional[str]:
        """Where a file (device, inode) listed earlier in this run is now, if still in the watched files."""
        for path in list_files(self.spec):
            try:
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (dev, ino):
                return path
        return None

    def _match(self, candidates: List[_Candidate], first_run: bool, log: Log) -> List[Tuple[FileEntry, _Candidate]]:
        """Pair known files with the files on disk; register new ones."""
        by_inode = {(c.st.st_dev, c.st.st_ino): c for c in candidates}
        claimed: Dict[int, FileEntry] = {}
        unmatched: List[FileEntry] = []
        for entry in self.entries:
            candidate = by_inode.get((entry.dev, entry.ino))
            if candidate is not None and id(candidate) not in claimed:
                verdict = self._same(entry, candidate, log)
                if verdict:
                    claimed[id(candidate)] = entry
                    continue
            unmatched.append(entry)
        # A copy (copy-truncate, rsync) or a new device number after a reboot:
        # same content, other inode. Only a full head may vouch for a file.
        for entry in unmatched:
            if entry.head_len < HEAD_BYTES:
                if not entry.ignored:
                    log("INFO", f"{entry.path}: no longer found; forgotten")
                continue
            for candidate in candidates:
                if id(candidate) in claimed or candidate.st.st_size < entry.position:
                    continue
                if self._head_hash(candidate, entry.head_len) == entry.head_hash:
                    log("INFO", f"{entry.path}: found again as {candidate.path} (same content, new inode)")
                    claimed[id(candidate)] = entry
                    entry.dev, entry.ino = candidate.st.st_dev, candidate.st.st_ino
                    break
            else:
                if not entry.ignored:
                    log("INFO", f"{entry.path}: no longer found; forgotten")
        entries: List[FileEntry] = []
        work: List[Tuple[FileEntry, _Candidate]] = []
        for candidate in candidates:
            known = claimed.get(id(candidate))
            if known is None:
                known = self._new_entry(candidate, first_run, log)
                if known is None:
                    continue
            known.path = candidate.path
            entries.append(known)
            if not known.ignored and candidate.st.st_size > known.position:
                work.append((known, candidate))
        self.changed = first_run or [e.key for e in entries] != [e.key for e in self.entries]
        self.entries = entries
        return work

    def _head_hash(self, candidate: _Candidate, length: int) -> Optional[str]:
        try:
            head = candidate.head(length)
        except OSError:
            return None
        return _hash(head) if len(head) == length else None

    def _same(self, entry: FileEntry, candidate: _Candidate, log: Log) -> bool:
        """Is the file with the entry's inode still the entry's content?"""
        st = candidate.st
        if st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns:
            return True  # untouched since the last run
        if self._head_hash(candidate, entry.head_len) != entry.head_hash:
            if not entry.ignored:
                log("INFO", f"{candidate.path}: new content under a known inode (truncated and rewritten); read anew")
            return False
        if st.st_size < entry.position:
            log("WARN", f"{candidate.path}: truncated from {entry.position} to {st.st_size} bytes; read anew "
                        "(lines written between the last run and the truncation are lost)")  # fmt: skip
            return False
        return True

    def _new_entry(self, candidate: _Candidate, first_run: bool, log: Log) -> Optional[FileEntry]:
        st = candidate.st
        if st.st_size == 0:
            return None  # identity and content come with the first bytes
        try:
            head = candidate.head(HEAD_BYTES)
        except OSError as exc:
            log("WARN", f"cannot read {candidate.path}: {exc.strerror or exc}")
            return None
        esa = looks_like_esa(head)
        if esa is None:
            return None  # judged when its first line says more (next run)
        head_hash = _hash(head)
        appliance = appliance_from_filename(os.path.basename(candidate.path))
        key = file_key(st.st_dev, st.st_ino, head_hash)
        stream = Stream(candidate.path, key=key, appliance=appliance)
        ignored = not esa
        entry = FileEntry(key, candidate.path, st.st_dev, st.st_ino, len(head), head_hash, 0, 0, ignored, stream)
        if ignored:
            # The content is not quoted: the file may hold anything (a password file behind a bad glob).
            log("WARN", f"{candidate.path}: does not look like an ESA log (no ESA envelope on its first line); skipped")
        elif first_run and self.start == START_END:
            self._skip_to_end(entry, candidate)
            log("INFO", f"{candidate.path}: first run starts at its end (byte {entry.position})")
        return entry

    def _skip_to_end(self, entry: FileEntry, candidate: _Candidate) -> None:
        """Position a file after its last complete line, keeping its header facts."""
        handle = candidate.open()
        size = candidate.st.st_size
        scan = Normalizer(self.settings)
        probe = Stream(entry.stream.source, key=entry.key, appliance=entry.stream.appliance)
        scan.feed(probe, candidate.head(min(size, HEADER_SCAN_BYTES)))
        scan.flush(probe)
        stream = entry.stream
        stream.utc_offset, stream.version, stream.serial = probe.utc_offset, probe.version, probe.serial
        window = min(size, 1 << 16)
        handle.seek(size - window)
        tail = handle.read(window)
        cut = tail.rfind(b"\n")
        stream.offset = size - window + cut + 1 if cut >= 0 else size
        stream.started = True
        entry.size, entry.mtime_ns = size, candidate.st.st_mtime_ns

    def _read(self, entry: FileEntry, candidate: _Candidate, emit: Emit, log: Log) -> None:
        stream = entry.stream
        normalizer = self.normalizer
        try:
            handle = candidate.open()
            handle.seek(entry.position)
        except OSError as exc:
            log("WARN", f"cannot read {candidate.path}: {exc.strerror or exc}")
            return
        source = candidate.path
        read_any = False
        while True:
            try:
                chunk = handle.read(self.chunk_size)
            except OSError as exc:
                log("WARN", f"cannot read {candidate.path}: {exc.strerror or exc}")
                break
            if not chunk:
                break
            read_any = True
            self.stats.bytes_read += len(chunk)
            self._emit(normalizer.feed(stream, chunk), source, emit, log)
            self._unsaved += len(chunk)
            if self._unsaved >= self._interval:
                self._refresh(entry, handle)
                self._save()
        # Live ESA files hold whole lines; a held-back line is finished now
        # rather than when the next line comes, which may be hours away.
        self._emit(normalizer.flush(stream), source, emit, log)
        if read_any:
            self.stats.files_read += 1
            self._refresh(entry, handle)
            # A journal record of what changed (this file's entry, the sessions), not every file's.
            self._save()

    def _refresh(self, entry: FileEntry, handle: IO[bytes]) -> None:
        """Record the file's size and time, and grow the head hash up to HEAD_BYTES."""
        try:
            st = os.fstat(handle.fileno())
            entry.size, entry.mtime_ns = st.st_size, st.st_mtime_ns
            if entry.head_len < HEAD_BYTES and st.st_size > entry.head_len:
                handle_pos = handle.tell()
                handle.seek(0)
                head = handle.read(HEAD_BYTES)
                handle.seek(handle_pos)
                if head[: entry.head_len] and _hash(head[: entry.head_len]) == entry.head_hash:
                    entry.head_len, entry.head_hash = len(head), _hash(head)
        except OSError:
            pass

    def _emit(self, events: List[AuthEvent], source: str, emit: Emit, log: Log) -> None:
        if events:
            emit(events, source)
            self.stats.events += len(events)
        for diagnostic in self.normalizer.take_diagnostics():
            self.stats.warnings += 1
            log("WARN", str(diagnostic))
