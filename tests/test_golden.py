"""Golden files: ``tests/golden/<group>/<case>.log`` beside ``<case>-expected.json``.

Cases are discovered by glob, so none can be forgotten; an expected file
without its input fails, and an input without expected output fails unless
``pytest --update-golden`` writes it. See ``tests/golden/README.md``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Set

import pytest
from conftest import GOLDEN_DIR, dump_expected, run_golden_case
from esa_auth import patterns as P
from esa_auth.envelope import parse_prefix

CASES = sorted(GOLDEN_DIR.glob("*/*.log"))
EXPECTED_SUFFIX = "-expected.json"
CONFIG_SUFFIX = "-config.json"


def _expected_path(log: Path) -> Path:
    return log.with_name(log.stem + EXPECTED_SUFFIX)


def _config_path(log: Path) -> Path:
    return log.with_name(log.stem + CONFIG_SUFFIX)


def _config(log: Path) -> Dict[str, Any]:
    path = _config_path(log)
    if not path.exists():
        return {}
    config: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return config


def _case_id(log: Path) -> str:
    return log.relative_to(GOLDEN_DIR).as_posix()


def test_cases_exist() -> None:
    assert len(CASES) >= 20, f"golden cases went missing: only {len(CASES)} under {GOLDEN_DIR}"


def test_no_orphan_expected_or_config() -> None:
    """Every -expected.json and -config.json has its .log; nothing else lies in a group."""
    orphans = []
    strays = []
    for path in sorted(GOLDEN_DIR.glob("*/*")):
        for suffix in (EXPECTED_SUFFIX, CONFIG_SUFFIX):
            if path.name.endswith(suffix):
                if not path.with_name(path.name[: -len(suffix)] + ".log").exists():
                    orphans.append(_case_id(path))
                break
        else:
            if path.suffix != ".log":
                strays.append(_case_id(path))
    assert not orphans, f"expected/config files without their .log: {orphans}"
    assert not strays, f"files that are no part of a golden case: {strays}"


@pytest.mark.parametrize("log", CASES, ids=_case_id)
def test_golden(log: Path, update_golden: bool, assert_valid: Callable[[Iterable[Dict[str, Any]]], None]) -> None:
    actual = run_golden_case(log, _config(log))
    assert_valid(actual["events"])
    expected_path = _expected_path(log)
    text = dump_expected(actual)
    if update_golden:
        if not expected_path.exists() or expected_path.read_text(encoding="utf-8") != text:
            expected_path.write_text(text, encoding="utf-8")
        return
    assert expected_path.exists(), (
        f"{_case_id(expected_path)} is missing: run pytest --update-golden and review the new file"
    )
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert set(expected) == {"events", "warnings", "stats"}, f"{_case_id(expected_path)}: unexpected top-level keys"
    # Compared piece by piece so that a failure says which part drifted.
    assert actual["warnings"] == expected["warnings"]
    assert len(actual["events"]) == len(expected["events"]), [e.get("raw") for e in actual["events"]]
    for index, (got, want) in enumerate(zip(actual["events"], expected["events"])):
        assert got == want, f"event {index} differs"
    assert actual["stats"] == expected["stats"]
    assert expected_path.read_text(encoding="utf-8") == text, "expected file is not in canonical form"


@pytest.mark.parametrize("log", CASES, ids=_case_id)
def test_golden_line_by_line(log: Path) -> None:
    """Fed one physical line a call, each line is framed on its own (reader._each_line): the same output."""
    expected_path = _expected_path(log)
    if not expected_path.exists():
        pytest.fail(f"{_case_id(expected_path)} is missing: run pytest --update-golden and review the new file")
    actual = run_golden_case(log, _config(log), line_by_line=True)
    assert dump_expected(actual) == expected_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("size", [7, 31, 97, 256])
@pytest.mark.parametrize("log", CASES, ids=_case_id)
def test_golden_in_small_blocks(log: Path, size: int) -> None:
    """Fed in blocks of ``size`` bytes (lines cut anywhere, a wrapped line's parts in two blocks): the same output."""
    config = dict(_config(log))
    data = log.read_bytes()
    config["chunks"] = [size] * (len(data) // size)
    assert dump_expected(run_golden_case(log, config)) == _expected_path(log).read_text(encoding="utf-8")


def test_the_wrapped_example_in_blocks_of_every_size() -> None:
    """Cisco's example as published (wrapped lines) gives its four events whatever the block size."""
    log = GOLDEN_DIR / "mission" / "tac-118570-wrapped.log"
    expected = _expected_path(log).read_text(encoding="utf-8")
    data = log.read_bytes()
    for size in range(1, len(data) + 1):
        config = dict(_config(log), chunks=[size] * (len(data) // size))
        assert dump_expected(run_golden_case(log, config)) == expected, size


def _all_expected() -> List[Dict[str, Any]]:
    out = []
    for log in CASES:
        path = _expected_path(log)
        if path.exists():
            out.append(json.loads(path.read_text(encoding="utf-8")))
    return out


def test_every_auth_template_has_a_golden_event() -> None:
    """Each authentication template of the registry appears in some golden output."""
    seen: Set[str] = {e["signature_id"] for data in _all_expected() for e in data["events"]}
    wanted = {p.signature_id for p in P.PATTERNS if p.role == P.AUTH}
    assert wanted - seen == set(), f"templates without a golden case: {sorted(wanted - seen)}"


def test_every_envelope_has_a_golden_case() -> None:
    """Each envelope form E1-E10 opens at least one golden line (E11 lines are in bad/ and skipped)."""
    forms: Set[str] = set()
    cef = False
    for log in CASES:
        for raw in log.read_bytes().decode("utf-8", "replace").splitlines():
            start = raw.find("CEF:0|")
            if start >= 0:
                cef = True
            for level in ("Info:", "Warning:", "Critical:", "Debug:", "Trace:", "INFO:", "info:"):
                at = raw.find(level + " ")
                if at >= 0:
                    envelope = parse_prefix(raw[: at + len(level)])
                    if envelope is not None:
                        forms.add(envelope.form)
                    break
    assert {"E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E10"} <= forms, sorted(forms)
    assert cef, "no golden case has a CEF (E11) line"
