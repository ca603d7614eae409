"""docs/crosswalk.md is the truth about the OCSF and ECS renderings.

The test reads the document's field table and value tables, renders crafted
events that together set every field of :class:`AuthEvent`, and checks that
each CIM value is found at every OCSF and ECS path the table lists, converted
as the table says. The table must list every field, and each value table must
cover every value the schema allows.

This module also holds the events the renderer tests validate (the golden
corpus, every template example, generated events), so that the OCSF and ECS
tests check the same corpus.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from conftest import GOLDEN_DIR, normalize, settings_from_config
from esa_auth import AuthEvent, Settings, appliance_from_filename
from esa_auth import patterns as P
from esa_auth.render import render
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
CROSSWALK = ROOT / "docs" / "crosswalk.md"
SCHEMA = ROOT / "package" / "esa_auth" / "schemas" / "auth_event.schema.json"


# --- Events shared by the renderer tests --------------------------------------------------------------------------


def golden_events() -> Iterator[Tuple[str, AuthEvent]]:
    """Every event of every golden case (tests/golden/*/*.log, read as test_golden reads them)."""
    for log in sorted(GOLDEN_DIR.glob("*/*.log")):
        config_path = log.with_name(log.stem + "-config.json")
        config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.exists() else {}
        appliance = config.get("appliance")
        if appliance is None and "file_name" in config:
            appliance = appliance_from_filename(config["file_name"])
        result = normalize(log.read_bytes(), settings_from_config(config), source=log.name, appliance=appliance)
        for event in result.events:
            yield f"{log.parent.name}/{log.name}", event


_HEADER = (
    b"Wed Apr 22 11:00:00 2009 Info: Version: 15.0.0-104 SN: 4229A1B2C3D4E5F6A7B8-0A1B2C3D4E5F\n"
    b"Wed Apr 22 11:00:00 2009 Info: Time offset from UTC: 7200 seconds\n"
)


def template_events() -> List[AuthEvent]:
    """Every example of every authentication template, with an envelope and without one (E10)."""
    events: List[AuthEvent] = []
    for pattern in P.PATTERNS:
        if pattern.role != P.AUTH:
            continue
        for example in pattern.examples:
            body = example.encode("utf-8")
            for data, appliance in (
                (_HEADER + b"Wed Apr 22 11:44:48 2009 Info: " + body + b"\n", "esa01.example.com"),
                (b"Info: " + body + b"\n", None),
            ):
                events.extend(normalize(data, Settings(tz="UTC"), appliance=appliance).events)
    return events


def make_event(**values: Any) -> AuthEvent:
    """An inbound SMTP AUTH success with the given fields changed."""
    base: Dict[str, Any] = dict(
        action="success", activity="authenticate", app="smtp", signature="SMTP AUTH succeeded",
        signature_id="ESA-T1", raw="raw line", event_id="0" * 32, time="2009-04-22T11:44:48Z",
        direction="inbound", session_id="450", icid=450,
    )  # fmt: skip
    base.update(values)
    return AuthEvent(**base)


_text = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).filter(
    lambda s: s.strip() != "" and s not in ("-", "unknown", "null", "(null)")
)
_ip = st.one_of(st.ip_addresses(v=4).map(str), st.ip_addresses(v=6).map(str))
# Event times as the pipeline writes them (timezones.rfc3339): whole seconds, or microseconds.
_times = st.builds(
    lambda seconds, micro: (
        datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        + (f".{micro:06d}" if micro else "")
        + "Z"
    ),
    st.integers(0, 4102444800),
    st.integers(0, 999999),
)


def _maybe(strategy: Any) -> Any:
    return st.one_of(st.none(), strategy)


