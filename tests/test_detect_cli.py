"""``esa-auth detect``: the installed command, its rule sets, its errors, and golden replays.

Golden cases: ``tests/detections/<case>.log`` beside ``<case>-expected.json`` (the alerts), rewritten only by
``pytest --update-golden``. The command runs in ``tests/detections`` with the bare file name, so that event ids
(which hash the source name) do not depend on where the repository is checked out.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from esa_auth.cli import main
from splunkd import splunk_python

CASES_DIR = Path(__file__).resolve().parent / "detections"
CASES = sorted(CASES_DIR.glob("*.log"))
COMMAND = Path(sys.executable).with_name("esa-auth")

BRUTE_FORCE = "".join(
    f"Mon Jan  6 10:{m:02d}:00 2025 Info: New SMTP ICID {100 + m} interface Mail (192.0.2.10) address 203.0.113.7 "
    f"reverse dns host unknown verified no\n"
    f"Mon Jan  6 10:{m:02d}:01 2025 Info: ICID {100 + m} TLS success protocol TLSv1.2 cipher AES256-GCM-SHA384\n"
    f"Mon Jan  6 10:{m:02d}:02 2025 Info: SMTP Auth: (ICID {100 + m}) failed for user: alice using AUTH mechanism: "
    f"LOGIN with profile: Corp\n"
    for m in range(10)
)

RULES = """\
title: Any SMTP AUTH failure
id: 5d0f5a52-9b1e-4f57-8f0c-0a4b8c7d6e01
name: any_failure
status: test
logsource: {product: cisco, service: esa_auth}
detection:
    selection: {app: smtp, action: failure}
    condition: selection
level: low
---
title: Three failures for one user
id: 5d0f5a52-9b1e-4f57-8f0c-0a4b8c7d6e02
name: three_failures
status: test
correlation:
    type: event_count
    rules: [any_failure_for_user]
    group-by: [user]
    timespan: 1h
    condition: {gte: 3}
level: medium
---
title: Any SMTP AUTH failure for a user
id: 5d0f5a52-9b1e-4f57-8f0c-0a4b8c7d6e03
name: any_failure_for_user
status: test
logsource: {product: cisco, service: esa_auth}
detection:
    selection: {app: smtp, action: failure}
    condition: selection
