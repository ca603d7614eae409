"""The files a follower's ``path`` names, as one listing of the disk finds them.

A ``path`` setting is a file, a directory or a glob pattern
(:func:`list_files`, :func:`check_path`). A run lists it once
(:func:`scan`), oldest file first, each file as it was ``stat``-ed: a
:class:`Candidate`, known by its device and inode, opened only while it is
read (a run over thousands of files stays far below the open-file limit),
and found again under its new name if it is renamed (rotated) before it is
opened. What a file is comes from its first bytes, not its name
(:func:`looks_like_esa`; compression by magic bytes, :mod:`esa_auth.compressed`).
"""

from __future__ import annotations

import errno
import glob
import hashlib
import os
import stat
from typing import IO, Callable, Dict, List, Optional, Tuple

from .compressed import MAGIC_BYTES, READABLE, UnreadableCompression, compression_of, read_head
from .envelope import ENVELOPE_HEADS, body_start, starts_envelope
from .errors import ConfigError

#: Bytes hashed to recognise a file's content. An ESA file opens with three
#: header lines (``Begin Logfile``, ``Version:``, ``Time offset from UTC:``)
#: that every log of an appliance rolled in the same second shares, so the
#: hash must reach well past them before it may stand for the file alone.
HEAD_BYTES = 1024
#: Listings of the directory taken at most, one run, to see it between two rotations (:func:`scan`).
SCAN_TRIES = 5

#: Receives a level (``INFO``, ``WARN``, ``ERROR``) and a one-line message.
Log = Callable[[str, str], None]


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
            names = os.listdir(spec)
        except OSError:
            return []
        prefix = os.path.join(spec, "")  # what os.path.join(spec, name) puts before a name: joined once
        paths = [prefix + name for name in names if not name.startswith(".")]
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


class Candidate:
    """A file found on disk in this run, opened when needed and closed after.

    It is the file ``stat`` saw (device and inode), not whatever bears its name
    when it is opened: ``mail.current`` may have been rotated since, and
    another file is ``mail.current`` now. Then the file is looked for under
    its new name (:func:`find`), so that its rest is read, in its turn. A handle
    is held only while the file is read (:meth:`close`), so that a run over
    thousands of files stays far below the open-file limit.

    The handle is unbuffered (the follower reads large blocks, or a small
    file whole at once): each read is one system call, and a small file costs
    an ``open``, one ``read`` and a ``close`` with nothing around them (no
    buffer, no terminal check, no seek). A read of a regular file returns
    fewer bytes than asked only at its end; were it ever otherwise (a network
    file system), the rest is read by the next run, from the position saved.
    """

    # Slots: a run keeps every file it lists to its end (thousands, in a directory of small files).
    __slots__ = ("_head", "_spec", "at", "compression", "first", "first_whole", "handle", "head_damage", "path",
                 "read_ahead", "st")  # fmt: skip

    def __init__(self, path: str, st: os.stat_result, spec: str) -> None:
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
        #: The setting that listed it, where it is looked for when it is renamed before it is opened.
        self._spec = spec

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
                moved = find(self._spec, self.st.st_dev, self.st.st_ino)
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
                # thousands): its head, and the bytes the follower reads next.
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
        self.first = None  # read ahead of a handle that is gone (and the run keeps its files to its end)

    def release(self) -> None:
        """Close it and forget its head: the file is read for this run (a run keeps its files to its end)."""
        self.close()
        self._head = None


def scan(spec: str, checkpoint: str, log: Log) -> Tuple[List[Candidate], Optional[str]]:
    """The files to read, oldest first, as one listing of the directory saw them.

    A file rotated between the listing and its ``stat`` is missed: its new
    name was not listed, and ``mail.current`` is already its successor,
    whose lines would then be read before the rest of it (its sessions
    not open yet). So the listing is taken again after the ``stat`` calls,
    until it holds still (a few times at most: a rotation takes moments).

    Returns:
        The files, and why the directory cannot be listed (None when it can): the
        caller says so unless it finds that its known files are out of reach.
    """
    listing_error = None
    if not glob.has_magic(spec) and os.path.isdir(spec):
        try:
            os.listdir(spec)
        except OSError as exc:
            listing_error = f"cannot list {spec}: {exc.strerror or exc}"
    paths = list_files(spec)
    for _ in range(SCAN_TRIES):
        warnings: List[str] = []
        found = _stat_all(spec, checkpoint, paths, warnings)
        again = list_files(spec)
        if again == paths:
            break
        paths = again
    for warning in warnings:  # those of the listing kept, not of each attempt
        log("WARN", warning)
    return found, listing_error


def _stat_all(spec: str, checkpoint_path: str, paths: List[str], warnings: List[str]) -> List[Candidate]:
    found: List[Candidate] = []
    inodes = set()
    watched = _watched_dir(spec)
    checkpoint = os.path.abspath(checkpoint_path)
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
        found.append(Candidate(path, st, spec))
    # Oldest first: a rolled file is finished before its successor is read,
    # so sessions run on across the rotation.
    found.sort(key=lambda c: (c.st.st_mtime_ns, c.path))
    return found


def find(spec: str, dev: int, ino: int) -> Optional[str]:
    """Where a file (device, inode) listed earlier in this run is now, if still among the files ``spec`` names."""
    for path in list_files(spec):
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (dev, ino):
            return path
    return None


def _stat(function: Callable[[str], os.stat_result], path: str, warnings: List[str]) -> Optional[os.stat_result]:
    """``stat`` or ``lstat`` of a listed path; None when it is gone (silently) or unreadable (a warning)."""
    try:
        return function(path)
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            warnings.append(f"cannot read {path}: {exc.strerror or exc}")
        return None


def head_hash(candidate: Candidate, length: int) -> Optional[str]:
    """The hash of a file's first ``length`` bytes (decompressed); None if it is shorter or unreadable."""
    try:
        head = candidate.head(length)
    except (OSError, UnreadableCompression):
        return None
    return digest(head) if len(head) == length else None


def out_of_reach(directory: str) -> Optional[str]:
    """Why a directory of known files shows none (unreadable, missing, empty), or None when it lists files."""
    try:
        names = os.listdir(directory or os.curdir)
    except OSError as exc:
        return exc.strerror or str(exc)
    if not any(not name.startswith(".") for name in names):
        return "empty: an unmounted share?"
    return None
