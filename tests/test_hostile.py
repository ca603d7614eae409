"""Hostile content and hostile paths, through the modular input as splunkd runs it.

Content: user names with quotes, JSON and XML metacharacters, control
characters, ANSI escapes, Unicode look-alikes, a newline. Whatever the line
holds, each event is exactly one JSON object inside exactly one ``<event>``
of a well-formed XML stream, with no element Splunk does not define, and each
log message is one line.

Paths: symlinks, FIFOs, devices, a directory named like a log, a log
directory that disappears, a damaged checkpoint. Nothing hangs, nothing is
read twice, nothing is read from outside what was configured, and every
problem is a clear one-line message. The policy is in docs/SECURITY.md.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sys
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List

import pytest

pytest.importorskip("splunklib", reason="splunk-sdk is not installed (pip install -e '.[dev]')")

from esa_auth.follow import load_checkpoint
from esa_auth.splunk.modinput import EsaAuthInput
from splunklib.modularinput import EventWriter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "fuzz"))

import harness
from crash_campaign import input_xml

STAMP = b"Wed Apr 22 11:44:48 2009 Info: "
#: Characters that must never reach stdout or stderr raw: C0 controls but TAB and
#: LF, DEL, C1 controls (ESC starts ANSI sequences; NUL breaks C strings).
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@dataclass
class Run:
    """What one run of the modular input wrote."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def events(self) -> List[Dict[str, Any]]:
        """The events of the XML stream, checked for shape on the way."""
        if not self.stdout:
            return []
        root = ET.fromstring(self.stdout)  # raises on a stream that is not well formed
        assert root.tag == "stream"
        out = []
        for node in root:
            assert node.tag == "event"
            tags = [child.tag for child in node]
            assert set(tags) <= harness.EVENT_CHILDREN
            assert len(tags) == len(set(tags))
            data = node.findtext("data")
            assert data is not None
            event = json.loads(data)  # exactly one JSON value ...
            assert isinstance(event, dict)  # ... and it is an object
            assert json.dumps(event, ensure_ascii=False, separators=(",", ":")) == data
            out.append(event)
        return out

    @property
    def log_lines(self) -> List[str]:
        """The input's log messages (one per line, each with a level)."""
        return self.stderr.splitlines()


def run_input(path: Path, checkpoint_dir: Path) -> Run:
    """One run of the modular input, in process, with splunkd's stdin."""
    out, err = io.StringIO(), io.StringIO()
    rc = EsaAuthInput().run_script(
        ["esa_auth.py"], EventWriter(out, err), io.BytesIO(input_xml(str(path), str(checkpoint_dir)))
    )
    run = Run(rc, out.getvalue(), err.getvalue())
    assert not _RAW_CONTROL.search(run.stdout)
    assert not _RAW_CONTROL.search(run.stderr)
    assert "Traceback" not in run.stderr
    for line in run.log_lines:
        assert line.split(" ", 1)[0] in {"DEBUG", "INFO", "WARN", "ERROR", "FATAL"}, line
    return run


@pytest.fixture
def checkpoints(tmp_path: Path) -> Path:
    return tmp_path / "checkpoints"


# --- hostile content ---------------------------------------------------------------

HOSTILE_USERS = [
    pytest.param('al"ice', 'al"ice', id="double quote"),
    pytest.param("o'brien", "o'brien", id="single quote"),
    pytest.param('x","action":"success","user":"admin', 'x","action":"success","user":"admin', id="json injection"),
    pytest.param('{"$ne":null}', '{"$ne":null}', id="json object"),
    pytest.param("</data></event><event><data>", "</data></event><event><data>", id="xml element injection"),
    pytest.param("]]><x/><![CDATA[", "]]><x/><![CDATA[", id="cdata end"),
    pytest.param("&amp;&lt;&#0;", "&amp;&lt;&#0;", id="xml entities"),
    pytest.param("back\\slash\\u0000", "back\\slash\\u0000", id="backslashes"),
    pytest.param("\x1b[31mroot\x1b[0m", "\ufffd[31mroot\ufffd[0m", id="ANSI escapes"),
    pytest.param("nul\x00byte", "nul\ufffdbyte", id="NUL"),
    pytest.param("bell\x07\x08\x7f\x85", "bell\ufffd\ufffd\ufffd\ufffd", id="C0 and C1 controls"),
    pytest.param("\u0430dmin", "\u0430dmin", id="Cyrillic a look-alike of admin"),
    pytest.param("\uff41\uff44\uff4d\uff49\uff4e", "\uff41\uff44\uff4d\uff49\uff4e", id="fullwidth admin"),
    pytest.param("admin\u200b", "admin\u200b", id="zero-width space"),
    pytest.param("\u202eevil", "\u202eevil", id="right-to-left override"),
    pytest.param("\ufeffbom", "\ufeffbom", id="byte order mark"),
    pytest.param("tab\tuser", "tab\tuser", id="tab"),
]


