"""What OCSF and ECS output cost next to CIM output (target of #13: at most 1.25x).

It generates (once) a deterministic mail log with ``bench/generate.py``, then
runs ``esa-auth normalize --tz UTC --format FMT FILE > /dev/null`` for each
format, as separate processes, and reads each one's CPU time (user + system)
from ``os.wait4``: what the process itself costs, not the time it waited for a
core on a shared machine. The best of the repeats is kept, and each format's
cost is given as a ratio to the CIM run read the same way.

The figures are noisy on a shared machine: compare ratios measured in the
same run only. (``bench/run.py`` measures the same commands on every preset.)

Usage::

    python bench/render.py                    # 1,000,000 lines, 3 repeats
    python bench/render.py --lines 200000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

FORMATS = ("cim", "ocsf", "ecs")
#: The target of #13: OCSF and ECS output cost at most this times the CIM output.
TARGET = 1.25


def data_file(lines: int, seed: int) -> Path:
    """The generated log for a size and seed (bench/generate.py's current command line), made if missing."""
    path = HERE / "data" / f"render-{lines}-seed{seed}.log"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        print(f"generating {path.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        command = [sys.executable, str(HERE / "generate.py"), "--lines", str(lines), "--seed", str(seed)]
        subprocess.run([*command, "--out", str(path)], check=True)
    return path


def cpu_seconds(command: List[str]) -> float:
    """CPU time (user + system) of one run of a command, its output discarded."""
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited with {process.returncode}")
    return usage.ru_utime + usage.ru_stime


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines (default: 1000000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default: 1)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per format, best kept (default: 3)")
    args = parser.parse_args(argv)
    log = data_file(args.lines, args.seed)
    esa_auth = str(Path(sys.executable).with_name("esa-auth"))
    print(f"{args.lines:,} lines ({log.name}), best of {args.repeat}, CPU seconds; ratio to CIM (target <= {TARGET})")
    print("| cim | ocsf | ecs | ocsf / cim | ecs / cim |")
    print("|---:|---:|---:|---:|---:|")
    best: Dict[str, float] = {}
    for _ in range(args.repeat):
        # Formats interleaved, so that a slow minute on the shared machine hits them all.
        for fmt in FORMATS:
            seconds = cpu_seconds([esa_auth, "normalize", "--tz", "UTC", "--format", fmt, str(log)])
            best[fmt] = min(best.get(fmt, seconds), seconds)
    cim = best["cim"]
    print(
        f"| {cim:.2f} | {best['ocsf']:.2f} | {best['ecs']:.2f} | {best['ocsf'] / cim:.2f} | {best['ecs'] / cim:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
