"""The code's own bars: ruff, ruff format, mypy --strict, and Python 3.9 for what runs inside Splunk.

These run in the test suite so that CI (which runs the README's two commands) enforces them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List

import pytest
from splunkd import splunk_python

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: run `python3 build.py --setup`")
    return found


def _run(args: List[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)


def test_ruff_check() -> None:
    result = _run([_tool("ruff"), "check", "--no-cache", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = _run([_tool("ruff"), "format", "--check", "--no-cache", "."])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = _run([_tool("mypy"), "--no-incremental", "--cache-dir", os.devnull])
    assert result.returncode == 0, result.stdout + result.stderr


def _runtime_sources() -> List[Path]:
    return sorted(p for base in ("package/esa_auth", "bin") for p in (ROOT / base).rglob("*.py"))


def test_runtime_code_parses_on_python_39() -> None:
    python39 = splunk_python("3.9")  # Splunk's 3.9: the library and bin/ must parse and import there
    code = (
        "import ast, sys\n"
        "for path in sys.argv[1:]:\n"
        "    ast.parse(open(path, encoding='utf-8').read(), path, feature_version=(3, 9))\n"
    )
    result = _run([python39, "-I", "-c", code, *map(str, _runtime_sources())])
    assert result.returncode == 0, result.stderr


def test_library_imports_on_python_39() -> None:
    python39 = splunk_python("3.9")  # Splunk's 3.9: the library and bin/ must parse and import there
    modules = sorted(
        ".".join(p.relative_to(ROOT / "package").with_suffix("").parts)
        for p in (ROOT / "package" / "esa_auth").rglob("*.py")
        if p.parent.name != "splunk" and p.name != "__main__.py"  # splunk/ needs splunklib: tested in the app
    )
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    env = {"PYTHONPATH": str(ROOT / "package"), "PATH": os.environ.get("PATH", "")}
    result = subprocess.run(
        [python39, "-c", code, *modules],
        cwd="/",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