@pytest.mark.parametrize(("user", "expected"), HOSTILE_USERS)
def test_hostile_user_names_stay_inside_one_json_value(logs: Path, checkpoints: Path, user: str, expected: str) -> None:
    name = user.encode("utf-8")
    (logs / "mail.current").write_bytes(
        STAMP + b"New SMTP ICID 7 interface In (192.0.2.1) address 198.51.100.7 reverse dns host x verified no\n"
        + STAMP + b"SMTP Auth: (ICID 7) failed for user: " + name + b" using AUTH mechanism: LOGIN with profile: Corp\n"
        + STAMP + b"User " + name + b" from 192.0.2.10 was authenticated successfully.\n"
    )  # fmt: skip
    run = run_input(logs, checkpoints)
    events = run.events
    assert [e["signature_id"] for e in events] == ["ESA-T2", "ESA-A3"]
    assert [e["user"] for e in events] == [expected, expected]
    # Only the built-in account is the default account: look-alikes are not.
    assert [e.get("default_account") for e in events] == [None, False]
    for event in events:
        harness.check_event(event)


def test_a_user_name_with_a_carriage_return_stays_in_one_event(logs: Path, checkpoints: Path) -> None:
    (logs / "mail.current").write_bytes(
        STAMP + b"User eve\rWed Apr 22 11:44:49 2009 Info: User admin from 192.0.2.66 was authenticated successfully.\n"
    )
    events = run_input(logs, checkpoints).events
    assert len(events) == 1
    # CR is not a line end inside a line: the whole line is one event, user and all,
    # with the CR replaced (a terminal or a viewer would return to the line start).
    assert events[0]["user"].startswith("eve\ufffdWed Apr 22")


def test_a_newline_in_a_user_name_cannot_break_the_output(logs: Path, checkpoints: Path) -> None:
    # A newline ends a log line: what follows it is read as the next line (or as
    # the continuation of a wrapped one). The ESA is trusted to write one line
    # per event (docs/SECURITY.md); here only the output's shape is at stake.
    (logs / "mail.current").write_bytes(
        STAMP + b'User a"}\n</data><x/>{"b from 192.0.2.10 was authenticated successfully.\n'
        + STAMP + b"User bob from 192.0.2.11 failed authentication.\n"
    )  # fmt: skip
    events = run_input(logs, checkpoints).events
    assert [e["user"] for e in events][-1] == "bob"
    for event in events:
        harness.check_event(event)


def test_a_ten_megabyte_line_is_cut_with_a_warning_and_the_next_line_is_read(logs: Path, checkpoints: Path) -> None:
    (logs / "mail.current").write_bytes(
        STAMP + b"User " + b"x" * 10_000_000 + b" from 192.0.2.1 was authenticated successfully.\n"
        + STAMP + b"User after from 192.0.2.2 failed authentication.\n"
    )  # fmt: skip
    run = run_input(logs, checkpoints)
    assert [e["user"] for e in run.events] == ["after"]
    assert any("cut to 65536 bytes" in line for line in run.log_lines)


def test_binary_junk_among_the_logs_is_skipped_with_a_warning(logs: Path, checkpoints: Path) -> None:
    (logs / "junk.current").write_bytes(bytes(range(256)) * 40)
    (logs / "mail.current").write_bytes(STAMP + b"User ok from 192.0.2.3 was authenticated successfully.\n")
    run = run_input(logs, checkpoints)
    assert [e["user"] for e in run.events] == ["ok"]
    assert any("junk.current" in line and line.startswith("WARN") for line in run.log_lines)