@st.composite
def auth_events(draw: Any) -> AuthEvent:
    """Any event the schema allows: values of the right kinds, in any combination."""
    app = draw(st.sampled_from(["smtp", "esa", "esa:gui", "esa:ssh", "esa:cli", "esa:api", "esa:quarantine"]))
    direction = draw(st.sampled_from(["inbound", "outbound"])) if app == "smtp" else None
    number = draw(st.integers(0, 2**31))
    activity = draw(st.sampled_from(["authenticate", "logon", "logoff"]))
    src_ip, dest_ip = draw(_maybe(_ip)), draw(_maybe(_ip))
    return AuthEvent(
        action="success" if activity == "logoff" else draw(st.sampled_from(["success", "failure", "error"])),
        activity=activity, app=app, signature=draw(_text), signature_id="ESA-" + draw(st.sampled_from(["T1", "A5"])),
        raw=draw(_text), event_id=draw(st.text("0123456789abcdef", min_size=32, max_size=32)),
        time=draw(_maybe(_times)), direction=direction, user=draw(_maybe(_text)),
        src=draw(st.one_of(st.just(src_ip), _text)) if src_ip else draw(_maybe(_text)), src_ip=src_ip,
        src_host=draw(_maybe(_text)),
        dest=draw(st.one_of(st.just(dest_ip), _text)) if dest_ip else draw(_maybe(_text)), dest_ip=dest_ip,
        dest_host=draw(_maybe(_text)), dest_port=draw(_maybe(st.integers(1, 65535))),
        dvc=draw(_maybe(st.one_of(_text, _ip))), dvc_serial=draw(_maybe(_text)),
        authentication_method=draw(_maybe(_text)), authentication_service=draw(_maybe(_text)),
        session_id=str(number) if app == "smtp" else draw(_maybe(_text)),
        icid=number if direction == "inbound" else None, dcid=number if direction == "outbound" else None,
        reason=draw(_maybe(_text)), reply_code=draw(_maybe(st.from_regex(r"\A[2-5]\d\d\Z"))),
        enhanced_status=draw(_maybe(st.from_regex(r"\A[245]\.\d{1,3}\.\d{1,3}\Z"))),
        dest_interface=draw(_maybe(_text)), sender_group=draw(_maybe(_text)),
        sbrs=draw(_maybe(st.floats(-10, 10, allow_nan=False))), src_country=draw(_maybe(_text)),
        tls=draw(_maybe(st.booleans())),
        tls_protocol=draw(_maybe(st.one_of(_text, st.sampled_from(["TLSv1", "TLSv1.2", "TLSv1.3", "SSLv3"])))),
        tls_cipher=draw(_maybe(_text)), mid=draw(_maybe(st.integers(0, 2**31))),
        cleartext=draw(_maybe(st.booleans())), privileged=draw(_maybe(st.booleans())),
        default_account=draw(_maybe(st.booleans())), user_role=draw(_maybe(_text)),
        product_version=draw(_maybe(_text)), log_name=draw(_maybe(_text)), original_time=draw(_maybe(_text)),
        utc_offset=draw(_maybe(st.integers(-86400, 86400))),
    )  # fmt: skip


#: Events that together set every field, each value distinct so that a value
#: found at a path can only have come from its own field.
CRAFTED: Dict[str, AuthEvent] = {
    "inbound SMTP AUTH, TLS": make_event(
        time="2009-04-22T11:44:48.250Z",
        action="failure",
        user="alice@example.com",
        src="198.51.100.102",
        src_ip="198.51.100.102",
        src_host="client.example.net",
        dest="192.0.2.16",
        dest_ip="192.0.2.16",
        dest_host="mail.example.com",
        dest_port=587,
        dvc="esa01.example.com",
        dvc_serial="4229A1B2C3D4-0A1B2C",
        authentication_method="LOGIN",
        authentication_service="IncomingAuthentication",
        session_id="450",
        icid=450,
        dest_interface="Data 1",
        sender_group="RELAYLIST",
        sbrs=3.5,
        src_country="Germany",
        tls=True,
        tls_protocol="TLSv1.2",
        tls_cipher="ECDHE-RSA-AES256-GCM-SHA384",
        mid=441,
        cleartext=False,
        product_version="15.0.0-104",
        log_name="mail_logs",
        original_time="Apr 22 13:44:48",
        utc_offset=7200,
        raw="<22>Apr 22 13:44:48 esa01.example.com mail_logs: Info: SMTP Auth: (ICID 450) failed ...",
        event_id="1" * 32,
    ),
    "outbound SMTP AUTH error": make_event(
        action="error",
        signature="SMTP AUTH to smart host failed",
        signature_id="ESA-T11",
        direction="outbound",
        icid=None,
        dcid=5640,
        session_id="5640",
        src="esa02",
        dest="192.0.2.102",
        dest_ip="192.0.2.102",
        dest_port=25,
        dvc="192.0.2.99",
        reason="5.7.8 Error: authentication failed",
        utc_offset=-18000,
        reply_code="535",
        enhanced_status="5.7.8",
        tls=False,
        tls_protocol="TLSv1",
        cleartext=True,
        event_id="2" * 32,
    ),
    "appliance logon, admin": make_event(
        activity="logon",
        app="esa:ssh",
        direction=None,
        icid=None,
        session_id="k3Jd9sLqPz0aB1cD2eF3",
        user="admin",
        src="192.0.2.10",
        src_ip="192.0.2.10",
        dest="esa03.example.com",
        authentication_method="CLI based",
        signature="Appliance login succeeded (SSH, CLI based)",
        signature_id="ESA-A10",
        privileged=True,
        default_account=True,
        user_role="admin",
        event_id="3" * 32,
    ),
    "appliance logoff, operator": make_event(
        activity="logoff",
        app="esa:gui",
        direction=None,
        icid=None,
        session_id=None,
        user="CORP\\operator1",
        privileged=False,
        default_account=False,
        user_role="operators",
        signature="Appliance GUI logout",
        signature_id="ESA-L5",
        event_id="4" * 32,
    ),
}


