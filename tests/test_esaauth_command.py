"""The ``esaauth`` search command: chunked protocol v2, in process and as splunkd runs it.

Records are fed the way a search hands them over: newest first (``_time`` descending), split over
several chunks. The command must still correlate sessions (an AUTH line with the ``New SMTP ICID`` line
before it) and give, for every authentication line, exactly what the library gives for the same file.
"""

from __future__ import annotations

import calendar
import importlib.util
import inspect
import io
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
from chunked import Record, conversation, messages, parse
from esa_auth import Normalizer, Settings, Stream
from esa_auth.envelope import body_start, starts_envelope
from esa_auth.patterns import DISPATCH, dispatch_key
from esa_auth.render import RENDERERS, SOURCETYPES, render
from esa_auth.splunk.search import EsaAuthCommand, flatten, wanted
from hypothesis import given, settings
from hypothesis import strategies as st
from ksconf.conf.parser import PARSECONF_STRICT_NC, parse_conf
from splunkd import SPLUNK_PYTHONS, splunk_python
from splunklib.searchcommands import EventingCommand, Option
from splunklib.searchcommands.search_command import SearchCommand

ROOT = Path(__file__).resolve().parent.parent
MAIL = ROOT / "samples" / "logs" / "mail.current"
HOST = "esa01.example.com"
_NATIVE_TIME = re.compile(r"^(\w{3} \w{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}) ")


# --- input as a search gives it --------------------------------------------------------------------------
def records_of(text: str, source: str = "/data/esa/mail.current", offset: int = 0) -> List[Record]:
    """One record per log line, newest first, as a search returns them.

    ``_time`` is what the official add-on's props would give (the file's local time plus the header's
    offset); equal times keep the reverse of the file order, as Splunk lists events of one second.
    """
    out = []
    for index, line in enumerate(text.splitlines()):
        found = _NATIVE_TIME.match(line)
        assert found, line
        stamp = calendar.timegm(time.strptime(found.group(1).replace("  ", " "), "%a %b %d %H:%M:%S %Y")) - offset
        out.append((stamp, index, {"_raw": line, "_time": str(stamp), "host": HOST, "source": source,
                                   "sourcetype": "cisco:esa:textmail", "_cd": f"1:{index}"}))  # fmt: skip
    out.sort(key=lambda item: (-item[0], -item[1]))
    return [record for _, _, record in out]


def chunks(records: List[Record], size: int) -> List[List[Record]]:
    return [records[i : i + size] for i in range(0, len(records), size)] or [[]]


def run(
    args: List[str], batches: List[List[Record]], tmp: Path
) -> Tuple[int, List[Tuple[Dict[str, Any], List[Record]]]]:
    """Run the command in process; return its exit status and the messages it wrote."""
    out = io.BytesIO()
    saved = tempfile.tempdir
    status = 0
    try:
        EsaAuthCommand()._process_protocol_v2([], io.BytesIO(conversation(args, str(tmp), batches)), out)
    except SystemExit as exc:
        status = int(exc.code or 0)
    finally:
        tempfile.tempdir = saved  # splunklib points it at the dispatch directory
    return status, parse(out.getvalue())


def results(reply: List[Tuple[Dict[str, Any], List[Record]]]) -> List[Record]:
    return [record for _, records in reply for record in records]


def all_messages(reply: List[Tuple[Dict[str, Any], List[Record]]]) -> List[Tuple[str, str]]:
    return [message for meta, _ in reply for message in messages(meta)]


def library_events(text: str, fmt: str = "cim", tz: Optional[str] = "UTC") -> List[Dict[str, Any]]:
    """What the library makes of the file read in order (the truth the command must match)."""
    normalizer = Normalizer(Settings(tz=tz))
    stream = Stream("/data/esa/mail.current", appliance=HOST)
    events = normalizer.feed(stream, text.encode("utf-8")) + normalizer.end(stream)
    return [render(event, fmt) for event in events]


