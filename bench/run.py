"""Benchmark the paths users run, on every preset of ``bench/generate.py``.

For each preset it generates (once) a deterministic log with ``bench/generate.py``,
then runs each path below as a separate process, started the same way, and takes
its CPU time (user + system) and peak resident memory from ``os.wait4`` (a small
launcher forks the command, so the figures are the command's own):

* ``floor``: ``for line in f: pass`` over the file in binary mode, the least any
  Python reader can do; every other figure is also given as a multiple of it;
* ``cli-cim``, ``cli-ocsf``, ``cli-ecs``: ``esa-auth normalize --format F --stats
  FILE > /dev/null`` as installed in this interpreter's environment;
* ``python``: the library's own loop, as the Splunk app ships it (a copy of
  ``package/esa_auth`` without compiled modules), in a fresh process:
  ``Normalizer.feed`` over 1 MiB blocks, ``events.cim_text`` per event, written
  to ``/dev/null``;
* ``modinput-3.9``, ``modinput-3.13``: the modular input as splunkd runs it: the
  app built with ``build.py``'s functions and unpacked into a temporary
  ``$SPLUNK_HOME/etc/apps``, ``bin/esa_auth.py`` started with Splunk's Python
  (``-I``, splunkd's environment, a working directory outside the repository),
  the input definition XML on stdin, checkpoints on (a fresh checkpoint
  directory per run), the XML stream discarded;
* ``esaauth-3.13``, ``esaauth-3.9``: the ``esaauth`` search command of the same
  installed app, over the same lines as search results (newest first, chunks of
  50,000 records, chunked protocol v2 as ``tests/chunked.py`` writes it), its
  output kept to count the events.

Every path's event count is checked against the generator's manifest (one event
per SMTP AUTH line); a path whose interpreter is missing is left out with a
message. The best of the repeats is kept (the median is recorded too).

Writes ``bench/results.json`` (with the commit and the Python versions) and
prints a Markdown table.

Usage::

    python bench/run.py                                   # every preset, 1,000,000 lines, 3 repeats
    python bench/run.py --presets typical,stress --lines 200000 --repeat 1
    python bench/run.py --paths floor,python,modinput-3.9
"""

from __future__ import annotations

import argparse
import calendar
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(ROOT / "tests"))

from chunked import chunk, getinfo, parse  # noqa: E402 - bench/ and tests/ are not packages
from generate import MONTHS, PRESETS, UTC_OFFSET, generate  # noqa: E402
from splunkd import build_spl, find_python, input_xml, install, splunkd_env  # noqa: E402

FLOOR = "import sys\nwith open(sys.argv[1], 'rb') as f:\n    for line in f:\n        pass\n"

#: The Python path: the library's loop with CIM JSON out (argv: library directory, log, year or "").
PYTHON_PATH = """
import sys
sys.path.insert(0, sys.argv[1])
from esa_auth.events import cim_text
from esa_auth.pipeline import Normalizer, Settings, Stream
normalizer = Normalizer(Settings(tz="UTC" if sys.argv[3] else None, year=int(sys.argv[3]) if sys.argv[3] else None))
stream = Stream(sys.argv[2])
write = sys.stdout.write
with open(sys.argv[2], "rb") as handle:
    for block in iter(lambda: handle.read(1 << 20), b""):
        for event in normalizer.feed(stream, block):
            write(cim_text(event) + "\\n")
for event in normalizer.end(stream):
    write(cim_text(event) + "\\n")
sys.stdout.flush()
sys.stderr.write(" ".join("%s=%d" % item for item in normalizer.stats_dict().items()) + "\\n")
"""

#: Every path, in the order they run and are shown.
PATHS = ("floor", "cli-cim", "cli-ocsf", "cli-ecs", "python", "modinput-3.9", "modinput-3.13", "esaauth-3.13",
         "esaauth-3.9")  # fmt: skip
DEFAULT_PATHS = ("floor", "cli-cim", "cli-ocsf", "cli-ecs", "python", "modinput-3.9", "modinput-3.13", "esaauth-3.13")
#: Syslog dates have no year: the generator writes 2024 (``generate.START``).
SYSLOG_YEAR = "2024"
#: Records per chunk that splunkd sends a streaming command (``maxresultrows`` of limits.conf).
CHUNK_RECORDS = 50_000

# Runs one command and reports its wall time, CPU time and peak RSS. It is a
# fresh, small process: Linux keeps a process's peak RSS across exec, so a
# child forked straight from this script would count this script's memory.
LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as report:
    report.write("%d %r %r %d" % (os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime,
                                  usage.ru_maxrss))
