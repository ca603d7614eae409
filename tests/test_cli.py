"""The command line tool, run as a user runs it: ``esa-auth`` and ``python -m esa_auth`` in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional

import pytest
from conftest import MISSION_LOG, normalize
from esa_auth import Settings
from esa_auth.durations import parse_duration
from esa_auth.errors import ConfigError
from esa_auth.events import json_text
from splunkd import SPLUNK_PYTHONS, splunk_python

Validate = Callable[[Iterable[Dict[str, Any]]], None]
SCRIPT = Path(sys.executable).with_name("esa-auth")
A4 = b"Mon Jun  3 12:00:00 2024 Info: User admin from 192.0.2.10 failed authentication.\n"


def _entry_points() -> List[List[str]]:
    return [[sys.executable, "-m", "esa_auth"], [str(SCRIPT)]]


@pytest.fixture(params=["python -m esa_auth", "esa-auth"])
def tool(request: pytest.FixtureRequest) -> List[str]:
    """Both entry points; the script is the one pip installed beside this interpreter."""
    if request.param == "esa-auth":
        if not SCRIPT.exists():
            pytest.skip(f"esa-auth script not installed at {SCRIPT} (pip install -e .)")
        return [str(SCRIPT)]
    return [sys.executable, "-m", "esa_auth"]


def run(
    command: List[str], *args: str, stdin: bytes = b"", env: Optional[Dict[str, str]] = None
) -> subprocess.CompletedProcess[bytes]:
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.run(
        [*command, *args], input=stdin, capture_output=True, timeout=120, env=environment, check=False
    )


def _events(stdout: bytes) -> List[Dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode("utf-8").splitlines()]


def _no_traceback(stderr: bytes) -> None:
    assert b"Traceback" not in stderr, stderr.decode("utf-8", "replace")


def test_normalize_mission_file(tool: List[str], assert_valid: Validate) -> None:
    result = run(tool, "normalize", "--tz", "UTC", str(MISSION_LOG))
    assert result.returncode == 0
    assert result.stderr == b""
    events = _events(result.stdout)
    assert [(e["signature_id"], e["time"]) for e in events] == [
        ("ESA-T1", "2009-04-22T11:44:48Z"),
        ("ESA-T2", "2009-04-22T11:47:47Z"),
        ("ESA-T10", "2009-04-22T11:06:20Z"),
        ("ESA-T11", "2009-04-22T11:19:41Z"),
    ]
    assert_valid(events)


@pytest.mark.parametrize("args", [[], ["-"]], ids=["no file", "dash"])
def test_standard_input(tool: List[str], args: List[str]) -> None:
    result = run(tool, "normalize", "--tz", "UTC", *args, stdin=MISSION_LOG.read_bytes())
    assert result.returncode == 0
    assert len(_events(result.stdout)) == 4


def test_stats_on_stderr_at_the_end(tool: List[str]) -> None:
    result = run(tool, "normalize", "--tz", "UTC", "--stats", str(MISSION_LOG))
    assert result.returncode == 0
    assert result.stderr.decode() == "lines=29 events=4 context=13 skipped=1 warnings=0 evictions=0\n"


def test_warnings_are_file_line_message(tool: List[str], tmp_path: Path) -> None:
    log = tmp_path / "odd.log"
    log.write_bytes(b"stray text\n" + A4 + b"Mon Jun  3 12:00:01 2024 Info: SMTP Auth: (ICID 1) garbled\n")
    result = run(tool, "normalize", str(log))
    assert result.returncode == 0
    assert result.stderr.decode().splitlines() == [
        f"{log}:1: line does not start with an ESA log envelope; skipped: stray text",
        f"{log}:2: no 'Time offset from UTC' header and no time zone configured: times read as UTC",
        f"{log}:3: unrecognised authentication line; skipped: SMTP Auth: (ICID 1) garbled",
    ]
    assert len(_events(result.stdout)) == 1


def test_stdin_warnings_name_the_dash(tool: List[str]) -> None:
    result = run(tool, "normalize", stdin=A4)
    assert result.stderr.decode().startswith("-:1: ")


def test_unreadable_file_exits_1_and_the_others_are_read(tool: List[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.log"
    result = run(tool, "normalize", "--tz", "UTC", str(missing), str(tmp_path), str(MISSION_LOG))
    assert result.returncode == 1
    _no_traceback(result.stderr)
    assert result.stderr.decode().splitlines() == [
        f"esa-auth: cannot read {missing}: No such file or directory",
        f"esa-auth: cannot read {tmp_path}: Is a directory",
    ]
    assert len(_events(result.stdout)) == 4


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "COMMAND"),
        (["frobnicate"], "invalid choice"),
        (["normalize", "--no-such-option"], "unrecognized arguments"),
        (["normalize", "--tz", "Mars/Olympus_Mons"], "unknown time zone"),
        (["normalize", "--max-sessions", "0"], "must be at least 1"),
        (["normalize", "--max-sessions", "many"], "not a whole number"),
        (["normalize", "--session-timeout", "soon"], "not a positive duration"),
        (["normalize", "--session-timeout", "0"], "not a positive duration"),
        (["normalize", "--year", "99"], "not a year"),
        (["normalize", "--max-line-bytes", "10"], "at least 256"),
        (["normalize", "--format", "xml"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2_with_one_line(tool: List[str], args: List[str], needle: str) -> None:
    result = run(tool, *args, stdin=A4)
    assert result.returncode == 2
    _no_traceback(result.stderr)
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("esa-auth: error: ")
    assert needle in lines[0]
    assert result.stdout == b""


def test_options_reach_the_settings(tool: List[str]) -> None:
    syslog = b"<22>Dec 31 23:59:59 mail_logs: Info: User admin from 192.0.2.10 failed authentication.\n"
    result = run(tool, "normalize", "--tz", "+01:00", "--year", "2020", "--host", "esa09.example.com", stdin=syslog)
    (event,) = _events(result.stdout)
    assert event["time"] == "2020-12-31T22:59:59Z"
    assert event["dvc"] == "esa09.example.com"


OUTBOUND = (
    b"Mon Jun  3 12:00:00 2024 Info: DCID: 5633 IP: 172.16.155.102 SMTP authentication using the profile "
    b"Outbound Relay succeeded.\n"
    b"Mon Jun  3 12:00:01 2024 Info: SMTP Auth: (ICID 450) succeeded for user: alice using AUTH mechanism: PLAIN "
    b"with profile: Outbound Relay\n"
)


def test_profile_map_gives_outbound_events_their_user(tool: List[str], tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.csv"
    profiles.write_text("profile,user\nOutbound Relay,svc-relay@example.com\n", encoding="utf-8")
    result = run(tool, "normalize", "--tz", "UTC", "--profile-map", str(profiles), stdin=OUTBOUND)
    assert result.returncode == 0, result.stderr
    outbound, inbound = _events(result.stdout)
    assert (outbound["direction"], outbound["user"]) == ("outbound", "svc-relay@example.com")
    assert (inbound["direction"], inbound["user"]) == ("inbound", "alice")
    plain = _events(run(tool, "normalize", "--tz", "UTC", stdin=OUTBOUND).stdout)
    assert plain[0] == {k: v for k, v in outbound.items() if k != "user"}


@pytest.mark.parametrize("command", ["normalize", "detect"])
def test_bad_profile_map_stops_the_command_before_it_reads(tool: List[str], tmp_path: Path, command: str) -> None:
    profiles = tmp_path / "bad.csv"
    profiles.write_text("name,account\n", encoding="utf-8")
    result = run(tool, command, "--tz", "UTC", "--profile-map", str(profiles), stdin=OUTBOUND)
    assert result.returncode == 2
    _no_traceback(result.stderr)
    assert result.stderr.decode().splitlines() == [
        f"esa-auth: error: {profiles}: the header row must name the columns profile and user (missing: profile, user)"
    ]
    assert result.stdout == b""


def test_unreadable_profile_map_exits_2_with_one_line(tool: List[str], tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"
    result = run(tool, "normalize", "--profile-map", str(missing), stdin=OUTBOUND)
    assert result.returncode == 2
    _no_traceback(result.stderr)
    assert result.stderr.decode().splitlines() == [
        f"esa-auth: error: cannot read the profile map {missing}: No such file or directory"
    ]
    assert result.stdout == b""


def test_session_bounds_are_options(tool: List[str]) -> None:
    data = (
        b"Mon Jun  3 12:00:00 2024 Info: New SMTP ICID 1 interface D (192.0.2.1) address 198.51.100.1\n"
        b"Mon Jun  3 12:00:01 2024 Info: New SMTP ICID 2 interface D (192.0.2.1) address 198.51.100.2\n"
        b"Mon Jun  3 12:00:02 2024 Info: SMTP Auth: (ICID 1) failed for user: a using AUTH mechanism: PLAIN "
        b"with profile: p\n"
        b"Mon Jun  3 12:10:00 2024 Info: SMTP Auth: (ICID 2) failed for user: b using AUTH mechanism: PLAIN "
        b"with profile: p\n"
    )
    result = run(tool, "normalize", "--tz", "UTC", "--max-sessions", "1", "--session-timeout", "5m", "--stats",
                 stdin=data)  # fmt: skip
    first, second = _events(result.stdout)
    assert "src" not in first, "ICID 1 was evicted when ICID 2 opened (one session at most)"
    assert "src" not in second, "ICID 2 was idle for more than 5 minutes"
    assert result.stderr.decode().endswith("evictions=2\n")


def test_bad_bytes_give_valid_utf8_json_and_warnings(tool: List[str], assert_valid: Validate) -> None:
    data = b"\xff\xfe\x00garbage\n" + A4.replace(b"admin", b"adm\xe9\x00\x1b[0m") + b"\x00" * 100
    result = run(tool, "normalize", "--tz", "UTC", stdin=data)
    assert result.returncode == 0
    _no_traceback(result.stderr)
    events = _events(result.stdout)
    assert_valid(events)
    assert len(events) == 1
    assert "invalid UTF-8" in result.stderr.decode("utf-8")


def test_output_is_utf8_whatever_the_locale(tool: List[str]) -> None:
    data = "Info: User café ☃ from 192.0.2.10 failed authentication.\n".encode()
    for env in ({"PYTHONIOENCODING": "ascii"}, {"LC_ALL": "C", "LANG": "C"}):
        result = run(tool, "normalize", stdin=data, env=env)
        assert result.returncode == 0, env
        _no_traceback(result.stderr)
        (event,) = _events(result.stdout)
        assert event["user"] == "café ☃"


def test_closed_pipe_is_not_an_error(tool: List[str], tmp_path: Path) -> None:
    """``esa-auth normalize big.log | head -1``: no traceback, exit 0."""
    big = tmp_path / "big.log"
    big.write_bytes(MISSION_LOG.read_bytes() * 3000)
    with subprocess.Popen([*tool, "normalize", "--tz", "UTC", str(big)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as process:  # fmt: skip
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        code = process.wait(timeout=120)
    _no_traceback(stderr)
    assert code == 0


def test_version(tool: List[str]) -> None:
    result = run(tool, "--version")
    assert result.returncode == 0
    assert result.stdout.decode().startswith("esa-auth ")


def test_the_formats_are_the_renderers() -> None:
    from esa_auth.cli import FORMATS
    from esa_auth.render import RENDERERS

    assert tuple(sorted(RENDERERS)) == FORMATS


#: A mail log in the usual forms, with JSON metacharacters in the user names.
USUAL_MAIL_LOG = "".join(
    f"Mon Mar  4 07:00:{n % 60:02d} 2024 Info: {body}\n"
    for n in range(1, 60)
    for body in (
        f"New SMTP ICID {n} interface In (192.0.2.1) address 198.51.100.{n} reverse dns host h{n}.example verified yes",
        f"ICID {n} ACCEPT SG ALLOWED match ALL SBRS {n / 10}",
        f"ICID {n} TLS success protocol TLSv1.3 cipher TLS_AES_256_GCM_SHA384" if n % 2 else f"MID {n} ICID {n} x",
        f'SMTP Auth: (ICID {n}) {"succeeded" if n % 3 else "failed"} for user: u{n}\\"x using AUTH mechanism: PLAIN'
        " with profile: Corp",
        f"New SMTP DCID {n} interface 192.0.2.1 address 203.0.113.9 port 587",
        f"DCID: {n} IP: 203.0.113.9 SMTP authentication using the profile Out succeeded.",
        f"ICID {n} close",
    )
)


@pytest.mark.parametrize("fmt", ["cim", "ocsf", "ecs"])
def test_a_usual_mail_log_is_the_library_s_events(tool: List[str], tmp_path: Path, fmt: str) -> None:
    """The command line writes the library's events, rendered, one JSON object a line."""
    from esa_auth.render import RENDERERS

    log = tmp_path / "mail.log"
    log.write_text(USUAL_MAIL_LOG, encoding="ascii")
    result = run(tool, "normalize", "--tz", "UTC", "--stats", "--format", fmt, str(log))
    assert result.returncode == 0
    library = normalize(USUAL_MAIL_LOG.encode(), Settings(tz="UTC"), source=str(log))
    events = library.events
    assert len(events) == 2 * 59
    render = RENDERERS[fmt]
    assert _events(result.stdout) == [json.loads(json_text(render(event))) for event in events]
    assert result.stderr.decode() == " ".join(f"{k}={v}" for k, v in library.stats.items()) + "\n"
    assert library.stats["context"] == 59 * 4 + 30  # C1, C2, C7, C5; C4 on odd ones


def test_help_lists_normalize(tool: List[str]) -> None:
    result = run(tool, "normalize", "--help")
    assert result.returncode == 0
    for option in ("--tz", "--host", "--year", "--max-sessions", "--session-timeout", "--stats"):
        assert option in result.stdout.decode()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("1h", 3600.0), ("2d", 172800.0), (" 1.5H ", 5400.0)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "-5", "1w", "soon", "1h30m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text)


@pytest.mark.parametrize("version", SPLUNK_PYTHONS)
def test_runs_under_splunk_pythons(version: str) -> None:
    """Splunk ships Python 3.9 and 3.13: the library and the tool must run there, on the standard library only."""
    python = splunk_python(version)
    package = Path(__file__).resolve().parents[1] / "package"
    result = subprocess.run(
        [python, "-I", "-c", f"import sys; sys.path.insert(0, {str(package)!r}); "
         "from esa_auth.cli import main; sys.exit(main())", "normalize", "--tz", "UTC", "--stats", str(MISSION_LOG)],
        capture_output=True, timeout=120, check=False,
    )  # fmt: skip
    _no_traceback(result.stderr)
    assert result.returncode == 0
    assert len(_events(result.stdout)) == 4
