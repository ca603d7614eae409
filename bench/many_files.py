"""A first run of the follower over many small files against one file of the same lines (#17's target).

Writes ``--lines`` lines of a bench/generate.py preset once, as one file and
cut into ``--files`` files of equal line counts (whole lines, oldest first by
modification time), then runs the modular input's reading path, each in a
child process of the given interpreter (the app laid out from the checked-out
tree by build.py's ``assemble``) with ``RLIMIT_NOFILE`` set to
``--nofile`` (as ``ulimit -n``): a ``Follower`` over the directory with a new
checkpoint, each event rendered to CIM JSON and written as Splunk's XML stream
to ``/dev/null`` (``esa_auth.splunk.modinput.InputRun``). It reports the CPU
time (user + system) of each run, their ratio, the events, the checkpoint
saves and the warnings. The target: the many-files run at most 3 times the
CPU time of the one-file run, with every event out and no warning. With
``--repeat N`` each run is made N times, alternating, and the least CPU time
of each counts (all are in the JSON); the load average before and after is
reported too.

Usage::

    .venv/bin/python bench/many_files.py --files 10000 --lines 200000 --nofile 256 \\
        --python ~/.pyenv/versions/3.9.18/bin/python --out bench/many-files-results.json

Figures are CPU time, so they depend less on other work on the machine than
wall time does, but a shared machine still moves them by some percent.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import generate  # noqa: E402 - bench/ is not a package

#: What runs in the child: the reading path of the modular input, CPU time measured around it.
CHILD = r"""
import json, os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (int(sys.argv[3]), int(sys.argv[3])))
sys.path.insert(0, sys.argv[4])
from datetime import datetime, timezone
from esa_auth.follow import Follower
from esa_auth.splunk.modinput import InputRun, parse_parameters
from splunklib.modularinput import EventWriter

# generate.py writes "Time offset from UTC: 3600 seconds" on March days: the zone that agrees with it
params = {"path": sys.argv[1], "timezone": "Europe/Paris"}
config = parse_parameters(params)
warnings = []
with open(os.devnull, "w") as null:
    writer = EventWriter(null, null)
    run = InputRun("esa_auth://bench", params, config, writer)
    settings = config.settings(datetime(2024, 12, 31, tzinfo=timezone.utc))
    follower = Follower(config.path, settings, sys.argv[2])
    before = resource.getrusage(resource.RUSAGE_SELF)
    stats = follower.run(run.emit, lambda level, message: warnings.append(message) if level != "INFO" else None)
    after = resource.getrusage(resource.RUSAGE_SELF)
cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
print(json.dumps({"cpu_s": round(cpu, 3), "events": stats.events, "files_read": stats.files_read,
                  "checkpoints": stats.checkpoints, "warnings": warnings[:5], "warning_count": len(warnings)}))
"""


def split(source: Path, directory: Path, files: int) -> None:
    """Cut a log into ``files`` files of whole lines, oldest first by modification time."""
    lines = source.read_bytes().splitlines(keepends=True)
    per = -(-len(lines) // files)
    directory.mkdir()
    for index in range(files):
        part = lines[index * per : (index + 1) * per]
        if not part:
            break
        path = directory / f"mail.@20240101T{index:06d}.s"
        path.write_bytes(b"".join(part))
        os.utime(path, ns=((1_700_000_000 + index) * 10**9,) * 2)


def lay_out_app(directory: Path) -> Path:
    """The app's bin/lib laid out from the checked-out tree as build.py lays it out (the library and splunklib,
    as the modular input imports them), so that the runs measure the code checked out, not an older build."""
    sys.path.insert(0, str(ROOT))
    import build  # build.py at the repository's root, only when the bench runs

    try:
        return Path(build.assemble(str(directory))) / "bin" / "lib"
    except build.BuildError as exc:
        raise SystemExit(f"cannot lay out the app: {exc}") from exc


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=10_000, help="small files (default: 10000)")
    parser.add_argument("--lines", type=int, default=200_000, help="lines in all (default: 200000)")
    parser.add_argument("--nofile", type=int, default=256, help="open-file limit of the runs (default: 256)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--preset", default="classic")
    parser.add_argument("--python", default=sys.executable, help="the interpreter of the runs")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each, alternating; the least CPU time of each counts (default: 1)")  # fmt: skip
    parser.add_argument("--out", type=Path, help="write the figures as JSON here too")
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="many-files-") as tmp:
        base = Path(tmp)
        lib = lay_out_app(base / "app")
        source = base / "all.log"
        generate(source, args.lines, args.seed, args.preset)
        one = base / "one"
        one.mkdir()
        (one / "mail.@20240101T000000.s").write_bytes(source.read_bytes())
        many = base / "many"
        split(source, many, args.files)
        results: Dict[str, Dict[str, Any]] = {}
        # Alternating, so that other work on the machine weighs on both alike; the least CPU time of each is
        # the one least disturbed by it.
        for attempt in range(max(1, args.repeat)):
            for name, directory in (("one_file", one), ("many_files", many)):
                checkpoint = base / f"{name}-{attempt}.json"
                done = subprocess.run(
                    [args.python, "-c", CHILD, str(directory), str(checkpoint), str(args.nofile), str(lib)],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if done.returncode != 0:
                    raise SystemExit(f"{name}: the run failed: {done.stderr[-2000:]}")
                figures = json.loads(done.stdout)
                runs = [*results.get(name, {}).get("cpu_runs", []), figures["cpu_s"]]
                if name not in results or figures["cpu_s"] < results[name]["cpu_s"]:
                    results[name] = figures
                results[name]["cpu_runs"] = runs
    ratio = results["many_files"]["cpu_s"] / max(results["one_file"]["cpu_s"], 1e-9)
    document = {
        "files": args.files, "lines": args.lines, "nofile": args.nofile, "preset": args.preset, "seed": args.seed,
        "python": subprocess.run([args.python, "-c", "import sys; print(sys.version.split()[0])"],
                                 capture_output=True, text=True, check=True).stdout.strip(),
        "results": results, "ratio": round(ratio, 2), "repeat": max(1, args.repeat),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "target_met": ratio <= 3.0 and results["many_files"]["events"] == results["one_file"]["events"]
                      and results["many_files"]["warning_count"] == 0,
    }  # fmt: skip
    for name, figures in results.items():
        print(f"{name:>10}: {figures['cpu_s']:8.2f} s CPU  {figures['events']:>7} events  "
              f"{figures['files_read']:>6} files  {figures['checkpoints']:>3} saves  "
              f"{figures['warning_count']} warnings")  # fmt: skip
    print(
        f"     ratio: {ratio:.2f} (target: at most 3); least of {max(1, args.repeat)} run(s) each; "
        f"load average {document['load_average'][0]:.2f} before, {document['load_average'][1]:.2f} after"
    )
    if args.out:
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 0 if document["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
