"""A syslog relay with the real tools (#17): rsyslog receives ESA lines over loopback, logrotate rotates its
files, the modular input runs in between; every event sent comes out once, or again only under the same id.

rsyslog and logrotate are Debian's, unpacked into .venv-relay by ``python3 build.py --setup`` (not installed
into the system). Each test starts its own rsyslogd with its own configuration, work directory, pid file and
ports on 127.0.0.1, sends a bounded number of lines, and stops it.
"""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest
from esa_auth.splunk.modinput import EsaAuthInput
from splunkd import input_xml, parse_stream
from splunklib.modularinput import EventWriter

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / ".venv-relay"
RSYSLOGD = TOOLS / "usr" / "sbin" / "rsyslogd"
LOGROTATE = TOOLS / "usr" / "sbin" / "logrotate"
#: Lines sent per batch, batches (a rotation and a run of the input after each), seconds to wait for rsyslog.
BATCH, BATCHES, PATIENCE = 40, 6, 20.0

#: logrotate's ways, each a test.
MODES = {
    "create": "create",
    "copytruncate": "copytruncate",
    "compress": "create\n    compress",
    "delaycompress": "create\n    compress\n    delaycompress",
    "dateext": "create\n    dateext\n    dateformat -%Y%m%d-%s\n    compress\n    delaycompress",
}


def _libraries() -> str:
    found = sorted({str(p.parent) for p in TOOLS.glob("**/lib*.so*") if "rsyslog" not in p.parent.name})
    return os.pathsep.join(found)


