"""SIGKILL and restart of the modular input, run as splunkd runs it.

``python -I bin/esa_auth.py`` with the input definition on stdin and a
``checkpoint_dir``, killed with SIGKILL while a writer appends to and rotates
the log: after the restarts, the union of everything emitted equals one clean
run (nothing lost, nothing invented, duplicates only with the same event_id).
A small campaign of ``fuzz/crash_campaign.py`` (whose figures, with hundreds
of kill points, are in docs/RELIABILITY.md), and kills at chosen points.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Dict, List

import pytest

pytest.importorskip("splunklib", reason="splunk-sdk is not installed (pip install -e '.[dev]')")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

import crash_campaign

COMMAND = crash_campaign.default_command(None, sys.executable)
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def _events(stdout: bytes) -> List[Dict[str, Any]]:
    """The complete events in a (possibly cut) XML stream."""
    out = []
    for match in crash_campaign._EVENT.finditer(stdout):
        data = ET.fromstring(match.group(0)).findtext("data")
        assert data is not None
        out.append(json.loads(data))
    return out


def _run(stdin: bytes) -> List[Dict[str, Any]]:
    done = subprocess.run(COMMAND, input=stdin, capture_output=True, env=ENV, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr
    if done.stdout:
        ET.fromstring(done.stdout)  # a run that finishes writes a well-formed stream
    return _events(done.stdout)


def _kill_after_first_event(stdin: bytes) -> List[Dict[str, Any]]:
    """Start the input, SIGKILL it as soon as one whole event is on stdout."""
    proc = subprocess.Popen(COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(stdin)
    proc.stdin.close()
    seen = b""
    while b"</event>" not in seen:
        byte = proc.stdout.read(1)
        if not byte:
            break
        seen += byte
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    seen += proc.stdout.read()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    return _events(seen)


def _log(users: int) -> bytes:
    stamp = b"Wed Apr 22 11:44:48 2009 Info: "
    return b"".join(stamp + b"User u%d from 192.0.2.%d failed authentication.\n" % (i, i % 250) for i in range(users))


def test_kill_right_after_an_event_is_written_replays_it_with_the_same_id(tmp_path: Path, logs: Path) -> None:
    (logs / "mail.current").write_bytes(_log(2000))
    stdin = crash_campaign.input_xml(str(logs), str(tmp_path / "ck"))
    before = _kill_after_first_event(stdin)
    assert len(before) >= 1
    after = _run(stdin)
    clean = _run(crash_campaign.input_xml(str(logs), str(tmp_path / "clean-ck")))
    ids = {e["raw"]: e["event_id"] for e in clean}
    # Nothing lost: the restart re-reads from the last checkpoint, saved after the events it covers.
    assert {e["raw"] for e in before + after} == set(ids)
    # Duplicates carry the id the clean run gives: a replay is de-duplicable.
    assert all(ids[e["raw"]] == e["event_id"] for e in before + after)
    assert len(clean) == 2000


def test_a_restart_after_a_clean_run_emits_nothing(tmp_path: Path, logs: Path) -> None:
    (logs / "mail.current").write_bytes(_log(50))
    stdin = crash_campaign.input_xml(str(logs), str(tmp_path / "ck"))
    assert len(_run(stdin)) == 50
    assert _run(stdin) == []


def assert_nothing_lost(figures: Dict[str, Any]) -> None:
    """A campaign's claim: nothing lost, invented or changed, and every event under the clean run's id."""
    assert figures["clean_events"] == figures["auth_lines"] > 0
    assert figures["lost"] == 0
    assert figures["extra"] == 0
    assert figures["content_differs"] == 0
    assert figures["duplicates_with_another_id"] == 0
    assert figures["ids_unlike_the_clean_run"] == 0
    assert figures["problems"] == []
    assert figures["ok"]


def test_random_kills_while_logs_are_written_and_rotated_lose_nothing(tmp_path: Path) -> None:
    figures = crash_campaign.campaign(
        tmp_path, kills=4, seed=7, lines=6_000, rotate_every=150, filler=3,
        command=COMMAND, max_delay=0.6, pause=0.005,
    )  # fmt: skip
    print(json.dumps(figures, indent=2))  # the figures, when the test fails
    assert figures["kill_points"] == 4
    assert figures["rotations"] >= 1
    assert_nothing_lost(figures)


def test_random_kills_over_small_files_compressed_as_they_roll_lose_nothing(tmp_path: Path) -> None:
    """Files under the 1 KiB head, each compressed (gzip, bzip2, xz) once the next is rolled (#17)."""
    figures = crash_campaign.campaign(
        tmp_path, kills=4, seed=11, lines=1_500, rotate_every=4, filler=1,
        command=COMMAND, max_delay=0.6, pause=0.005, compress=True,
    )  # fmt: skip
    print(json.dumps(figures, indent=2))  # the figures, when the test fails
    assert figures["kill_points"] == 4
    assert figures["archives"] >= 3
    assert_nothing_lost(figures)


def test_a_temporary_checkpoint_left_by_a_killed_run_is_removed(tmp_path: Path, logs: Path) -> None:
    (logs / "mail.current").write_bytes(_log(5))
    checkpoints = tmp_path / "ck"
    stdin = crash_campaign.input_xml(str(logs), str(checkpoints))
    _run(stdin)
    (checkpoint,) = checkpoints.glob("*.json")
    # What a run killed between writing and renaming its checkpoint leaves behind
    # (save_checkpoint writes <checkpoint>.<pid>.tmp, then os.replace).
    stale = checkpoint.with_name(checkpoint.name + ".999999.tmp")
    stale.write_text('{"version": 1}')
    _run(stdin)
    assert not stale.exists()
