"""pytest-splunk-addon's own offline requirement tests on the samples (#14).

build.py checks samples/*.xml with its own reading of pytest-splunk-addon's format; this runs the peer's
validator itself (its XSD, its requirement tests ``-m splunk_requirements_unit``), as README tells a user to,
from its own environment (.venv-psa, made by ``python3 build.py --setup``: its pins meet neither ours nor
AppInspect's).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from splunkd import build_spl

ROOT = Path(__file__).resolve().parent.parent
PSA = ROOT / ".venv-psa" / ("Scripts" if os.name == "nt" else "bin") / "pytest"
TEST_FILE = "from pytest_splunk_addon.standard_lib.addon_basic import Basic\n\n\nclass Test_App(Basic):\n    pass\n"


def _psa() -> Path:
    if not PSA.exists():
        message = f"pytest-splunk-addon is not installed at {PSA.parent.parent}: run `python3 build.py --setup`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return PSA


def run_requirement_tests(app_dir: Path, samples: Path, work: Path) -> subprocess.CompletedProcess[str]:
    (work / "test_addon.py").write_text(TEST_FILE, encoding="utf-8")
    command = [str(_psa()), str(work / "test_addon.py"), f"--splunk-app={app_dir}",
               f"--splunk-data-generator={samples}", "-m", "splunk_requirements_unit", "-p", "no:cacheprovider",
               "-q", "-W", "ignore::pytest.PytestUnknownMarkWarning"]  # fmt: skip
    return subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _psa()
    work = tmp_path_factory.mktemp("psa-build")
    build_spl(work)
    return work / "app" / "TA-cisco-esa-auth"


def _passed(output: str) -> int:
    found = re.search(r"(\d+) passed", output)
    return int(found.group(1)) if found else 0


def test_the_samples_pass_pytest_splunk_addon_requirement_tests(app_dir: Path, tmp_path: Path) -> None:
    result = run_requirement_tests(app_dir, ROOT / "samples", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "INTERNALERROR" not in output
    # One requirement test per sample event that maps to a data model (46 today, since the audit log's U2 line
    # is no event, #15): none may be dropped.
    assert _passed(output) >= 46, output[-2000:]


def test_its_schema_rejects_an_empty_models_element(app_dir: Path, tmp_path: Path) -> None:
    """The defect #14 found: an empty <models/> stops the whole run; the suite must see it fail."""
    samples = tmp_path / "samples"
    samples.mkdir()
    for path in (ROOT / "samples").iterdir():
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            if path.name == "esa_auth_http.xml":
                # A logoff (no data model) with the empty element it used to carry.
                text = text.replace("<cim>\n      <cim_fields>", "<cim>\n      <models/>\n      <cim_fields>", 1)
            (samples / path.name).write_text(text, encoding="utf-8")
    work = tmp_path / "work"
    work.mkdir()
    result = run_requirement_tests(app_dir, samples, work)
    assert result.returncode != 0
    assert "Tag 'model' expected" in result.stdout + result.stderr
