"""Helpers that drive the modular input the way splunkd does, and make ESA logs to feed it.

splunkd runs ``$SPLUNK_HOME/etc/apps/<app>/bin/<scheme>.py`` with its own Python,
in the app's bin directory's absence from any repository, with the input
definition as XML on stdin (``--scheme``, ``--validate-arguments``, or no argument
for a run). These helpers do the same with an isolated interpreter (``python -I``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parent.parent
APP_ID = "TA-cisco-esa-auth"
STANZA = "esa_auth://esa1"


def _build() -> Any:
    sys.path.insert(0, str(ROOT))
    try:
        import build
    finally:
        sys.path.remove(str(ROOT))
    return build


#: Splunk ships Python 3.9 (Splunk 9.3 and later) and 3.13 (Splunk 10.x).
SPLUNK_PYTHONS: Tuple[str, ...] = _build().SPLUNK_PYTHONS


def find_python(version: str) -> Tuple[Optional[str], str]:
    """An interpreter of this version, or None and where it was looked for (build.find_python)."""
    return _build().find_python(version)  # type: ignore[no-any-return]


def splunk_python(version: str) -> str:
    """Splunk's Python of this version, or a skip that says where it was looked for (a failure in CI)."""
    import pytest

    found, looked = find_python(version)
    if found is None:
        message = f"Splunk's Python {version} not found (looked for {looked}); `python3 build.py --setup` records it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def build_spl(out_dir: Path) -> Path:
    """Build the app into ``out_dir`` with build.py's own functions (no AppInspect) and return the .spl."""
    build = _build()
    app_dir = build.assemble(str(out_dir / "app"))
    return Path(build.package(app_dir, str(out_dir / "dist")))


def install(spl: Path, splunk_home: Path) -> Path:
    """Unpack the app into ``$SPLUNK_HOME/etc/apps`` as splunkd's app installer does; return the app dir."""
    apps = splunk_home / "etc" / "apps"
    apps.mkdir(parents=True, exist_ok=True)
    with tarfile.open(spl) as tar:
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in member.name.split("/"):
                raise AssertionError(f"unsafe member {member.name}")
        tar.extractall(apps)
    return apps / APP_ID


def input_xml(checkpoint_dir: Path, params: Dict[str, str], stanza: str = STANZA) -> str:
    """The definition splunkd writes on stdin for a run."""
    rows = "".join(f"<param name={quoteattr(k)}>{escape(v)}</param>" for k, v in params.items())
    return (
        "<input><server_host>sh1</server_host><server_uri>https://127.0.0.1:8089</server_uri>"
        f"<session_key>KEY</session_key><checkpoint_dir>{escape(str(checkpoint_dir))}</checkpoint_dir>"
        f"<configuration><stanza name={quoteattr(stanza)} app={quoteattr(APP_ID)}>{rows}</stanza>"
        "</configuration></input>"
    )


def validation_xml(checkpoint_dir: Path, params: Dict[str, str], name: str = "esa1") -> str:
    """The definition splunkd writes on stdin for ``--validate-arguments``."""
    rows = "".join(f"<param name={quoteattr(k)}>{escape(v)}</param>" for k, v in params.items())
    return (
        "<items><server_host>sh1</server_host><server_uri>https://127.0.0.1:8089</server_uri>"
        f"<session_key>KEY</session_key><checkpoint_dir>{escape(str(checkpoint_dir))}</checkpoint_dir>"
        f"<item name={quoteattr(name)}>{rows}</item></items>"
    )


def splunkd_env(splunk_home: Path) -> Dict[str, str]:
    """The environment of a modular input: SPLUNK_HOME, a plain PATH, no Python variables."""
    return {"SPLUNK_HOME": str(splunk_home), "PATH": "/usr/bin:/bin", "LANG": "C"}


def run_script(
    python: str, script: Path, args: Sequence[str], stdin: str, splunk_home: Path, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a bin/ script as splunkd does: isolated interpreter, outside the repository."""
    return subprocess.run(
        [python, "-I", str(script), *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=str(cwd),
        env=splunkd_env(splunk_home),
        timeout=timeout,
        check=False,
    )


@dataclass
class StreamEvent:
    """One ``<event>`` of the XML stream."""

    stanza: Optional[str]
    time: Optional[str]
    source: Optional[str]
    sourcetype: Optional[str]
    host: Optional[str]
    index: Optional[str]
    data: Dict[str, Any]


def _event(element: ET.Element) -> StreamEvent:
    return StreamEvent(
        stanza=element.get("stanza"),
        time=element.findtext("time"),
        source=element.findtext("source"),
        sourcetype=element.findtext("sourcetype"),
        host=element.findtext("host"),
        index=element.findtext("index"),
        data=json.loads(element.findtext("data") or "null"),
    )


def parse_stream(out: str) -> List[StreamEvent]:
    """Parse a complete run's stdout (empty when there were no events), strictly."""
    if not out:
        return []
    root = ET.fromstring(out)
    assert root.tag == "stream", root.tag
    return [_event(e) for e in root.findall("event")]


def parse_partial_stream(out: str) -> List[StreamEvent]:
    """The complete ``<event>`` elements of a killed run's stdout (the last one may be cut)."""
    return [_event(ET.fromstring(m.group(0))) for m in re.finditer(r"<event\b.*?</event>", out, re.DOTALL)]


# --- ESA logs ---------------------------------------------------------------------------------
HEADER = (
    "{t} Info: Begin Logfile\n"
    "{t} Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F\n"
    "{t} Info: Time offset from UTC: 3600 seconds\n"
)


def stamp(second: int) -> str:
    """An E1 envelope time, ``second`` seconds after Mon Jan  6 00:00:00 2025."""
    hours, rest = divmod(second, 3600)
    days, hours = divmod(hours, 24)
    minutes, seconds = divmod(rest, 60)
    weekday = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[days % 7]
    return f"{weekday} Jan {6 + days:2d} {hours:02d}:{minutes:02d}:{seconds:02d} 2025"


def mail_sessions(first_icid: int, count: int, start: int = 0) -> str:
    """``count`` inbound SMTP sessions with SMTP AUTH (templates C1, C2, T1/T2, C5), one a second."""
    lines = []
    for n in range(count):
        icid = first_icid + n
        t = stamp(start + n)
        client = f"198.51.100.{icid % 250 + 1}"
        outcome = "succeeded" if icid % 3 else "failed"
        lines += [
            f"{t} Info: New SMTP ICID {icid} interface IncomingMail (192.0.2.1) address {client} "
            "reverse dns host unknown verified no\n",
            f"{t} Info: ICID {icid} ACCEPT SG None match ALL SBRS None\n",
            f"{t} Info: MID {icid * 10} ICID {icid} From: <user{icid}@example.com>\n",
            f"{t} Info: SMTP Auth: (ICID {icid}) {outcome} for user: user{icid % 17} using AUTH mechanism: "
            "PLAIN with profile: CorpAuth\n",
            f"{t} Info: ICID {icid} close\n",
        ]
    return "".join(lines)


def mail_file(first_icid: int, count: int, start: int = 0) -> str:
    """A whole mail log file: header and sessions."""
    return HEADER.format(t=stamp(start)) + mail_sessions(first_icid, count, start)
