"""Reading the files a command names: standard input for none or ``-``; a file that cannot be read is one error line.

A compressed file (gzip, bzip2, xz) is recognised by its first bytes and read
as what it decompresses to (:mod:`esa_auth.compressed`); a damaged or cut
archive is one error line, and the events before the damage are kept.
"""

from __future__ import annotations

import os
from typing import IO, Iterator, List, Optional, Sequence, Tuple

from ..compressed import (
    DAMAGE,
    MAGIC_BYTES,
    Readable,
    UnreadableCompression,
    compression_of,
    decompressing,
    describe,
    plain_name,
)
from ..events import AuthEvent
from ..framing import CHUNK
from ..pipeline import Normalizer, Stream, appliance_from_filename
from ..profiles import ProfileMap
from .options import PROG


def read_sources(
    normalizer: Normalizer,
    files: Sequence[str],
    stdin: IO[bytes],
    stderr: IO[str],
    profile_map: Optional[ProfileMap] = None,
) -> Tuple[Iterator[AuthEvent], List[str]]:
    """Normalize files (``-`` or none: standard input) in order, sharing sessions.

    ``profile_map`` gives outbound SMTP AUTH events the user of their profile (``--profile-map``).

    Returns:
        An iterator of events, and the list it fills with unreadable files.
    """
    failures: List[str] = []

    def warn() -> None:
        for diagnostic in normalizer.take_diagnostics():
            stderr.write(f"{diagnostic}\n")

    def events() -> Iterator[AuthEvent]:
        for name in files or ["-"]:
            if name == "-":
                handle: IO[bytes] = stdin
                stream = Stream("-")
            else:
                try:
                    handle = open(name, "rb")  # noqa: SIM115 - closed below, chunks are streamed
                except OSError as exc:
                    stderr.write(f"{PROG}: cannot read {name}: {exc.strerror or exc}\n")
                    failures.append(name)
                    continue
                stream = Stream(name, appliance=appliance_from_filename(plain_name(os.path.basename(name))))
            reader: Readable = handle
            try:
                kind = compression_of(_peek(handle))
                if kind is not None:
                    reader = decompressing(handle, kind)
            except (OSError, UnreadableCompression) as exc:
                stderr.write(f"{PROG}: cannot read {name}: {getattr(exc, 'strerror', None) or exc}\n")
                failures.append(name)
                if handle is not stdin:
                    handle.close()
                continue
            try:
                whole = True
                while True:
                    try:
                        chunk = reader.read(CHUNK)
                    except DAMAGE as exc:
                        whole = False
                        if kind is None:
                            stderr.write(f"{PROG}: cannot read {name}: {getattr(exc, 'strerror', None) or exc}\n")
                        else:
                            stderr.write(f"{PROG}: {name}: {describe(exc)}; the events before it are kept\n")
                        failures.append(name)
                        break
                    if not chunk:
                        break
                    yield from normalizer.feed(stream, chunk)
                    warn()
                # A line cut by the damage is not read as a whole line.
                yield from normalizer.end(stream) if whole else normalizer.flush(stream)
                warn()
            finally:
                if handle is not stdin:
                    handle.close()

    if profile_map is None:
        return events(), failures
    return map(profile_map.apply, events()), failures


def _peek(handle: IO[bytes]) -> bytes:
    """The first bytes of a stream, left to be read (a pipe cannot seek back)."""
    peek = getattr(handle, "peek", None)
    if peek is not None:
        return bytes(peek(MAGIC_BYTES)[:MAGIC_BYTES])
    return b""