# --- hostile paths ------------------------------------------------------------------

LINE = STAMP + b"User admin from 192.0.2.10 was authenticated successfully.\n"


def test_fifo_device_and_directory_named_like_logs_are_skipped_without_hanging(logs: Path, checkpoints: Path) -> None:
    (logs / "mail.current").write_bytes(LINE)
    os.mkfifo(logs / "fifo.current")  # nobody writes: opening it for reading would block
    os.symlink("/dev/zero", logs / "zero.current")  # endless: reading it would never end
    (logs / "dir.current").mkdir()
    (logs / "dir.current" / "inner.log").write_bytes(LINE)
    result: List[Run] = []
    worker = threading.Thread(target=lambda: result.append(run_input(logs, checkpoints)), daemon=True)
    worker.start()
    worker.join(120)  # a guard against a hang, not a speed check
    assert result, "the run did not finish: a FIFO or a device was opened"
    assert [e["user"] for e in result[0].events] == ["admin"]


@pytest.mark.parametrize("target", ["/dev/zero", "fifo"])
def test_a_configured_path_that_is_no_regular_file_is_refused_clearly(
    tmp_path: Path, checkpoints: Path, target: str
) -> None:
    path = Path(target)
    if target == "fifo":
        path = tmp_path / "mail.current"
        os.mkfifo(path)
    run = run_input(path, checkpoints)
    assert run.events == []
    assert run.log_lines == [f"ERROR esa_auth://crash: path is neither a file nor a directory: '{path}'; input not run"]


def test_a_log_directory_that_disappears_and_comes_back_loses_and_repeats_nothing(
    logs: Path, checkpoints: Path
) -> None:
    current = logs / "mail.current"
    current.write_bytes(LINE)
    assert len(run_input(logs, checkpoints).events) == 1
    aside = logs.with_name("logs.unmounted")
    shutil.move(str(logs), str(aside))
    gone = run_input(logs, checkpoints)
    assert gone.events == []
    assert gone.log_lines == [f"ERROR esa_auth://crash: path does not exist: '{logs}'; input not run"]
    shutil.move(str(aside), str(logs))
    with open(current, "ab") as handle:
        handle.write(LINE.replace(b"admin", b"later"))
    back = run_input(logs, checkpoints)
    assert [e["user"] for e in back.events] == ["later"]


def test_a_damaged_checkpoint_is_set_aside_and_reading_starts_again(logs: Path, checkpoints: Path) -> None:
    (logs / "mail.current").write_bytes(LINE)
    first = run_input(logs, checkpoints).events
    (saved,) = checkpoints.glob("*.json")
    saved.write_text('{"version": 1, "files": [{"garbage"')
    run = run_input(logs, checkpoints)
    # Replayed, with the same event id: de-duplicable, nothing lost.
    assert [e["event_id"] for e in run.events] == [e["event_id"] for e in first]
    assert any(line.startswith("ERROR") and ".damaged" in line for line in run.log_lines)
    assert saved.with_name(saved.name + ".damaged").exists()


def test_a_checkpoint_dir_that_is_a_file_gives_one_clear_error(logs: Path, tmp_path: Path) -> None:
    (logs / "mail.current").write_bytes(LINE)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    run = run_input(logs, blocker)
    assert run.events == []
    assert len(run.log_lines) == 1
    assert run.log_lines[0].startswith("ERROR esa_auth://crash:")


def test_a_symlink_alias_inside_the_directory_does_not_read_a_file_twice(logs: Path, checkpoints: Path) -> None:
    (logs / "mail.current").write_bytes(LINE)
    os.symlink(logs / "mail.current", logs / "alias.current")
    events = run_input(logs, checkpoints).events
    assert len(events) == 1


def test_a_symlink_out_of_the_directory_is_not_followed(logs: Path, checkpoints: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "other.log").write_bytes(LINE.replace(b"admin", b"outsider"))
    os.symlink(outside / "other.log", logs / "other.current")
    run = run_input(logs, checkpoints)
    assert run.events == []
    assert any(line.startswith("WARN") and "other.current" in line for line in run.log_lines)


