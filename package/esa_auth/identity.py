"""Which known file is which file on disk: the checkpoint's entries paired with the files of a run.

A file keeps its device and inode through a rename (the ESA's rotation), and
its first bytes through a copy (copy-truncate, rsync) or a compression
(logrotate's ``compress``). So an entry is first looked for by its inode,
with its head checked (a truncated or reused inode has other first bytes),
then by its content: the first file not yet claimed that opens with every
byte read of it so far (:class:`HeadIndex`). What is neither is a new file;
a known file not found is forgotten only when its directory lists other
files (an unreadable directory or an unmounted share keeps its entries).
"""

from __future__ import annotations

import os
from typing import Dict, Iterable, List, NamedTuple, Optional, Set, Tuple

from .compressed import UnreadableCompression
from .entries import FileEntry
from .listing import HEAD_BYTES, Candidate, Log, head_hash, out_of_reach


class Pairing(NamedTuple):
    """What :meth:`Matcher.pair` found.

    Attributes:
        entries: the entries kept, in the order of the files (those out of reach first).
        work: the files to read, in order, each with its entry (None: a new file).
        finishing: the files whose last line, without a newline, is to be read now.
        changed: the entries are not the same files in the same order as before.
    """

    entries: List[FileEntry]
    work: List[Tuple[Optional[FileEntry], Candidate]]
    finishing: Set[Candidate]
    changed: bool