level: low
"""


def run(args: List[str], capsys: pytest.CaptureFixture[str]) -> Tuple[int, List[Dict[str, Any]], str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def installed() -> Path:
    if not COMMAND.is_file():
        pytest.skip(f"the esa-auth command is not installed beside {sys.executable} (pip install -e .)")
    return COMMAND


def test_installed_command_finds_the_default_rule_set(tmp_path: Path) -> None:
    """Outside the repository, so the rules can only come from the installed package."""
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    proc = subprocess.run(
        [str(installed()), "detect", "--tz", "UTC", "mail.log"], cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    (alert,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert alert["rule_name"] == "esa_smtp_auth_brute_force"
    assert alert["group"] == {"src": "203.0.113.7"}
    assert alert["count"] == alert["metric"] == 10
    assert (alert["window_start"], alert["window_end"]) == ("2025-01-06T09:59:02Z", "2025-01-06T10:09:02Z")
    assert len(set(alert["event_ids"])) == 10
    # The accounts, clients and appliances behind it (#19: the account in every alert), bounded lists and counts.
    assert (alert["users"], alert["user_count"]) == (["alice"], 1)
    assert (alert["sources"], alert["src_count"]) == (["203.0.113.7"], 1)
    assert (alert["dvc"], alert["dvc_count"]) == ([], 0)
    assert set(alert) == {
        "rule", "rule_id", "rule_name", "level", "type", "group", "window_start", "window_end", "metric", "users",
        "user_count", "sources", "src_count", "dvc", "dvc_count", "count", "event_ids",
    }  # fmt: skip


def test_normalize_does_not_load_pysigma(tmp_path: Path) -> None:
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    code = (
        "import sys\nfrom esa_auth.cli import main\n"
        "rc = main(['normalize', '--tz', 'UTC', 'mail.log'])\n"
        "sys.stderr.write(str(sorted(m for m in sys.modules if m == 'sigma' or m.startswith('sigma.'))))\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0
    assert proc.stderr == "[]"
    assert len(proc.stdout.splitlines()) == 10


def test_rules_option_reads_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules" / "nested").mkdir(parents=True)
    (tmp_path / "rules" / "nested" / "mine.yml").write_text(RULES, encoding="utf-8")
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    code, alerts, err = run(
        ["detect", "--tz", "UTC", "--rules", str(tmp_path / "rules"), str(tmp_path / "mail.log")], capsys
    )
    assert (code, err) == (0, "")
    by_rule: Dict[str, List[Dict[str, Any]]] = {}
    for alert in alerts:
        by_rule.setdefault(alert["rule_name"], []).append(alert)
    # A plain rule: one alert per matching event; the correlation: one alert for the overlapping windows.
    assert len(by_rule["any_failure"]) == 10
    assert all(a["type"] == "event" for a in by_rule["any_failure"])
    (three,) = by_rule["three_failures"]
    assert three["group"] == {"user": "alice"}
    assert three["count"] == 10
    assert three["metric"] == 10
    assert set(by_rule) == {"any_failure", "three_failures"}


def test_rules_option_reads_one_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "mine.yml").write_text(RULES, encoding="utf-8")
    (tmp_path / "mail.log").write_text(BRUTE_FORCE[: BRUTE_FORCE.index("10:03:00")], encoding="utf-8")
    code, alerts, _ = run(
        ["detect", "--tz", "UTC", "--rules", str(tmp_path / "mine.yml"), str(tmp_path / "mail.log")], capsys
    )
    assert code == 0
    assert sorted(a["rule_name"] for a in alerts) == ["any_failure"] * 3 + ["three_failures"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such rule file or directory"),
        ("", "no rule (*.yml) under"),
        ("title: [unclosed\n", "not valid YAML"),
        ("title: no detection\nlogsource: {product: x}\n", "invalid Sigma rule"),
    ],
    ids=["missing", "empty directory", "bad YAML", "bad Sigma"],
)
def test_bad_rule_sets_are_one_line_errors(
    content: Any, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    if content is not None:
        rules.mkdir()
        if content:
            (rules / "bad.yml").write_text(content, encoding="utf-8")
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    code, alerts, err = run(["detect", "--rules", str(rules), str(tmp_path / "mail.log")], capsys)
    assert code == 2
    assert alerts == []
    assert err.startswith("esa-auth: error: ")
    assert message in err
    if content:
        assert str(rules / "bad.yml") in err, "the error names the broken file"
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def test_a_rule_the_engine_cannot_run_is_skipped_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keywords = (
        "title: Keyword search\nid: 5d0f5a52-9b1e-4f57-8f0c-0a4b8c7d6e09\nstatus: test\n"
        "logsource: {product: cisco, service: esa_auth}\ndetection:\n    keywords: [alice]\n    condition: keywords\n"
    )
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(RULES, encoding="utf-8")
    (tmp_path / "rules" / "b.yml").write_text(keywords, encoding="utf-8")
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    code, alerts, err = run(
        ["detect", "--tz", "UTC", "--rules", str(tmp_path / "rules"), str(tmp_path / "mail.log")], capsys
    )
    assert code == 0
    assert "warning: rule 'Keyword search' cannot run" in err
    assert {a["rule_name"] for a in alerts} == {"any_failure", "three_failures"}


def test_unreadable_file_and_bad_bytes_lose_nothing_else(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    noisy = b"\x00\xff\xfe garbage\n" + b"Mon Jan  6 09:59:59 2025 Info: \xc3\x28 not utf-8\n" + BRUTE_FORCE.encode()
    (tmp_path / "mail.log").write_bytes(noisy)
    code, alerts, err = run(
        ["detect", "--tz", "UTC", "--stats", str(tmp_path / "missing.log"), str(tmp_path / "mail.log")], capsys
    )
    assert code == 1
    assert f"esa-auth: cannot read {tmp_path / 'missing.log'}" in err
    assert [a["rule_name"] for a in alerts] == ["esa_smtp_auth_brute_force"]
    assert "rules=13 alerts=1" in err
    assert "Traceback" not in err


def test_a_broken_rule_among_good_ones_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "a.yml").write_text(RULES, encoding="utf-8")
    (tmp_path / "rules" / "b.yml").write_text("title: Broken\ndetection: {condition: nothing}\n", encoding="utf-8")
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    code, alerts, err = run(["detect", "--rules", str(tmp_path / "rules"), str(tmp_path / "mail.log")], capsys)
    assert (code, alerts) == (2, [])
    assert err.startswith(f"esa-auth: error: invalid Sigma rule in {tmp_path / 'rules' / 'b.yml'}: ")
    assert len(err.splitlines()) == 1


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal, a progress line (lines read, events, rules judged, alerts) is rewritten in place and
    removed before a warning and at the end; the alerts on stdout are the same."""
    from esa_auth.cli import detect

    monkeypatch.setattr(detect, "PROGRESS_EVERY", 0.0)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    (tmp_path / "mail.log").write_text(BRUTE_FORCE * 30, encoding="utf-8")
    code = main(["detect", "--tz", "UTC", str(tmp_path / "missing.log"), str(tmp_path / "mail.log")])
    out = capsys.readouterr().out
    err = terminal.getvalue()
    assert code == 1
    assert [json.loads(line)["rule_name"] for line in out.splitlines()] == ["esa_smtp_auth_brute_force"]
    assert f"\r\x1b[Kesa-auth: cannot read {tmp_path / 'missing.log'}" not in err
    assert err.startswith(f"esa-auth: cannot read {tmp_path / 'missing.log'}")
    assert "\r\x1b[Kesa-auth: 900 lines read, 256 events\r" in err  # while reading: every 256 events
    assert "\r\x1b[Kesa-auth: 900 lines read, 300 events, rules judged 13/13, 1 alerts" in err
    assert err.endswith("\r\x1b[K")


