"""The modular input in process (esa_auth.splunk.modinput), driven through splunklib's run_script."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from esa_auth.errors import ConfigError
from esa_auth.follow import load_checkpoint
from esa_auth.pipeline import Normalizer, Settings, Stream
from esa_auth.render import RENDERERS, SOURCETYPES, render
from esa_auth.splunk import modinput
from esa_auth.splunk.modinput import PARAMETERS, EsaAuthInput, checkpoint_file, parse_parameters, xml_safe
from splunkd import STANZA, input_xml, mail_file, parse_stream, validation_xml
from splunklib.modularinput import EventWriter


def run_script(args: List[str], stdin: str) -> Tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = EsaAuthInput().run_script(["esa_auth.py", *args], EventWriter(out, err), io.StringIO(stdin))
    return rc, out.getvalue(), err.getvalue()


def test_scheme_declares_every_parameter() -> None:
    rc, out, _ = run_script(["--scheme"], "")
    assert rc == 0
    root = ET.fromstring(out)
    assert root.findtext("use_external_validation") == "true"
    assert root.findtext("use_single_instance") == "false"
    assert root.findtext("streaming_mode") == "xml"
    args = {a.get("name"): a for a in root.iter("arg")}
    assert list(args) == [p.name for p in PARAMETERS]
    assert args["path"].findtext("required_on_create") == "true"
    assert all(a.findtext("required_on_create") == "false" for n, a in args.items() if n != "path")
    assert args["max_sessions"].findtext("data_type") == "number"


def test_validation_accepts_good_parameters(logs: Path, tmp_path: Path) -> None:
    params = {"path": str(logs), "timezone": "Europe/Paris", "appliance": "esa01", "start_from": "end",
              "max_sessions": "5000", "session_timeout": "30m", "format": "cim", "interval": "60"}  # fmt: skip
    rc, out, err = run_script(["--validate-arguments"], validation_xml(tmp_path, params))
    assert (rc, out, err) == (0, "", "")


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({}, "path is required"),
        ({"path": "relative/logs"}, "absolute"),
        ({"path": "/nonexistent/esa/logs"}, "does not exist"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone"),
        ({"start_from": "middle"}, "start_from must be beginning or end"),
        ({"max_sessions": "lots"}, "max_sessions must be a whole number"),
        ({"max_sessions": "0"}, "max_sessions must be between 1"),
        ({"max_sessions": "1000001"}, "max_sessions must be between 1 and 1000000"),
        ({"session_timeout": "-5m"}, "session_timeout: not a positive duration"),
        ({"format": "xml"}, "format must be one of cim"),
    ],
)
def test_validation_rejects_bad_parameters_with_a_clear_message(
    logs: Path, tmp_path: Path, params: Dict[str, str], words: str
) -> None:
    full = {"path": str(logs), **params} if "path" in params or params else {}
    rc, out, _ = run_script(["--validate-arguments"], validation_xml(tmp_path, full))
    assert rc == 1
    message = ET.fromstring(out).findtext("message")
    assert message is not None
    assert words in message


def test_a_run_writes_the_library_events_as_splunk_xml(logs: Path, tmp_path: Path) -> None:
    text = mail_file(100, 6)
    path = logs / "mail.esa01.example.com.current"
    path.write_text(text, encoding="utf-8")
    ck = tmp_path / "ck"
    # The appliance's zone: +01:00 in January, as the file header says (the zone reads the lines, #20).
    params = {"path": str(logs), "timezone": "Europe/Paris", "index": "mail", "host": "hf01"}
    rc, out, err = run_script([], input_xml(ck, params))
    assert rc == 0
    events = parse_stream(out)
    key = load_checkpoint(checkpoint_file(str(ck), STANZA))["files"][0]["key"]  # type: ignore[index]
    normalizer = Normalizer(Settings(tz="Europe/Paris"))
    stream = Stream(str(path), key=key, appliance="esa01.example.com")
    expected = [e.to_dict() for e in normalizer.feed(stream, text.encode()) + normalizer.flush(stream)]
    assert [e.data for e in events] == expected
    first = events[0]
    assert first.stanza == STANZA
    assert first.sourcetype == "cisco:esa:auth"
    assert first.source == str(path)
    assert first.host == "esa01.example.com"  # dvc, from the file name
    assert first.index == "mail"
    assert first.time == "1736118000.000"  # 00:00 local, +01:00: 2025-01-05T23:00:00Z
    assert first.data["time"] == "2025-01-05T23:00:00Z"
    assert "INFO esa_auth://esa1: run done: files=1 files_read=1" in err
    rc, out, _ = run_script([], input_xml(ck, params))
    assert (rc, out) == (0, "")  # nothing twice: not even <stream>


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_the_format_parameter_picks_the_schema_and_its_sourcetype(logs: Path, tmp_path: Path, fmt: str) -> None:
    text = mail_file(100, 4)
    path = logs / "mail.esa01.example.com.current"
    path.write_text(text, encoding="utf-8")
    ck = tmp_path / "ck"
    rc, out, err = run_script([], input_xml(ck, {"path": str(logs), "timezone": "UTC", "format": fmt}))
    assert rc == 0, err
    events = parse_stream(out)
    key = load_checkpoint(checkpoint_file(str(ck), STANZA))["files"][0]["key"]  # type: ignore[index]
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream(str(path), key=key, appliance="esa01.example.com")
    library = normalizer.feed(stream, text.encode()) + normalizer.flush(stream)
    assert events
    assert [e.data for e in events] == [render(e, fmt) for e in library]
    assert {e.sourcetype for e in events} == {SOURCETYPES[fmt]}
    assert [e.time for e in events] == [f"{e.epoch:.3f}" for e in library]  # the reader's epoch


def test_the_stream_is_valid_xml_whatever_the_bytes(logs: Path, tmp_path: Path) -> None:
    name = os.fsdecode(b"mail-\xff\x01.current")  # a file name that is not UTF-8 and holds a control character
    header = mail_file(1, 1)
    auth = "Mon Jan  6 00:00:09 2025 Info: User \x01adm\x1bin\x7f from 192.0.2.9 failed authentication.\n"
    (logs / name).write_bytes(header.encode() + auth.encode() + b"\xfe\xfe\x00\n")
    rc, out, err = run_script([], input_xml(tmp_path / "ck", {"path": str(logs)}))
    assert rc == 0
    events = parse_stream(out)  # ElementTree refuses anything not well-formed
    assert len(events) == 2
    assert events[1].data["user"] == "\ufffdadm\ufffdin\ufffd"
    assert events[1].source is not None
    assert "\ufffd" in events[1].source
    assert all(line.split(" ", 1)[0] in {"INFO", "WARN", "ERROR"} for line in err.splitlines())


def test_warnings_go_to_the_log_and_are_capped(logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(modinput, "MAX_WARNINGS_PER_RUN", 3)
    bad = "".join(f"Mon Jan  6 00:00:0{n} 2025 Info: SMTP Auth: (ICID {n}) strange new words\n" for n in range(8))
    (logs / "mail.current").write_text(mail_file(1, 1) + bad, encoding="utf-8")
    rc, out, err = run_script([], input_xml(tmp_path / "ck", {"path": str(logs)}))
    assert rc == 0
    assert len(parse_stream(out)) == 1
    warns = [line for line in err.splitlines() if line.startswith("WARN ")]
    assert len(warns) == 3
    assert all(w.startswith(f"WARN {STANZA}: ") for w in warns)
    assert "more warnings not shown" in err


def test_a_misconfigured_input_is_logged_and_the_others_still_run(logs: Path, tmp_path: Path) -> None:
    (logs / "mail.current").write_text(mail_file(1, 2), encoding="utf-8")
    ck = tmp_path / "ck"
    good = input_xml(ck, {"path": str(logs)}, stanza="esa_auth://good")
    bad = input_xml(ck, {"path": str(logs), "timezone": "Nowhere/Land"}, stanza="esa_auth://bad")
    # Two stanzas in one definition, as splunkd sends them with use_single_instance = true.
    stanzas = bad[bad.index("<stanza") : bad.index("</configuration>")]
    both = good.replace("</configuration>", stanzas + "</configuration>")
    rc, out, err = run_script([], both)
    assert rc == 0
    assert len(parse_stream(out)) == 2
    assert "ERROR esa_auth://bad: timezone: unknown time zone 'Nowhere/Land'" in err
    assert "Traceback" not in err


def test_an_unusable_checkpoint_directory_is_an_error_not_a_traceback(logs: Path, tmp_path: Path) -> None:
    (logs / "mail.current").write_text(mail_file(1, 1), encoding="utf-8")
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    rc, out, err = run_script([], input_xml(blocker / "ck", {"path": str(logs)}))
    assert (rc, out) == (0, "")
    assert err.startswith(f"ERROR {STANZA}: ")
    assert "Traceback" not in err


def test_parse_parameters_defaults() -> None:
    config = parse_parameters({"path": "/"})
    assert (config.start_from, config.max_sessions, config.session_timeout, config.format) == (
        "beginning",
        100000,
        3600.0,
        "cim",
    )
    assert config.timezone is None
    assert config.appliance is None
    with pytest.raises(ConfigError, match="one value expected"):
        parse_parameters({"path": ["/a", "/b"]})


def test_checkpoint_files_are_distinct_and_plain(tmp_path: Path) -> None:
    a = checkpoint_file(str(tmp_path), "esa_auth://esa 1")
    b = checkpoint_file(str(tmp_path), "esa_auth://esa_1")
    assert a != b
    assert os.path.dirname(a) == str(tmp_path)
    assert os.path.basename(a).startswith("esa_auth_esa_1-")
    assert checkpoint_file(str(tmp_path), "esa_auth://../../etc").startswith(str(tmp_path) + os.sep)


def test_xml_safe() -> None:
    assert xml_safe("a\x00b\ud800c\ufffed\te\U0001f600") == "a\ufffdb\ufffdc\ufffdd\te\U0001f600"
    json.dumps(xml_safe("\udcff"))  # a lone surrogate is gone: the text encodes


def _one_error_line(rc: int, err: str) -> str:
    """The single ERROR line a bad invocation gives (#17): non-zero exit, one line ending in a newline."""
    assert rc == 1
    assert err.endswith("\n"), err
    assert err.count("\n") == 1, err
    assert err.startswith("ERROR ")
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize("stdin", ["", "   ", "<input><configuration>", "not xml at all"])
def test_an_input_definition_that_is_not_xml_is_one_error_line(stdin: str) -> None:
    rc, out, err = run_script([], stdin)
    assert out == ""
    assert "the input definition on standard input is not XML" in _one_error_line(rc, err)


@pytest.mark.parametrize("element", ["", "<checkpoint_dir/>", "<checkpoint_dir>  </checkpoint_dir>"])
def test_a_definition_without_a_checkpoint_dir_is_refused(
    logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, element: str
) -> None:
    (logs / "mail.current").write_text(mail_file(1, 1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    stdin = re_checkpoint(input_xml(tmp_path / "ck", {"path": str(logs)}), element)
    rc, out, err = run_script([], stdin)
    assert out == ""
    assert "has no checkpoint_dir" in _one_error_line(rc, err)
    assert os.listdir(tmp_path) == ["logs"]  # no <cwd>/None/ written


def test_a_relative_checkpoint_dir_is_refused(logs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (logs / "mail.current").write_text(mail_file(1, 1), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    stdin = re_checkpoint(input_xml(tmp_path / "ck", {"path": str(logs)}), "<checkpoint_dir>ck</checkpoint_dir>")
    rc, out, err = run_script([], stdin)
    assert out == ""
    assert "checkpoint_dir must be an absolute path, not 'ck'" in _one_error_line(rc, err)
    assert not (tmp_path / "ck").exists()


def test_a_definition_without_server_uri_still_runs(logs: Path, tmp_path: Path) -> None:
    (logs / "mail.current").write_text(mail_file(1, 2), encoding="utf-8")
    stdin = input_xml(tmp_path / "ck", {"path": str(logs)})
    start, end = stdin.index("<server_uri>"), stdin.index("</server_uri>") + len("</server_uri>")
    rc, out, err = run_script([], stdin[:start] + stdin[end:])
    assert rc == 0, err
    assert len(parse_stream(out)) == 2


@pytest.mark.parametrize("stdin", ["", "<items><item name='x'>"])
def test_a_malformed_validation_request_is_one_error(stdin: str) -> None:
    rc, out, err = run_script(["--validate-arguments"], stdin)
    assert "not XML" in _one_error_line(rc, err)
    assert "not XML" in (ET.fromstring(out).findtext("message") or "")


def test_unknown_arguments_are_one_error_line() -> None:
    rc, out, err = run_script(["--frobnicate"], "")
    assert out == ""
    assert "unknown arguments '--frobnicate'" in _one_error_line(rc, err)


def test_a_checkpoint_of_a_newer_release_is_refused_and_left_alone(logs: Path, tmp_path: Path) -> None:
    (logs / "mail.current").write_text(mail_file(1, 2), encoding="utf-8")
    ck = tmp_path / "ck"
    ck.mkdir()
    stdin = input_xml(ck, {"path": str(logs)})
    newer = Path(checkpoint_file(str(ck), STANZA))
    newer.write_text(json.dumps({"version": 99, "files": "whatever a newer release writes"}), encoding="utf-8")
    before = newer.read_bytes()
    rc, out, err = run_script([], stdin)
    assert (rc, out) == (0, "")  # the definition is good: the other inputs of it run
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"ERROR {STANZA}: checkpoint ")
    assert "written by a newer release (format 99" in lines[0]
    assert newer.read_bytes() == before
    assert sorted(p.name for p in ck.iterdir()) == sorted([newer.name, newer.name + ".lock"])


def re_checkpoint(stdin: str, element: str) -> str:
    """The definition with its <checkpoint_dir> element replaced by ``element`` (or removed)."""
    start = stdin.index("<checkpoint_dir>")
    end = stdin.index("</checkpoint_dir>") + len("</checkpoint_dir>")
    return stdin[:start] + element + stdin[end:]