"""


def pure_library(dest: Path) -> Path:
    """Copy the library as the app ships it (Python only, whatever this checkout has compiled) under ``dest``."""
    shutil.copytree(ROOT / "package" / "esa_auth", dest / "esa_auth",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"))  # fmt: skip
    compileall.compile_dir(str(dest), quiet=1)
    return dest


class Skip(Exception):
    """A path that cannot run here (its interpreter is missing)."""


def data_file(directory: Path, preset: str, lines: int, seed: int) -> Path:
    """The generated log for a preset, size and seed, generated if missing or stale."""
    path = directory / f"{preset}-{lines}-seed{seed}.log"
    manifest = path.with_name(path.name + ".json")
    source = (HERE / "generate.py").stat().st_mtime
    if path.exists() and manifest.exists() and manifest.stat().st_mtime >= source:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ...", file=sys.stderr, flush=True)
    generate(path, lines, seed, preset)
    return path


def measure(
    command: List[str], work: Path, name: str, env: Dict[str, str], cwd: Path,
    stdin: Optional[Path] = None, stdout: Optional[Path] = None,
) -> Dict[str, float]:  # fmt: skip
    """Run a command to completion; its wall time, CPU time (user + system) and peak RSS."""
    report = work / f"{name}.rusage"
    err_path = work / f"{name}.stderr"
    with open(stdin or os.devnull, "rb") as inp, open(err_path, "wb") as err, open(stdout or os.devnull, "wb") as out:
        subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(report), *command], stdin=inp, stdout=out,
                       stderr=err, cwd=cwd, env=env, check=False)  # fmt: skip
    try:
        code, wall, cpu, rss = report.read_text().split()
    except (OSError, ValueError):
        raise SystemExit(f"could not run: {' '.join(command)}\n{err_path.read_text()[-2000:]}") from None
    finally:
        report.unlink(missing_ok=True)
    if int(code) != 0:
        raise SystemExit(f"failed ({code}): {' '.join(command)}\n{err_path.read_text()[-2000:]}")
    return {"wall_s": float(wall), "cpu_s": float(cpu), "peak_rss_mib": int(rss) / 1024}  # Linux: KiB


def events_counted(text: str) -> int:
    """The last ``events=N`` counter in a process's stderr (``--stats``, the input's ``run done`` log line)."""
    found = re.findall(r"\bevents=(\d+)", text)
    if not found:
        raise SystemExit(f"no counters in:\n{text[-2000:]}")
    return int(found[-1])


def _esa_auth() -> List[str]:
    script = Path(sys.executable).parent / "esa-auth"
    return [str(script)] if script.exists() else [sys.executable, "-m", "esa_auth"]


# --- the esaauth command's input: the log's lines as search results -------------------------------------------
_FILE_TIME = re.compile(rb"^\w{3} (\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) (\d{4}) ")
_SYSLOG_TIME = re.compile(rb"^(?:<\d{1,3}>)?(\w{3}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2}) ")


def _epoch(groups: Tuple[bytes, ...]) -> int:
    """Seconds since the epoch of (month, day, hour, minute, second, year), read as UTC."""
    month, day, hour, minute, second, year = groups
    fields = (int(year), MONTHS.index(month.decode()) + 1, int(day), int(hour), int(minute), int(second))
    return calendar.timegm((*fields, 0, 0, 0))


def search_input(path: Path, manifest: Dict[str, Any], out: Path) -> None:
    """Write the chunked-protocol input of ``| esaauth`` over the lines of ``path`` (``tz=UTC`` for syslog).

    ``_time`` is what Splunk would give each line: the file header's offset applied to a
    native time, UTC for a syslog time (the generator's ``UTC_OFFSET`` and 2024). Records come
    newest first, equal times in reverse file order, as a search returns them.
    """
    syslog = manifest["envelope"] == "syslog"
    lines = path.read_bytes().splitlines()
    stamps: List[int] = []
    cache: Dict[bytes, int] = {}
    for line in lines:
        head = line[:32]
        found = (_SYSLOG_TIME if syslog else _FILE_TIME).match(head)
        if found is None:
            raise SystemExit(f"{path}: no time in {line[:80]!r}")
        key = found.group(0)
        stamp = cache.get(key)
        if stamp is None:
            if len(cache) > 4096:
                cache.clear()
            stamp = cache[key] = (_epoch((*found.groups(), SYSLOG_YEAR.encode())) if syslog
                                  else _epoch(found.groups()) - UTC_OFFSET)  # fmt: skip
        stamps.append(stamp)
    order = sorted(range(len(lines)), key=lambda i: (-stamps[i], -i))
    source = f"/var/log/esa/{path.name}"
    with out.open("wb") as handle:
        handle.write(chunk(getinfo(["tz=UTC"] if syslog else [], str(out.parent))))
        for start in range(0, len(order), CHUNK_RECORDS):
            part = order[start : start + CHUNK_RECORDS]
            records = [{"_raw": lines[i].decode("utf-8"), "_time": str(stamps[i]), "host": "esa01.example.com",
                        "source": source, "sourcetype": "cisco:esa:textmail"} for i in part]  # fmt: skip
            finished = start + CHUNK_RECORDS >= len(order)
            handle.write(chunk({"action": "execute", "finished": finished}, records))


def search_events(output: Path) -> int:
    """The events in the esaauth command's output (every record it returns is one)."""
    return sum(len(records) for _, records in parse(output.read_bytes()))


# --- the benchmark ---------------------------------------------------------------------------------------------
class Bench:
    """What every preset's runs share: the pure-Python library copy, the installed app, the interpreters."""

    def __init__(self, work: Path, paths: List[str]) -> None:
        self.work = work
        self.paths = paths
        # The library as the app ships it: Python only, whatever this checkout has compiled.
        self.lib = pure_library(work / "lib")
        self.pythons: Dict[str, Optional[str]] = {}
        for version in ("3.9", "3.13"):
            found, looked = find_python(version)
            self.pythons[version] = found
            if found is None and any(path.endswith(version) for path in paths):
                print(f"Python {version} not found (looked for {looked}): its paths are left out", file=sys.stderr)
        self.home = work / "splunk_home"
        self.app: Optional[Path] = None
        if any(path.startswith(("modinput", "esaauth")) for path in paths):
            spl = build_spl(work / "build")
            self.app = install(spl, self.home)
            # An app's first run writes its byte code where it can: compile it here, so that every
            # measured run is like a later run.
            for python in self.pythons.values():
                if python:
                    subprocess.run([python, "-I", "-m", "compileall", "-q", str(self.app / "bin")], check=True)
        self.outside = work / "cwd"
        self.outside.mkdir(exist_ok=True)

    def versions(self) -> Dict[str, str]:
        out = {"bench": platform.python_version()}
        for version, python in self.pythons.items():
            if python:
                found = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                       capture_output=True, text=True, check=False)  # fmt: skip
                out[version] = found.stdout.strip()
        return out

    def run(self, name: str, log: Path, manifest: Dict[str, Any], search: Optional[Path]) -> Dict[str, float]:
        """One run of a path over a log; checks its event count."""
        work = self.work
        syslog = manifest["envelope"] == "syslog"
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        events: Optional[int] = None
        if name == "floor":
            return measure([sys.executable, "-c", FLOOR, str(log)], work, name, env, ROOT)
        if name.startswith("cli-"):
            command = [*_esa_auth(), "normalize", "--format", name[4:], "--stats", str(log)]
            if syslog:
                command += ["--tz", "UTC", "--year", SYSLOG_YEAR]
            result = measure(command, work, name, env, ROOT)
            events = events_counted((work / f"{name}.stderr").read_text())
        elif name == "python":
            command = [sys.executable, "-I", "-c", PYTHON_PATH, str(self.lib), str(log), SYSLOG_YEAR if syslog else ""]
            result = measure(command, work, name, env, ROOT)
            events = events_counted((work / f"{name}.stderr").read_text())
        else:
            kind, version = name.split("-")
            python = self.pythons[version]
            if python is None or self.app is None:
                raise Skip(name)
            if kind == "modinput":
                checkpoints = Path(tempfile.mkdtemp(prefix="ck-", dir=work))
                stdin = work / "input.xml"
                params = {"path": str(log), "timezone": "UTC"} if syslog else {"path": str(log)}
                stdin.write_text(input_xml(checkpoints, params), encoding="utf-8")
                command = [python, "-I", str(self.app / "bin" / "esa_auth.py")]
                result = measure(command, work, name, splunkd_env(self.home), self.outside, stdin=stdin)
                shutil.rmtree(checkpoints)
                events = events_counted((work / f"{name}.stderr").read_text())
            else:
                assert search is not None
                output = work / "esaauth.out"
                command = [python, "-I", str(self.app / "bin" / "esaauth.py")]
                result = measure(command, work, name, splunkd_env(self.home), self.outside, stdin=search,
                                 stdout=output)  # fmt: skip
                events = search_events(output)
                output.unlink()
        if events != manifest["auth_lines"]:
            raise SystemExit(f"{name} on {log.name}: {events} events, expected {manifest['auth_lines']}")
        return result


