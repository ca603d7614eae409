"""Kill the modular input with SIGKILL at random points while logs are written and rotated.

The modular input (``bin/esa_auth.py``) is run the way splunkd runs it: the
input definition as XML on stdin, ``python -I``, a ``checkpoint_dir``. While a
writer thread appends ESA mail-log lines to ``mail.current`` and rotates it
(``mail.current`` renamed to ``mail.@<timestamp>.s``, a new ``mail.current``
with the file header: docs/log-formats.md#file-names), the campaign starts the
input again and again and kills each run with SIGKILL after a random delay.
When the writer is done, runs without kills drain what is left.

Then one clean run, from a fresh checkpoint, reads the final files. The claim
(DESIGN, "Splunk side": checkpoint saved after events are written):

* nothing lost: every event of the clean run was emitted by the campaign;
* nothing invented: the campaign emitted no event the clean run does not have;
* duplicates only with the same ``event_id``: an event emitted twice (a
  replay after a kill) carries the same id both times;
* same content: each event's fields equal the clean run's, session context
  included, and so does its ``event_id`` (since #17 it depends only on the
  line, its offset and the appliance serial, not on when a file was first seen);
* every run that finished wrote a well-formed XML stream and no traceback.

Events are matched by their ``raw`` line; the generated lines are all distinct.

``--compress`` has the writer compress each rolled file once the next one is
rolled (logrotate's ``delaycompress``), in turn with gzip, bzip2 and xz, the
archive written in two pieces (a run may see it half written, beside the file
it is made from) before the file is removed. ``--rotate-every 4 --filler 1``
makes files of a few hundred bytes (under the 1 KiB head).

Usage::

    python fuzz/crash_campaign.py --kills 200 --seed 1 --json /tmp/crash.json
    python fuzz/crash_campaign.py --kills 50 --seed 2 --rotate-every 4 --filler 1 --lines 3000 --compress
    python fuzz/crash_campaign.py --vendor --python /root/.pyenv/versions/3.9.18/bin/python3.9
    python fuzz/crash_campaign.py --app build/TA-cisco-esa-auth --python /usr/bin/python3.13
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import json
import lzma
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parent.parent
STANZA = "esa_auth://crash"
_EVENT = re.compile(rb"<event\b.*?</event>", re.DOTALL)
_START = datetime(2025, 6, 1, 8, 0, 0)  # noqa: DTZ001 - appliance wall clock (the header gives the offset)


def input_xml(log_dir: str, checkpoint_dir: str, extra: Optional[Dict[str, str]] = None) -> bytes:
    """The run-mode definition splunkd writes on the input's stdin."""
    params = {"path": log_dir, "timezone": "UTC", "index": "main", "interval": "60", "disabled": "0"}
    params.update(extra or {})
    body = "".join(f"<param name={quoteattr(k)}>{escape(v)}</param>" for k, v in params.items())
    return (
        "<input><server_host>hf1</server_host><server_uri>https://127.0.0.1:8089</server_uri>"
        f"<session_key>FAKE</session_key><checkpoint_dir>{escape(checkpoint_dir)}</checkpoint_dir>"
        f'<configuration><stanza name={quoteattr(STANZA)} app="TA-cisco-esa-auth">{body}</stanza>'
        "</configuration></input>"
    ).encode()


