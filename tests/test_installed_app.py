"""The built app, installed in a temporary $SPLUNK_HOME, run the way splunkd runs it.

Each Splunk Python found (3.9 for Splunk 9, 3.13 for Splunk 10) runs bin/esa_auth.py
in isolated mode (``python -I``) from a directory outside the repository, so the
script can only use what the package ships. A Python that is not installed is
skipped, with where it was looked for.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

import pytest
from esa_auth.follow import load_checkpoint
from esa_auth.pipeline import Normalizer, Settings, Stream, appliance_from_filename
from esa_auth.splunk.modinput import checkpoint_file
from splunkd import (
    SPLUNK_PYTHONS,
    STANZA,
    build_spl,
    input_xml,
    install,
    mail_file,
    parse_partial_stream,
    parse_stream,
    run_script,
    splunk_python,
    splunkd_env,
    validation_xml,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, Path]:
    """(SPLUNK_HOME, app directory) with the freshly built .spl installed."""
    work = tmp_path_factory.mktemp("build")
    spl = build_spl(work)
    home = tmp_path_factory.mktemp("splunk_home")
    return home, install(spl, home)


@pytest.fixture(params=SPLUNK_PYTHONS, ids=lambda v: f"python{v}")
def python(request: pytest.FixtureRequest) -> str:
    return splunk_python(request.param)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A working directory outside the repository, as splunkd's."""
    directory = tmp_path / "cwd"
    directory.mkdir()
    return directory


def script(app_dir: Path) -> Path:
    return app_dir / "bin" / "esa_auth.py"


def expected_events(ck: Path, files: Sequence[Path], settings: Settings) -> List[Dict[str, Any]]:
    """What the library (this repository's copy, in process) makes of the files, with the input's keys."""
    data = load_checkpoint(checkpoint_file(str(ck), STANZA))
    assert data is not None
    keys = {entry["path"]: entry["key"] for entry in data["files"]}
    normalizer = Normalizer(settings)
    out: List[Dict[str, Any]] = []
    for path in files:
        stream = Stream(str(path), key=keys[str(path)], appliance=appliance_from_filename(path.name))
        out += [e.to_dict() for e in normalizer.feed(stream, path.read_bytes()) + normalizer.flush(stream)]
    return out


