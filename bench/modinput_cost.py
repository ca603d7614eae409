"""What the modular input costs beyond the library, as splunkd runs it.

Runs, each as its own process with the given interpreter in isolated mode
(``python -I``, as splunkd starts ``bin/esa_auth.py``), on the same log, and
reports CPU time (user + system of the child) and its ratio to the floor:

* ``floor``: binary line iteration (``for line in f: pass``), as bench/run.py;
* ``library``: ``Normalizer.feed`` over the file in 1 MiB blocks, then ``flush``;
  the events are made and dropped;
* ``library+render``: the same, each event rendered to its CIM JSON text;
* ``modinput``: the app as built (``build/TA-cisco-esa-auth``, or a ``.spl``
  unpacked into a temporary ``$SPLUNK_HOME``), the input definition as XML on
  stdin, checkpoints on, the XML stream written to ``/dev/null``.

``--sessions N`` also measures the checkpoint alone: N open sessions in the
table, one save, one small change and a second save.

``--profile`` runs the modular input in this process under cProfile instead
and prints the top functions (cumulative), to see where its time goes.

Usage::

    .venv/bin/python bench/generate.py --lines 1000000 --seed 1 --out bench/data/mail-1000000-seed1.log
    .venv/bin/python bench/modinput_cost.py bench/data/mail-1000000-seed1.log \\
        --python ~/.pyenv/versions/3.9.18/bin/python
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "TA-cisco-esa-auth"
sys.path.insert(0, str(ROOT / "fuzz"))

from crash_campaign import input_xml  # noqa: E402 - the definition splunkd writes on stdin

FLOOR = """
import sys
with open(sys.argv[1], "rb") as handle:
    for line in handle:
        pass
"""

LIBRARY = """
import sys
sys.path.insert(0, sys.argv[2])
from esa_auth.pipeline import Normalizer, Settings, Stream
from esa_auth.events import json_text
from esa_auth.render import RENDERERS
render = RENDERERS["cim"] if sys.argv[3] == "render" else None
normalizer = Normalizer(Settings(tz="UTC"))
stream = Stream(sys.argv[1], key="f0")
count = 0
with open(sys.argv[1], "rb") as handle:
    while True:
        block = handle.read(1 << 20)
        if not block:
            break
        events = normalizer.feed(stream, block)
        if render is not None:
            for event in events:
                json_text(render(event))
        count += len(events)
count += len(normalizer.flush(stream))
print(count, file=sys.stderr)
"""

SPLIT = """
import io, sys, time
sys.path.insert(0, sys.argv[1])
from esa_auth import follow
from esa_auth.pipeline import Normalizer
from esa_auth.splunk.modinput import EsaAuthInput, InputRun
from splunklib.modularinput import EventWriter
try:
    from esa_auth.checkpoint import CheckpointStore
    save_owner, save_name = CheckpointStore, "save"
except ImportError:  # before the journal
    save_owner, save_name = follow, "save_checkpoint"
spent = {}
def timed(owner, name, label):
    inner = getattr(owner, name)
    def outer(*args, **kwargs):
        start = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - start
    setattr(owner, name, outer)
timed(Normalizer, "feed", "Normalizer.feed")
timed(InputRun, "emit", "writing the events (rendering included)")
timed(Normalizer, "state", "the session table's state")
timed(save_owner, save_name, "writing the checkpoint")
with open(sys.argv[3], "w") as out:
    start = time.process_time()
    EsaAuthInput().run_script(["esa_auth.py"], EventWriter(out, io.StringIO()), io.StringIO(sys.stdin.read()))
    total = time.process_time() - start
for label, seconds in spent.items():
    print("| %s | %.2f |" % (label, seconds))
print("| the whole run, start-up excluded | %.2f |" % total)
"""

CHECKPOINT = """
import sys, time
sys.path.insert(0, sys.argv[1])
from esa_auth.follow import Follower
from esa_auth.pipeline import Settings
from esa_auth.sessions import Session
count, path = int(sys.argv[2]), sys.argv[3]
follower = Follower("/nonexistent", Settings(tz="UTC", max_sessions=max(count, 1)), path)
table = follower.normalizer.sessions
for n in range(count):
    session = table.open(("esa01", "i", n), 1700000000.0 + n / 100)
    session.client_ip = "198.51.100.%d" % (n % 250)
    session.listener = "IncomingMail"
    session.sender_group = "UNKNOWNLIST"
    session.sbrs = "3.5"
start = time.process_time()
follower._save()
first = time.process_time() - start
table.open(("esa01", "i", count + 1), 1700000000.0 + count / 100)
start = time.process_time()
state = follower.normalizer.state()
middle = time.process_time()
follower._save()
second = time.process_time() - middle
import os
journal = path + ".journal"
print("%.4f %.4f %.4f %d %d" % (first, middle - start, second, os.path.getsize(path),
                                os.path.getsize(journal) if os.path.exists(journal) else 0))