@pytest.fixture(scope="module")
def tools() -> Dict[str, str]:
    """The environment the unpacked tools run with; a skip with the reason where they are missing (CI fails)."""
    if not (RSYSLOGD.exists() and LOGROTATE.exists()):
        reason = f"rsyslog and logrotate are not unpacked in {TOOLS} (python3 build.py --setup does it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return {**os.environ, "LD_LIBRARY_PATH": _libraries()}


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Relay:
    """An rsyslogd of its own: UDP and TCP on 127.0.0.1, lines written to ``logs/esa.log``."""

    def __init__(self, base: Path, env: Dict[str, str]) -> None:
        self.base, self.env = base, env
        self.logs = base / "logs"
        self.work = base / "work"
        self.logs.mkdir()
        self.work.mkdir()
        self.pid_file = base / "rsyslogd.pid"
        self.udp, self.tcp = _free_port(socket.SOCK_DGRAM), _free_port(socket.SOCK_STREAM)
        modules = next(TOOLS.glob("usr/lib/*/rsyslog"))
        self.conf = base / "rsyslog.conf"
        self.conf.write_text(
            f'global(workDirectory="{self.work}")\n'
            f'module(load="{modules}/imudp.so")\n'
            f'module(load="{modules}/imtcp.so")\n'
            f'input(type="imudp" address="127.0.0.1" port="{self.udp}")\n'
            f'input(type="imtcp" address="127.0.0.1" port="{self.tcp}")\n'
            # The file format of a relay: "Jan  6 10:00:01 esa02 mail_logs: Info: ..." (RFC 3164 date, host, tag).
            f'*.* action(type="omfile" file="{self.logs}/esa.log" template="RSYSLOG_TraditionalFileFormat")\n',
            encoding="utf-8",
        )
        self.process = subprocess.Popen(
            [str(RSYSLOGD), "-n", "-f", str(self.conf), "-i", str(self.pid_file), "-M", str(modules)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                out = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                pytest.fail(f"rsyslogd stopped at start: {out}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.tcp)) == 0 and self.pid_file.exists():
                    return
            time.sleep(0.05)
        pytest.fail("rsyslogd did not listen in time")

    def send(self, lines: List[str]) -> None:
        """Half over UDP (one datagram a line), half over one TCP connection (newline-framed)."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for line in lines[::2]:
                udp.sendto(line.encode(), ("127.0.0.1", self.udp))
                time.sleep(0.002)  # a bounded pace: loopback drops nothing at this rate
        with socket.create_connection(("127.0.0.1", self.tcp), timeout=PATIENCE) as tcp:
            tcp.sendall("".join(f"{line}\n" for line in lines[1::2]).encode())

    def written(self) -> int:
        """Lines rsyslog has written to the live file."""
        path = self.logs / "esa.log"
        return path.read_bytes().count(b"\n") if path.exists() else 0

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while self.written() < count:
            assert time.monotonic() < deadline, f"rsyslog wrote {self.written()} of {count} lines"
            time.sleep(0.05)

    def hup(self) -> None:
        self.process.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=PATIENCE)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def relay(tmp_path: Path, tools: Dict[str, str]) -> Iterator[Relay]:
    started = Relay(tmp_path, tools)
    yield started
    started.stop()


def esa_line(n: int) -> str:
    """An ESA line as the appliance sends it by syslog push (log name as the tag): one event, told by its user."""
    second = n % 60
    minute = n // 60 % 60
    return (
        f"<22>Jan  6 10:{minute:02d}:{second:02d} esa02.example.com authentication_logs: Info: An authentication "
        f"attempt by the user relay{n} from 203.0.113.{n % 250 + 1} failed using an HTTPS connection."
    )


def run_input(stdin: str) -> List[Dict[str, object]]:
    out, err = io.StringIO(), io.StringIO()
    code = EsaAuthInput().run_script(["esa_auth.py"], EventWriter(out, err), io.StringIO(stdin))
    assert code == 0, err.getvalue()
    assert "ERROR" not in err.getvalue(), err.getvalue()
    return [event.data for event in parse_stream(out.getvalue())] if out.getvalue() else []


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_line_sent_through_rsyslog_and_logrotate_comes_out_once(relay: Relay, tmp_path: Path, mode: str) -> None:
    rotate_conf = tmp_path / "logrotate.conf"
    rotate_conf.write_text(
        f"{relay.logs}/esa.log {{\n    rotate 100\n    missingok\n    notifempty\n    {MODES[mode]}\n"
        f"    postrotate\n        kill -HUP $(cat {relay.pid_file})\n    endscript\n}}\n",
        encoding="utf-8",
    )
    os.chmod(rotate_conf, 0o644)  # logrotate run by root refuses a configuration others may write
    state = tmp_path / "logrotate.state"
    stdin = input_xml(tmp_path / "ck", {"path": str(relay.logs), "timezone": "UTC"})
    emitted: List[Dict[str, object]] = []
    sent: List[str] = []
    live = 0
    for batch in range(BATCHES):
        lines = [esa_line(batch * BATCH + n) for n in range(BATCH)]
        relay.send(lines)
        sent += lines
        live += len(lines)
        relay.wait_for(live)
        if batch % 2:
            emitted += run_input(stdin)  # the input runs between writes and rotations, as splunkd starts it
        if "dateext" in MODES[mode]:
            time.sleep(1.05)  # the date format names rotations by the second
        rotated = subprocess.run([str(LOGROTATE), "-f", "-s", str(state), str(rotate_conf)], env=relay.env,
                                 capture_output=True, text=True, check=False)  # fmt: skip
        assert rotated.returncode == 0, rotated.stderr
        live = 0
        time.sleep(0.1)  # rsyslog reopens its file on SIGHUP
        emitted += run_input(stdin)
    emitted += run_input(stdin)
    names = sorted(os.listdir(relay.logs))
    if mode != "copytruncate":
        assert any(name.endswith(".gz") for name in names) == ("compress" in MODES[mode]), names
    by_user: Dict[str, Set[str]] = {}
    counts: Dict[str, int] = {}
    for event in emitted:
        user = str(event["user"])
        by_user.setdefault(user, set()).add(str(event["event_id"]))
        counts[user] = counts.get(user, 0) + 1
    expected = {f"relay{n}" for n in range(len(sent))}
    assert set(by_user) == expected, sorted(expected - set(by_user))[:5]
    # Once each, or again only under the same id (a re-read that dedup event_id removes).
    assert all(len(ids) == 1 for ids in by_user.values())
    repeated: List[Tuple[str, int]] = [(user, n) for user, n in counts.items() if n > 1]
    assert repeated == []
