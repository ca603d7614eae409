"""The modular input ``esa_auth://<name>``: ESA log files in, normalized events out.

splunkd runs ``bin/esa_auth.py`` (a shim over :class:`EsaAuthInput`) three ways
(Splunk's modular input protocol; splunklib implements it):

* ``--scheme``: print the parameters (:data:`PARAMETERS`);
* ``--validate-arguments``: check a new input's parameters, with a clear message;
* no argument, the input definition on stdin: one run of :class:`~esa_auth.follow.Follower`
  per input: read what the ESA appended since the last run, write the events as
  Splunk's XML stream, checkpoint. splunkd starts a run every ``interval`` seconds.

Warnings about the input (bad lines, unreadable files) go to the input's log
(``EventWriter.log``, which splunkd copies to ``splunkd.log``), never into the
event stream.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from splunklib.modularinput import (  # type: ignore[import-untyped]
    Argument,
    EventWriter,
    InputDefinition,
    Scheme,
    Script,
    ValidationDefinition,
)

from ..durations import parse_duration
from ..errors import ConfigError, EsaAuthError
from ..events import AuthEvent, json_text
from ..follow import START_BEGINNING, STARTS, Follower, check_path
from ..pipeline import Settings
from ..render import RENDERERS, SOURCETYPES
from ..sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TIMEOUT

SCHEME = "esa_auth"
#: The most sessions an input may keep: each costs memory and checkpoint space.
#: Each open session costs about a kilobyte of memory and its share of every checkpoint
#: (docs/RELIABILITY.md): a million is already a large appliance under attack.
MAX_SESSIONS_LIMIT = 1_000_000
#: Warnings written to the input's log per run; the rest are counted.
MAX_WARNINGS_PER_RUN = 200

#: Characters XML 1.0 does not allow (its ``Char`` production): one of these
#: would make splunkd reject the stream.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_CHECKPOINT_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class Parameter:
    """One parameter of the input, as ``--scheme`` declares it.

    README/inputs.conf.spec documents each one; a test keeps the two in step
    (the description is the spec's first ``*`` line).
    """

    name: str
    title: str
    description: str
    required: bool = False
    number: bool = False


PARAMETERS = (
    Parameter("path", "Log path",
              "An absolute path to a Cisco ESA log file, a directory of log files, or a glob pattern.",
              required=True),
    Parameter("timezone", "Appliance time zone",
              "The appliance time zone: an IANA zone name (America/Chicago), UTC, or a fixed offset (+02:00, -0600).",),
    Parameter("appliance", "Appliance name",
              "The appliance name (dvc and host) when neither the log lines nor the file names carry one."),
    Parameter("start_from", "Start from",
              "Where to start reading the files that already exist when the input first runs: beginning or end."),
    Parameter("max_sessions", "Maximum open sessions",
              "The most SMTP sessions kept open in memory and in the checkpoint.", number=True),
    Parameter("session_timeout", "Session timeout",
              "How long a silent SMTP session is kept, in log time: seconds, or a number with a unit (s, m, h, d)."),
    Parameter("format", "Output format",
              "The schema of the events written, which also sets their sourcetype: cim, ocsf or ecs."),
)  # fmt: skip


def xml_safe(text: str) -> str:
    """Replace the characters XML 1.0 does not allow with U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _one_line(text: str) -> str:
    return xml_safe(" ".join(text.split()))


@dataclass(frozen=True)
class InputConfig:
    """The checked parameters of one input."""

    path: str
    timezone: Optional[str]
    appliance: Optional[str]
    start_from: str
    max_sessions: int
    session_timeout: float
    format: str

    def settings(self, now: datetime) -> Settings:
        """Pipeline settings for a run that starts at ``now`` (the year of syslog dates)."""
        return Settings(
            tz=self.timezone,
            host=self.appliance,
            reference_time=now,
            max_sessions=self.max_sessions,
            session_timeout=self.session_timeout,
        )


def _text(params: Mapping[str, Any], name: str) -> Optional[str]:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, list):  # a <param_list>: this input takes single values
        raise ConfigError(f"{name}: one value expected, not a list")
    value = str(value).strip()
    return value or None