"""


def cpu_of(argv: List[str], stdin: Optional[bytes] = None, env: Optional[Dict[str, str]] = None) -> Tuple[float, str]:
    """Run a command; return its CPU time (user + system) and its stderr."""
    with tempfile.TemporaryFile() as err, open(os.devnull, "wb") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err, env=env)
        if stdin is not None:
            proc.stdin.write(stdin)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}):\n{text[-2000:]}")
    return usage.ru_utime + usage.ru_stime, text


def app_dir(spl: Optional[Path], splunk_home: Path) -> Path:
    if spl is None:
        built = ROOT / "build" / APP_ID
        if not (built / "bin" / "esa_auth.py").exists():
            raise SystemExit("build/TA-cisco-esa-auth is missing: run build.py first, or give --spl")
        return built
    apps = splunk_home / "etc" / "apps"
    apps.mkdir(parents=True)
    with tarfile.open(spl) as tar:
        tar.extractall(apps)  # our own build output
    return apps / APP_ID


def profile(log: str) -> None:
    import cProfile
    import io
    import pstats

    sys.path.insert(0, str(ROOT / "package"))
    from esa_auth.splunk.modinput import EsaAuthInput
    from splunklib.modularinput import EventWriter  # type: ignore[import-untyped]

    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as out:
        writer = EventWriter(out, io.StringIO())
        profiler = cProfile.Profile()
        profiler.enable()
        EsaAuthInput().run_script(["esa_auth.py"], writer, io.StringIO(input_xml(log, tmp).decode()))
        profiler.disable()
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


def main() -> None:
    parser = argparse.ArgumentParser(description="The modular input's cost beyond the library.")
    parser.add_argument("log", help="an ESA mail log (bench/generate.py)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter splunkd would use")
    parser.add_argument("--spl", type=Path, help="a built .spl to unpack (default: build/TA-cisco-esa-auth)")
    parser.add_argument("--app", type=Path, help="an app directory laid out as built (instead of --spl)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each (the least CPU time is kept)")
    parser.add_argument("--sessions", type=int, nargs="*", default=[], help="checkpoint cost at these table sizes")
    parser.add_argument("--profile", action="store_true", help="cProfile the modular input in this process")
    parser.add_argument("--split", action="store_true", help="also split one run's CPU time by part (in process)")
    args = parser.parse_args()
    log = os.path.abspath(args.log)
    if args.profile:
        profile(log)
        return
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "splunk"
        app = args.app.resolve() if args.app else app_dir(args.spl, home)
        lib = str(app / "bin" / "lib")
        env = {"SPLUNK_HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C"}
        py = [args.python, "-I"]
        runs: Dict[str, List[float]] = {}
        for _ in range(args.repeat):
            runs.setdefault("floor", []).append(cpu_of([*py, "-c", FLOOR, log])[0])
            runs.setdefault("library", []).append(cpu_of([*py, "-c", LIBRARY, log, lib, "-"])[0])
            runs.setdefault("library+render", []).append(cpu_of([*py, "-c", LIBRARY, log, lib, "render"])[0])
            with tempfile.TemporaryDirectory() as ck:
                cpu, err = cpu_of([*py, str(app / "bin" / "esa_auth.py")], input_xml(log, ck), env)
            runs.setdefault("modinput", []).append(cpu)
        floor = min(runs["floor"])
        print(f"python: {args.python}; log: {log}; {args.repeat} run(s), least CPU time kept")
        print("| run | CPU s | x floor |")
        print("|---|---:|---:|")
        for name, values in runs.items():
            print(f"| {name} | {min(values):.2f} | {min(values) / floor:.1f} |")
        if args.split:
            with tempfile.TemporaryDirectory() as ck:
                proc = subprocess.run([*py, "-c", SPLIT, lib, log, os.devnull], input=input_xml(log, ck),
                                      capture_output=True, check=True, env=env)  # fmt: skip
            print("| part of a run | CPU s |\n|---|---:|")
            print(proc.stdout.decode().rstrip())
        done = [line for line in err.splitlines() if "run done" in line]
        print(done[-1] if done else err[-500:])
        for count in args.sessions:
            path = os.path.join(tmp, f"ck-{count}.json")
            out = subprocess.run([*py, "-c", CHECKPOINT, lib, str(count), path], capture_output=True, text=True,
                                 check=True).stdout.split()  # fmt: skip
            print(f"checkpoint with {count} sessions: first save (snapshot) {out[0]} s, {int(out[3]):,} bytes; "
                  f"after one change: the table's state {out[1]} s, a save {out[2]} s, "
                  f"journal {int(out[4]):,} bytes")  # fmt: skip


if __name__ == "__main__":
    main()
