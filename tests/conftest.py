"""Shared test set-up: the ``--update-golden`` option and helpers to run the library.

Fixtures:
    schema_validator: a draft 2020-12 validator of the shipped event schema.
    normalize: :func:`normalize` (bytes + settings -> events, warnings, stats).
    assert_valid: checks that every event validates, naming the failing field.
    update_golden: True when ``pytest --update-golden`` was given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import pytest
from esa_auth import AuthEvent, Diagnostic, Normalizer, Settings, Stream, appliance_from_filename
from esa_auth.schema import validator

TESTS_DIR = Path(__file__).resolve().parent
GOLDEN_DIR = TESTS_DIR / "golden"
#: The repository copy of Cisco's published example (wrapped lines, TAC note 118570).
MISSION_LOG = GOLDEN_DIR / "mission" / "tac-118570-wrapped.log"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite tests/golden/**/<case>-expected.json from the current output (review the diff)",
    )


@pytest.fixture(scope="session")
def update_golden(request: pytest.FixtureRequest) -> bool:
    """True when the run may rewrite expected golden files."""
    return bool(request.config.getoption("--update-golden"))


@dataclass
class Result:
    """What one run of the normalizer produced.

    Attributes:
        events: the events, in output order.
        diagnostics: every warning, in order.
        stats: the counters at the end (``Normalizer.stats_dict``).
        state: the normalizer state at the end (``Normalizer.state``).
    """

    events: List[AuthEvent]
    diagnostics: List[Diagnostic]
    stats: Dict[str, int]
    state: Dict[str, Any] = field(default_factory=dict)

    @property
    def dicts(self) -> List[Dict[str, Any]]:
        """The events in their CIM form."""
        return [event.to_dict() for event in self.events]

    @property
    def messages(self) -> List[str]:
        """The warnings as ``LINE: message`` (the source name left out)."""
        return [f"{d.line}: {d.message}" for d in self.diagnostics]


def normalize(
    data: bytes,
    settings: Optional[Settings] = None,
    *,
    source: str = "test.log",
    key: Optional[str] = None,
    appliance: Optional[str] = None,
    chunks: Optional[Iterable[int]] = None,
) -> Result:
    """Run one source through a fresh :class:`Normalizer` and end it.

    Args:
        data: the bytes of the source.
        settings: how to read it (default: ``Settings()``).
        source: the stream name (used in warnings and, as key, in event ids).
        key: the stream key, if not ``source``.
        appliance: the appliance the source implies.
        chunks: sizes to cut ``data`` into before feeding (the rest goes in one
            last feed); None feeds everything at once.
    """
    normalizer = Normalizer(settings or Settings())
    stream = Stream(source, key=key, appliance=appliance)
    events = _feed_all(normalizer.feed, stream, data, chunks) + normalizer.end(stream)
    return Result(events, normalizer.take_diagnostics(), normalizer.stats_dict(), normalizer.state())


def _feed_all(
    feed: Callable[[Stream, bytes], List[Any]], stream: Stream, data: bytes, chunks: Optional[Iterable[int]]
) -> List[Any]:
    """Feed ``data`` cut into ``chunks`` (the rest in one last piece); return what the calls gave."""
    out: List[Any] = []
    pos = 0
    for size in chunks or ():
        out.extend(feed(stream, data[pos : pos + size]))
        pos += size
    out.extend(feed(stream, data[pos:]))
    return out


def settings_from_config(config: Dict[str, Any]) -> Settings:
    """Build Settings from a golden ``-config.json`` (``reference_time`` as RFC 3339)."""
    values = {k: config[k] for k in ("tz", "host", "year", "max_sessions", "session_timeout", "max_line_bytes")
              if k in config}  # fmt: skip
    if "reference_time" in config:
        values["reference_time"] = datetime.fromisoformat(config["reference_time"].replace("Z", "+00:00"))
    return Settings(**values)


def _golden_result(log: Path, config: Dict[str, Any], line_by_line: bool = False) -> Result:
    name = log.relative_to(GOLDEN_DIR).as_posix()
    appliance = config.get("appliance")
    if appliance is None and "file_name" in config:
        appliance = appliance_from_filename(config["file_name"])
    data = log.read_bytes()
    # One physical line a call: no block holds two lines, so every line is framed one by one.
    chunks = [len(line) for line in data.splitlines(keepends=True)] if line_by_line else config.get("chunks")
    return normalize(data, settings_from_config(config), source=name, appliance=appliance, chunks=chunks)


def run_golden_case(log: Path, config: Dict[str, Any], *, line_by_line: bool = False) -> Dict[str, Any]:
    """Normalize a golden ``<case>.log`` as its config says; return the expected-file form.

    The stream key is the case path relative to ``tests/golden`` so that
    event ids do not depend on where the repository is checked out. With
    ``line_by_line``, the file is fed one physical line a call.
    """
    result = _golden_result(log, config, line_by_line)
    return {"events": result.dicts, "warnings": result.messages, "stats": result.stats}


def run_golden_case_events(log: Path) -> List[AuthEvent]:
    """The events of a golden case as objects, read as :func:`run_golden_case` reads it (its config beside it)."""
    config_path = log.with_name(log.stem + "-config.json")
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
    return _golden_result(log, config).events


def dump_expected(data: Dict[str, Any]) -> str:
    """The canonical text of an expected file (stable diffs)."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


@pytest.fixture(scope="session")
def schema_validator() -> Any:
    """A draft 2020-12 validator of ``auth_event.schema.json`` (formats checked)."""
    return validator()


@pytest.fixture(scope="session")
def assert_valid(schema_validator: Any) -> Callable[[Iterable[Dict[str, Any]]], None]:
    """Check that every event validates; the failure names the event and the field."""

    def check(events: Iterable[Dict[str, Any]]) -> None:
        for index, event in enumerate(events):
            errors = sorted(schema_validator.iter_errors(event), key=lambda e: list(e.path))
            assert not errors, f"event {index} is invalid: " + "; ".join(
                f"{'/'.join(map(str, e.path)) or '<root>'}: {e.message}" for e in errors
            )

    return check


@pytest.fixture(scope="session", name="normalize")
def normalize_fixture() -> Callable[..., Result]:
    """:func:`normalize`, for tests that prefer fixtures to imports."""
    return normalize


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """An empty log directory (the modular input's and the follow engine's tests)."""
    directory = tmp_path / "logs"
    directory.mkdir()
    return directory
