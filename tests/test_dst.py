"""Daylight-saving changes through the paths users run (#20): the command line and the modular input.

The cases are the golden files of ``tests/golden/dst`` (America/Chicago and
Australia/Sydney, the changes of spring and autumn, file and syslog
envelopes); their expected files say the times. Here the same logs go through
``esa-auth normalize --tz`` and through the modular input, the latter split
across two runs around the repeated hour, and must give the same times and
offsets.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from conftest import GOLDEN_DIR
from esa_auth.follow import load_checkpoint
from esa_auth.splunk.modinput import checkpoint_file, run_input
from splunkd import STANZA, parse_stream
from splunklib.modularinput import EventWriter

DST = GOLDEN_DIR / "dst"
CASES = sorted(DST.glob("*.log"))
#: A time as the golden file says it: the line's own time, the UTC time, the offset it was read with.
Time = Tuple[Optional[str], Optional[str], Optional[int]]


def _config(log: Path) -> Dict[str, Any]:
    path = log.with_name(log.stem + "-config.json")
    config: Dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return config


def _times(events: List[Dict[str, Any]]) -> List[Time]:
    return [(e.get("original_time"), e.get("time"), e.get("utc_offset")) for e in events]


def _expected(log: Path) -> Tuple[List[Time], List[str]]:
    data = json.loads(log.with_name(log.stem + "-expected.json").read_text(encoding="utf-8"))
    return _times(data["events"]), [warning.split(": ", 1)[1] for warning in data["warnings"]]


def test_every_change_of_both_hemispheres_in_both_envelopes_has_a_case() -> None:
    names = {log.stem for log in CASES}
    for place in ("chicago", "sydney"):
        for season in ("spring", "autumn"):
            for envelope in ("file", "syslog"):
                assert f"{place}-{season}-{envelope}" in names


@pytest.mark.parametrize("log", CASES, ids=lambda log: log.stem)
def test_the_command_line_reads_the_golden_times(log: Path) -> None:
    config = _config(log)
    args = ["normalize", str(log)]
    if "tz" in config:
        args += ["--tz", config["tz"]]
    if "reference_time" in config:
        args += ["--year", config["reference_time"][:4]]
    result = subprocess.run([sys.executable, "-m", "esa_auth", *args], capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode("utf-8", "replace")
    events = [json.loads(line) for line in result.stdout.decode("utf-8").splitlines()]
    times, warnings = _expected(log)
    assert _times(events) == times
    # Each warning once, as "FILE:LINE: message".
    lines = result.stderr.decode("utf-8").splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == warnings
    assert all(line.startswith(f"{log}:") for line in lines)


def _run(logs: Path, ck: Path, config: Dict[str, Any]) -> Tuple[List[Time], str]:
    out, err = io.StringIO(), io.StringIO()
    params = {"path": str(logs), "start_from": "beginning"}
    if "tz" in config:
        params["timezone"] = config["tz"]
    # The year of syslog dates is that of the run's time: a run the day after the change.
    now = datetime.fromisoformat(config.get("reference_time", "2026-12-01T00:00:00Z").replace("Z", "+00:00"))
    writer = EventWriter(out, err)
    assert run_input(STANZA, params, str(ck), writer, now.astimezone(timezone.utc))
    writer.close()  # the end of the stream, as the script writes it
    return _times([event.data for event in parse_stream(out.getvalue())]), err.getvalue()


# Where the log is cut between two runs: after the last line of the first pass (the step back comes in the
# next run), or after the first line of the second (the rest of the second pass comes in the next run).
@pytest.mark.parametrize(
    ("name", "cut"),
    [
        ("chicago-autumn-file", "01:59:59"),
        ("chicago-autumn-file", "01:15:00"),
        ("chicago-autumn-file-no-zone", "01:59:59"),
        ("chicago-autumn-syslog", "01:59:59"),
        ("chicago-autumn-syslog", "01:15:00"),
        ("sydney-autumn-file", "02:59:59"),
        ("sydney-autumn-syslog", "02:10:00"),
    ],
)
def test_the_modular_input_split_at_the_repeated_hour_reads_the_golden_times(
    name: str, cut: str, tmp_path: Path
) -> None:
    log = DST / f"{name}.log"
    config = _config(log)
    text = log.read_bytes()
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if f" {cut} ".encode() in line) + 1
    logs = tmp_path / "logs"
    logs.mkdir()
    path = logs / "mail.esa01.example.com.current"
    ck = tmp_path / "ck"
    path.write_bytes(b"".join(lines[:at]))
    first, _ = _run(logs, ck, config)
    state = load_checkpoint(checkpoint_file(str(ck), STANZA))
    assert state is not None
    assert state["files"][0]["stream"]["clock"]["hands"], "the checkpoint keeps the clock"
    with open(path, "ab") as handle:
        handle.write(b"".join(lines[at:]))
    second, _ = _run(logs, ck, config)
    times, _ = _expected(log)
    assert first + second == times
    assert len(first) == sum(1 for line in lines[:at] if b"authentication" in line)
