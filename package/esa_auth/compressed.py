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
from typing import IO, Optional, Tuple, cast

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


def decompressing(handle: IO[bytes], kind: str) -> IO[bytes]:
    """A reader of the bytes ``handle`` (positioned at the archive's start) decompresses to.

    Raises:
        UnreadableCompression: ``kind`` is not one of :data:`READABLE`.
    """
    if kind == GZIP:
        return cast(IO[bytes], gzip.GzipFile(fileobj=handle, mode="rb"))
    if kind == BZIP2:
        return cast(IO[bytes], bz2.BZ2File(handle, mode="rb"))
    if kind == XZ:
        return cast(IO[bytes], lzma.LZMAFile(handle, mode="rb"))
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


def describe(exc: BaseException) -> str:
    """One line naming what is wrong with an archive."""
    if isinstance(exc, EOFError):
        return "the archive is cut short (truncated, or still being written)"
    text = str(exc) or type(exc).__name__
    return f"the archive is damaged ({text})"
