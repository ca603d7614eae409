"""Reading the files a command names: standard input for none or ``-``; a file that cannot be read is one error line."""

from __future__ import annotations

import os
from typing import IO, Iterator, List, Optional, Sequence, Tuple

from ..events import AuthEvent
from ..pipeline import Normalizer, Stream, appliance_from_filename
from ..profiles import ProfileMap
from .options import PROG

#: Bytes read from a file at once.
CHUNK = 1 << 20


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
                stream = Stream(name, appliance=appliance_from_filename(os.path.basename(name)))
            try:
                while True:
                    try:
                        chunk = handle.read(CHUNK)
                    except OSError as exc:
                        stderr.write(f"{PROG}: cannot read {name}: {exc.strerror or exc}\n")
                        failures.append(name)
                        break
                    if not chunk:
                        break
                    yield from normalizer.feed(stream, chunk)
                    warn()
                yield from normalizer.end(stream)
                warn()
            finally:
                if handle is not stdin:
                    handle.close()

    if profile_map is None:
        return events(), failures
    return map(profile_map.apply, events()), failures