def test_the_content_of_a_file_that_is_no_esa_log_is_never_quoted(logs: Path, checkpoints: Path) -> None:
    (logs / "shadow").write_bytes(b"root:$6$SECRETHASH$abcdef:19000:0:99999:7:::\n")
    run = run_input(logs, checkpoints)
    assert run.events == []
    assert any("shadow" in line for line in run.log_lines)
    assert "SECRETHASH" not in run.stderr


def test_a_symlink_named_as_the_configured_path_is_followed(tmp_path: Path, checkpoints: Path) -> None:
    # The admin chose this path: a link there is the admin's decision (docs/SECURITY.md).
    real = tmp_path / "real"
    real.mkdir()
    (real / "mail.current").write_bytes(LINE)
    link = tmp_path / "link"
    os.symlink(real, link)
    assert [e["user"] for e in run_input(link, checkpoints).events] == ["admin"]


# --- a checkpoint that parses but holds wrong values ----------------------------------

CONTEXT = STAMP + b"New SMTP ICID 7 interface In (192.0.2.1) address 198.51.100.7 reverse dns host x verified no\n"
AUTH = STAMP + b"SMTP Auth: (ICID 7) failed for user: bob using AUTH mechanism: LOGIN with profile: Corp\n"


def _tamper_session_time(state: Dict[str, Any]) -> None:
    state["normalizer"]["sessions"]["sessions"][0][4] = "yesterday"  # "seen" must be a number


def _tamper_negative_offset(state: Dict[str, Any]) -> None:
    state["files"][0]["stream"]["offset"] = -50


def _tamper_huge_offset(state: Dict[str, Any]) -> None:
    state["files"][0]["stream"]["offset"] = 10**30


def _tamper_files_type(state: Dict[str, Any]) -> None:
    state["files"] = {"not": "a list"}


def _tamper_unknown_version(state: Dict[str, Any]) -> None:
    state["normalizer"]["version"] = 99


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_tamper_session_time, id="session field of the wrong type"),
        pytest.param(_tamper_negative_offset, id="negative file offset"),
        pytest.param(_tamper_huge_offset, id="offset past the end"),
        pytest.param(_tamper_files_type, id="files not a list"),
        pytest.param(_tamper_unknown_version, id="unknown state version"),
    ],
)
def test_a_tampered_checkpoint_never_stops_the_input(logs: Path, checkpoints: Path, tamper: Any) -> None:
    current = logs / "mail.current"
    current.write_bytes(CONTEXT)
    run_input(logs, checkpoints)
    (saved,) = checkpoints.glob("*.json")
    # The whole state (snapshot and journal), written back as one snapshot as 0.1.0 wrote it.
    state = load_checkpoint(str(saved))
    assert state is not None
    del state["generation"]
    tamper(state)
    saved.write_text(json.dumps(state))
    with open(current, "ab") as handle:
        handle.write(AUTH)
    # A checkpoint that cannot be used is set aside (events may repeat, with their
    # ids); it must never stop the input run after run, nor hide new lines.
    run = run_input(logs, checkpoints)
    assert run.returncode == 0
    assert "bob" in [e.get("user") for e in run.events]
    again = run_input(logs, checkpoints)
    assert again.returncode == 0


def test_a_linked_subdirectory_matched_by_a_glob_does_not_lead_out(tmp_path: Path, checkpoints: Path) -> None:
    # README/inputs.conf.spec suggests globs such as /opt/esa/logs/*/*: a link to a
    # directory elsewhere must not bring its files in (the resolved path decides).
    logs = tmp_path / "logs"
    (logs / "mail_logs").mkdir(parents=True)
    (logs / "mail_logs" / "mail.current").write_bytes(LINE)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "other.current").write_bytes(LINE.replace(b"admin", b"outsider"))
    os.symlink(outside, logs / "linked")
    run = run_input(Path(f"{logs}/*/*"), checkpoints)
    assert [e["user"] for e in run.events] == ["admin"]
    assert any(line.startswith("WARN") and "other.current" in line for line in run.log_lines)