class LogWriter:
    """Writes a deterministic ESA mail log, in random-sized pieces, with rotations.

    Sessions span rotations (a connection opened in one file authenticates in
    the next), so the open-session state in the checkpoint matters.
    """

    def __init__(
        self, directory: Path, seed: int, lines: int, rotate_every: int, filler: int, compress: bool = False
    ) -> None:
        self.compress = compress
        self.compressed = 0
        self.directory = directory
        self.rng = random.Random(seed)
        self.lines = lines
        self.rotate_every = rotate_every
        self.filler = filler
        self.rotations = 0
        self.written = 0
        self.auth_lines = 0
        self.done = threading.Event()

    def _stamp(self, n: int) -> str:
        return (_START + timedelta(seconds=n // 50)).strftime("%a %b %d %H:%M:%S %Y")

    def _header(self, n: int) -> str:
        stamp = self._stamp(n)
        return (
            f"{stamp} Info: Begin Logfile\n"
            f"{stamp} Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F\n"
            f"{stamp} Info: Time offset from UTC: 7200 seconds\n"
        )

    def script(self) -> List[str]:
        """The log lines, in order; ``None``-free; a rotation is the marker ``"<rotate>"``."""
        rng = random.Random(self.rng.random())
        out: List[str] = []
        open_icids: List[int] = []
        icid = 1000
        dcid = 5000
        since_rotation = 0
        n = 0
        while n < self.lines:
            stamp = self._stamp(n)
            kind = rng.random()
            if kind < 0.25 or not open_icids:
                icid += 1
                open_icids.append(icid)
                client = f"198.51.{icid // 250 % 250}.{icid % 250}"
                out.append(f"{stamp} Info: New SMTP ICID {icid} interface Incoming (192.0.2.1) address {client} "
                           f"reverse dns host mx{icid}.example.net verified yes")  # fmt: skip
                out.append(f"{stamp} Info: ICID {icid} ACCEPT SG RELAYLIST match 198.51.0.0/16 SBRS 2.5")
            elif kind < 0.45:
                which = rng.choice(open_icids)
                verdict = "succeeded" if rng.random() < 0.5 else "failed"
                out.append(f"{stamp} Info: SMTP Auth: (ICID {which}) {verdict} for user: user{n}@example.com "
                           "using AUTH mechanism: LOGIN with profile: Corp")  # fmt: skip
                self.auth_lines += 1
            elif kind < 0.6 and len(open_icids) > 3:
                which = open_icids.pop(rng.randrange(len(open_icids)))
                out.append(f"{stamp} Info: ICID {which} close")
            elif kind < 0.7:
                dcid += 1
                out.append(f"{stamp} Info: New SMTP DCID {dcid} interface 192.0.2.1 address 203.0.113.{dcid % 250} "
                           "port 587")  # fmt: skip
                verdict = "succeeded."
                if rng.random() < 0.3:
                    verdict = "failed: ('535', ['5.7.8 Error: authentication failed'])"
                out.append(f"{stamp} Info: DCID: {dcid} IP: 203.0.113.{dcid % 250} SMTP authentication using the "
                           f"profile Smarthost{n} {verdict}")  # fmt: skip
                out.append(f"{stamp} Info: DCID {dcid} close")
                self.auth_lines += 1
            elif kind < 0.75:
                out.append(f"{stamp} Info: login:192.0.2.{n % 250} user:admin{n} session:tok{n}")
                self.auth_lines += 1
            else:
                for i in range(self.filler):
                    mid = n * 100 + i
                    out.append(f"{stamp} Info: MID {mid} ICID {rng.choice(open_icids)} From: <a{n}@example.org>")
            n = len(out)
            since_rotation += 1
            if since_rotation >= self.rotate_every:
                out.append("<rotate>")
                since_rotation = 0
        return out

    def run(self, pause: float) -> None:
        """Write the script to disk in random pieces, sleeping up to ``pause`` seconds between."""
        current = self.directory / "mail.current"
        pending = self._header(0)
        rng = self.rng
        try:
            for line in self.script():
                if line == "<rotate>":
                    self._append(current, pending)
                    pending = ""
                    self.rotations += 1
                    rolled = self._rolled(self.rotations)
                    os.rename(current, rolled)
                    if self.compress and self.rotations > 1:
                        self._compress(self._rolled(self.rotations - 1), rng)
                    pending = self._header(self.written)
                    continue
                pending += line + "\n"
                self.written += 1
                if len(pending) > rng.randrange(200, 40_000):
                    # Cut anywhere, even inside a line: writers flush buffers, not lines.
                    cut = rng.randrange(1, len(pending) + 1)
                    self._append(current, pending[:cut])
                    pending = pending[cut:]
                    if pause:
                        time.sleep(rng.random() * pause)
            self._append(current, pending)
        finally:
            self.done.set()

    def _rolled(self, rotation: int) -> Path:
        """The name of the file rolled at a rotation (the ESA's: ``mail.@<time>.s``)."""
        return self.directory / f"mail.@{(_START + timedelta(minutes=rotation)):%Y%m%dT%H%M%S}.s"

    def _compress(self, path: Path, rng: random.Random) -> None:
        """Replace a rolled file by its archive as a compressing tool does: archive written, then file removed."""
        suffix, compress = ((".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress))[self.compressed % 3]
        self.compressed += 1
        data = compress(path.read_bytes())
        cut = rng.randrange(1, len(data))
        with open(f"{path}{suffix}", "wb") as handle:
            handle.write(data[:cut])
            handle.flush()
            time.sleep(rng.random() * 0.05)  # a run may see the archive half written, beside its file
            handle.write(data[cut:])
        os.utime(f"{path}{suffix}", ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))  # as gzip keeps it
        path.unlink()

    @staticmethod
    def _append(path: Path, text: str) -> None:
        if text:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(text)


@dataclass
class RunRecord:
    """One start of the modular input."""

    killed: bool
    delay: float
    returncode: int
    events: int
    stderr_tail: str = ""


@dataclass
class Campaign:
    """Everything emitted, run by run."""

    runs: List[RunRecord] = field(default_factory=list)
    emitted: List[Dict[str, Any]] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)


def run_input(
    command: List[str], stdin: bytes, kill_after: Optional[float], env: Dict[str, str]
) -> Tuple[RunRecord, List[Dict[str, Any]], List[str]]:
    """Start the input, maybe SIGKILL it, and read the events it completed."""
    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    killed = False
    timer: Optional[threading.Timer] = None
    if kill_after is not None:

        def kill() -> None:
            nonlocal killed
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:  # it ended between poll() and kill()
                    return
                killed = True

        timer = threading.Timer(kill_after, kill)
        timer.start()
    out, err = proc.communicate(stdin)
    if timer is not None:
        timer.cancel()
    problems: List[str] = []
    events: List[Dict[str, Any]] = []
    for match in _EVENT.finditer(out):
        node = ET.fromstring(match.group(0))
        data = node.findtext("data")
        if data is None:
            problems.append(f"event without data: {match.group(0)[:200]!r}")
            continue
        events.append(json.loads(data))
    if not killed:
        if proc.returncode != 0:
            problems.append(f"run exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
        if out:
            try:
                ET.fromstring(out)
            except ET.ParseError as exc:
                problems.append(f"XML stream not well formed: {exc}")
        if b"Traceback" in err:
            problems.append(f"traceback on stderr: {err.decode(errors='replace')[-500:]}")
    record = RunRecord(killed, kill_after or 0.0, proc.returncode, len(events), err.decode(errors="replace")[-300:])
    return record, events, problems


def campaign(
    work: Path,
    kills: int,
    seed: int,
    lines: int,
    rotate_every: int,
    filler: int,
    command: List[str],
    max_delay: float,
    pause: float,
    compress: bool = False,
) -> Dict[str, Any]:
    """Run one campaign in ``work``; return its figures and the verdict."""
    rng = random.Random(seed)
    logs = work / "logs"
    checkpoints = work / "checkpoints"
    clean_checkpoints = work / "clean-checkpoints"
    for directory in (logs, checkpoints, clean_checkpoints):
        directory.mkdir(parents=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    writer = LogWriter(logs, seed, lines, rotate_every, filler, compress)
    thread = threading.Thread(target=writer.run, args=(pause,), daemon=True)
    result = Campaign()
    stdin = input_xml(str(logs), str(checkpoints))
    thread.start()
    killed = 0
    # Phase 1: kill runs while the writer writes; if the writer finishes
    # first, keep killing runs over the finished files until the count is reached.
    while killed < kills:
        record, events, problems = run_input(command, stdin, rng.uniform(0.0, max_delay), env)
        result.runs.append(record)
        result.emitted.extend(events)
        result.problems.extend(problems)
        killed += record.killed
    thread.join()
    # Phase 2: drain without kills until a run finds nothing new.
    quiet = 0
    while quiet < 2:
        record, events, problems = run_input(command, stdin, None, env)
        result.runs.append(record)
        result.emitted.extend(events)
        result.problems.extend(problems)
        quiet = quiet + 1 if not events else 0
    # The reference: one clean run over the final files.
    reference, clean_events, clean_problems = run_input(
        command, input_xml(str(logs), str(clean_checkpoints)), None, env
    )
    result.problems.extend(f"clean run: {p}" for p in clean_problems)
    figures = verdict(result, clean_events, writer, reference)
    # Temporary checkpoint files of killed runs (written, not yet renamed) stay behind.
    figures["stale_tmp_files"] = sum(1 for p in checkpoints.iterdir() if p.name.endswith(".tmp"))
    figures["stale_tmp_bytes"] = sum(p.stat().st_size for p in checkpoints.iterdir() if p.name.endswith(".tmp"))
    return figures


def _differing_fields(one: Dict[str, Any], other: Dict[str, Any]) -> Dict[str, Tuple[Any, Any]]:
    """The fields two events of one line disagree on, with both values (what a report needs to be read)."""
    return {k: (one.get(k), other.get(k)) for k in sorted(set(one) | set(other)) if one.get(k) != other.get(k)}


def verdict(result: Campaign, clean: List[Dict[str, Any]], writer: LogWriter, reference: RunRecord) -> Dict[str, Any]:
    """Compare the campaign's union of events with the clean run."""
    problems = list(result.problems)
    clean_by_raw = {e["raw"]: e for e in clean}
    if len(clean_by_raw) != len(clean):
        problems.append("clean run has duplicate raw lines (the generator must write distinct lines)")
    ids: Dict[str, set] = defaultdict(set)
    seen: Dict[str, Dict[str, Any]] = {}
    for event in result.emitted:
        ids[event["raw"]].add(event["event_id"])
        if event["raw"] in seen and seen[event["raw"]] != event:
            fields = _differing_fields(seen[event["raw"]], event)
            problems.append(f"one line gave two different events (fields {fields}): {event['raw']!r}")
        seen[event["raw"]] = event
    lost = sorted(set(clean_by_raw) - set(seen))
    extra = sorted(set(seen) - set(clean_by_raw))
    differing = sorted(r for r in set(seen) & set(clean_by_raw) if seen[r] != clean_by_raw[r])
    for raw in differing:
        fields = _differing_fields(clean_by_raw[raw], seen[raw])
        problems.append(f"an event differs from the clean run's (fields {fields}): {raw!r}")
    two_ids = sorted(r for r, s in ids.items() if len(s) > 1)
    other_id = sorted(r for r, s in ids.items() if r in clean_by_raw and s != {clean_by_raw[r]["event_id"]})
    copies = Counter(e["raw"] for e in result.emitted)
    killed_runs = [r for r in result.runs if r.killed]
    figures = {
        "lines_written": writer.written,
        "rotations": writer.rotations,
        "auth_lines": writer.auth_lines,
        "runs": len(result.runs),
        "kill_points": len(killed_runs),
        "kills_after_events": sum(1 for r in killed_runs if r.events),
        "kills_before_any_event": sum(1 for r in killed_runs if not r.events),
        "clean_events": len(clean),
        "emitted_events": len(result.emitted),
        "distinct_emitted": len(seen),
        "duplicates": sum(c - 1 for c in copies.values()),
        "lost": len(lost),
        "extra": len(extra),
        "content_differs": len(differing),
        "duplicates_with_another_id": len(two_ids),
        "ids_unlike_the_clean_run": len(other_id),
        "archives": writer.compressed,
        "problems": problems[:20],
        "examples": {"lost": lost[:3], "extra": extra[:3], "differs": differing[:3], "two_ids": two_ids[:3]},
        "clean_run_returncode": reference.returncode,
    }
    broken = lost or extra or differing or two_ids or other_id or problems
    figures["ok"] = bool(clean) and reference.returncode == 0 and not broken
    return figures


def default_command(app: Optional[str], python: str) -> List[str]:
    """The input's command line: ``python -I <app>/bin/esa_auth.py`` (the repository's by default)."""
    script = Path(app) / "bin" / "esa_auth.py" if app else ROOT / "bin" / "esa_auth.py"
    return [python, "-I", str(script)]


def vendor_app(directory: Path) -> Path:
    """Lay out a minimal app as the build does: ``bin/esa_auth.py`` and ``bin/lib/`` holding
    the library and splunklib, so that any interpreter (Splunk's 3.9 or 3.13) runs it with ``-I``."""
    import splunklib

    lib = directory / "bin" / "lib"
    lib.mkdir(parents=True)
    shutil.copy2(ROOT / "bin" / "esa_auth.py", directory / "bin" / "esa_auth.py")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "package" / "esa_auth", lib / "esa_auth", ignore=ignore)
    shutil.copytree(Path(splunklib.__file__).parent, lib / "splunklib", ignore=ignore)
    return directory


def main(argv: Optional[List[str]] = None) -> int:
    """Run a campaign and print its figures as JSON; exit 1 if the claim does not hold."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=50, help="SIGKILLs to deliver (runs that end first do not count)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--lines", type=int, default=20_000, help="log lines the writer writes")
    parser.add_argument("--rotate-every", type=int, default=800, help="writer steps between rotations")
    parser.add_argument("--filler", type=int, default=20, help="non-authentication lines per filler step")
    parser.add_argument("--max-delay", type=float, default=0.8, help="longest time before a kill, seconds")
    parser.add_argument("--pause", type=float, default=0.01, help="longest pause between writes, seconds")
    parser.add_argument("--app", help="an installed app directory (default: the repository's bin/)")
    parser.add_argument("--vendor", action="store_true", help="run a minimal app laid out as the build does")
    parser.add_argument("--python", default=sys.executable, help="the interpreter splunkd would use")
    parser.add_argument("--work", help="keep the campaign's files in this new directory")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--compress", action="store_true", help="compress rolled files (gzip, bzip2, xz in turn)")
    args = parser.parse_args(argv)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="esa-crash-"))
    try:
        app = str(vendor_app(work / "app")) if args.vendor else args.app
        command = default_command(app, args.python)
        figures = campaign(
            work, args.kills, args.seed, args.lines, args.rotate_every, args.filler,
            command, args.max_delay, args.pause, args.compress,
        )  # fmt: skip
        figures["command"] = " ".join(command[:2]) + " .../bin/esa_auth.py"
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