def bench(
    presets: List[str], lines: int, seed: int, repeat: int, paths: List[str], data: Path, work: Path
) -> Dict[str, Any]:
    """Run every measurement; return the results document."""
    runner = Bench(work, paths)
    results: List[Dict[str, Any]] = []
    skipped: List[str] = []
    document: Dict[str, Any] = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _commit(),
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "machine": _machine(),
        "python": runner.versions(),
        "seed": seed,
        "lines": lines,
        "repeat": repeat,
    }
    for preset in presets:
        log = data_file(data, preset, lines, seed)
        manifest = json.loads(log.with_name(log.name + ".json").read_text())
        search = None
        if any(path.startswith("esaauth") for path in paths):
            search = work / "search.chunked"
            search_input(log, manifest, search)
        runs: Dict[str, List[Dict[str, float]]] = {}
        for round_ in range(repeat):
            for name in paths:
                if name in skipped:
                    continue
                try:
                    one = runner.run(name, log, manifest, search)
                except Skip:
                    skipped.append(name)
                    continue
                runs.setdefault(name, []).append(one)
                print(f"{preset:<11} {name:<13} run {round_ + 1}: cpu {one['cpu_s']:.3f} s, "
                      f"rss {one['peak_rss_mib']:.1f} MiB", file=sys.stderr, flush=True)  # fmt: skip
        floor = min(run["cpu_s"] for run in runs["floor"])
        for name, measured in runs.items():
            cpu = min(run["cpu_s"] for run in measured)
            results.append({
                "preset": preset,
                "path": name,
                "lines": manifest["lines"],
                "bytes": manifest["bytes"],
                "events": manifest["auth_lines"],
                "runs": len(measured),
                "cpu_s": round(cpu, 3),
                "cpu_s_median": round(statistics.median(run["cpu_s"] for run in measured), 3),
                "wall_s": round(min(run["wall_s"] for run in measured), 3),
                "lines_per_s_cpu": round(manifest["lines"] / cpu),
                "x_floor": round(cpu / floor, 1),
                "peak_rss_mib": round(max(run["peak_rss_mib"] for run in measured), 1),
            })  # fmt: skip
    document["skipped"] = skipped
    document["results"] = results
    return document


