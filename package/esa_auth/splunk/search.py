"""The ``esaauth`` custom search command: the library's full pipeline over raw ESA events in a search.

``... | esaauth [tz=<zone>] [format=cim]`` reads raw Cisco ESA events (sourcetypes ``cisco:esa:textmail``,
``cisco:esa:authentication``, ``cisco:esa:http``, or anything else that carries the appliance's own lines) and
returns one normalized authentication event per authentication line, with the session correlation that
search-time extractions cannot do: an inbound SMTP AUTH line gets its client address from the ``New SMTP ICID``
line of its connection (docs/log-formats.md#C1), an outbound one its interface and port from ``New SMTP DCID`` (C7).

Order. Splunk hands an eventing command its events newest first (``_time`` descending), in chunks, while the
session table must see a connection's open line before its AUTH line. The command is therefore an
:class:`~splunklib.searchcommands.EventingCommand` (type ``events``: it runs once, on the search head, over
every event, never split across indexers as a streaming command would be) that buffers the lines the
pipeline can use, and normalizes them oldest first when the last chunk has arrived. Events go out newest
first again, as Splunk lists them. The buffer is bounded (``max_records``): lines whose body the pattern
registry does not know (most mail-log lines, ``MID ...``) are never buffered, and beyond the bound the oldest
lines are dropped with a warning.

Output fields are those of the modular input: the rendered event (:data:`esa_auth.render.RENDERERS`), its JSON
as ``_raw``, nested objects flattened to dotted names (``src_endpoint.ip``) as ``KV_MODE = json`` would, lists as
multivalue fields, booleans as ``true``/``false``; ``_time``, ``host`` and ``source`` are the input event's,
``sourcetype`` the format's (:data:`esa_auth.render.SOURCETYPES`). Every output record carries every field (empty
when unknown), because splunklib fixes the CSV header of a chunk from its first record.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import replace
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

from splunklib.searchcommands import (  # type: ignore[import-untyped]
    Configuration,
    EventingCommand,
    Option,
    validators,
)

from ..durations import parse_duration
from ..envelope import body_start, starts_envelope
from ..errors import ConfigError
from ..events import AuthEvent, json_text
from ..framing import CHUNK
from ..patterns import DISPATCH, dispatch_key
from ..pipeline import Normalizer, Settings, Stream
from ..render import RENDERERS, SOURCETYPES, render
from ..scan import CANDIDATE
from ..sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT

NAME = "esaauth"
#: Lines buffered at most before the oldest are dropped (about 300 bytes each).
DEFAULT_MAX_RECORDS = 1_000_000
#: Warnings shown in the search's messages; the rest are counted.
MAX_MESSAGES = 20
#: Fields every output record starts with, in this order.
LEAD_FIELDS = ("_time", "_raw", "host", "source", "sourcetype")

# A buffered line: (time, arrival number, raw text, host, source, the input's _time as given).
_Line = Tuple[Optional[float], int, str, Optional[str], str, Optional[str]]


def wanted(raw: str) -> bool:
    """Tell whether the pipeline can use a raw event: an envelope, then a body the registry dispatches on.

    The same tests the pipeline's own hot loop makes (:mod:`esa_auth.envelope`, :data:`esa_auth.patterns.DISPATCH`),
    on the first physical line, so that nothing it would read is left out of the buffer.
    """
    cut = raw.find("\n")
    if cut < 0:
        cut = len(raw)
    # A body the registry dispatches on follows ": " and spaces: a line with no ": " before a dispatch key
    # (most of a mail log, "MID ...") is told in one search in C, as the reader's block loop tells it.
    if CANDIDATE.search(raw, 0, cut) is None:
        return False
    first = raw[:cut].encode("utf-8", "replace")
    if not starts_envelope(first):
        return False
    start = body_start(first)
    return start >= 0 and dispatch_key(first[start:]) in DISPATCH


def flatten(event: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    """Flatten a rendered event into Splunk fields, the way ``KV_MODE = json`` names them.

    Nested objects give dotted names, lists give multivalue fields (lists of strings), booleans give
    ``true``/``false`` as in the JSON, numbers their JSON text; None values are left out.
    """
    out: Dict[str, Any] = {}
    for key, value in event.items():
        name = prefix + key
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (list, tuple)):
            items = [_text(item) for item in value if item is not None]
            if items:
                out[name] = items
        elif value is not None:
            out[name] = _text(value)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _epoch(value: Any) -> Optional[float]:
    """The input's ``_time`` as epoch seconds, or None when it is missing or not a number."""
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) < 1e11 else None  # not NaN, not absurd


