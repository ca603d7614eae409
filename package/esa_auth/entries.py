"""One followed file as the checkpoint knows it: identity, head, position and reading state.

A file is known by its identity, device and inode, *and* by a hash of its
first bytes (:data:`~esa_auth.listing.HEAD_BYTES`, or all of them while it is
shorter): a renamed file keeps both, a truncated or reused inode loses the
hash, and a copy or a compressed archive keeps the hash
(:mod:`esa_auth.identity` pairs entries with the files of a run). The
reading state is the file's :class:`~esa_auth.framing.Stream` (position,
partial last line, what its header lines said).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

from .compressed import READABLE
from .errors import StateError
from .framing import Stream
from .listing import HEAD_BYTES, Candidate, digest


def file_key(dev: int, ino: int, head_hash: str) -> str:
    """The key of a file first seen with this identity and head: its entry's name in the checkpoint (no event id)."""
    return "f" + hashlib.blake2b(f"{dev}:{ino}:{head_hash}".encode(), digest_size=10).hexdigest()


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
    #: What :meth:`to_state` gave at the last save, while the entry has not changed since (the follower's save).
    saved: Optional[Dict[str, Any]] = field(default=None, compare=False, repr=False)

    @property
    def position(self) -> int:
        """Bytes of the file consumed (the next read starts here)."""
        stream = self.stream
        return stream.offset + len(stream.partial) + stream.overflow

    def to_state(self) -> Dict[str, Any]:
        """JSON-able form. A held-back line is given back to the file (re-read next time).

        What a default says is left out (checkpoint format 3): of a directory of thousands
        of files, most entries are a position and an identity, and every save and snapshot
        encodes them all.
        """
        stream_state = self.stream.to_state()
        pending = self.stream.pending
        if pending is not None:
            # Rewind to the held-back line, which has not touched the sessions yet.
            stream_state.update(offset=pending.offset, line=pending.line - 1, partial="", overflow=0)
        state = {
            "key": self.key, "path": self.path, "dev": self.dev, "ino": self.ino,
            "head_len": self.head_len, "head_hash": self.head_hash, "size": self.size,
            "mtime_ns": self.mtime_ns, "stream": _compact(stream_state, self.path, self.key),
        }  # fmt: skip
        if self.ignored:
            state["ignored"] = True
        if self.compression is not None:
            state["compression"] = self.compression
        return state

    @classmethod
    def from_state(cls, state: Dict[str, Any]) -> FileEntry:
        """Rebuild an entry saved by :meth:`to_state`, or by a release before (StateError if damaged)."""
        try:
            stream_state = state["stream"]
            if not isinstance(stream_state, dict):
                raise TypeError("the stream state is not a mapping")
            # Formats 1 and 2 wrote every field: the defaults fill in only what format 3 leaves out.
            stream_state = {**_STREAM_DEFAULTS, "source": state["path"], "key": state["key"], **stream_state}
            entry = cls(
                key=str(state["key"]), path=str(state["path"]), dev=int(state["dev"]), ino=int(state["ino"]),
                head_len=int(state["head_len"]), head_hash=str(state["head_hash"]), size=int(state["size"]),
                mtime_ns=int(state["mtime_ns"]), ignored=bool(state.get("ignored", False)),
                stream=Stream.from_state(stream_state),
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


def ignored_entry(candidate: Candidate, head: bytes, compression: Optional[str]) -> FileEntry:
    """The entry of a file that is not read (its content is not an ESA log this version reads)."""
    st = candidate.st
    head_hash = digest(head)
    key = file_key(st.st_dev, st.st_ino, head_hash)
    stream = Stream(candidate.path, key=key)
    return FileEntry(key, candidate.path, st.st_dev, st.st_ino, len(head), head_hash, 0, 0, True, stream, compression)


#: What a stream's state holds where an entry's leaves it out: its unset fields (its ``source`` and ``key`` are
#: the entry's ``path`` and ``key`` unless it says otherwise; a renamed file keeps the name it was first read under).
_STREAM_DEFAULTS: Dict[str, Any] = {
    "appliance": None, "offset": 0, "line": 0, "partial": "", "overflow": 0, "started": False,
    "utc_offset": None, "version": None, "serial": None, "zone_warned": False, "year_warned": False,
    "flushed": False, "clock": None,
}  # fmt: skip
#: The same for a stream's clock (:meth:`esa_auth.clock.Clock.to_state`), whose ``hands`` are always written.
_CLOCK_DEFAULTS: Dict[str, Any] = {"check": None, "gap_warned": False, "change_warned": False}


def _compact(stream: Dict[str, Any], path: str, key: str) -> Dict[str, Any]:
    """A stream's state without what :data:`_STREAM_DEFAULTS`, the entry's path and key say."""
    defaults = _STREAM_DEFAULTS
    # A value is left out when it is its default, of the same type (0 is not False): inline, as this runs
    # once for each file read (thousands, in a directory of small files).
    out = {
        name: value
        for name, value in stream.items()
        if name not in defaults or value != defaults[name] or type(value) is not type(defaults[name])
    }
    if out.get("source") == path:
        del out["source"]
    if out.get("key") == key:
        del out["key"]
    clock = out.get("clock")
    if isinstance(clock, dict):
        slim = {
            name: value
            for name, value in clock.items()
            if name not in _CLOCK_DEFAULTS
            or value != _CLOCK_DEFAULTS[name]
            or type(value) is not type(_CLOCK_DEFAULTS[name])
        }
        if slim == {"hands": {}}:
            del out["clock"]  # a clock that has read nothing: Clock.from_state(None) gives it back
        else:
            out["clock"] = slim
    return out