def _machine() -> Dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "system": platform.platform(),
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
    }


def _commit() -> str:
    """The commit measured; ``+modified`` when the library differs from it in the working tree."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        changed = subprocess.run(["git", "status", "--porcelain", "--", "package", "bin"], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+modified" if changed else "")


def table(document: Dict[str, Any]) -> str:
    """The results as a Markdown table: one row per preset, CPU time and x floor per path."""
    paths = [path for path in PATHS if any(r["path"] == path for r in document["results"])]
    rows = [
        "| preset | lines | events | " + " | ".join(paths) + " |",
        "|---|---:|---:|" + "---:|" * len(paths),
    ]
    presets = list(dict.fromkeys(r["preset"] for r in document["results"]))
    for preset in presets:
        by_path = {r["path"]: r for r in document["results"] if r["preset"] == preset}
        first = next(iter(by_path.values()))
        cells = [f"{by_path[p]['cpu_s']:.2f} s ({by_path[p]['x_floor']}x)" if p in by_path else "" for p in paths]
        rows.append(f"| {preset} | {first['lines']:,} | {first['events']:,} | " + " | ".join(cells) + " |")
    rows += ["", "| preset | " + " | ".join(f"{p} MiB" for p in paths) + " |", "|---|" + "---:|" * len(paths)]
    for preset in presets:
        by_path = {r["path"]: r for r in document["results"] if r["preset"] == preset}
        rows.append(f"| {preset} | " + " | ".join(str(by_path[p]["peak_rss_mib"]) if p in by_path else ""
                                                   for p in paths) + " |")  # fmt: skip
    return "\n".join(rows)


def _names(text: str, known: Tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> List[str]:
    names = list(known) if text == "all" else [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        parser.error(f"--{what}: unknown {', '.join(unknown) or 'empty list'}; choose from {', '.join(known)} or all")
    return names


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Benchmark the paths users run, per generated preset.")
    parser.add_argument("--presets", default="all", help="comma-separated presets of generate.py, or all (default)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="lines per log (default: 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path per preset; the best counts")
    parser.add_argument("--paths", default=",".join(DEFAULT_PATHS),
                        help=f"comma-separated paths, or all (default: {','.join(DEFAULT_PATHS)})")  # fmt: skip
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="results file")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where the logs are generated (bench/data)")
    args = parser.parse_args(argv)
    presets = _names(args.presets, tuple(PRESETS), "presets", parser)
    paths = _names(args.paths, PATHS, "paths", parser)
    if "floor" not in paths:
        paths.insert(0, "floor")  # every figure is also a multiple of the floor
    if args.lines < 4 or args.repeat < 1:
        parser.error("--lines must be at least 4 and --repeat at least 1")
    # An installed package has its modules byte-compiled (pip does it): so does the
    # working tree here, else a changed module would be compiled again at every run.
    compileall.compile_dir(str(ROOT / "package" / "esa_auth"), quiet=1)
    with tempfile.TemporaryDirectory(prefix="esa-bench-") as work:
        document = bench(presets, args.lines, args.seed, args.repeat, paths, args.data, Path(work))
    args.out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