def comparable(record: Record) -> Dict[str, Any]:
    """The event fields of an output record (every record carries every field; empty ones are absent)."""
    return {k: v for k, v in record.items() if not k.startswith("_") and k not in ("host", "source", "sourcetype")}


def without(event: Dict[str, Any], *names: str) -> Dict[str, Any]:
    return {k: v for k, v in event.items() if k not in names}


# --- in process -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [1, 4, 1000], ids=["chunks-of-1", "chunks-of-4", "one-chunk"])
def test_sessions_are_correlated_whatever_the_order_and_chunking(tmp_path: Path, size: int) -> None:
    text = MAIL.read_text(encoding="utf-8")
    status, reply = run(["tz=UTC"], chunks(records_of(text, offset=-21600), size), tmp_path)
    assert status == 0
    got = results(reply)
    want = library_events(text)
    # Newest first, as Splunk lists events; the event ids depend on the reading (file offsets), not the content.
    assert [r["signature_id"] for r in got] == [e["signature_id"] for e in reversed(want)]
    for record, event in zip(got, reversed(want)):
        assert without(comparable(record), "event_id", "dvc") == without(flatten(event), "event_id", "dvc")
        assert json.loads(record["_raw"])["raw"] == event["raw"]
        assert record["sourcetype"] == SOURCETYPES["cim"]
        assert record["host"] == HOST
    inbound = [r for r in got if r["signature_id"] == "ESA-T1"]
    assert inbound, "the sample log has an inbound AUTH success"
    assert inbound[0]["src"] == "203.0.113.7"  # from its New SMTP ICID line, which came after it in the input
    assert inbound[0]["tls"] == "true"
    assert inbound[0]["cleartext"] == "false"


def test_every_record_carries_every_field(tmp_path: Path) -> None:
    # splunklib writes a chunk's CSV header from its first record: a field first seen later would be lost.
    _, reply = run([], [records_of(MAIL.read_text(encoding="utf-8"))], tmp_path)
    data = [records for _, records in reply if records]
    assert len(data) == 1
    got = data[0]
    union = set().union(*(set(r) for r in got))
    assert {"reply_code", "enhanced_status", "dest_port", "dest_interface"} <= union
    outbound_failure = next(r for r in got if r.get("signature_id") == "ESA-T11")
    assert outbound_failure["reply_code"] == "535"
    assert outbound_failure["enhanced_status"] == "5.7.8"


@pytest.mark.parametrize("fmt", sorted(RENDERERS))
def test_every_registered_format(tmp_path: Path, fmt: str) -> None:
    text = MAIL.read_text(encoding="utf-8")
    status, reply = run([f"format={fmt}", "tz=UTC"], [records_of(text, offset=-21600)], tmp_path)
    assert status == 0
    got = results(reply)
    want = list(reversed(library_events(text, fmt)))
    assert len(got) == len(want) > 0
    for record, event in zip(got, want):
        assert record["sourcetype"] == SOURCETYPES[fmt]
        body = json.loads(record["_raw"])
        assert set(body) == set(event)
        # A one-value list travels as a plain value (splunklib writes no __mv_ column for it).
        flat = {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in flatten(body).items()}
        assert {k: v for k, v in comparable(record).items() if k in flat} == flat


def test_output_times_are_those_of_the_input(tmp_path: Path) -> None:
    text = MAIL.read_text(encoding="utf-8")
    records = records_of(text)
    by_raw = {r["_raw"]: r["_time"] for r in records}
    _, reply = run([], [records], tmp_path)
    for record in results(reply):
        assert record["_time"] == by_raw[json.loads(record["_raw"])["raw"]]