def test_the_packaged_script_imports_the_vendored_packages(app: Tuple[Path, Path], python: str, outside: Path) -> None:
    home, app_dir = app
    result = subprocess.run(
        [python, "-I", "-v", str(script(app_dir)), "--scheme"],
        capture_output=True, text=True, cwd=str(outside), env=splunkd_env(home), timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    # -v names the file of every module it imports ("# code object from '<path>'" or "matches <path>").
    loaded = set(re.findall(r"(/\S*?/(?:esa_auth|splunklib)/\S*?\.py)\b", result.stderr))
    assert any(p.endswith("esa_auth/splunk/modinput.py") for p in loaded)
    assert any(p.endswith("splunklib/modularinput/script.py") for p in loaded)
    lib = str(app_dir / "bin" / "lib") + "/"
    outsiders = sorted(p for p in loaded if not p.startswith(lib) and "__pycache__" not in p)
    assert outsiders == [], "imported from outside the app's bin/lib"


def test_scheme(app: Tuple[Path, Path], python: str, outside: Path) -> None:
    home, app_dir = app
    result = run_script(python, script(app_dir), ["--scheme"], "", home, outside)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<scheme><title>Cisco ESA authentication events</title>")
    assert re.findall(r'<arg name="([^"]+)">', result.stdout) == [
        "path", "timezone", "appliance", "start_from", "max_sessions", "session_timeout", "format",
    ]  # fmt: skip


def test_validate_arguments(app: Tuple[Path, Path], python: str, outside: Path, tmp_path: Path) -> None:
    home, app_dir = app
    good = validation_xml(tmp_path, {"path": str(tmp_path), "timezone": "America/Chicago", "session_timeout": "2h"})
    result = run_script(python, script(app_dir), ["--validate-arguments"], good, home, outside)
    assert (result.returncode, result.stdout) == (0, "")
    bad = validation_xml(tmp_path, {"path": str(tmp_path / "missing"), "timezone": "UTC"})
    result = run_script(python, script(app_dir), ["--validate-arguments"], bad, home, outside)
    assert result.returncode == 1
    assert result.stdout == f"<error><message>path does not exist: '{tmp_path / 'missing'}'</message></error>"
    bad = validation_xml(tmp_path, {"path": str(tmp_path), "max_sessions": "-3"})
    result = run_script(python, script(app_dir), ["--validate-arguments"], bad, home, outside)
    assert result.returncode == 1
    assert "max_sessions must be between 1 and" in result.stdout


def test_runs_match_the_library_and_a_second_run_emits_nothing(
    app: Tuple[Path, Path], python: str, outside: Path, tmp_path: Path, logs: Path
) -> None:
    home, app_dir = app
    path = logs / "mail.esa01.example.com.current"
    path.write_text(mail_file(100, 30), encoding="utf-8")
    auth = logs / "authentication.esa01.example.com.current"
    auth.write_text(
        "Mon Jan  6 08:00:00 2025 Info: Begin Logfile\n"
        "Mon Jan  6 08:12:40 2025 Info: The user admin successfully logged on from 192.0.2.10 with privilege admin "
        "using an HTTPS connection.\n",
        encoding="utf-8",
    )
    os.utime(path, ns=(1_700_000_000 * 10**9,) * 2)
    os.utime(auth, ns=(1_700_000_100 * 10**9,) * 2)
    ck = tmp_path / "ck"
    stdin = input_xml(ck, {"path": str(logs), "timezone": "Europe/Paris"})
    first = run_script(python, script(app_dir), [], stdin, home, outside)
    assert first.returncode == 0, first.stderr
    events = parse_stream(first.stdout)
    assert [e.data for e in events] == expected_events(ck, [path, auth], Settings(tz="Europe/Paris"))
    assert {e.sourcetype for e in events} == {"cisco:esa:auth"}
    assert {e.host for e in events} == {"esa01.example.com"}
    assert events[-1].data["privileged"] is True
    second = run_script(python, script(app_dir), [], stdin, home, outside)
    assert (second.returncode, second.stdout) == (0, "")
    assert "events=0" in second.stderr


def test_rotation_mid_stream_loses_and_repeats_nothing(
    app: Tuple[Path, Path], python: str, outside: Path, tmp_path: Path, logs: Path
) -> None:
    home, app_dir = app
    current = logs / "mail.current"
    text = mail_file(100, 40)
    cut = text.index("SMTP Auth: (ICID 120)")
    cut = text.rindex("\n", 0, cut) + 1
    current.write_text(text[:cut], encoding="utf-8")
    os.utime(current, ns=(1_700_000_000 * 10**9,) * 2)
    ck = tmp_path / "ck"
    stdin = input_xml(ck, {"path": str(logs)})
    first = run_script(python, script(app_dir), [], stdin, home, outside)
    # The appliance finishes the file, rolls it, and starts a new one.
    with open(current, "a", encoding="utf-8") as handle:
        handle.write(text[cut:])
    os.utime(current, ns=(1_700_000_010 * 10**9,) * 2)
    rolled = logs / "mail.@20250106T000040.s"
    os.rename(current, rolled)
    current.write_text(mail_file(500, 10, start=600), encoding="utf-8")
    os.utime(current, ns=(1_700_000_020 * 10**9,) * 2)
    second = run_script(python, script(app_dir), [], stdin, home, outside)
    assert first.returncode == second.returncode == 0
    got = [e.data for e in parse_stream(first.stdout) + parse_stream(second.stdout)]
    expected = expected_events(ck, [rolled, current], Settings())
    assert len(expected) == 50
    assert got == expected
    assert got[20]["src"] == "198.51.100.121"  # ICID 120's client, opened before the rotation


def _kill_after(python: str, app_dir: Path, stdin: str, home: Path, cwd: Path, events: int) -> str:
    """Start a run, read its stream until ``events`` complete events arrived, kill -9 it, and return
    everything it wrote (what was still in the pipe too: splunkd would have read it)."""
    proc = subprocess.Popen(
        [python, "-I", str(script(app_dir))], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, cwd=str(cwd), env=splunkd_env(home),
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(stdin.encode())
    proc.stdin.close()
    received = b""
    try:
        while received.count(b"</event>") < events:
            block = os.read(proc.stdout.fileno(), 4096)
            if not block:
                break
            received += block
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        received += proc.stdout.read()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return received.decode("utf-8", "replace")


@pytest.mark.parametrize("kill_at", [1, 130, 333])
def test_kill_9_then_restart_loses_nothing(
    app: Tuple[Path, Path], python: str, outside: Path, tmp_path: Path, kill_at: int, logs: Path
) -> None:
    home, app_dir = app
    files = []
    for n in range(6):  # rolled files (a run saves every few MiB and at its end: a kill repeats, same ids)
        path = logs / f"mail.@2025010{n}T000000.s"
        path.write_text(mail_file(1000 * (n + 1), 80, start=n * 1000), encoding="utf-8")
        os.utime(path, ns=((1_700_000_000 + n) * 10**9,) * 2)
        files.append(path)
    ck = tmp_path / "ck"
    stdin = input_xml(ck, {"path": str(logs)})
    killed_out = _kill_after(python, app_dir, stdin, home, outside, kill_at)
    before = [e.data for e in parse_partial_stream(killed_out)]
    assert len(before) >= kill_at
    restart = run_script(python, script(app_dir), [], stdin, home, outside)
    assert restart.returncode == 0, restart.stderr
    after = [e.data for e in parse_stream(restart.stdout)]
    expected = expected_events(ck, files, Settings())
    assert len(expected) == 480
    # The restart repeats at most what came after the last checkpoint (same event ids), then goes on.
    start = len(expected) - len(after)
    assert 0 <= start <= len(before)
    assert after == expected[start:]
    assert before == expected[: len(before)]
    # And a run after that has nothing left to say.
    assert run_script(python, script(app_dir), [], stdin, home, outside).stdout == ""