def parse_parameters(params: Mapping[str, Any]) -> InputConfig:
    """Check an input's parameters (``--validate-arguments`` and every run).

    Raises:
        ConfigError: a parameter is missing or wrong; the message names it.
    """
    path = _text(params, "path")
    if path is None:
        raise ConfigError("path is required: an ESA log file, a directory of log files, or a glob pattern")
    check_path(path)
    start = (_text(params, "start_from") or START_BEGINNING).lower()
    if start not in STARTS:
        raise ConfigError(f"start_from must be beginning or end, not {start!r}")
    raw_max = _text(params, "max_sessions")
    if raw_max is None:
        max_sessions = DEFAULT_MAX_SESSIONS
    else:
        try:
            max_sessions = int(raw_max)
        except ValueError:
            raise ConfigError(f"max_sessions must be a whole number, not {raw_max!r}") from None
        if not 1 <= max_sessions <= MAX_SESSIONS_LIMIT:
            raise ConfigError(f"max_sessions must be between 1 and {MAX_SESSIONS_LIMIT}, not {max_sessions}")
    raw_timeout = _text(params, "session_timeout")
    try:
        timeout = DEFAULT_TIMEOUT if raw_timeout is None else parse_duration(raw_timeout)
    except ConfigError as exc:
        raise ConfigError(f"session_timeout: {exc}") from None
    fmt = (_text(params, "format") or "cim").lower()
    if fmt not in RENDERERS or fmt not in SOURCETYPES:
        known = ", ".join(sorted(set(RENDERERS) & set(SOURCETYPES)))
        raise ConfigError(f"format must be one of {known}, not {fmt!r}")
    config = InputConfig(
        path=path,
        timezone=_text(params, "timezone"),
        appliance=_text(params, "appliance"),
        start_from=start,
        max_sessions=max_sessions,
        session_timeout=timeout,
        format=fmt,
    )
    try:
        config.settings(datetime.now(timezone.utc))
    except ConfigError as exc:
        message = str(exc)
        raise ConfigError(message if "time zone" not in message else f"timezone: {message}") from None
    return config