def test_syslog_years_follow_the_event_time_not_the_clock(tmp_path: Path) -> None:
    # Syslog lines carry no year: the event's _time (Splunk's) places them, even years back.
    lines = [
        ("<22>Dec 31 23:59:58 esa01 mail_logs: Info: New SMTP ICID 7 interface In (192.0.2.1) address 198.51.100.9",
         "2015-12-31T23:59:58Z"),
        ("<22>Jan  1 00:00:02 esa01 mail_logs: Info: SMTP Auth: (ICID 7) failed for user: eve using AUTH mechanism: "
         "LOGIN with profile: P", "2016-01-01T00:00:02Z"),
    ]  # fmt: skip
    records = [{"_raw": raw, "_time": str(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))), "host": "esa01",
                "source": "udp:514"} for raw, stamp in reversed(lines)]  # fmt: skip
    status, reply = run(["tz=UTC"], [records], tmp_path)
    assert status == 0
    (event,) = results(reply)
    assert event["time"] == "2016-01-01T00:00:02Z"
    assert event["src"] == "198.51.100.9"  # the session opened in the previous year still counts


def test_malformed_records_are_reported_and_skipped(tmp_path: Path) -> None:
    text = MAIL.read_text(encoding="utf-8")
    good = records_of(text)
    bad: List[Record] = [
        {"_time": "1736157600", "host": HOST},  # no _raw at all
        {"_raw": "", "_time": "1736157600", "host": HOST},  # empty _raw
        {
            "_raw": "Mon Jan  6 10:00:03 2025 Info: SMTP Auth: (ICID 9) failed for user: \x00\x1b[31mx using AUTH "
            "mechanism: PLAIN with profile: P",
            "_time": "not-a-time",
            "host": HOST,
        },
        {"_raw": "\ufffd\ufffd binary \x01\x02", "_time": "1736157600", "host": HOST},
        {
            "_raw": "Mon Jan  6 10:00:03 2025 Info: SMTP Auth: (ICID 99999999999999999999999) failed for user: y using "
            "AUTH mechanism: PLAIN with profile: P",
            "_time": "1736157600",
            "host": HOST,
        },
    ]
    status, reply = run([], [good[:5], bad, good[5:]], tmp_path)
    assert status == 0
    got = results(reply)
    assert len(got) == len(library_events(text)) + 1  # the control-character line is still an event
    odd = next(r for r in got if r.get("session_id") == "9")
    assert "\x00" not in odd["user"]
    assert "\x1b" not in odd["user"]
    texts = [t for level, t in all_messages(reply) if level == "WARN"]
    assert any("2 input records had no _raw" in t for t in texts), texts
    assert any("control characters" in t for t in texts), texts


def test_the_buffer_is_bounded(tmp_path: Path) -> None:
    text = MAIL.read_text(encoding="utf-8")
    status, reply = run(["max_records=5"], [records_of(text)], tmp_path)
    assert status == 0
    texts = [t for _, t in all_messages(reply)]
    assert any("more than 5 usable lines" in t for t in texts), texts
    assert len(results(reply)) <= 5


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["bogus=1"], "Unrecognized option: bogus=1"),
        (["format=xml"], "esaauth: unknown format 'xml'"),
        (["tz=Mars/Olympus_Mons"], "esaauth: unknown time zone"),
        (["session_timeout=soon"], "esaauth: not a positive duration"),
        (["max_sessions=0"], "Illegal value: max_sessions=0"),
    ],
    ids=["unknown-option", "format", "tz", "timeout", "max-sessions"],
)
def test_bad_options_end_with_one_clear_error(tmp_path: Path, args: List[str], fragment: str) -> None:
    status, reply = run(args, [records_of(MAIL.read_text(encoding="utf-8"))], tmp_path)
    assert status == 1
    errors = [t for level, t in all_messages(reply) if level == "ERROR"]
    assert len(errors) == 1
    assert fragment in errors[0], errors
    assert "Traceback" not in errors[0]
    assert results(reply) == []


def test_getinfo_asks_for_what_it_reads_and_runs_as_events(tmp_path: Path) -> None:
    _, reply = run([], [[]], tmp_path)
    first = reply[0][0]
    assert first["type"] == "events"  # one instance on the search head, never split across indexers
    assert set(first["required_fields"]) == {"_raw", "_time", "host", "source"}