@Configuration()
class EsaAuthCommand(EventingCommand):  # type: ignore[misc]
    """Normalize raw Cisco ESA events into authentication events, with session correlation.

    ##Syntax

    esaauth [tz=<zone>] [format=<format>] [session_timeout=<duration>] [max_sessions=<int>] [max_records=<int>]

    ##Description

    Runs the esa_auth pipeline over the raw events of a search (``_raw``, with ``host`` as the appliance and
    ``source`` as the file) and returns one event per authentication line of docs/log-formats.md: inbound
    and outbound SMTP AUTH, appliance logons and logoffs. Inbound SMTP AUTH events get their client address,
    listener and TLS state from the connection's ``New SMTP ICID`` line, which must be among the input events:
    search the session lines too (``"ICID" OR "DCID" OR "SMTP Auth"``), not only the AUTH lines. The command
    sorts the lines oldest first before reading them and returns the events newest first. Output fields are
    the fields of the chosen format (``cim``: the CIM Authentication fields of sourcetype ``cisco:esa:auth``),
    ``_raw`` is the event as JSON, and ``_time``, ``host`` and ``source`` are those of the input line.

    ##Example

    Failed SMTP AUTH attempts with the client address, from the mail logs of the last hour:

    ``sourcetype=cisco:esa:textmail ("SMTP Auth" OR "ICID") earliest=-1h | esaauth tz=Europe/Paris
    | search action=failure app=smtp | stats count by src user``
    """

    tz = Option(
        doc="""**Syntax:** **tz=***<zone>*
        **Description:** The appliance time zone: an IANA name (Europe/Paris), UTC, or an offset (+02:00). It
        reads every line, daylight-saving changes included; a file's "Time offset from UTC" header only checks
        it. Default: the file header's offset, else UTC, with a warning.""",
        require=False,
    )
    format = Option(
        doc="""**Syntax:** **format=***<format>*
        **Description:** The schema of the output events: cim (Splunk CIM Authentication, sourcetype
        cisco:esa:auth) or another registered renderer. Default: cim.""",
        require=False,
        default="cim",
    )
    session_timeout = Option(
        doc="""**Syntax:** **session_timeout=***<duration>*
        **Description:** Forget an SMTP session silent for this long, in log time: seconds (900) or with a
        unit (15m, 1h). Default: 1h.""",
        require=False,
    )
    max_sessions = Option(
        doc="""**Syntax:** **max_sessions=***<int>*
        **Description:** Open SMTP sessions kept at most; the least recently active goes first.
        Default: 100000.""",
        require=False,
        validate=validators.Integer(minimum=1),
    )
    max_records = Option(
        doc="""**Syntax:** **max_records=***<int>*
        **Description:** Usable lines held in memory at most; beyond it the oldest are dropped with a
        warning. Default: 1000000.""",
        require=False,
        validate=validators.Integer(minimum=1),
    )

    def __init__(self) -> None:
        super().__init__()
        self._settings: Optional[Settings] = None
        self._renderer = "cim"
        self._limit = DEFAULT_MAX_RECORDS
        self._lines: List[_Line] = []
        self._seen = 0
        self._dropped = 0
        self._no_raw = 0

    # --- set-up (getinfo) --------------------------------------------------------------
    def prepare(self) -> None:
        """Check the options before any event is read; a bad one ends the search with one clear error."""
        fmt = str(self.format or "cim").strip().lower()
        if fmt not in RENDERERS:
            self._refuse(f"unknown format {self.format!r}: use one of {', '.join(sorted(RENDERERS))}")
        self._renderer = fmt
        try:
            timeout = DEFAULT_TIMEOUT if self.session_timeout is None else parse_duration(str(self.session_timeout))
            self._settings = Settings(
                tz=self.tz,
                max_sessions=DEFAULT_MAX_SESSIONS if self.max_sessions is None else int(self.max_sessions),
                session_timeout=timeout,
            )
        except ConfigError as exc:
            self._refuse(str(exc))
        if self.max_records is not None:
            self._limit = int(self.max_records)
        # Only these fields are needed: Splunk then sends nothing else (selected-fields mode).
        self.configuration.required_fields = ["_raw", "_time", "host", "source"]

    def _refuse(self, message: str) -> None:
        self.write_error(f"{NAME}: {message}")
        raise SystemExit(1)

    # --- reading (execute chunks) -----------------------------------------------------------
    def transform(self, records: Iterable[Dict[str, Any]]) -> Iterator[Dict[str, Any]]:
        """Buffer the usable lines of a chunk; after the last chunk, normalize them all and yield the events."""
        for record in records:
            self._take(record)
        if not self._finished:
            return
        yield from self._run()

    def _take(self, record: Dict[str, Any]) -> None:
        raw = record.get("_raw")
        if isinstance(raw, list):  # a multivalue _raw is not an event
            raw = None
        if not isinstance(raw, str) or not raw.strip():
            self._no_raw += 1
            return
        if not wanted(raw):
            return
        self._seen += 1
        stamp = record.get("_time")
        host = record.get("host")
        source = record.get("source")
        line: _Line = (
            _epoch(stamp),
            self._seen,
            raw,
            host.strip() or None if isinstance(host, str) else None,
            source if isinstance(source, str) and source else NAME,
            stamp if isinstance(stamp, str) and stamp else None,
        )
        if len(self._lines) >= self._limit:
            # Newest arrive first: what comes now is older than everything kept.
            self._dropped += 1
            return
        self._lines.append(line)

    # --- normalizing (after the last chunk) ------------------------------------------------
    def _run(self) -> Iterator[Dict[str, Any]]:
        assert self._settings is not None, "prepare() runs first"
        normalizer = Normalizer(self._settings)
        streams: Dict[Tuple[Optional[str], str], Stream] = {}
        outputs: List[Dict[str, Any]] = []
        # The lines are read as the modular input reads a file, in blocks (the reader's block loop), not one
        # by one: consecutive lines of one stream, read with one reference day, up to CHUNK characters (its bytes,
        # for ASCII lines).
        batch: List[_Line] = []
        size = 0
        reference = normalizer.settings.reference_time
        for when, _, line in _oldest_first(self._lines):
            day_end = reference if when is None else _day_end(when - when % 86400)
            if batch and (day_end != reference or line[3:5] != batch[0][3:5] or size >= CHUNK):
                self._read(normalizer, streams, batch, reference, outputs)
                batch, size = [], 0
            reference = day_end
            batch.append(line)
            size += len(line[2])
        if batch:
            self._read(normalizer, streams, batch, reference, outputs)
        self._lines = []
        self._report(normalizer)
        outputs.reverse()
        names: Dict[str, None] = dict.fromkeys(LEAD_FIELDS)
        for output in outputs:
            names.update(dict.fromkeys(output))
        for output in outputs:
            yield {name: output.get(name) for name in names}

    def _read(
        self,
        normalizer: Normalizer,
        streams: Dict[Tuple[Optional[str], str], Stream],
        batch: List[_Line],
        reference: Optional[datetime],
        outputs: List[Dict[str, Any]],
    ) -> None:
        """Read consecutive lines of one stream as one block; each event goes out with its own line's fields.

        Each line is its record's ``_raw`` and a newline, as if fed alone then flushed: the same bytes at the
        same offsets of the stream, so the same events and ids; an event's ``offset`` tells its line.
        """
        if normalizer.settings.reference_time != reference:
            normalizer.settings = replace(normalizer.settings, reference_time=reference)
        host, source = batch[0][3], batch[0][4]
        stream = streams.get((host, source))
        if stream is None:
            stream = streams[(host, source)] = Stream(source, appliance=host)
        base = at = stream.offset
        starts: List[int] = []
        blocks: List[bytes] = []
        for line in batch:
            data = line[2].encode("utf-8", "replace") + b"\n"
            starts.append(at)
            blocks.append(data)
            at += len(data)
        events = normalizer.feed(stream, b"".join(blocks), final=True)
        events.extend(normalizer.flush(stream))
        for event in events:
            line = batch[bisect_right(starts, base if event.offset is None else event.offset) - 1]
            outputs.append(self._output(event, line[5], host, source))

    def _output(self, event: AuthEvent, stamp: Optional[str], host: Optional[str], source: str) -> Dict[str, Any]:
        rendered = render(event, self._renderer)
        out: Dict[str, Any] = {
            "_time": stamp,
            "_raw": json_text(rendered),  # as the modular input writes it
            "host": host,
            "source": source,
            "sourcetype": SOURCETYPES.get(self._renderer, SOURCETYPES["cim"]),
        }
        for name, value in flatten(rendered).items():
            if name not in ("_time", "_raw"):
                out[name] = value
        return out

    def _report(self, normalizer: Normalizer) -> None:
        diagnostics = normalizer.take_diagnostics()
        for diagnostic in diagnostics[:MAX_MESSAGES]:
            self.write_warning(f"{NAME}: {diagnostic}")
        if len(diagnostics) > MAX_MESSAGES:
            self.write_warning(f"{NAME}: {len(diagnostics) - MAX_MESSAGES} more warnings (see search.log)")
            for diagnostic in diagnostics[MAX_MESSAGES:]:
                self.logger.warning("%s", diagnostic)
        if self._no_raw:
            self.write_warning(f"{NAME}: {self._no_raw} input records had no _raw text and were skipped")
        if self._dropped:
            self.write_warning(
                f"{NAME}: more than {self._limit} usable lines: the {self._dropped} oldest were not read "
                "(narrow the time range or raise max_records)"
            )
        stats = normalizer.stats_dict()
        self.logger.info("%s: %s", NAME, " ".join(f"{k}={v}" for k, v in stats.items()))


@lru_cache(maxsize=4)
def _day_end(day: float) -> datetime:
    """The reference time that places yearless syslog dates in the year Splunk gave the event (its ``_time``),
    for an event of the UTC day that starts at ``day``.

    The end of that day: a date is never after its reference (and infer_year allows two more days, for the
    appliance's zone). Cached: it changes once a day of log time, not once a line.
    """
    return datetime.fromtimestamp(day + 86400, timezone.utc)


def _oldest_first(lines: List[_Line]) -> Iterator[Tuple[Optional[float], Optional[str], _Line]]:
    """The buffered lines oldest first.

    They arrived newest first, so for equal times the later arrival is the older line; a line with no
    usable ``_time`` keeps the time of the line that arrived just after it (its older neighbour).
    """
    keyed: List[Tuple[float, int, _Line]] = []
    previous = float("-inf")
    for line in reversed(lines):
        when = line[0] if line[0] is not None else previous
        previous = when
        keyed.append((when, -line[1], line))
    keyed.sort(key=lambda item: (item[0], item[1]))
    for _, _, line in keyed:
        yield line[0], line[5], line
