"""Following ESA log files across runs: positions, rotation, checkpoints.

An edge of the library (it opens files; it never reads the clock): the Splunk
modular input runs one :meth:`Follower.run` per interval, and each run reads
what was appended since the last one.

How a file is recognised. A name says little: the ESA writes ``<name>.current``
and rolls it to ``<name>.@<timestamp>.s`` (or ``.c``) by renaming it, then
creates a new ``.current`` (docs/log-formats.md#file-names); a relay may copy a
file and truncate it (copy-truncate), or replace it with a copy (rsync). So a
file is known by its identity, device and inode, *and* by a hash of its first
bytes (:data:`~esa_auth.listing.HEAD_BYTES`, or all of them while it is
shorter): a renamed file keeps both, a truncated or reused inode loses the
hash, and a copy or a compressed archive keeps the hash. A file whose inode is
gone is found again by its content: a file (or archive) that opens with every
byte read of it so far. Event ids do not depend on any of this
(:func:`esa_auth.mapping.event_id`: the serial, the offset and the line): a
file read again, by mistake or after a lost checkpoint, repeats its events
under the same ids.

The modules follow the data: :mod:`esa_auth.listing` finds the files of a
run on disk, :mod:`esa_auth.entries` is a known file's entry in the
checkpoint, :mod:`esa_auth.identity` pairs the two, and this module reads the
files of a run in order and saves what it read.

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
import os
from dataclasses import dataclass
from typing import IO, Callable, List, Optional, Set, Tuple

from .checkpoint import CHECKPOINT_VERSION, CheckpointStore, NewerCheckpointError
from .checkpoint import load_checkpoint as load_checkpoint  # callers import it from here
from .compressed import DAMAGE, READABLE, Readable, decompressing, plain_name
from .compressed import describe as describe_damage
from .entries import FileEntry, file_key, ignored_entry
from .errors import ConfigError, StateError
from .events import AuthEvent
from .framing import CHUNK
from .identity import HeadIndex, Matcher, archive_of_live
from .listing import HEAD_BYTES, Candidate, Log, digest, looks_like_esa, scan
from .listing import check_path as check_path  # callers import these from here
from .listing import list_files as list_files
from .pipeline import Normalizer, Settings, Stream, appliance_from_filename

try:  # POSIX only: on Windows a second run of the same input is not excluded.
    import fcntl
except ImportError:  # pragma: no cover - Splunk forwarders on Windows
    fcntl = None  # type: ignore[assignment]

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
        self._finishing: Set[Candidate] = set()
        self._read_new = HeadIndex([])
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
        candidates: List[Candidate] = []
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
        self, work: List[Tuple[Optional[FileEntry], Candidate]], first_run: bool, emit: Emit, log: Log
    ) -> None:
        """Read the files of the run in order (a file with no entry yet is registered first)."""
        # The new files read in this run: an archive of one of them, listed beside it, is not read (_register).
        self._read_new = HeadIndex([])
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
                candidate.release()
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

    def _scan(self, log: Log) -> List[Candidate]:
        """The files to read, oldest first (:func:`esa_auth.listing.scan`)."""
        found, self._listing_error = scan(self.spec, self.checkpoint, log)
        return found

    def _match(
        self, candidates: List[Candidate], first_run: bool, log: Log
    ) -> List[Tuple[Optional[FileEntry], Candidate]]:
        """Pair known files with the files on disk (:mod:`esa_auth.identity`); say what is to be read."""
        pairing = Matcher(self._now, self.finish_after, self._listing_error, log).pair(
            self.entries, candidates, first_run
        )
        self._finishing = pairing.finishing
        self.changed = pairing.changed
        self.entries = pairing.entries
        return pairing.work

    def _register(self, candidate: Candidate, first_run: bool, log: Log) -> Optional[FileEntry]:
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
        if entry.compression is not None and archive_of_live(candidate, self._read_new, log):
            return None  # its lines are being read from the file it was made from
        if entry.compression is None:
            self._read_new.vouch((entry,))
        self.entries.append(entry)
        self._dirty = True
        if entry.ignored or (entry.compression is None and candidate.st.st_size <= entry.position):
            return None
        return entry

    def _new_entry(self, candidate: Candidate, first_run: bool, log: Log) -> Optional[FileEntry]:
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
            return ignored_entry(candidate, head, compression=None)
        damage = candidate.head_damage
        if damage is not None and len(head) < HEAD_BYTES and not self._settled(candidate):
            return None  # an archive still being written: judged when it is whole (next run)
        esa = looks_like_esa(head)
        if esa is None and damage is not None:
            log("WARN", f"{candidate.path}: {damage}; nothing could be read from it; skipped")
            return ignored_entry(candidate, head, compression)
        if esa is None:
            return None  # judged when its first line says more (next run)
        head_hash = digest(head)
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

    def _settled(self, candidate: Candidate) -> bool:
        """Has a file been left unchanged for :data:`FINISH_AFTER` seconds (True when the time is not known)?"""
        return self._now is None or self._now - candidate.st.st_mtime_ns / 1e9 >= self.finish_after

    def _skip_to_end(self, entry: FileEntry, candidate: Candidate) -> None:
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

    def _read(self, entry: FileEntry, candidate: Candidate, emit: Emit, log: Log) -> None:
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
            # Fewer bytes than asked: the end (a file's read returns short only there), where the held-back
            # line is flushed (below): the reader reads it with the block.
            at_end = len(chunk) < ask and entry.compression is None
            self._emit(normalizer.feed(stream, chunk, final=at_end), source, emit, log)
            self._unsaved += len(chunk)
            if self._unsaved >= self._interval:
                if entry.compression is None:
                    # An archive's size and time are recorded once it is read to its end (or its damage): a
                    # run killed after this save reads it on from the position saved.
                    self._refresh(entry, handle)
                self._save()
            if at_end:
                break
        # Live ESA files hold whole lines; a held-back line is finished now
        # rather than when the next line comes, which may be hours away.
        self._emit(normalizer.flush(stream), source, emit, log)
        # The file is read on by another run, from its saved state, whose cache of envelopes is empty: so is
        # this one from now (a directory of thousands of small files would hold every file's to the run's end).
        stream.envelopes.clear()
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

    def _damaged(self, entry: FileEntry, candidate: Candidate, exc: BaseException, log: Log) -> None:
        """A file that cannot be read on: one warning naming it; what was read before stays read."""
        if entry.compression is None:
            log("WARN", f"cannot read {candidate.path}: {getattr(exc, 'strerror', None) or exc}")
        else:
            log("WARN", f"{candidate.path}: {describe_damage(exc)}; the events before it are kept, and it is read "
                        "on from there if it changes")  # fmt: skip
        if candidate.handle is not None:
            self._refresh(entry, candidate.handle)
        self._dirty = True

    def _finish(self, entry: FileEntry, candidate: Candidate, emit: Emit, log: Log) -> None:
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
                if head[: entry.head_len] and digest(head[: entry.head_len]) == entry.head_hash:
                    entry.head_len, entry.head_hash = len(head), digest(head)
        except OSError:
            pass

    def _emit(self, events: List[AuthEvent], source: str, emit: Emit, log: Log) -> None:
        if events:
            emit(events, source)
            self.stats.events += len(events)
        if self.normalizer.diagnostics:  # most blocks have none: no new list for them
            for diagnostic in self.normalizer.take_diagnostics():
                self.stats.warnings += 1
                log("WARN", str(diagnostic))


class _Vanished(Exception):
    """A file of the run is gone since it was listed: the files after it wait for the next run."""


def _skip(reader: Readable, count: int) -> None:
    """Read and drop ``count`` bytes of a stream that cannot seek (an archive's content)."""
    while count > 0:
        part = reader.read(min(count, CHUNK))
        if not part:
            break
        count -= len(part)