# --- Reading the document -----------------------------------------------------------------------------------------

_CODE = re.compile(r"`([^`]*)`")


def _tables(text: str) -> Dict[str, List[List[str]]]:
    """Markdown tables by the heading above them (rows of cells, header row first)."""
    tables: Dict[str, List[List[str]]] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|") and not re.match(r"^\|[-|\s]+\|$", line):
            tables.setdefault(heading, []).append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return tables


class Mapping:
    """One mapping of a cell: alternative paths and a conversion (None: copied as is)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.paths = _CODE.findall(text)
        note = re.search(r"\(([^)]*)\)\s*$", text)
        self.conversion: Optional[str] = note.group(1) if note else None
        assert self.paths, f"no path in {text!r}"
        conversions = (None, "map", "epoch ms", "email", "domain", "minutes", "tz")
        assert self.conversion in conversions, f"unknown conversion in {text!r}"


def _mappings(cell: str) -> List[Mapping]:
    return [Mapping(part) for part in cell.split(";") if part.strip()]


def _value(cell: str) -> Any:
    """A value-table cell: ``—`` is absent (None); numbers and booleans as such."""
    if cell == "—":
        return None
    found = _CODE.fullmatch(cell)
    assert found, f"value cell {cell!r} is not `code` or —"
    text = found.group(1)
    if text in ("true", "false"):
        return text == "true"
    return int(text) if re.fullmatch(r"-?\d+", text) else text


class Crosswalk:
    """The parsed document."""

    def __init__(self, text: str) -> None:
        tables = _tables(text)
        header, *rows = tables["Fields"]
        assert header[:3] == ["CIM field", "OCSF 1.7.0", "ECS 9.4"], header
        self.fields: Dict[str, Dict[str, List[Mapping]]] = {}
        for row in rows:
            name = _CODE.fullmatch(row[0])
            assert name, f"first cell {row[0]!r} is not a `field`"
            assert name.group(1) not in self.fields, f"{row[0]} is listed twice"
            self.fields[name.group(1)] = {"ocsf": _mappings(row[1]), "ecs": _mappings(row[2])}
        self.values: Dict[str, Dict[str, Dict[Any, Any]]] = {}
        for heading, (head, *value_rows) in tables.items():
            field = _CODE.fullmatch(heading)
            if field is None:
                continue
            columns = [_CODE.fullmatch(h).group(1) for h in head]  # type: ignore[union-attr]
            assert columns[0] == field.group(1), f"value table {heading}: first column must be the field"
            table: Dict[str, Dict[Any, Any]] = {column: {} for column in columns[1:]}
            for cells in value_rows:
                key = _value(cells[0])
                for column, cell in zip(columns[1:], cells[1:]):
                    table[column][key] = _value(cell)
            self.values[field.group(1)] = table


@pytest.fixture(scope="module")
def crosswalk() -> Crosswalk:
    return Crosswalk(CROSSWALK.read_text(encoding="utf-8"))


def lookup(doc: Dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a rendered event (None when absent)."""
    if path in doc:  # ECS ``@timestamp``
        return doc[path]
    node: Any = doc
    for name in path.split("."):
        if not isinstance(node, dict) or name not in node:
            return None
        node = node[name]
    return node


def _matches(found: Any, expected: Any) -> bool:
    if expected is None:
        return found is None
    if isinstance(found, list):
        return expected in found
    return bool(found == expected and type(found) is type(expected))


def _epoch_ms(time: str) -> int:
    """Milliseconds since the epoch, computed apart from the renderer's own parser."""
    moment = datetime.fromisoformat(time.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)


def _user_parts(name: str) -> Dict[str, Optional[str]]:
    """What a logged name states about the mailbox and the domain, read apart from the renderers' rule."""
    if name.count("@") == 1 and "." in name.split("@")[1] and " " not in name:
        return {"email": name, "domain": name.split("@")[1]}
    if name.count("\\") == 1 and name.split("\\")[0] and " " not in name.split("\\")[0]:
        return {"email": None, "domain": name.split("\\")[0]}
    return {"email": None, "domain": None}


# --- Tests --------------------------------------------------------------------------------------------------------


def test_table_lists_every_field(crosswalk: Crosswalk) -> None:
    names = {f.name for f in fields(AuthEvent)}
    assert not names - set(crosswalk.fields), f"fields missing from the table: {sorted(names - set(crosswalk.fields))}"
    assert not set(crosswalk.fields) - names, f"not fields of AuthEvent: {sorted(set(crosswalk.fields) - names)}"


