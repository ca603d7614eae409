"""The benchmark's tools: every preset of bench/generate.py is a log the library reads, and
bench/run.py and bench/forms.py run end to end. Nothing here is timed: the figures are the
scripts' business.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from esa_auth.pipeline import Normalizer, Settings, Stream
from splunkd import find_python

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from generate import PRESETS, generate  # noqa: E402 - bench/ is not a package

LINES = 20_000
# Syslog dates have no year: the generator's logs are in 2024.
#: Files: their header's offset; syslog logs have none, and are read as UTC (as bench/run.py reads them).
SETTINGS = {"file": Settings(year=2024), "syslog": Settings(tz="UTC", year=2024)}


def read(path: Path, envelope: str) -> Tuple[List[Dict[str, Any]], Dict[str, int], List[str]]:
    """The events (CIM dicts), counters and warnings of the library for a file, read in 64 KiB blocks."""
    normalizer = Normalizer(SETTINGS[envelope])
    stream = Stream(str(path))
    events = []
    data = path.read_bytes()
    for start in range(0, len(data), 65536):
        events += normalizer.feed(stream, data[start : start + 65536])
    events += normalizer.end(stream)
    warnings = [str(d) for d in normalizer.take_diagnostics()]
    return [e.to_dict() for e in events], normalizer.stats_dict(), warnings


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Tuple[Path, Dict[str, Any]]]:
    """Every preset generated once: (log, manifest)."""
    out = {}
    directory = tmp_path_factory.mktemp("presets")
    for name in PRESETS:
        path = directory / f"{name}.log"
        out[name] = (path, generate(path, LINES, 1, name))
    return out


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_is_a_log_the_library_reads(preset: str, logs: Dict[str, Tuple[Path, Dict[str, Any]]]) -> None:
    path, manifest = logs[preset]
    events, stats, warnings = read(path, manifest["envelope"])
    assert manifest["lines"] == stats["lines"] == LINES
    assert warnings == []
    # One event per SMTP AUTH line, each inbound one with its session's client.
    assert len(events) == manifest["auth_lines"] > 0
    inbound = [e for e in events if e["signature_id"] in ("ESA-T1", "ESA-T2")]
    assert inbound
    assert all(e["src"] for e in inbound)
    assert stats["evictions"] == 0


def test_presets_vary_what_they_say(logs: Dict[str, Tuple[Path, Dict[str, Any]]]) -> None:
    text = {name: path.read_text(encoding="utf-8") for name, (path, _) in logs.items()}
    share = {name: manifest["auth_share"] for name, (_, manifest) in logs.items()}
    assert share["auth-rare"] < 0.01 < share["typical"] < share["auth-heavy"]
    assert 0.03 < share["typical"] < 0.08
    failures = {name: text[name].count(") failed for user: ") / manifest["auth_lines"]
                for name, (_, manifest) in logs.items()}  # fmt: skip
    assert failures["failures"] > 0.55
    assert failures["failures"] > failures["typical"] + 0.2 > 0.4
    assert "ACCEPT SG None match ALL SBRS None" in text["typical"]
    assert "SG None match ALL SBRS None" not in text["classic"]
    for name in ("typical", "sessions"):
        assert re.search(r"ICID \d+ lost\n", text[name])
        assert re.search(r"DCID \d+ TLS success", text[name])
    assert re.search(r"interface Data 1 \(192\.0\.2\.13\)", text["typical"])
    # A connection with more than one AUTH line.
    icids = re.findall(r"SMTP Auth: \(ICID (\d+)\)", text["typical"])
    assert len(set(icids)) < len(icids)
    # Connections pile up as the log goes on: at this size, half as many again; tens of thousands at 1,000,000 lines.
    assert logs["open-many"][1]["peak_open_icids"] > 1.5 * logs["typical"][1]["peak_open_icids"]
    assert logs["open-few"][1]["peak_open_icids"] < 100
    assert all(line.startswith("<22>") and " esa01.example.com mail_logs: Info: " in line
               for line in text["syslog"].splitlines())  # fmt: skip
    users = re.findall(r"for user: (.*?) using AUTH", text["users"])
    assert sum(not user.isascii() for user in users) > len(users) / 4
    assert sum(len(user) > 50 for user in users) > len(users) / 10
    stamps = [line[:24] for line in text["stress"].splitlines()[3:]]
    assert len(set(stamps)) == len(stamps), "a new second on every line"
    typical_stamps = {line[:24] for line in text["typical"].splitlines()}
    assert len(typical_stamps) < LINES / 100


def test_the_classic_log_is_the_one_the_figures_were_measured_on(tmp_path: Path) -> None:
    # The digest of what bench/generate.py wrote for 6,000 lines of seed 1 before presets existed
    # (commit 1b7b1da): the default log of the earlier figures stays reachable.
    path = tmp_path / "classic.log"
    generate(path, 6000, 1)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == CLASSIC_SHA256
    again = tmp_path / "again.log"
    generate(again, 6000, 1, "classic")
    assert again.read_bytes() == path.read_bytes()
    generate(again, 6000, 2, "classic")
    assert again.read_bytes() != path.read_bytes()


CLASSIC_SHA256 = "f159fdea4b829cce621f4ac7ed55d7e390e2d9a79bc32756ec4d5af72e342a02"


def test_run_py_runs_every_path_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--presets", "typical,syslog", "--lines", "300",
         "--repeat", "1", "--paths", "all", "--out", str(out), "--data", str(tmp_path / "data")],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text(encoding="utf-8"))
    missing = [version for version in ("3.9", "3.13") if find_python(version)[0] is None]
    expected_skips = [p for p in ("modinput-3.9", "modinput-3.13", "esaauth-3.13", "esaauth-3.9")
                      if p.rsplit("-", 1)[1] in missing]  # fmt: skip
    assert sorted(document["skipped"]) == sorted(expected_skips)
    ran = {(r["preset"], r["path"]) for r in document["results"]}
    paths = {"floor", "cli-cim", "cli-ocsf", "cli-ecs", "python", "modinput-3.9", "modinput-3.13", "esaauth-3.13",
             "esaauth-3.9"} - set(expected_skips)  # fmt: skip
    assert ran == {(preset, path) for preset in ("typical", "syslog") for path in paths}
    assert all(r["cpu_s"] > 0 and r["peak_rss_mib"] > 0 and r["events"] > 0 for r in document["results"])
    assert document["commit"]
    assert document["python"]["bench"] == ".".join(map(str, sys.version_info[:3]))
    for version in ("3.9", "3.13"):
        assert (version in document["python"]) == (version not in missing)
    # The table names every path that ran.
    assert all(path in done.stdout for path in paths)


def test_forms_py_measures_every_template(tmp_path: Path) -> None:
    from esa_auth.patterns import PATTERNS

    records = tmp_path / "forms.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "forms.py"), "--units", "3", "--repeat", "1", "--json", str(records)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(records.read_text(encoding="utf-8"))
    named = {row["form"].split(" (")[0].split(",")[0] for row in rows}
    assert {p.name for p in PATTERNS} <= named
    assert {row["role"] for row in rows} >= {"auth", "context", "header", "ignore", "skipped"}
    for row in rows:
        # Each form's line makes the event its role says, and none of them a warning.
        assert row["warnings"] == 0, row
        assert row["events_per_unit"] == (1 if row["role"] == "auth" else 0), row
    assert [line for line in done.stdout.splitlines() if line.startswith("| ")][1:] == done.stdout.splitlines()[2:]
    assert len(done.stdout.splitlines()) == len(rows) + 2  # the header, its rule and one row per form


def test_detect_py_runs_end_to_end(tmp_path: Path) -> None:
    """bench/detect.py measures normalize and detect on a generated log and writes its figures."""
    out = tmp_path / "detect.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "detect.py"), "--sizes", "3000", "--repeat", "1", "--out", str(out),
         "--data", str(tmp_path / "data")],
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(out.read_text(encoding="utf-8"))["results"][0]
    assert figures["lines"] == 3000
    assert figures["events"] > 0
    assert figures["detect"]["cpu_s"] > 0
    assert figures["normalize"]["cpu_s"] > 0


def test_many_files_py_runs_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "many.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "many_files.py"), "--files", "40", "--lines", "800", "--nofile", "32",
         "--repeat", "2", "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    document = json.loads(out.read_text(encoding="utf-8"))
    one, many = document["results"]["one_file"], document["results"]["many_files"]
    # Every event of the one file comes out of the forty, with no warning, under a limit of 32 descriptors.
    assert many["events"] == one["events"] > 0
    assert many["files_read"] == 40
    assert many["warning_count"] == 0
    # Two runs of each; the least CPU time counts.
    assert len(one["cpu_runs"]) == len(many["cpu_runs"]) == 2
    assert (one["cpu_s"], many["cpu_s"]) == (min(one["cpu_runs"]), min(many["cpu_runs"]))
    assert document["ratio"] > 0
    assert done.returncode == (0 if document["target_met"] else 1), done.stderr[-2000:]


def test_bound_py_does_the_work_the_library_does(tmp_path: Path) -> None:
    """bench/bound.py's columns count what they claim: every candidate line, and one least event per AUTH line."""
    out = tmp_path / "bound.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bound.py"), "--presets", "typical,syslog", "--lines", "4000",
         "--repeat", "1", "--data", str(tmp_path / "data"), "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    for preset in ("typical", "syslog"):
        figures = results[preset]
        manifest = json.loads((tmp_path / "data" / f"{preset}-4000-seed1.log.json").read_text(encoding="utf-8"))
        assert figures["floor"]["counted"] == manifest["lines"]
        assert figures["least"]["counted"] == figures["library"]["counted"] == manifest["auth_lines"] > 0
        # Every line the reader's search finds is touched once; most of them match a template.
        assert figures["scan"]["counted"] >= figures["touch"]["counted"] >= figures["match"]["counted"]
        assert figures["match"]["counted"] > manifest["auth_lines"]
        assert all(figures[column]["x_floor"] > 0 for column in figures)
    assert "| typical |" in done.stdout
