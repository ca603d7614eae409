"""Benchmark ``esa-auth detect`` against ``esa-auth normalize`` on the same logs.

For each size it generates (once) a log with ``bench/generate.py`` and runs, as
separate processes measured the way ``run.py`` measures them (CPU time and peak
RSS from ``os.wait4``; the best of the repeats):

* ``normalize``: ``esa-auth normalize --tz UTC FILE > /dev/null``;
* ``detect``: ``esa-auth detect --tz UTC --stats FILE`` with the shipped rules
  (the alerts are kept beside the log, ``<file>.alerts``, and counted).

It reports CPU time, lines per second of CPU, peak RSS and the ratio of
``detect`` to ``normalize``, then the growth between the smallest and the
other sizes (time ratio against line ratio). Any argument it does not know is
passed to ``generate.py`` (a preset, for example), and names the data files.

Writes ``bench/detect-results.json`` and prints a Markdown table.

Usage::

    python bench/detect.py                                 # 200,000, 1,000,000 and 3,000,000 lines
    python bench/detect.py --sizes 200000 --repeat 1       # a quick look
    python bench/detect.py --sizes 1000000 -- --preset X   # generator options after --
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from run import _esa_auth  # noqa: E402 - bench/ is not a package
from run import measure as run_measure  # noqa: E402


def data_file(lines: int, seed: int, extra: List[str], directory: Path = HERE / "data") -> Path:
    """The generated log for a size, seed and generator options, generated if missing or older than generate.py."""
    tag = "" if not extra else "-" + hashlib.sha256(" ".join(extra).encode()).hexdigest()[:8]
    path = directory / f"mail-{lines}-seed{seed}{tag}.log"
    manifest = path.with_name(path.name + ".json")
    if path.exists() and manifest.exists() and manifest.stat().st_mtime >= (HERE / "generate.py").stat().st_mtime:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    print(f"generating {path} ...", file=sys.stderr, flush=True)
    command = [
        sys.executable,
        str(HERE / "generate.py"),
        "--lines",
        str(lines),
        "--seed",
        str(seed),
        "--out",
        str(path),
    ]
    subprocess.run([*command, *extra], check=True, stdout=subprocess.DEVNULL)
    return path


def measure(path: Path, repeat: int) -> Dict[str, Any]:
    """Best-of-``repeat`` figures of normalize and detect on one log."""
    lines = json.loads(path.with_name(path.name + ".json").read_text(encoding="utf-8"))["lines"]
    logs = path.parent / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    figures: Dict[str, Any] = {"file": path.name, "lines": lines}
    for name, command, out in (
        ("normalize", [*_esa_auth(), "normalize", "--tz", "UTC", str(path)], None),
        ("detect", [*_esa_auth(), "detect", "--tz", "UTC", "--stats", str(path)], path.with_suffix(".alerts")),
    ):
        runs = [
            run_measure(command, logs, f"{path.stem}.{name}", dict(os.environ), ROOT, stdout=out) for _ in range(repeat)
        ]
        best = min(runs, key=lambda r: r["cpu_s"])
        best["lines_per_cpu_s"] = round(lines / best["cpu_s"])
        best["peak_rss_mib"] = round(max(r["peak_rss_mib"] for r in runs), 1)
        figures[name] = best
    assert figures["detect"] is not None
    stats = (logs / f"{path.stem}.detect.stderr").read_text(encoding="utf-8").splitlines()
    # The --stats line ("lines=... alerts=..."); per-rule diagnostics ("esa-auth: rule ...") may follow it.
    line = next((text for text in reversed(stats) if text.startswith("lines=")), "")
    counters = dict(item.split("=", 1) for item in line.split() if "=" in item)
    figures["events"] = int(counters.get("events", 0))
    figures["alerts"] = int(counters.get("alerts", 0))
    figures["detect_over_normalize"] = round(figures["detect"]["cpu_s"] / figures["normalize"]["cpu_s"], 2)
    return figures


def _commit() -> str:
    found = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    return found.stdout.strip()


def table(results: List[Dict[str, Any]]) -> str:
    rows = [
        "| lines | events | alerts | normalize CPU | detect CPU | detect lines/s | detect peak RSS "
        "| detect ÷ normalize |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        d, n = r["detect"], r["normalize"]
        rows.append(
            f"| {r['lines']:,} | {r['events']:,} | {r['alerts']:,} | {n['cpu_s']:.2f} s | {d['cpu_s']:.2f} s | "
            f"{d['lines_per_cpu_s']:,} | {d['peak_rss_mib']:.0f} MiB | {r['detect_over_normalize']:.2f}× |"
        )
    first = results[0]
    for r in results[1:]:
        growth = r["detect"]["cpu_s"] / first["detect"]["cpu_s"]
        rows.append(
            f"\ndetect at {r['lines']:,} lines: {growth:.2f}× the CPU time at {first['lines']:,} "
            f"for {r['lines'] / first['lines']:.1f}× the lines"
        )
    return "\n".join(rows)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="Benchmark esa-auth detect against esa-auth normalize.")
    parser.add_argument("--sizes", default="200000,1000000,3000000", help="line counts, comma-separated")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command per size (default: 3)")
    parser.add_argument("--out", type=Path, default=HERE / "detect-results.json", help="results file")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="where the logs are generated (bench/data)")
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results = [measure(data_file(size, args.seed, extra, args.data), args.repeat) for size in sizes]
    record = {
        "when": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": _commit(),
        "command": " ".join(["bench/detect.py", *argv]),
        "generator_options": extra,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "results": results,
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