# --- documentation in its three places (class, options, searchbnf.conf) ------------------------------------------
def test_documentation_is_in_step() -> None:
    doc = EsaAuthCommand.__doc__ or ""
    for heading in ("##Syntax", "##Description", "##Example"):
        assert heading in doc
    inherited = {name for name, value in vars(EventingCommand).items() if isinstance(value, Option)}
    inherited |= {name for name, value in vars(SearchCommand).items() if isinstance(value, Option)}
    options = {
        name: option
        for name, option in vars(EsaAuthCommand).items()
        if isinstance(option, Option) and name not in inherited
    }
    assert set(options) == {"tz", "format", "session_timeout", "max_sessions", "max_records"}
    # Each Option(doc=...) starts with its own syntax (the property subclass hides doc from __doc__: read the source).
    source = inspect.getsource(EsaAuthCommand)
    documented = dict(re.findall(r'(\w+) = Option\(\s*doc="""\*\*Syntax:\*\* \*\*(\w+)=', source))
    assert documented == {name: name for name in options}
    bnf = parse_conf(str(ROOT / "default" / "searchbnf.conf"), profile=PARSECONF_STRICT_NC)["esaauth-command"]
    in_syntax = set(re.findall(r"\((\w+)=<", bnf["syntax"]))
    assert in_syntax == set(options)
    assert set(re.findall(r"\[(\w+)=<", doc.split("##Description")[0])) == set(options)
    for name in options:
        assert name in bnf["description"], name
    assert bnf["example1"].count("| esaauth") == 1
    commands = parse_conf(str(ROOT / "default" / "commands.conf"), profile=PARSECONF_STRICT_NC)["esaauth"]
    assert commands == {"chunked": "true", "filename": "esaauth.py", "python.required": "3.9, 3.13",
                        "python.version": "python3.9"}  # fmt: skip
    assert (ROOT / "bin" / commands["filename"]).is_file()


