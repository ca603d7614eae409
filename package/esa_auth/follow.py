"""Following ESA log files across runs: positions, rotation, checkpoints.

An edge of the library (it opens files; it never reads the clock): the Splunk
modular input runs one :meth:`Follower.run` per interval, and each run reads
what was appended since the last one.

How a file is recognised. A name says little: the ESA writes ``<name>.current``
and rolls it to ``<name>.@<timestamp>.s`` (or ``.c``) by renaming it, then
creates a new ``.current`` (docs/log-formats.md#file-names); a relay may copy a
file and truncate it (copy-truncate), or replace it with a copy (rsync). So a
file is known by its identity, device and inode, *and* by a hash of its first
bytes (:data:`HEAD_BYTES`, or all of them while it is shorter): a renamed file
keeps both, a truncated or reused inode loses the hash, and a copy or a
compressed archive keeps the hash. A file whose inode is gone is found again
by its content: a file (or archive) that opens with every byte read of it so
far. Event ids do not depend on any of this (:func:`esa_auth.mapping.event_id`:
the serial, the offset and the line): a file read again, by mistake or after a
lost checkpoint, repeats its events under the same ids.

A file that will not grow any more (renamed or copied away, an archive, or
untouched for :data:`FINISH_AFTER` seconds) has its last line read even
without a newline, once, with a warning.

Checkpoint. One per input holds every known file's position and partial
last line, and the open SMTP sessions
(:meth:`~esa_auth.pipeline.Normalizer.state`). It is saved only after the
events before it were handed to the sink (which returns once they are
written), so a crash repeats at most the events after the last checkpoint,
with the same ``event_id``, and loses none. On disk it is a snapshot replaced
atomically and a journal of the changes since, appended and fsynced
(:mod:`esa_auth.checkpoint`): a save writes what changed, not the whole
session table. A run saves a bounded number of times (every so many bytes
read, more of them as the table of files and sessions grows), so that a
directory of thousands of files costs time in proportion to its files and
bytes; and it holds at most two log files open at a time.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import os
import stat
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Dict, List, Optional, Set, Tuple

from .checkpoint import CHECKPOINT_VERSION, CheckpointStore, NewerCheckpointError
from .checkpoint import load_checkpoint as load_checkpoint  # callers import it from here
from .compressed import (
    DAMAGE,
    MAGIC_BYTES,
    READABLE,
    Readable,
    UnreadableCompression,
    compression_of,
    decompressing,
    plain_name,
    read_head,
)
from .compressed import describe as describe_damage
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
#: A run saves its checkpoint every so many bytes read (at least this,
#: :data:`BYTES_PER_SESSION` per open session and :data:`BYTES_PER_FILE` per
#: known file), and once at its end: a crash repeats at most what was read
#: since (with the same ids). A save costs about the size of the tables of
#: sessions and files (their changes are found by comparing them), reading
#: costs about the bytes read: so the interval grows with the tables, which
#: keeps saves a small share of a run's time, through one large file or
#: through thousands of small ones.
CHECKPOINT_BYTES = 8 << 20
#: Bytes read between saves per session open at the last save (2,500 sessions: 40 MiB).
BYTES_PER_SESSION = 16 << 10
#: Bytes read between saves per file known at the last save (10,000 files: 40 MiB).
BYTES_PER_FILE = 4 << 10
#: After a file is read, a save comes if this many bytes were read since the last one, or a quarter of the
#: interval above (the interval grows with the tables, and so does what a save costs): runs killed again and
#: again (a host that stops splunkd, a timeout) keep the files they finished, at a bounded cost.
AFTER_FILE_BYTES = 64 << 10
#: Seconds after its last change that a file whose last line has no newline is
#: taken as finished, and that line read (the ESA writes whole lines: a line
#: cut short for this long was cut by a crash or a full disk, not by a buffer).
FINISH_AFTER = 300
#: Bytes asked for beyond what a file held when listed (what it may have grown by since).
_SLACK = 64 << 10
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
    """The key of a file first seen with this identity and head: its entry's name in the checkpoint (no event id)."""
    return "f" + hashlib.blake2b(f"{dev}:{ino}:{head_hash}".encode(), digest_size=10).hexdigest()