def test_no_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from esa_auth.cli import detect

    monkeypatch.setattr(detect, "PROGRESS_EVERY", 0.0)
    (tmp_path / "mail.log").write_text(BRUTE_FORCE * 30, encoding="utf-8")
    code, alerts, err = run(["detect", "--tz", "UTC", str(tmp_path / "mail.log")], capsys)
    assert (code, err) == (0, "")
    assert len(alerts) == 1


def test_events_without_time_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # E10: a body pasted without its envelope has no time, so it cannot be placed in a window.
    (tmp_path / "pasted.log").write_text(
        "Info: SMTP Auth: (ICID 30) succeeded for user: alice using AUTH mechanism: PLAIN with profile: Corp\n",
        encoding="utf-8",
    )
    code, alerts, err = run(["detect", "--tz", "UTC", str(tmp_path / "pasted.log")], capsys)
    assert (code, alerts) == (0, [])
    assert "1 event(s) have no time and take part in no rule" in err


def test_help_lists_the_reading_options_and_rules(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["detect", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--rules", "--tz", "--host", "--year", "--max-sessions", "--stats"):
        assert option in text


@pytest.mark.parametrize("log", CASES, ids=[c.stem for c in CASES])
def test_golden_alerts(log: Path, update_golden: bool) -> None:
    proc = subprocess.run(
        [str(installed()), "detect", "--tz", "UTC", log.name], cwd=log.parent, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    result = {"alerts": [json.loads(line) for line in proc.stdout.splitlines()]}
    expected = log.with_name(f"{log.stem}-expected.json")
    text = json.dumps(result, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    if update_golden:
        expected.write_text(text, encoding="utf-8")
    assert expected.is_file(), f"{expected.name} is missing: run pytest --update-golden and review it"
    assert json.loads(expected.read_text(encoding="utf-8")) == result


def test_golden_cases_have_no_orphans() -> None:
    assert CASES, "no golden case under tests/detections"
    for expected in CASES_DIR.glob("*-expected.json"):
        source = expected.with_name(expected.name[: -len("-expected.json")] + ".log")
        assert source.is_file(), f"{expected.name} has no {source.name}"


def test_detect_without_pysigma_is_a_one_line_error_on_python39(tmp_path: Path) -> None:
    """Splunk's Python 3.9 has no pySigma (it needs 3.10): normalize works, detect says what is missing."""
    python39 = splunk_python("3.9")
    (tmp_path / "mail.log").write_text(BRUTE_FORCE, encoding="utf-8")
    package = Path(__file__).resolve().parents[1] / "package"
    code = (
        f"import sys; sys.path.insert(0, {str(package)!r}); from esa_auth.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    detect = subprocess.run(
        [python39, "-S", "-c", code, "detect", "--tz", "UTC", "mail.log"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert detect.returncode == 2
    assert detect.stdout == ""
    assert detect.stderr.startswith("esa-auth: error: detect needs pySigma")
    assert len(detect.stderr.splitlines()) == 1
