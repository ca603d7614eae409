"""The cost of each line form in the library's Python loop: a Markdown table of µs per line.

Every example body of every template of ``esa_auth.patterns`` (T1..T11, A*, L*, W*, U*,
P1, C1..C9, X*, the header lines) is a form, and so are a few that no single example
shows: an AUTH line with no session, a second AUTH line on a connection, skipped lines
(no dispatch key, or a key and no template), a new second on every line, the syslog
envelope. For each form a block is made of ``--units`` units, each a fresh session
(ICID or DCID numbers change from unit to unit): the form's line, after the lines it
needs (an open line before an AUTH line, for instance). The block and the same block
without the form's lines (the baseline) are read by a new ``Normalizer`` with
``Normalizer.feed`` and ``end``, each event written as CIM JSON (``events.cim_text``),
as the Python path of ``bench/run.py`` does. The cost of the form is the difference of
CPU time over the number of units: what one such line adds to a log that has its context.
The best of ``--repeat`` runs of each block counts.

The library is a copy of ``package/esa_auth`` without compiled modules (what the Splunk
app ships), read in a fresh isolated interpreter (``-I``).

Usage::

    python bench/forms.py                    # prints the table
    python bench/forms.py --units 2000 --repeat 3 --out bench/forms.md
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

HERE = Path(__file__).resolve().parent

#: A form: (name, role, context bodies, the form's body, envelope).
Form = Tuple[str, str, List[str], str, str]

E1 = "Mon Jan  6 {time} 2025 Info: "  # the native file envelope (docs/log-formats.md#E1)
E3 = "<22>Jan  6 {time} esa01.example.com mail_logs: Info: "  # syslog push with host (E3)

OPEN = (
    "New SMTP ICID {n} interface IncomingMail (192.0.2.10) address 198.51.100.7 reverse dns host mx.example.net "
    "verified yes"
)
VERDICT = "ICID {n} ACCEPT SG UNKNOWNLIST match sbrs[-1.0:10.0] SBRS 3.5 country Germany"
TLS = "ICID {n} TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES256-GCM-SHA384"
DOPEN = "New SMTP DCID {n} interface 192.0.2.11 address 203.0.113.25 port 587"
DTLS = "DCID {n} TLS success protocol TLSv1.2 cipher ECDHE-RSA-AES128-GCM-SHA256"
SKIPPED = "MID {n} ICID {n} From: <alice{n}@example.org>"
T1 = "SMTP Auth: (ICID {n}) succeeded for user: alice@example.com using AUTH mechanism: LOGIN with profile: CorpAuth"


def _numbered(body: str) -> str:
    """An example body with its ICID/DCID numbers replaced by ``{n}`` (a fresh session per unit)."""
    body = body.replace("{", "{{").replace("}", "}}")
    return re.sub(r"(ICID\s+|DCID:?\s*)\d+", lambda m: m.group(1) + "{n}", body)


def forms(patterns: Any) -> List[Form]:
    """Every form measured, in registry order, then the forms no example shows."""
    out: List[Form] = []
    for pattern in patterns:
        for index, example in enumerate(pattern.examples):
            body = _numbered(example)
            context: List[str] = []
            if "{n}" in body:
                inbound = "ICID" in example
                if pattern.role == "auth":
                    context = [OPEN, VERDICT, TLS] if inbound else [DOPEN, DTLS]
                elif not example.lower().startswith("new "):
                    context = [OPEN] if inbound else [DOPEN]
            name = pattern.name if len(pattern.examples) == 1 else f"{pattern.name} ({index + 1})"
            out.append((name, pattern.role, context, body, "E1"))
    out += [
        ("T1, no session", "auth", [], T1, "E1"),
        ("T1, second on a connection", "auth", [OPEN, VERDICT, TLS, T1], T1, "E1"),
        ("T1, syslog envelope", "auth", [OPEN, VERDICT, TLS], T1, "E3"),
        ("C1, syslog envelope", "context", [], OPEN, "E3"),
        ("C1, a new second each line", "context", [], OPEN, "E1-new-second"),
        ("T1, a new second each line", "auth", [OPEN, VERDICT, TLS], T1, "E1-new-second"),
        ("skipped: no key (MID ...)", "skipped", [], SKIPPED, "E1"),
        ("skipped: a key, no template", "skipped", [], "ICID {n} Receiving Failed: Connection lost", "E1"),
        ("skipped: syslog envelope", "skipped", [], SKIPPED, "E3"),
        ("skipped: a new second each line", "skipped", [], SKIPPED, "E1-new-second"),
    ]
    return out


def block(form: Form, units: int, with_form: bool) -> bytes:
    """The lines of ``units`` units of a form (or only their context), one session number per unit."""
    _, _, context, body, envelope = form
    lines: List[str] = []
    template = E3 if envelope == "E3" else E1
    same = template.format(time="09:00:00")
    for unit in range(units):
        n = 1000 + unit
        for text in [*context, body] if with_form else context:
            prefix = same
            if envelope == "E1-new-second":  # a second never seen before on every line
                minutes, second = divmod(len(lines), 60)
                prefix = template.format(time=f"{9 + minutes // 60:02d}:{minutes % 60:02d}:{second:02d}")
            lines.append(prefix + text.format(n=n))
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _cost(read: Callable[[bytes], Tuple[int, int]], data: bytes, repeat: int) -> Tuple[float, int, int]:
    """Best CPU seconds of reading ``data``, and its events and warnings."""
    best = float("inf")
    events = warnings = 0
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        events, warnings = read(data)
        best = min(best, time.process_time() - start)
    return best, events, warnings


def worker(units: int, repeat: int) -> List[Dict[str, Any]]:
    """Measure every form with the library on ``sys.path``; one record per form."""
    from esa_auth import patterns
    from esa_auth.events import cim_text
    from esa_auth.pipeline import Normalizer, Settings, Stream

    sink: List[str] = []

    def read(data: bytes) -> Tuple[int, int]:
        normalizer = Normalizer(Settings(tz="UTC", year=2025))
        stream = Stream("forms.log")
        events = normalizer.feed(stream, data) + normalizer.end(stream)
        for event in events:
            sink.append(cim_text(event))
        sink.clear()
        return len(events), normalizer.stats_dict()["warnings"]

    out: List[Dict[str, Any]] = []
    for form in forms(patterns.PATTERNS):
        name, role, context, body, envelope = form
        full, events, warnings = _cost(read, block(form, units, True), repeat)
        base, base_events, _ = _cost(read, block(form, units, False), repeat) if context else (0.0, 0, 0)
        out.append({
            "form": name, "role": role, "envelope": envelope, "context_lines": len(context),
            "example": body.format(n=1000), "us_per_line": round(max(full - base, 0.0) / units * 1e6, 2),
            "events_per_unit": round((events - base_events) / units, 2), "warnings": warnings,
        })  # fmt: skip
    return out


def table(rows: List[Dict[str, Any]]) -> str:
    """The records as a Markdown table."""
    lines = [
        "| form | role | context lines | µs per line | events per line | example |",
        "|---|---|---:|---:|---:|---|",
    ]
    for row in rows:
        example = row["example"] if len(row["example"]) <= 70 else row["example"][:67] + "..."
        example = example.replace("|", "\\|")
        envelope = "" if row["envelope"] == "E1" else f" ({row['envelope']})"
        lines.append(
            f"| {row['form']} | {row['role']} | {row['context_lines']} | {row['us_per_line']:.1f} | "
            f"{row['events_per_unit']:g} | `{example}`{envelope} |"
        )
    return "\n".join(lines)


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description="µs per line of each line form in the library's Python loop.")
    parser.add_argument("--units", type=int, default=5000, help="units (sessions) per block (default: 5000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each block; the best counts (default: 3)")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    parser.add_argument("--json", type=Path, help="also write the records as JSON to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.units < 1 or args.repeat < 1:
        parser.error("--units and --repeat must be at least 1")
    if args.worker:
        sys.path.insert(0, args.worker)
        print(json.dumps(worker(args.units, args.repeat)))
        return 0
    sys.path.insert(0, str(HERE))
    from run import pure_library

    with tempfile.TemporaryDirectory(prefix="esa-forms-") as work:
        lib = pure_library(Path(work))
        command = [sys.executable, "-I", str(Path(__file__).resolve()), "--worker", str(lib),
                   "--units", str(args.units), "--repeat", str(args.repeat)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        return done.returncode
    rows: List[Dict[str, Any]] = json.loads(done.stdout)
    text = table(rows)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