def looks_like_esa(head: bytes) -> Optional[bool]:
    """Tell whether a file's first bytes look like an ESA log (recognised from content).

    The first non-blank line must open with an envelope
    (docs/log-formats.md#envelopes) and, when it is complete, carry a level (``Info:``).
    None when the bytes cannot tell yet: no non-blank line so far, or a first
    line still being written whose few bytes may still become an envelope's
    start (a writer flushes buffers, not lines: a new file may hold ``Su``).
    """
    end = head.find(b"\n")
    if end >= 3 and head[:3] in ENVELOPE_HEADS:
        return body_start(head[:end]) >= 0  # the usual case: a whole first line that opens with an envelope
    start = 0
    while True:  # line by line, only as far as the first non-blank one (not a split of the whole head)
        end = head.find(b"\n", start)
        complete = end >= 0
        line = (head[start:end] if complete else head[start:]).rstrip(b"\r")
        if not complete and _BOM.startswith(line):
            return None  # nothing yet, or part of a byte-order mark
        if line.startswith(_BOM):
            line = line[3:]
        if line.strip():
            if not starts_envelope(line):
                if not complete and len(line) < _HEAD and any(start_.startswith(line) for start_ in _STARTS):
                    return None
                return False
            return body_start(line) >= 0 or not complete
        if not complete:
            return None
        start = end + 1


_BOM = b"\xef\xbb\xbf"
#: What the first bytes of a line that opens a log line may be (envelope.starts_envelope), and their length.
_STARTS = tuple(ENVELOPE_HEADS) + tuple(b"<%d" % digit for digit in range(10))
_HEAD = 3


def list_files(spec: str) -> List[str]:
    """The paths a ``path`` setting names: a file, a directory's files, or a glob.

    Hidden files (``.name``) are left out: transfers write them before renaming.
    """
    if glob.has_magic(spec):
        paths = [p for p in glob.glob(spec) if not os.path.basename(p).startswith(".")]
    elif os.path.isdir(spec):
        try:
            paths = [os.path.join(spec, name) for name in os.listdir(spec) if not name.startswith(".")]
        except OSError:
            return []
    else:
        paths = [] if os.path.basename(spec).startswith(".") else [spec]
    paths.sort()
    return paths


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
        size: size when last read (of the archive, for a compressed file).
        mtime_ns: modification time when last read.
        ignored: the content is not an ESA log; the file is skipped.
        stream: the reading state (position, partial line, file header).
        compression: the archive's format (:mod:`esa_auth.compressed`) when the
            file is compressed: then the head, the position and the offsets
            are those of the bytes it decompresses to.
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
    compression: Optional[str] = None
    #: What :meth:`to_state` gave at the last save, while the entry has not changed since (Follower._save).
    saved: Optional[Dict[str, Any]] = field(default=None, compare=False, repr=False)

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
            "compression": self.compression,
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
                # Checkpoint version 1 (0.1.0) knew no compressed files.
                compression=state.get("compression"),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError, StateError) as exc:
            raise StateError(f"file entry is damaged: {exc}") from exc
        stream = entry.stream
        if min(stream.offset, stream.line, stream.overflow, entry.head_len, entry.size) < 0:
            raise StateError(f"file entry of {entry.path} is damaged: negative position or size")
        if entry.head_len > HEAD_BYTES:
            raise StateError(f"file entry of {entry.path} is damaged: head of {entry.head_len} bytes")
        if entry.compression is not None and entry.compression not in READABLE:
            raise StateError(f"file entry of {entry.path} is damaged: compression {entry.compression!r}")
        return entry