class Matcher:
    """Pairs a checkpoint's entries with the files of one run.

    Args:
        now: the time of the run (None: unknown; no file is finished for being idle).
        finish_after: seconds without change after which a last line without newline is read.
        listing_error: why the watched directory could not be listed, if it could not.
        log: receives what was found (INFO) and what is wrong (WARN).
    """

    def __init__(self, now: Optional[float], finish_after: float, listing_error: Optional[str], log: Log) -> None:
        self.now = now
        self.finish_after = finish_after
        self.listing_error = listing_error
        self.log = log

    def pair(self, known_entries: List[FileEntry], candidates: List[Candidate], first_run: bool) -> Pairing:
        """Pair known files with the files on disk; say what is to be read (no entry yet: a new file)."""
        log = self.log
        by_inode = {(c.st.st_dev, c.st.st_ino): c for c in candidates}
        claimed: Dict[int, FileEntry] = {}
        unmatched: List[FileEntry] = []
        for entry in known_entries:
            candidate = by_inode.get((entry.dev, entry.ino))
            if candidate is not None and id(candidate) not in claimed and self._same(entry, candidate, log):
                claimed[id(candidate)] = entry
                continue
            unmatched.append(entry)
        heads = HeadIndex([c for c in candidates if id(c) not in claimed])
        kept = self._find_moved(unmatched, heads, claimed, log)
        entries: List[FileEntry] = list(kept)
        work: List[Tuple[Optional[FileEntry], Candidate]] = []
        finishing: Set[Candidate] = set()
        copies = HeadIndex([])
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
                finishing.add(candidate)
                work.append((known, candidate))
        changed = first_run or [e.key for e in entries] != [e.key for e in known_entries]
        return Pairing(entries, work, finishing, changed)

    def _find_moved(
        self, unmatched: List[FileEntry], heads: HeadIndex, claimed: Dict[int, FileEntry], log: Log
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
            reason = unreachable.get(directory) if directory in unreachable else out_of_reach(directory)
            if reason is not None:
                unreachable[directory] = reason
                kept.append(entry)
            elif not entry.ignored:
                log("INFO", f"{entry.path}: no longer found; forgotten")
        if kept:
            places = "; ".join(f"{directory} ({reason})" for directory, reason in sorted(unreachable.items()))
            log("WARN", f"{len(kept)} known files are in directories out of reach: {places}; their positions are "
                        "kept, and they are read on from there when they come back")  # fmt: skip
            self.listing_error = None
        if self.listing_error is not None:
            log("WARN", self.listing_error)
        return kept

    def _is_copy_of_live(self, candidate: Candidate, index: HeadIndex, claimed: Dict[int, FileEntry], log: Log) -> bool:
        """Is a new compressed file an archive of a known file still on disk (gzip at work, ``gzip -k``)?

        It is read once the file it was made from is gone, from where that one is left.
        """
        if not index.vouched:
            index.vouch(claimed.values())
        return archive_of_live(candidate, index, log)

    def _same(self, entry: FileEntry, candidate: Candidate, log: Log) -> bool:
        """Is the file with the entry's inode still the entry's content?"""
        st = candidate.st
        if st.st_size == entry.size and st.st_mtime_ns == entry.mtime_ns:
            return True  # untouched since the last run
        if entry.compression is not None:
            return head_hash(candidate, entry.head_len) == entry.head_hash
        if head_hash(candidate, entry.head_len) != entry.head_hash:
            if not entry.ignored:
                log("INFO", f"{candidate.path}: new content under a known inode (truncated and rewritten); read anew")
            return False
        if st.st_size < entry.position:
            log("WARN", f"{candidate.path}: truncated from {entry.position} to {st.st_size} bytes; read anew "
                        "(lines written between the last run and the truncation are lost)")  # fmt: skip
            return False
        return True

    def _finished(self, entry: FileEntry, candidate: Candidate) -> bool:
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
        return self.now is not None and self.now - st.st_mtime_ns / 1e9 >= self.finish_after


def archive_of_live(candidate: Candidate, index: HeadIndex, log: Log) -> bool:
    """Is a new file an archive of a file that ``index`` vouches for, which is still on disk (gzip at work)?

    Such an archive is not read now: its lines are those of that file, which is read; once the file is gone,
    the archive is found again by its content and read on from where the file was left. Said once (INFO).
    """
    try:
        candidate.head(HEAD_BYTES)
    except (OSError, UnreadableCompression):
        return False
    if candidate.compression is None:
        return False
    source = index.match_entry(candidate)
    if source is None:
        return False
    log("INFO", f"{candidate.path}: an archive of {source.path}, which is still there; read from where that "
                "one is left once it is gone")  # fmt: skip
    return True


class HeadIndex:
    """Files found in a run, looked up by the hash of their first bytes (computed once per length asked)."""

    def __init__(self, candidates: List[Candidate]) -> None:
        self.candidates = candidates
        self._by_length: Dict[int, Dict[str, List[Candidate]]] = {}
        self.taken: Set[int] = set()
        #: Whether entries were given to look candidates up in (:meth:`vouch`, :meth:`match_entry`).
        self.vouched = False
        self._entries_by: Dict[str, FileEntry] = {}

    def find(self, entry: FileEntry) -> Optional[Candidate]:
        """The first file not yet taken that opens with the entry's head (and is long enough)."""
        table = self._by_length.get(entry.head_len)
        if table is None:
            table = self._by_length[entry.head_len] = {}
            for candidate in self.candidates:
                digest = head_hash(candidate, entry.head_len)
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

    def vouch(self, entries: Iterable[FileEntry]) -> None:
        """Entries that :meth:`match_entry` looks candidates up in (more may come).

        Only a whole head (1 KiB) vouches for a file: a file's first few bytes (``Sun Jun  1 08:0``) are those
        of every file written in the same minute, and an archive put off for another file's sake would be
        read late, after the files that came after it.
        """
        self.vouched = True
        for entry in entries:
            if not entry.ignored and entry.head_len == HEAD_BYTES:
                self._entries_by[entry.head_hash] = entry

    def match_entry(self, candidate: Candidate) -> Optional[FileEntry]:
        """The entry (of :meth:`vouch`) whose whole head the candidate opens with, if any."""
        if not self._entries_by:
            return None
        digest = head_hash(candidate, HEAD_BYTES)
        return self._entries_by.get(digest) if digest is not None else None
