"""Benchmark ``esa-auth normalize`` against the floor and the naive approach.

For each file size it generates (once) a deterministic mail log with
``bench/generate.py``, then runs, as separate processes read the same way:

* ``floor``: plain Python line iteration over the file (``for line in f: pass``
  on the binary file), the least any Python reader can do;
* ``normalize``: ``esa-auth normalize --tz UTC --stats FILE > /dev/null``, end
  to end (start-up, reading, sessions, events, JSON out), with the compiled
  reading loop (``esa_auth._speedups``, built when the package is installed);
* ``normalize-python``: the same with ``ESA_AUTH_PURE_PYTHON=1``: the Python
  reading loop, which is what the Splunk app runs;
* ``naive``: ``bench/naive.py FILE``, every template's regex tried on every line.

Each process is timed from start to exit; its CPU time (user + system) and
peak resident memory come from ``os.wait4``. Lines per second are computed
from CPU time, which is what the process itself costs: wall time on a shared
machine also counts time spent waiting for a core (both are recorded). The
best of the repeats is kept. The ``normalize`` counters are checked against
the generator's manifest (lines read, one event per SMTP AUTH line); both
loops' outputs are held to each other by ``bench/check.py`` and the tests.

Writes ``bench/results.json`` and prints a Markdown table.

Usage::

    python bench/run.py                       # 1,000,000 and 3,000,000 lines, 3 repeats
    python bench/run.py --sizes 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from generate import generate  # noqa: E402 - bench/ is not a package

FLOOR = "import sys\nwith open(sys.argv[1], 'rb') as f:\n    for line in f:\n        pass\n"


#: How each ``normalize`` run reads: with the compiled loop (the command line as installed
#: with a C compiler) or with the Python loop (what the Splunk app runs).
LOOPS = {"normalize": {"ESA_AUTH_PURE_PYTHON": "0"}, "normalize-python": {"ESA_AUTH_PURE_PYTHON": "1"}}


def _data_file(lines: int, seed: int) -> Path:
    """The generated log for a size and seed, generated if missing or stale."""
    path = HERE / "data" / f"mail-{lines}-seed{seed}.log"
    manifest = path.with_name(path.name + ".json")
    source = (HERE / "generate.py").stat().st_mtime
    if path.exists() and manifest.exists() and manifest.stat().st_mtime >= source:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
    generate(path, lines, seed)
    return path


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


def _measure(
    command: List[str], stderr_path: Path, stdout_path: Optional[Path] = None, extra: Optional[Dict[str, str]] = None
) -> Dict[str, float]:
    """Run a command to completion; its wall time, CPU time (user + system) and peak RSS."""
    report = stderr_path.with_suffix(".rusage")
    # The library of this checkout, installed or not.
    paths = [str(ROOT / "package"), os.environ.get("PYTHONPATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in paths if path), **(extra or {}))
    with open(stderr_path, "wb") as err, open(stdout_path or os.devnull, "wb") as out:
        subprocess.run([sys.executable, "-S", "-c", LAUNCHER, str(report), *command], stdout=out, stderr=err,
                       cwd=ROOT, env=env, check=False)  # fmt: skip
    try:
        code, wall, cpu, rss = report.read_text().split()
    except (OSError, ValueError):
        raise SystemExit(f"could not run: {' '.join(command)}\n{stderr_path.read_text()[-2000:]}") from None
    if int(code) != 0:
        raise SystemExit(f"failed ({code}): {' '.join(command)}\n{stderr_path.read_text()[-2000:]}")
    return {"wall_s": float(wall), "cpu_s": float(cpu), "peak_rss_mib": int(rss) / 1024}  # Linux: KiB


def _esa_auth() -> List[str]:
    script = Path(sys.executable).parent / "esa-auth"
    return [str(script)] if script.exists() else [sys.executable, "-m", "esa_auth"]


def _compiled_loop_built() -> bool:
    """Whether the library this benchmark runs has its compiled reading loop."""
    probe = "import esa_auth.pipeline as p; print(p._built is not None)"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "package"))
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    return found.stdout.strip() == "True"


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
        "python": platform.python_version(),
        "compiled_loop_built": _compiled_loop_built(),
        "load_average_at_start": list(os.getloadavg()),
    }


def _commit() -> str:
    """The commit measured; ``+modified`` when the library differs from it in the working tree."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()  # fmt: skip
        changed = subprocess.run(["git", "status", "--porcelain", "--", "package"], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return ""
    return head + ("+modified" if changed else "")


def _stats(text: str) -> Dict[str, int]:
    """The ``--stats`` line of ``esa-auth normalize``: ``lines=... events=...``."""
    last = [line for line in text.splitlines() if line.startswith("lines=")][-1]
    return {key: int(value) for key, value in (item.split("=") for item in last.split())}


def bench(sizes: List[int], seed: int, repeat: int, naive_repeat: int) -> Dict[str, Any]:
    """Run every measurement; return the results document."""
    logs = HERE / "data"
    machine = _machine()
    commit = _commit()
    results: List[Dict[str, Any]] = []
    for lines in sizes:
        path = _data_file(lines, seed)
        manifest = json.loads(path.with_name(path.name + ".json").read_text())
        rel = str(path.relative_to(ROOT))
        commands = {
            "floor": [sys.executable, "-c", FLOOR, rel],
            "normalize": [*_esa_auth(), "normalize", "--tz", "UTC", "--stats", rel],
            "normalize-python": [*_esa_auth(), "normalize", "--tz", "UTC", "--stats", rel],
            "naive": [sys.executable, str(HERE / "naive.py"), rel],
        }
        runs: Dict[str, List[Dict[str, float]]] = {name: [] for name in commands}
        for round_ in range(max(repeat, naive_repeat)):
            for name, command in commands.items():
                if round_ >= (naive_repeat if name == "naive" else repeat):
                    continue
                err = logs / f"{name}.stderr"
                out = logs / f"{name}.stdout" if name == "naive" else None
                runs[name].append(_measure(command, err, out, LOOPS.get(name)))
                if name.startswith("normalize"):
                    counters = _stats(err.read_text())
                    if counters["lines"] != manifest["lines"] or counters["events"] != manifest["auth_lines"]:
                        raise SystemExit(f"normalize read {counters}, expected {manifest['lines']} lines and "
                                         f"{manifest['auth_lines']} events")  # fmt: skip
                if name == "naive":
                    found = json.loads((logs / "naive.stdout").read_text())
                    if found["matched"].get("auth") != manifest["auth_lines"]:
                        raise SystemExit(f"naive matched {found}, expected {manifest['auth_lines']} auth lines")
                print(f"{lines:>9} {name:<9} run {round_ + 1}: {runs[name][-1]}", file=sys.stderr, flush=True)
        floor_cpu = min(run["cpu_s"] for run in runs["floor"])
        floor_wall = min(run["wall_s"] for run in runs["floor"])
        for name, measured in runs.items():
            cpu = min(run["cpu_s"] for run in measured)
            wall = min(run["wall_s"] for run in measured)
            results.append({
                "approach": name,
                "lines": manifest["lines"],
                "bytes": manifest["bytes"],
                "runs": len(measured),
                "cpu_s": round(cpu, 3),
                "cpu_s_median": round(statistics.median(run["cpu_s"] for run in measured), 3),
                "wall_s": round(wall, 3),
                "lines_per_s_cpu": round(manifest["lines"] / cpu),
                "lines_per_s_wall": round(manifest["lines"] / wall),
                "ratio_to_floor_cpu": round(cpu / floor_cpu, 1),
                "ratio_to_floor_wall": round(wall / floor_wall, 1),
                "peak_rss_mib": round(max(run["peak_rss_mib"] for run in measured), 1),
            })  # fmt: skip
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit,
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "machine": machine,
        "seed": seed,
        "results": results,
    }