class _Candidate:
    """A file found on disk in this run, opened when needed and closed after.

    It is the file ``stat`` saw (device and inode), not whatever bears its name
    when it is opened: ``mail.current`` may have been rotated since, and
    another file is ``mail.current`` now. Then the file is looked for under
    its new name (``find``), so that its rest is read, in its turn. A handle
    is held only while the file is read (:meth:`close`), so that a run over
    thousands of files stays far below the open-file limit.

    The handle is unbuffered (the follower reads large blocks, or a small
    file whole at once): each read is one system call, and a small file costs
    an ``open``, one ``read`` and a ``close`` with nothing around them (no
    buffer, no terminal check, no seek). A read of a regular file returns
    fewer bytes than asked only at its end; were it ever otherwise (a network
    file system), the rest is read by the next run, from the position saved.
    """

    def __init__(self, path: str, st: os.stat_result, find: Callable[[int, int], Optional[str]]) -> None:
        self.path = path
        self.st = st
        self.handle: Optional[IO[bytes]] = None
        self._head: Optional[bytes] = None
        #: The compression format of its first bytes (None: plain), known once the head was read.
        self.compression: Optional[str] = None
        #: What cut the decompressed head short (a damaged or unfinished archive), if anything.
        self.head_damage: Optional[str] = None
        #: The first bytes of a plain file, read with its head while it was open to be read, and
        #: whether they are all of it (the handle stands after them).
        self.first: Optional[bytes] = None
        self.first_whole = False
        #: Bytes read with the head when the file is open to be read (set by the follower).
        self.read_ahead = 0
        #: Where the handle stands, when known without asking (a seek or a tell is a system call).
        self.at: Optional[int] = None
        self._find = find

    def open(self) -> IO[bytes]:
        if self.handle is None:
            path: Optional[str] = self.path
            while path is not None:
                handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by close()
                st = os.fstat(handle.fileno())
                if (st.st_dev, st.st_ino) == (self.st.st_dev, self.st.st_ino):
                    self.handle, self.path, self.at = handle, path, 0
                    return handle
                handle.close()
                moved = self._find(self.st.st_dev, self.st.st_ino)
                path = None if moved == path else moved
            raise FileNotFoundError(errno.ENOENT, "gone since the directory was listed", self.path)
        return self.handle

    def head(self, length: int) -> bytes:
        """The first ``length`` bytes of its content (decompressed), fewer if it is shorter.

        Raises:
            OSError: the file cannot be read.
            UnreadableCompression: it is compressed in a format not read.
        """
        if self._head is None:
            was_open = self.handle is not None
            handle = self.open()
            try:
                if self.at != 0:
                    handle.seek(0)
                # A file opened to be read is read whole at once when small (most are, in a directory of
                # thousands): its head, and the bytes _read would read next.
                ask = max(HEAD_BYTES, self.read_ahead) if was_open else HEAD_BYTES
                raw = handle.read(ask) or b""
                self.at = len(raw)
                self.compression = compression_of(raw[:MAGIC_BYTES])
                if was_open and self.compression is None:
                    self.first = raw
                    self.first_whole = len(raw) < ask
                if self.compression not in READABLE:
                    self._head = raw[:HEAD_BYTES]
                else:
                    handle.seek(0)
                    self.at = None
                    self._head, self.head_damage = read_head(handle, self.compression, HEAD_BYTES)
            finally:
                if not was_open:
                    self.close()
        return self._head[:length]

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None
            self.at = None


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
        checkpoint_bytes: a run saves no more often than every so many bytes read.
        bytes_per_session: ... nor than every so many bytes per session open at the last save.
        bytes_per_file: ... nor than every so many bytes per file known at the last save.
        finish_after: seconds without change after which a last line without newline is read.
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
        bytes_per_file: int = BYTES_PER_FILE,
        finish_after: float = FINISH_AFTER,
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
        self.bytes_per_file = max(0, bytes_per_file)
        self.finish_after = finish_after
        #: Bytes read since the last save, and how many make the next one.
        self._unsaved = 0
        self._interval = self.checkpoint_bytes
        self._after_file = AFTER_FILE_BYTES
        self._dirty = False
        #: The entry being read (its state changes with every block), and those changed since the last save.
        self._reading: Optional[FileEntry] = None
        self._touched: Set[int] = set()
        self._now: Optional[float] = None
        self._listing_error: Optional[str] = None
        self._finishing: Set[_Candidate] = set()
        self.entries: List[FileEntry] = []
        self.changed = False
        self.normalizer = Normalizer(settings)
        self.stats = RunStats()
        self.store = CheckpointStore(checkpoint)

    # --- checkpoint ------------------------------------------------------------
    def _load(self, log: Log) -> bool:
        """Load the checkpoint; return True if there was one.

        Raises:
            NewerCheckpointError: written by a newer release (left as it is).
        """
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
        except NewerCheckpointError:
            raise
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
        if self.store.migrated_from is not None:
            log("INFO", f"checkpoint {self.checkpoint} of format {self.store.migrated_from} read; "
                        f"saved in format {CHECKPOINT_VERSION} from now on")  # fmt: skip
        self.entries = entries
        self.normalizer = normalizer
        return True

    def _save(self) -> None:
        if self._reading is not None:
            self._touched.add(id(self._reading))
        files = []
        touched = self._touched
        for entry in self.entries:
            # The state of an entry untouched since the last save is the one saved then: a save costs
            # a pass over the files, not a new state of each (thousands of files, a save every few MiB).
            state = entry.saved
            if state is None or id(entry) in touched:
                state = entry.saved = entry.to_state()
            files.append(state)
        data = {
            "version": CHECKPOINT_VERSION,
            "path": self.spec,
            "files": files,
            "normalizer": self.normalizer.state(),
        }
        self.store.save(data)
        self.stats.checkpoints += 1
        self._unsaved = 0
        self._dirty = False
        self._touched = set()
        self._interval = max(
            self.checkpoint_bytes,
            self.bytes_per_session * len(self.normalizer.sessions),
            self.bytes_per_file * len(self.entries),
        )
        self._after_file = max(AFTER_FILE_BYTES, (self._interval - self.checkpoint_bytes) // 4)

    # --- one run -----------------------------------------------------------------
    def run(self, emit: Emit, log: Log, now: Optional[float] = None) -> RunStats:
        """Read everything appended since the last run, emit its events, checkpoint.

        Args:
            emit: receives the events.
            log: receives warnings.
            now: the time of the run (seconds since the epoch), which tells how
                long a file has been left unchanged; None: no file is finished for that.

        Raises:
            StateError: the checkpoint cannot be written or moved aside, or was written by a newer release.
            OSError: the checkpoint directory is not usable.
        """
        self.stats = RunStats()
        self._now = now
        lock = self._lock(log)
        if lock is None:
            return self.stats
        candidates: List[_Candidate] = []
        try:
            first_run = not self._load(log)
            candidates = self._scan(log)
            self.stats.files = len(candidates)
            work = self._match(candidates, first_run, log)
            self._dirty = self.changed
            with contextlib.suppress(_Vanished):  # the rest waits for the next run (a file gone since listed)
                self._read_all(work, first_run, emit, log)
            if self._dirty:
                self._save()
            return self.stats
        finally:
            for candidate in candidates:
                candidate.close()
            lock.close()

    def _read_all(
        self, work: List[Tuple[Optional[FileEntry], _Candidate]], first_run: bool, emit: Emit, log: Log
    ) -> None:
        """Read the files of the run in order (a file with no entry yet is registered first)."""
        for known, candidate in work:
            self._reading = known
            try:
                if known is None:
                    # A new file: opened once, for its head and its lines (event ids do not depend on
                    # its entry, which is saved with what is read of it).
                    known = self._register(candidate, first_run, log)
                    if known is not None:
                        self._reading = known
                        self._read(known, candidate, emit, log)
                elif candidate in self._finishing:
                    self._finish(known, candidate, emit, log)
                else:
                    self._read(known, candidate, emit, log)
            finally:
                candidate.close()
                if self._reading is not None:
                    self._touched.add(id(self._reading))
                self._reading = None

    def _lock(self, log: Log) -> Optional[IO[str]]:
        path = f"{self.checkpoint}.lock"
        try:
            handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - returned
        except OSError as exc:
            raise StateError(f"cannot open the lock file {path}: {exc.strerror or exc}") from exc
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
        self._listing_error = None
        if not glob.has_magic(self.spec) and os.path.isdir(self.spec):
            try:
                os.listdir(self.spec)
            except OSError as exc:
                self._listing_error = f"cannot list {self.spec}: {exc.strerror or exc}"
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
        checkpoint = os.path.abspath(self.checkpoint)
        # What each directory's path says of its files, found once per directory (thousands of files share
        # one): its absolute path, whether the checkpoint may be among its files, whether its real path is in
        # the watched directory.
        dirs: Dict[str, Tuple[str, bool, bool]] = {}
        watched_in = os.path.join(watched, "") if watched is not None else ""
        listed = []
        for path in paths:
            lst = _stat(os.lstat, path, warnings)
            if lst is not None:
                listed.append((stat.S_ISLNK(lst.st_mode), path, lst))
        # Real files first, so that a symbolic link to one of them is the duplicate.
        listed.sort(key=lambda item: (item[0], item[1]))
        for link, path, found_st in listed:
            st = _stat(os.stat, path, warnings) if link else found_st
            if st is None or not stat.S_ISREG(st.st_mode):
                continue
            directory, name = os.path.split(path)
            known = dirs.get(directory) if name not in ("", ".", "..") else None
            if known is None:
                abs_dir = os.path.join(os.path.abspath(directory or os.curdir), "")
                real_dir = os.path.realpath(directory) if watched is not None else ""
                inside = watched is not None and (real_dir == watched or real_dir.startswith(watched_in))
                known = (abs_dir, checkpoint.startswith(abs_dir) or abs_dir.startswith(checkpoint), inside)
                if name not in ("", ".", ".."):
                    dirs[directory] = known
            _, near_checkpoint, inside = known
            if near_checkpoint and os.path.abspath(path).startswith(checkpoint):
                continue  # a checkpoint inside the watched directory is not a log
            # Every path, not only links: a glob such as /logs/*/* also walks through a
            # linked directory, and what lies behind it is outside what was configured.
            if watched is not None and (link or not inside):
                real = os.path.realpath(path)
                if real != watched and not real.startswith(watched_in):
                    warnings.append(f"{path}: a symbolic link out of the watched directory (it resolves outside); "
                                    "skipped")  # fmt: skip
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

    def _match(
        self, candidates: List[_Candidate], first_run: bool, log: Log
    ) -> List[Tuple[Optional[FileEntry], _Candidate]]:
        """Pair known files with the files on disk; say what is to be read (no entry yet: a new file)."""
        by_inode = {(c.st.st_dev, c.st.st_ino): c for c in candidates}
        claimed: Dict[int, FileEntry] = {}
        unmatched: List[FileEntry] = []
        for entry in self.entries:
            candidate = by_inode.get((entry.dev, entry.ino))
            if candidate is not None and id(candidate) not in claimed and self._same(entry, candidate, log):
                claimed[id(candidate)] = entry
                continue
            unmatched.append(entry)
        heads = _HeadIndex([c for c in candidates if id(c) not in claimed])
        kept = self._find_moved(unmatched, heads, claimed, log)
        entries: List[FileEntry] = list(kept)
        work: List[Tuple[Optional[FileEntry], _Candidate]] = []
        self._finishing = set()
        copies = _HeadIndex([])
        for candidate in candidates:
            known = claimed.get(id(candidate))
            if known is None:
                if candidate.st.st_size and not (claimed and self._is_copy_of_live(candidate, copies, claimed, log)):
                    work.append((None, candidate))
                continue
            known.path = candidate.path
            entries.append(known)
            if known.ignored:
                continue
            st = candidate.st
            if known.compression is not None:
                if (st.st_size, st.st_mtime_ns) != (known.size, known.mtime_ns):
                    work.append((known, candidate))
            elif st.st_size > known.position:
                work.append((known, candidate))
            elif self._finished(known, candidate):
                self._finishing.add(candidate)
                work.append((known, candidate))
        self.changed = first_run or [e.key for e in entries] != [e.key for e in self.entries]
        self.entries = entries
        return work

    def _find_moved(
        self, unmatched: List[FileEntry], heads: _HeadIndex, claimed: Dict[int, FileEntry], log: Log
    ) -> List[FileEntry]:
        """Find known files whose inode is gone by their content; keep those whose directory is out of reach.

        A copy (copy-truncate, rsync), a compressed archive, a new device number
        after a reboot or a remount: the content read so far, other inode. An
        entry's head is all of the file while it is shorter than
        :data:`HEAD_BYTES`, so even a small file is told by it: a file that opens
        with every byte read of it so far continues it (were it another file,
        those bytes would give the same event ids all the same).

        Returns:
            The entries kept though not found: their directory cannot be listed
            or holds no file (an unreadable directory, an unmounted share).
        """
        kept: List[FileEntry] = []
        unreachable: Dict[str, str] = {}
        for entry in unmatched:
            found = heads.find(entry)
            if found is not None:
                if not entry.ignored:
                    log("INFO", f"{entry.path}: found again as {found.path} (same content, new inode)")
                claimed[id(found)] = entry
                entry.dev, entry.ino = found.st.st_dev, found.st.st_ino
                if found.compression is not None and entry.compression is None:
                    entry.compression = found.compression
                    entry.size, entry.mtime_ns = -1, -1  # read what follows its position, then finish it
                continue
            directory = os.path.dirname(entry.path)
            reason = unreachable.get(directory) if directory in unreachable else _out_of_reach(directory)
            if reason is not None:
                unreachable[directory] = reason
                kept.append(entry)
            elif not entry.ignored:
                log("INFO", f"{entry.path}: no longer found; forgotten")
        if kept:
            places = "; ".join(f"{directory} ({reason})" for directory, reason in sorted(unreachable.items()))
            log("WARN", f"{len(kept)} known files are in directories out of reach: {places}; their positions are "
                        "kept, and they are read on from there when they come back")  # fmt: skip
            self._listing_error = None
        if self._listing_error is not None:
            log("WARN", self._listing_error)
        return kept

    def _is_copy_of_live(
        self, candidate: _Candidate, index: _HeadIndex, claimed: Dict[int, FileEntry], log: Log
    ) -> bool:
        """Is a new compressed file an archive of a known file still on disk (gzip at work, ``gzip -k``)?

        It is read once the file it was made from is gone, from where that one was left.
        """
        try:
            candidate.head(HEAD_BYTES)
        except (OSError, UnreadableCompression):
            return False
        if candidate.compression is None:
            return False
        if index.entries is None:
            # Only a whole head (1 KiB) vouches for it: a file's first few bytes (``Sun Jun  1 08:0``) are those
            # of every file written in the same minute, and an archive put off for another file's sake would be
            # read late, after the files that came after it.
            index.entries = [entry for entry in claimed.values() if not entry.ignored and entry.head_len == HEAD_BYTES]
        source = index.match_entry(candidate)
        if source is None:
            return False
        log("INFO", f"{candidate.path}: an archive of {source.path}, which is still there; read from where that "
                    "one is left once it is gone")  # fmt: skip
        return True

    def _same(self, entry: FileEntry, candidate: _Candidate, log: Log) -> bool:
        """Is the file with the entry's inode still the entry's content?"""
        st = candidate.st
        if st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns:
            return True  # untouched since the last run
        if entry.compression is not None:
            return _head_hash(candidate, entry.head_len) == entry.head_hash
        if _head_hash(candidate, entry.head_len) != entry.head_hash:
            if not entry.ignored:
                log("INFO", f"{candidate.path}: new content under a known inode (truncated and rewritten); read anew")
            return False
        if st.st_size < entry.position:
            log("WARN", f"{candidate.path}: truncated from {entry.position} to {st.st_size} bytes; read anew "
                        "(lines written between the last run and the truncation are lost)")  # fmt: skip
            return False
        return True

    def _finished(self, entry: FileEntry, candidate: _Candidate) -> bool:
        """Will a file with a last line that has no newline grow no more (so that line is to be read)?

        Renamed or copied away since it was first seen (a rotation), or
        unchanged for :data:`FINISH_AFTER` seconds; and unchanged since the
        last run, in both cases.
        """
        stream = entry.stream
        if not (stream.partial or stream.overflow):
            return False
        st = candidate.st
        if (st.st_size, st.st_mtime_ns) != (entry.size, entry.mtime_ns):
            return False
        if candidate.path != stream.source:
            return True
        return self._now is not None and self._now - st.st_mtime_ns / 1e9 >= self.finish_after

    def _register(self, candidate: _Candidate, first_run: bool, log: Log) -> Optional[FileEntry]:
        """Open a new file and make its entry; None when it is not to be read (not yet, or never)."""
        try:
            candidate.open()
        except FileNotFoundError:
            log("INFO", f"{candidate.path}: gone since the directory was listed; the files after it are read next run")
            raise _Vanished() from None
        except OSError as exc:
            log("WARN", f"cannot read {candidate.path}: {exc.strerror or exc}")
            return None
        candidate.read_ahead = min(self.chunk_size, candidate.st.st_size + _SLACK)
        entry = self._new_entry(candidate, first_run, log)
        if entry is None:
            return None
        self.entries.append(entry)
        self._dirty = True
        if entry.ignored or (entry.compression is None and candidate.st.st_size <= entry.position):
            return None
        return entry

    def _new_entry(self, candidate: _Candidate, first_run: bool, log: Log) -> Optional[FileEntry]:
        st = candidate.st
        if st.st_size == 0:
            return None  # identity and content come with the first bytes
        try:
            head = candidate.head(HEAD_BYTES)
        except OSError as exc:
            log("WARN", f"cannot read {candidate.path}: {exc.strerror or exc}")
            return None
        compression = candidate.compression
        if compression is not None and compression not in READABLE:
            log("WARN", f"{candidate.path}: compressed with {compression}, which this version does not read; skipped")
            return _ignored_entry(candidate, head, compression=None)
        damage = candidate.head_damage
        if damage is not None and len(head) < HEAD_BYTES and not self._settled(candidate):
            return None  # an archive still being written: judged when it is whole (next run)
        esa = looks_like_esa(head)
        if esa is None and damage is not None:
            log("WARN", f"{candidate.path}: {damage}; nothing could be read from it; skipped")
            return _ignored_entry(candidate, head, compression)
        if esa is None:
            return None  # judged when its first line says more (next run)
        head_hash = _hash(head)
        appliance = appliance_from_filename(plain_name(os.path.basename(candidate.path)))
        key = file_key(st.st_dev, st.st_ino, head_hash)
        stream = Stream(candidate.path, key=key, appliance=appliance)
        ignored = not esa
        entry = FileEntry(
            key, candidate.path, st.st_dev, st.st_ino, len(head), head_hash, 0, 0, ignored, stream, compression
        )
        if compression is not None:
            # Read on its first run whatever start_from says: an archive is a backfill, and is read once.
            entry.size, entry.mtime_ns = -1, -1
        if ignored:
            # The content is not quoted: the file may hold anything (a password file behind a bad glob).
            log("WARN", f"{candidate.path}: does not look like an ESA log (no ESA envelope on its first line); skipped")
        elif first_run and self.start == START_END and compression is None:
            self._skip_to_end(entry, candidate)
            log("INFO", f"{candidate.path}: first run starts at its end (byte {entry.position})")
        return entry

    def _settled(self, candidate: _Candidate) -> bool:
        """Has a file been left unchanged for :data:`FINISH_AFTER` seconds (True when the time is not known)?"""
        return self._now is None or self._now - candidate.st.st_mtime_ns / 1e9 >= self.finish_after

    def _skip_to_end(self, entry: FileEntry, candidate: _Candidate) -> None:
        """Position a file after its last complete line, keeping its header facts."""
        try:
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
        finally:
            candidate.close()
        cut = tail.rfind(b"\n")
        stream.offset = size - window + cut + 1 if cut >= 0 else size
        stream.started = True
        entry.size, entry.mtime_ns = size, candidate.st.st_mtime_ns

    def _read(self, entry: FileEntry, candidate: _Candidate, emit: Emit, log: Log) -> None:
        stream = entry.stream
        normalizer = self.normalizer
        source = candidate.path
        first = candidate.first
        try:
            handle = candidate.open()
            if entry.compression is None:
                reader: Readable = handle
                if first is not None and entry.position <= len(first) and candidate.at == len(first):
                    first = first[entry.position :]  # read with the head: the handle stands after it
                else:
                    first = None
                    handle.seek(entry.position)
                candidate.at = None  # moved by the reads that follow
            else:
                handle.seek(0)
                reader = decompressing(handle, entry.compression)
                _skip(reader, entry.position)
        except FileNotFoundError:
            # Gone since it was listed, its rest unread: removed once compressed (logrotate's compress, gzip), or
            # deleted. The files after it wait for the next run, which finds the archive: read now, they would
            # come before the rest of this one (its SMTP sessions not open yet).
            log("INFO", f"{candidate.path}: gone since the directory was listed; the files after it are read "
                        "next run")  # fmt: skip
            raise _Vanished() from None
        except DAMAGE as exc:
            self._damaged(entry, candidate, exc, log)
            return
        read_any = False
        damage: Optional[BaseException] = None
        # What the listing saw left to read, and a little more (the file may have grown): a read asks for
        # no more than that, as a buffer of the size asked for is made for each (thousands of small files).
        left = candidate.st.st_size - entry.position if entry.compression is None else self.chunk_size
        while True:
            ask = min(self.chunk_size, max(left, 0) + _SLACK)
            if first is not None:
                chunk, first = first, None
                if candidate.first_whole:
                    ask = len(chunk) + 1  # the end was reached: no read more
            else:
                try:
                    chunk = reader.read(ask)
                except DAMAGE as exc:
                    damage = exc
                    break
            if not chunk:
                break
            left -= len(chunk)
            read_any = True
            self.stats.bytes_read += len(chunk)
            self._emit(normalizer.feed(stream, chunk), source, emit, log)
            self._unsaved += len(chunk)
            if self._unsaved >= self._interval:
                if entry.compression is None:
                    # An archive's size and time are recorded once it is read to its end (or its damage): a
                    # run killed after this save reads it on from the position saved.
                    self._refresh(entry, handle)
                self._save()
            if len(chunk) < ask and entry.compression is None:
                break  # fewer bytes than asked: the end (a file's read returns short only there)
        # Live ESA files hold whole lines; a held-back line is finished now
        # rather than when the next line comes, which may be hours away.
        self._emit(normalizer.flush(stream), source, emit, log)
        if damage is not None:
            self._damaged(entry, candidate, damage, log)
        elif entry.compression is not None:
            # An archive is whole: its last line is read even without a newline.
            self._end(entry, source, emit, log, "the archive ends")
        if read_any:
            self.stats.files_read += 1
        self._refresh(entry, handle)
        self._dirty = True
        if self._unsaved >= self._after_file:
            self._save()

    def _damaged(self, entry: FileEntry, candidate: _Candidate, exc: BaseException, log: Log) -> None:
        """A file that cannot be read on: one warning naming it; what was read before stays read."""
        if entry.compression is None:
            log("WARN", f"cannot read {candidate.path}: {getattr(exc, 'strerror', None) or exc}")
        else:
            log("WARN", f"{candidate.path}: {describe_damage(exc)}; the events before it are kept, and it is read "
                        "on from there if it changes")  # fmt: skip
        if candidate.handle is not None:
            self._refresh(entry, candidate.handle)
        self._dirty = True

    def _finish(self, entry: FileEntry, candidate: _Candidate, emit: Emit, log: Log) -> None:
        """Read the last line of a file that will not grow any more."""
        why = "renamed away" if candidate.path != entry.stream.source else f"unchanged for {self.finish_after:g} s"
        self._end(entry, candidate.path, emit, log, f"the file was {why}")
        self._dirty = True

    def _end(self, entry: FileEntry, source: str, emit: Emit, log: Log, why: str) -> None:
        stream = entry.stream
        if stream.partial or stream.overflow:
            log("WARN", f"{source}: its last line (byte {stream.offset}) has no newline; read as a whole line, "
                        f"since {why}")  # fmt: skip
            self._emit(self.normalizer.end(stream), source, emit, log)

    def _refresh(self, entry: FileEntry, handle: IO[bytes]) -> None:
        """Record the file's size and time, and grow the head hash up to HEAD_BYTES."""
        try:
            st = os.fstat(handle.fileno())
            entry.size, entry.mtime_ns = st.st_size, st.st_mtime_ns
            if entry.compression is None and entry.head_len < HEAD_BYTES and st.st_size > entry.head_len:
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


def _stat(function: Callable[[str], os.stat_result], path: str, warnings: List[str]) -> Optional[os.stat_result]:
    """``stat`` or ``lstat`` of a listed path; None when it is gone (silently) or unreadable (a warning)."""
    try:
        return function(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            warnings.append(f"cannot read {path}: {exc.strerror or exc}")
        return None


class _Vanished(Exception):
    """A file of the run is gone since it was listed: the files after it wait for the next run."""


class _HeadIndex:
    """Files found in a run, looked up by the hash of their first bytes (computed once per length asked)."""

    def __init__(self, candidates: List[_Candidate]) -> None:
        self.candidates = candidates
        self._by_length: Dict[int, Dict[str, List[_Candidate]]] = {}
        self.taken: Set[int] = set()
        #: Entries to look candidates up in (:meth:`match_entry`).
        self.entries: Optional[List[FileEntry]] = None
        self._entries_by: Optional[Dict[Tuple[int, str], FileEntry]] = None
        self._lengths: List[int] = []

    def find(self, entry: FileEntry) -> Optional[_Candidate]:
        """The first file not yet taken that opens with the entry's head (and is long enough)."""
        table = self._by_length.get(entry.head_len)
        if table is None:
            table = self._by_length[entry.head_len] = {}
            for candidate in self.candidates:
                digest = _head_hash(candidate, entry.head_len)
                if digest is not None:
                    table.setdefault(digest, []).append(candidate)
        for candidate in table.get(entry.head_hash, ()):
            if id(candidate) in self.taken:
                continue
            if candidate.compression is None and candidate.st.st_size < entry.position:
                continue
            self.taken.add(id(candidate))
            return candidate
        return None

    def match_entry(self, candidate: _Candidate) -> Optional[FileEntry]:
        """The entry whose head the candidate opens with, if any."""
        entries = self.entries or []
        if self._entries_by is None:
            self._entries_by = {(entry.head_len, entry.head_hash): entry for entry in entries}
            self._lengths = sorted({entry.head_len for entry in entries}, reverse=True)
        for length in self._lengths:
            digest = _head_hash(candidate, length)
            if digest is not None:
                found = self._entries_by.get((length, digest))
                if found is not None:
                    return found
        return None


def _head_hash(candidate: _Candidate, length: int) -> Optional[str]:
    """The hash of a file's first ``length`` bytes (decompressed); None if it is shorter or unreadable."""
    try:
        head = candidate.head(length)
    except (OSError, UnreadableCompression):
        return None
    return _hash(head) if len(head) == length else None


def _skip(reader: Readable, count: int) -> None:
    """Read and drop ``count`` bytes of a stream that cannot seek (an archive's content)."""
    while count > 0:
        part = reader.read(min(count, CHUNK))
        if not part:
            break
        count -= len(part)


def _out_of_reach(directory: str) -> Optional[str]:
    """Why a directory of known files shows none (unreadable, missing, empty), or None when it lists files."""
    try:
        names = os.listdir(directory or os.curdir)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not any(not name.startswith(".") for name in names):
        return "empty: an unmounted share?"
    return None


def _ignored_entry(candidate: _Candidate, head: bytes, compression: Optional[str]) -> FileEntry:
    """The entry of a file that is not read (its content is not an ESA log this version reads)."""
    st = candidate.st
    head_hash = _hash(head)
    key = file_key(st.st_dev, st.st_ino, head_hash)
    stream = Stream(candidate.path, key=key)
    return FileEntry(key, candidate.path, st.st_dev, st.st_ino, len(head), head_hash, 0, 0, True, stream, compression)