def checkpoint_file(checkpoint_dir: str, stanza: str) -> str:
    """The checkpoint file of an input: readable, and distinct for every stanza name."""
    digest = hashlib.sha256(stanza.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    readable = _CHECKPOINT_NAME.sub("_", stanza).strip("_")[:80]
    return os.path.join(checkpoint_dir, f"{readable}-{digest}.json")


def _escape_text(text: str) -> str:
    """Character data as XML writes it (``xml.etree`` escapes the same three); a CR is
    written as a reference, which a parser keeps (a bare CR would be read as LF)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _escape_attribute(text: str) -> str:
    """An attribute value in double quotes, escaped as ``xml.etree`` does."""
    text = _escape_text(text).replace('"', "&quot;")
    return text.replace("\n", "&#10;").replace("\t", "&#09;")


def _element(tag: str, text: str) -> str:
    return f"<{tag}>{_escape_text(xml_safe(text))}</{tag}>"


class XmlStream:
    """Splunk's XML streaming mode, written as text in batches.

    What splunklib's ``EventWriter.write_event`` writes (``<stream>`` once, then
    per event ``<event stanza=".." unbroken="1">`` with ``<time>``, ``<source>``,
    ``<sourcetype>``, ``<index>``, ``<host>``, ``<data>`` and ``<done />``, in
    that order; splunklib's ``modularinput/event.py``), and ``</stream>`` from
    its ``EventWriter.close`` at the end of the run; only without an
    ElementTree per event, and one write and flush per batch. Like splunklib,
    it writes ASCII only (other characters as character references), so the
    stream is UTF-8 whatever the encoding of standard output; unlike
    splunklib, it replaces the characters XML 1.0 does not allow
    (:func:`xml_safe`), which splunkd would refuse.

    Args:
        writer: splunklib's ``EventWriter`` of the run; its output is written
            to, and its ``header_written`` set, so that its ``close`` ends the stream.
    """

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        # splunklib keeps the output in EventWriter._out (event_writer.py) and
        # has no public way to write raw text to it.
        self.out = writer._out

    def write(self, parts: List[str]) -> None:
        """Write the pieces of one or more whole ``<event>`` elements, then flush.

        The pieces hold no character outside XML 1.0 (the callers see to it);
        they may hold any other character.
        """
        text = "".join(parts)
        if not text.isascii():
            text = text.encode("ascii", "xmlcharrefreplace").decode("ascii")
        if not self.writer.header_written:
            text = "<stream>" + text
            self.writer.header_written = True
        self.out.write(text)
        self.out.flush()


class InputRun:
    """One run of one input: the event sink and the log, bound to a stanza."""

    def __init__(self, stanza: str, params: Mapping[str, Any], config: InputConfig, writer: Any) -> None:
        self.stanza = stanza
        self.writer = writer
        self.stream = XmlStream(writer)
        self.render: Callable[[AuthEvent], Dict[str, Any]] = RENDERERS[config.format]
        self.sourcetype = SOURCETYPES[config.format]
        self.index = _text(params, "index")
        self.warnings = 0
        self._open = f'<event stanza="{_escape_attribute(xml_safe(stanza))}" unbroken="1">'
        #: The ``<source>``, ``<sourcetype>`` and ``<index>`` elements of the last source.
        self._source: Tuple[Optional[str], str] = (None, "")
        #: ``<host>`` elements by event dvc (a few appliances; bounded all the same).
        self._hosts: Dict[str, str] = {}

    def _source_elements(self, source: str) -> str:
        if self._source[0] != source:
            text = _element("source", source) + _element("sourcetype", self.sourcetype)
            if self.index:
                text += _element("index", self.index)
            self._source = (source, text)
        return self._source[1]

    def _host(self, dvc: str) -> str:
        if len(self._hosts) >= 1024:
            self._hosts.clear()
        text = self._hosts[dvc] = _element("host", dvc)
        return text

    def emit(self, events: Sequence[AuthEvent], source: str) -> None:
        """Write the events of one block; returns when they are flushed."""
        if not events:
            return
        render, opening, hosts = self.render, self._open, self._hosts
        fixed = self._source_elements(source)
        parts: List[str] = []
        add = parts.append
        for event in events:
            add(opening)
            epoch = event.epoch
            if epoch is not None:
                # Seconds with 3 decimals: what splunkd reads (splunklib's Event, ``time``).
                add(f"<time>{epoch:.3f}</time>")
            add(fixed)
            dvc = event.dvc
            if dvc:
                add(hosts.get(dvc) or self._host(dvc))
            data = json_text(render(event))
            # JSON text escapes every control character; only other characters
            # (a lone surrogate, U+FFFE) may fall outside XML 1.0.
            if not data.isascii():
                data = xml_safe(data)
            if "&" in data or "<" in data or ">" in data:
                data = _escape_text(data)
            add("<data>")
            add(data)
            add("</data><done /></event>")
        self.stream.write(parts)

    def log(self, level: str, message: str) -> None:
        """Write one line to the input's log; warnings past the budget are only counted."""
        if level == EventWriter.WARN:
            self.warnings += 1
            if self.warnings > MAX_WARNINGS_PER_RUN:
                return
        self.writer.log(level, _one_line(f"{self.stanza}: {message}"))


def checkpoint_dir_of(metadata: Mapping[str, Any]) -> str:
    """The ``checkpoint_dir`` of an input definition, checked.

    Raises:
        ConfigError: missing, empty or relative (it would be taken from the working directory).
    """
    value = metadata.get("checkpoint_dir")
    if value is None or not str(value).strip():
        raise ConfigError("the input definition has no checkpoint_dir (splunkd always gives one); nothing was read")
    value = str(value).strip()
    if not os.path.isabs(value):
        raise ConfigError(f"checkpoint_dir must be an absolute path, not {value!r}; nothing was read")
    return value


def run_input(stanza: str, params: Mapping[str, Any], checkpoint_dir: str, writer: Any, now: datetime) -> bool:
    """Run one input once. Returns False when it could not run (the reason is logged)."""
    try:
        config = parse_parameters(params)
    except ConfigError as exc:
        writer.log(EventWriter.ERROR, _one_line(f"{stanza}: {exc}; input not run"))
        return False
    run = InputRun(stanza, params, config, writer)
    try:
        os.makedirs(checkpoint_dir, exist_ok=True)
        follower = Follower(config.path, config.settings(now), checkpoint_file(checkpoint_dir, stanza),
                            config.start_from)  # fmt: skip
        stats = follower.run(run.emit, run.log, now=now.timestamp())
    except (EsaAuthError, OSError) as exc:
        writer.log(EventWriter.ERROR, _one_line(f"{stanza}: {exc}"))
        return False
    if run.warnings > MAX_WARNINGS_PER_RUN:
        run.log(EventWriter.INFO, f"{run.warnings - MAX_WARNINGS_PER_RUN} more warnings not shown")
    run.log(EventWriter.INFO, f"run done: {stats}")
    return True


class EsaAuthInput(Script):  # type: ignore[misc]
    """The ``esa_auth`` modular input kind."""

    def get_scheme(self) -> Any:
        """The scheme splunkd asks for with ``--scheme``."""
        scheme = Scheme("Cisco ESA authentication events")
        scheme.description = (
            "Reads Cisco ESA (Secure Email Gateway) mail, authentication, HTTP, audit and API logs and writes "
            "normalized authentication events (CIM Authentication)."
        )
        scheme.use_external_validation = True
        scheme.use_single_instance = False
        for param in PARAMETERS:
            scheme.add_argument(
                Argument(
                    param.name,
                    title=param.title,
                    description=param.description,
                    data_type=Argument.data_type_number if param.number else Argument.data_type_string,
                    required_on_create=param.required,
                    required_on_edit=False,
                )
            )
        return scheme

    def validate_input(self, definition: Any) -> None:
        """Check a new input's parameters; the ConfigError message is what the admin sees."""
        parse_parameters(definition.parameters)

    def stream_events(self, inputs: Any, ew: Any) -> None:
        """Run every input of the definition once.

        Raises:
            ConfigError: the definition has no usable ``checkpoint_dir``.
        """
        checkpoint_dir = checkpoint_dir_of(inputs.metadata)
        now = datetime.fromtimestamp(time.time(), timezone.utc)
        for stanza, params in inputs.inputs.items():
            run_input(stanza, params, checkpoint_dir, ew, now)

    def run_script(self, args: List[str], event_writer: Any, input_stream: Any) -> int:
        """What splunklib's ``Script.run_script`` does, with every error one line of the log and a non-zero exit.

        splunklib logs an exception as its traceback folded onto one line,
        without a newline (``EventWriter.log_exception``); here a bad input
        definition (not XML, empty, no ``checkpoint_dir``), bad arguments and
        any error left are one ``ERROR`` line naming the problem.
        """
        try:
            if len(args) == 1:
                try:
                    definition = InputDefinition.parse(input_stream)
                except ET.ParseError as exc:
                    raise ConfigError(
                        f"the input definition on standard input is not XML ({exc}); nothing was read"
                    ) from None
                self.stream_events(definition, event_writer)
                event_writer.close()
                return 0
            mode = str(args[1]).lower()
            if mode == "--scheme" and len(args) == 2:
                event_writer.write_xml_document(self.get_scheme().to_xml())
                return 0
            if mode == "--validate-arguments" and len(args) == 2:
                return self._validate(event_writer, input_stream)
            raise ConfigError(f"unknown arguments {' '.join(map(str, args[1:]))!r}: use --scheme, "
                              "--validate-arguments, or none")  # fmt: skip
        except ConfigError as exc:
            event_writer.log(EventWriter.ERROR, _one_line(str(exc)))
        except Exception as exc:
            event_writer.log(EventWriter.ERROR, _one_line(f"{type(exc).__name__}: {exc}"))
        return 1

    def _validate(self, event_writer: Any, input_stream: Any) -> int:
        """``--validate-arguments``: 0, or 1 with the ``<error>`` document splunkd shows the admin."""
        try:
            definition = ValidationDefinition.parse(input_stream)
            self.validate_input(definition)
            return 0
        except ET.ParseError as exc:
            message = f"the validation request on standard input is not XML ({exc})"
        except ConfigError as exc:
            message = str(exc)
        root = ET.Element("error")
        ET.SubElement(root, "message").text = _one_line(message)
        event_writer.write_xml_document(root)
        event_writer.log(EventWriter.ERROR, _one_line(message))
        return 1