def table(document: Dict[str, Any]) -> str:
    """The results as a Markdown table."""
    rows = [
        "| approach | lines | CPU s | lines/s (CPU) | x floor (CPU) | wall s | lines/s (wall) | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in document["results"]:
        rows.append(
            f"| {r['approach']} | {r['lines']:,} | {r['cpu_s']:.2f} | {r['lines_per_s_cpu']:,} | "
            f"{r['ratio_to_floor_cpu']} | {r['wall_s']:.2f} | {r['lines_per_s_wall']:,} | {r['peak_rss_mib']} |"
        )
    return "\n".join(rows)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Benchmark esa-auth normalize against the floor and the naive way.")
    parser.add_argument("--sizes", default="1000000,3000000", help="line counts, comma-separated")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of floor and normalize per size (default: 3)")
    parser.add_argument("--naive-repeat", type=int, default=1, help="runs of the slow naive baseline (default: 1)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json", help="results file")
    args = parser.parse_args(argv)
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes: not a list of numbers: {args.sizes!r}")
    if min(sizes) < 4 or args.repeat < 1 or args.naive_repeat < 1:
        parser.error("sizes must be at least 4 lines and repeats at least 1")
    # An installed package has its modules byte-compiled (pip does it): so does the
    # working tree here, else a changed module would be compiled again at every run
    # (always, where PYTHONDONTWRITEBYTECODE is set).
    compileall.compile_dir(str(ROOT / "package" / "esa_auth"), quiet=1)
    document = bench(sizes, args.seed, args.repeat, args.naive_repeat)
    args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(table(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