# --- as splunkd runs it: the packaged tree, an isolated interpreter ------------------------------------------------
def _build_module() -> Any:
    path = ROOT / "build.py"
    if not path.exists():
        pytest.skip(f"build.py not found at {path}: the app tree cannot be assembled")
    spec = importlib.util.spec_from_file_location("esa_auth_build", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app as build.py assembles it (library and splunklib 3.0.1 in bin/lib), in a private directory."""
    build = _build_module()
    try:
        wheel = build.fetch_sdk()
    except build.BuildError as exc:
        pytest.skip(f"splunk-sdk wheel unavailable ({exc}); the packaged command cannot run")
    return Path(build.assemble(str(tmp_path_factory.mktemp("app")), wheel=wheel))


def run_packaged(python: Path, tree: Path, args: List[str], batches: List[List[Record]], tmp: Path) -> Tuple[
    int, List[Tuple[Dict[str, Any], List[Record]]], str
]:  # fmt: skip
    script = tree / "bin" / "esaauth.py"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run(
        [str(python), "-I", str(script)],
        input=conversation(args, str(tmp), batches),
        capture_output=True,
        env=env,
        cwd=str(tmp),
        timeout=120,
        check=False,
    )
    return proc.returncode, parse(proc.stdout), proc.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("version", SPLUNK_PYTHONS)
def test_packaged_command_runs_under_splunk_pythons(app_tree: Path, tmp_path: Path, version: str) -> None:
    python = Path(splunk_python(version))
    assert (app_tree / "bin" / "lib" / "splunklib").is_dir()
    text = MAIL.read_text(encoding="utf-8")
    records = records_of(text, offset=-21600)
    status, reply, stderr = run_packaged(python, app_tree, ["tz=UTC"], chunks(records, 7), tmp_path)
    assert status == 0, stderr
    got = results(reply)
    want = list(reversed(library_events(text)))
    assert [without(comparable(r), "event_id", "dvc") for r in got] == [
        without(flatten(e), "event_id", "dvc") for e in want
    ]
    # Malformed records and an unknown option, as splunkd would send them.
    status, reply, stderr = run_packaged(python, app_tree, [], [[{"_time": "x"}, {"_raw": "\x01"}]], tmp_path)
    assert status == 0, stderr
    assert results(reply) == []
    assert any("no _raw" in t for _, t in all_messages(reply))
    status, reply, _ = run_packaged(python, app_tree, ["nonsense=1"], [records[:3]], tmp_path)
    assert status == 1
    assert ("ERROR", "Unrecognized option: nonsense=1") in all_messages(reply)


def test_packaged_script_imports_only_what_the_app_ships(app_tree: Path, tmp_path: Path) -> None:
    python = splunk_python("3.13")  # the newest Python Splunk runs: the one python.required chooses
    probe = (
        "import runpy, sys; sys.argv = ['esaauth.py']; "
        f"sys.stdin = open({os.devnull!r}); "
        f"runpy.run_path({str(app_tree / 'bin' / 'esaauth.py')!r}, run_name='probe'); "
        "import esa_auth, splunklib; print(esa_auth.__file__); print(splunklib.__file__)"
    )
    proc = subprocess.run([str(python), "-I", "-c", probe], capture_output=True, text=True, timeout=60, check=False,
                          cwd=str(tmp_path), env={"PATH": os.environ.get("PATH", "")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.splitlines():
        assert line.startswith(str(app_tree / "bin" / "lib")), line


# --- reading in blocks ------------------------------------------------------------------------------------------
def _records_of_every_kind() -> List[Record]:
    """Records that stress how lines are grouped into blocks: two appliances interleaved (one stream each),
    yearless syslog lines across a day and a year, a wrapped record, CR LF, control bytes, a line over
    max_line_bytes, records with no usable time."""
    out: List[Record] = []
    text = MAIL.read_text(encoding="utf-8")
    for host in ("esa01.example.com", "esa02.example.com"):
        for record in records_of(text, offset=-21600):
            out.append(dict(record, host=host))
    day = calendar.timegm((2015, 12, 31, 23, 59, 0, 0, 0, 0))
    syslog = [
        "<22>Dec 31 23:59:50 esa03 mail_logs: Info: New SMTP ICID 7 interface In (192.0.2.1) address 198.51.100.9",
        "<22>Dec 31 23:59:55 esa03 mail_logs: Info: ICID 7 TLS success protocol TLSv1.2 cipher AES128-SHA",
        "<22>Jan  1 00:00:02 esa03 mail_logs: Info: SMTP Auth: (ICID 7) failed for user: eve using AUTH mechanism: "
        "LOGIN with profile: P",
        "<22>Jan  1 00:00:03 esa03 mail_logs: Info: SMTP Auth: (ICID 7) succeeded for user: bob\r\n"
        " using AUTH mechanism: LOGIN with profile: P",
        "<22>Jan  1 00:00:04 esa03 mail_logs: Info: SMTP Auth: (ICID 7) failed for user: \x1b[1mmallory using AUTH "
        "mechanism: PLAIN with profile: P",
        "<22>Jan  1 00:00:05 esa03 mail_logs: Info: SMTP Auth: (ICID 7) failed for user: " + "x" * 70_000,
        "<22>Jan  1 00:00:06 esa03 mail_logs: Info: SMTP Auth: (ICID 7) failed for user: trudy using AUTH mechanism: "
        "PLAIN with profile: P",
    ]  # fmt: skip
    for index, raw in enumerate(syslog):
        stamp = "" if index == 4 else str(day + 50 + index)  # one record with no usable _time
        out.append({"_raw": raw, "_time": stamp, "host": "esa03", "source": "udp:514"})
    # A year earlier, and days later: a yearless date read against another line's day lands in another year.
    early = (
        "<22>Jan  2 09:00:00 esa03 mail_logs: Info: SMTP Auth: (ICID 6) failed for user: victor using AUTH "
        "mechanism: LOGIN with profile: P"
    )
    out.append({"_raw": early, "_time": str(calendar.timegm((2015, 1, 2, 9, 0, 0, 0, 0, 0))), "host": "esa03",
                "source": "udp:514"})  # fmt: skip
    late = (
        "<22>Jan  5 08:00:00 esa03 mail_logs: Info: SMTP Auth: (ICID 8) failed for user: walter using AUTH "
        "mechanism: LOGIN with profile: P"
    )
    out.append({"_raw": late, "_time": str(calendar.timegm((2016, 1, 5, 8, 0, 0, 0, 0, 0))), "host": "esa03",
                "source": "udp:514"})  # fmt: skip
    out.sort(key=lambda r: -float(r["_time"] or day + 53))
    return out


def _blocks_read(monkeypatch: pytest.MonkeyPatch) -> List[int]:
    """From now on, the number of lines of each block the command reads, in order."""
    reads: List[int] = []
    original = EsaAuthCommand._read

    def counted(self: EsaAuthCommand, *args: Any) -> None:
        reads.append(len(args[2]))
        original(self, *args)

    monkeypatch.setattr(EsaAuthCommand, "_read", counted)
    return reads


def test_reading_in_blocks_gives_what_reading_each_record_alone_gives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The command reads consecutive lines of one stream as one block (the reader's block loop); with blocks of
    # one line it reads each record alone. Every record, field, time and id, and every message, must agree.
    import esa_auth.splunk.search as search

    records = _records_of_every_kind()
    status, blocks = run(["tz=UTC"], chunks(records, 9), tmp_path / "blocks")
    monkeypatch.setattr(search, "CHUNK", 1)
    reads = _blocks_read(monkeypatch)
    status_alone, alone = run(["tz=UTC"], chunks(records, 9), tmp_path / "alone")
    assert status == status_alone == 0
    assert set(reads) == {1}, "each record read alone"
    assert results(blocks) == results(alone)
    assert all_messages(blocks) == all_messages(alone)
    got = results(blocks)
    assert len({r["host"] for r in got}) == 3
    assert {"eve", "bob", "trudy"} <= {r.get("user") for r in got}  # the syslog lines, the wrapped one too
    assert next(r for r in got if r.get("user") == "walter")["time"] == "2016-01-05T08:00:00Z"
    assert next(r for r in got if r.get("user") == "victor")["time"] == "2015-01-02T09:00:00Z"
    texts = [t for level, t in all_messages(blocks) if level == "WARN"]
    assert any("cut to" in t for t in texts), texts  # the long line was read, cut, in its block


def test_reading_in_blocks_reads_many_lines_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = _blocks_read(monkeypatch)
    text = MAIL.read_text(encoding="utf-8")
    status, _ = run(["tz=UTC"], chunks(records_of(text), 4), tmp_path)
    assert status == 0
    assert reads == [sum(1 for line in text.splitlines() if wanted(line))]  # one appliance, one day: one block


def _wanted_line_by_line(raw: str) -> bool:
    # What the command kept before its search in C: the reader's own tests on the first physical line.
    first = raw.split("\n", 1)[0].encode("utf-8", "replace")
    if not starts_envelope(first):
        return False
    start = body_start(first)
    return start >= 0 and dispatch_key(first[start:]) in DISPATCH


_HEADS = ["Mon Jan  6 10:00:03 2025 ", "<22>Jan  6 10:00:03 esa01 mail_logs: ", "Jan  6 10:00:03 ", "", "Info ", "x"]
_LEVELS = ["Info: ", "Warning:  ", "info:", "Debug: : ", "mail_logs: Info: ", "Critical:\t", ""]
_PIECES = [*": \nIiCcDd\u00e9\ud800\t", "ICID ", ": SMTP", ": Info: ", "Info: New "]
_KEYS = sorted({key.decode("ascii") for key in DISPATCH} | {"MID ", "ICI", "smtP", "\u017fmtp", "ICID\u00e9"})


@given(
    st.sampled_from(_HEADS),
    st.sampled_from(_LEVELS),
    st.sampled_from(_KEYS).map(lambda k: "".join(c.upper() if i % 2 else c for i, c in enumerate(k))),
    st.lists(st.sampled_from(_PIECES), max_size=12).map("".join),
)
@settings(max_examples=3000, deadline=None)
def test_wanted_keeps_what_the_reader_would_read(head: str, level: str, key: str, rest: str) -> None:
    raw = head + level + key + rest
    assert wanted(raw) == _wanted_line_by_line(raw), raw