def test_crafted_events_set_every_field() -> None:
    set_somewhere = {
        f.name for event in CRAFTED.values() for f in fields(AuthEvent) if getattr(event, f.name) is not None
    }
    assert set_somewhere == {f.name for f in fields(AuthEvent)}


def test_crafted_events_are_schema_valid(assert_valid: Any) -> None:
    assert_valid(event.to_dict() for event in CRAFTED.values())


def test_value_tables_cover_the_schema(crosswalk: Crosswalk) -> None:
    """Each value table lists exactly the values the schema allows for its field."""
    properties = json.loads(SCHEMA.read_text(encoding="utf-8"))["properties"]
    for field, table in crosswalk.values.items():
        spec = properties[field]
        allowed = set(spec["enum"]) if "enum" in spec else {True, False} if spec.get("type") == "boolean" else None
        for column, values in table.items():
            if allowed is not None:
                assert set(values) == allowed, f"value table {field}/{column}: {sorted(map(str, values))}"
    assert {"action", "activity", "app", "direction", "cleartext", "privileged", "tls_protocol"} <= set(
        crosswalk.values
    )


@pytest.mark.parametrize("fmt", ["ocsf", "ecs"])
@pytest.mark.parametrize("case", list(CRAFTED))
def test_values_are_where_the_crosswalk_says(crosswalk: Crosswalk, case: str, fmt: str) -> None:
    event = CRAFTED[case]
    doc = render(event, fmt)
    problems = []
    for field, columns in crosswalk.fields.items():
        value = getattr(event, field)
        if value is None:
            continue
        for mapping in columns[fmt]:
            if mapping.conversion == "epoch ms":
                expected: Any = _epoch_ms(value)
            elif mapping.conversion == "minutes":
                expected = value // 60
            elif mapping.conversion == "tz":
                expected = "{}{:02d}:{:02d}".format(
                    "-" if value < 0 else "+", abs(value) // 3600, abs(value) % 3600 // 60
                )
            elif mapping.conversion in ("email", "domain"):
                expected = _user_parts(value)[mapping.conversion]
            elif mapping.conversion == "map":
                key = value
                if field == "privileged" and value is False and event.user_role is None:
                    continue  # documented: an unknown role says nothing
                table = crosswalk.values.get(field, {})
                column = next((p for p in mapping.paths if p in table), None)
                assert column is not None, f"{field}: no value table column for {mapping.text}"
                assert key in table[column], f"{field}={value!r} is not in its value table"
                expected = table[column][key]
            else:
                expected = value
            if not any(_matches(lookup(doc, path), expected) for path in mapping.paths):
                found = {path: lookup(doc, path) for path in mapping.paths}
                problems.append(f"{field}={value!r}: expected {expected!r} at {mapping.text}, found {found}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", ["T3", "T4", "T5", "T7"])
def test_no_credential_checked_is_error_in_every_form(name: str) -> None:
    """Server-side faults (T3-T5) and a client that never started AUTH (T7): never a credential failure."""
    (example, *_) = P.BY_NAME[name].examples
    data = _HEADER + b"Wed Apr 22 11:44:48 2009 Info: " + example.encode() + b"\n"
    (event,) = normalize(data, Settings(tz="UTC"), appliance="esa01.example.com").events
    assert event.action == "error"
    assert event.reason
    ocsf, ecs = render(event, "ocsf"), render(event, "ecs")
    assert (ocsf["status_id"], ocsf["status"], ocsf["status_detail"]) == (99, "Error", event.reason)
    assert (ecs["event"]["outcome"], ecs["event"]["reason"]) == ("unknown", event.reason)


def test_comparison_can_fail(crosswalk: Crosswalk) -> None:
    """A wrong path or a wrong conversion is caught (the checker is not vacuous)."""
    event = CRAFTED["inbound SMTP AUTH, TLS"]
    doc = render(event, "ocsf")
    assert lookup(doc, "user.name") == "alice@example.com"
    assert not _matches(lookup(doc, "user.uid"), "alice@example.com")
    assert not _matches(lookup(doc, "time"), "2009-04-22T11:44:48.250Z")
    assert _matches(lookup(doc, "time"), _epoch_ms("2009-04-22T11:44:48.250Z"))
    assert not _matches(1, True)  # a boolean is not an integer


def test_sourcetypes_in_the_document_are_registered() -> None:
    from esa_auth.render import RENDERERS, SOURCETYPES

    _, *rows = _tables(CROSSWALK.read_text(encoding="utf-8"))["Field crosswalk: CIM, OCSF, ECS"]
    documented = {_CODE.search(row[0]).group(1): _CODE.search(row[2]).group(1) for row in rows}  # type: ignore[union-attr]
    assert documented == SOURCETYPES
    assert set(RENDERERS) == set(SOURCETYPES)
