"""Compressed logs: recognised by their first bytes (not their names), read with the standard library.

An archive of a rotated log (logrotate's ``compress``, an operator's
``gzip``, a backfill dropped into the watched directory) is read as the
bytes it decompresses to: offsets, and so event ids, are those of the log
it was made from. The formats are recognised by their magic numbers:
gzip (RFC 1952, section 2.3.1: ``1f 8b``), bzip2 (``BZh`` and a block
size digit), xz (the xz file format, section 2.1.1.1: ``fd 37 7a 58 5a
00``). zstd (RFC 8878, section 3.1.1: ``28 b5 2f fd``) is recognised but
not read: the standard library has no decoder, and the app ships none.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from typing import IO, Any, List, Optional, Protocol, Tuple

GZIP = "gzip"
BZIP2 = "bzip2"
XZ = "xz"
ZSTD = "zstd"
#: Formats read (ZSTD is only recognised).
READABLE = (GZIP, BZIP2, XZ)
#: Bytes :func:`compression_of` needs to tell.
MAGIC_BYTES = 6

#: What a decompressing reader raises on a damaged or truncated archive:
#: ``EOFError`` (cut short), ``OSError`` (``gzip.BadGzipFile``, a bad bzip2
#: stream), ``lzma.LZMAError`` and ``zlib.error`` (bad data).
DAMAGE = (EOFError, OSError, lzma.LZMAError, zlib.error)


class UnreadableCompression(ValueError):
    """A compressed file of a format this package does not read (zstd)."""


def compression_of(head: bytes) -> Optional[str]:
    """The compression format that ``head`` (a file's first bytes) opens, or None for plain bytes."""
    if head.startswith(b"\x1f\x8b"):
        return GZIP
    if head.startswith(b"BZh") and head[3:4].isdigit() and head[3:4] != b"0":
        return BZIP2
    if head.startswith(b"\xfd7zXZ\x00"):
        return XZ
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return ZSTD
    return None


class Readable(Protocol):
    """What reading a log needs of a file or of an archive's content."""

    def read(self, size: int) -> bytes: ...


class Decompressed:
    """The bytes an archive decompresses to, read in pieces: the bytes before damage come out first.

    ``GzipFile.read(n)`` and its kin gather ``n`` bytes before returning, and
    an archive cut short raises before any of them is returned: here each
    piece is decompressed by itself (``read1``), and the error is raised by
    the read after the last good bytes.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._error: Optional[BaseException] = None

    def read(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end.

        Raises:
            EOFError, OSError, lzma.LZMAError, zlib.error: the archive is damaged here (:data:`DAMAGE`).
        """
        if self._error is not None:
            raise self._error
        parts: List[bytes] = []
        got = 0
        while got < size:
            try:
                part = self._reader.read1(size - got)
            except DAMAGE as exc:
                if not parts:
                    raise
                self._error = exc
                break
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)


def decompressing(handle: IO[bytes], kind: str) -> Decompressed:
    """A reader of the bytes ``handle`` (positioned at the archive's start) decompresses to.

    Raises:
        UnreadableCompression: ``kind`` is not one of :data:`READABLE`.
    """
    if kind == GZIP:
        return Decompressed(gzip.GzipFile(fileobj=handle, mode="rb"))
    if kind == BZIP2:
        return Decompressed(bz2.BZ2File(handle, mode="rb"))
    if kind == XZ:
        return Decompressed(lzma.LZMAFile(handle, mode="rb"))
    raise UnreadableCompression(f"compressed with {kind}, which this version does not read")


def read_head(handle: IO[bytes], kind: str, length: int) -> Tuple[bytes, Optional[str]]:
    """The first ``length`` decompressed bytes, and what stopped the reading early (None if nothing)."""
    reader = decompressing(handle, kind)
    parts = []
    got = 0
    try:
        while got < length:
            part = reader.read(length - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
    except DAMAGE as exc:
        return b"".join(parts), describe(exc)
    return b"".join(parts), None


#: The suffixes compression tools add to a file's name.
SUFFIXES = (".gz", ".bz2", ".xz", ".zst")


def plain_name(name: str) -> str:
    """A file name without the suffix a compression tool added (``mail.@...s.gz``: ``mail.@...s``)."""
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def describe(exc: BaseException) -> str:
    """One line naming what is wrong with an archive."""
    if isinstance(exc, EOFError):
        return "the archive is cut short (truncated, or still being written)"
    text = str(exc) or type(exc).__name__
    return f"the archive is damaged ({text})"
