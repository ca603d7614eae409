"""ECS output: every field exists in ECS 9.4.0, with its type and allowed values.

The definitions are ECS's own (``tests/data/ecs/ecs_flat-9.4.0.json``, from the
npm package ``@elastic/ecs`` 9.4.0, see its README). For every rendered event:
each field outside the custom namespace ``cisco.esa`` must be an ECS field;
its value must have the field's type (keyword and text: string; ``ip``: an IP
address; ``long``: integer; ``float``: number; ``boolean``; ``date``: RFC 3339),
be an array exactly when ECS normalizes it to one, and take one of the allowed
or expected values; ``event.type`` must be a type that ECS expects for the
event's ``event.category``; and the custom namespace must not clash with an
ECS field set.

The events are those of ``test_crosswalk.py``: every golden case, every
template example, the crafted events, and generated events (hypothesis).
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest
from conftest import dump_expected, normalize
from esa_auth import AuthEvent, Settings
from esa_auth.render import RENDERERS, SOURCETYPES, render
from esa_auth.render.ecs import ECS_VERSION, NAMESPACE, render_ecs, tls_version
from hypothesis import HealthCheck, given, settings
from test_crosswalk import CRAFTED, auth_events, golden_events, make_event, template_events

DATA = Path(__file__).resolve().parent / "data" / "ecs"
_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)\Z")

#: ECS field types -> the JSON values that may carry them.
_STRINGS = ("keyword", "constant_keyword", "wildcard", "match_only_text", "text")


@lru_cache(maxsize=1)
def ecs_fields() -> Dict[str, Dict[str, Any]]:
    data: Dict[str, Dict[str, Any]] = json.loads((DATA / "ecs_flat-9.4.0.json").read_text(encoding="utf-8"))
    return data


def flatten(doc: Dict[str, Any], prefix: str = "") -> Iterator[Tuple[str, Any]]:
    """Dotted field names and values of a nested document (arrays are values)."""
    for name, value in doc.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, dict):
            yield from flatten(value, path)
        else:
            yield path, value


def _scalar_problem(name: str, value: Any, spec: Dict[str, Any]) -> Optional[str]:
    kind = spec["type"]
    if kind in _STRINGS:
        ok = isinstance(value, str)
    elif kind == "ip":
        try:
            ipaddress.ip_address(value)
            ok = isinstance(value, str)
        except ValueError:
            ok = False
    elif kind == "long":
        ok = isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63
    elif kind in ("float", "scaled_float"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "date":
        ok = isinstance(value, str) and bool(_DATE.match(value))
    else:
        return f"{name}: type {kind} is not expected in this output"
    if not ok:
        return f"{name}: {value!r} is not of ECS type {kind}"
    allowed = [v["name"] for v in spec.get("allowed_values", [])] or spec.get("expected_values")
    if allowed and value not in allowed:
        return f"{name}: {value!r} is not one of {allowed}"
    if "pattern" in spec and not re.fullmatch(spec["pattern"], value):
        return f"{name}: {value!r} does not match {spec['pattern']}"
    return None


def ecs_problems(doc: Dict[str, Any]) -> List[str]:
    """Everything in a document that ECS 9.4.0 does not allow."""
    known = ecs_fields()
    problems = []
    for name, value in flatten(doc):
        if name.startswith(NAMESPACE + "."):
            if isinstance(value, (list, dict)) or value is None:
                problems.append(f"{name}: custom fields are scalars")
            continue
        spec = known.get(name)
        if spec is None:
            problems.append(f"{name}: not an ECS field")
            continue
        is_array = "array" in spec.get("normalize", [])
        if is_array != isinstance(value, list):
            problems.append(f"{name}: {'must' if is_array else 'must not'} be an array")
            continue
        for item in value if is_array else [value]:
            problem = _scalar_problem(name, item, spec)
            if problem:
                problems.append(problem)
    for name, spec in known.items():
        if spec.get("required") and name != "@timestamp" and not any(n == name for n, _ in flatten(doc)):
            problems.append(f"{name}: required")
    categories = {v["name"]: v for v in known["event.category"]["allowed_values"]}
    event = doc.get("event", {})
    category, types = event.get("category", []), event.get("type", [])
    if isinstance(category, list) and isinstance(types, list):
        expected = {t for c in category for t in categories.get(c, {}).get("expected_event_types", [])}
        for event_type in types:
            if event_type not in expected:
                problems.append(f"event.type: {event_type!r} is not expected with event.category {category}")
    return problems


def assert_ecs(event: AuthEvent) -> Dict[str, Any]:
    """Render an event and check it against ECS; return the ECS document."""
    doc = render(event, "ecs")
    json.dumps(doc, allow_nan=False)
    problems = ecs_problems(doc)
    assert not problems, f"{event.signature_id}: {problems}\n{json.dumps(doc, indent=1)}"
    # @timestamp is required by ECS; a line without its envelope (E10) has no time and none is invented.
    assert ("@timestamp" in doc) == (event.time is not None)
    assert doc["ecs"]["version"] == ECS_VERSION
    return doc


# --- The corpus ----------------------------------------------------------------------------------------------------


def test_every_golden_event_is_valid_ecs() -> None:
    count = 0
    for case, event in golden_events():
        try:
            assert_ecs(event)
        except AssertionError as error:
            raise AssertionError(f"{case}: {error}") from None
        count += 1
    assert count >= 50


def test_every_template_example_is_valid_ecs() -> None:
    for event in template_events():
        assert_ecs(event)


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_events_are_valid_ecs(case: str) -> None:
    assert_ecs(CRAFTED[case])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(auth_events())
def test_any_event_renders_valid_ecs(event: AuthEvent) -> None:
    doc = assert_ecs(event)
    assert doc["event"]["original"] == event.raw
    assert doc["event"]["id"] == event.event_id


# --- The definitions and the namespace -----------------------------------------------------------------------------


def test_definitions_are_ecs_9_4() -> None:
    fields = ecs_fields()
    assert len(fields) == 1675
    assert fields["event.outcome"]["allowed_values"] == [{"name": n} for n in ("failure", "success", "unknown")]
    authentication = next(v for v in fields["event.category"]["allowed_values"] if v["name"] == "authentication")
    assert authentication["expected_event_types"] == ["start", "end", "info"]


def test_custom_namespace_is_not_an_ecs_field_set() -> None:
    top = NAMESPACE.split(".")[0]
    assert not [name for name in ecs_fields() if name == top or name.startswith(top + ".")]


# --- Specific mappings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activity", "action", "app", "session_id", "event_type", "outcome", "category"),
    [
        pytest.param("authenticate", "success", "smtp", "450", "info", "success", ["authentication"], id="SMTP AUTH"),
        pytest.param("authenticate", "error", "smtp", "450", "info", "unknown", ["authentication"],
                     id="error: outcome unknown, never failure"),
        pytest.param("logon", "failure", "esa:ssh", None, "start", "failure", ["authentication"], id="logon failure"),
        pytest.param("logon", "success", "esa:gui", "k3Jd9", "start", "success", ["authentication", "session"],
                     id="GUI session started"),
        pytest.param("logoff", "success", "esa:gui", "k3Jd9", "end", "success", ["authentication", "session"],
                     id="GUI expiry"),
        pytest.param("logoff", "success", "esa:gui", None, "end", "success", ["authentication", "session"],
                     id="GUI logout"),
    ],
)  # fmt: skip
def test_categorization(
    activity: str, action: str, app: str, session_id: Optional[str], event_type: str, outcome: str, category: List[str]
) -> None:
    appliance = {} if app == "smtp" else {"direction": None, "icid": None}
    doc = assert_ecs(make_event(activity=activity, action=action, app=app, session_id=session_id, **appliance))
    assert doc["event"]["category"] == category
    assert (doc["event"]["type"], doc["event"]["outcome"], doc["event"]["action"]) == ([event_type], outcome, activity)


def test_mission_events_in_ecs() -> None:
    """The four events of Cisco's published example (TAC 118570), field by field."""
    from conftest import MISSION_LOG

    if not MISSION_LOG.exists():
        pytest.skip(f"mission log not found at {MISSION_LOG}")
    docs = [assert_ecs(e) for e in normalize(MISSION_LOG.read_bytes(), Settings(tz="UTC")).events]
    assert [d["event"]["outcome"] for d in docs] == ["success", "failure", "success", "failure"]
    inbound, outbound = docs[0], docs[3]
    assert inbound["@timestamp"] == "2009-04-22T11:44:48Z"
    assert inbound["user"] == {"name": "ironport"}
    assert inbound["source"] == {"address": "172.16.155.102", "ip": "172.16.155.102"}
    assert inbound["network"] == {"protocol": "smtp", "direction": "ingress"}
    assert inbound["related"] == {"user": ["ironport"], "ip": ["172.16.155.102", "172.16.155.16"]}
    assert inbound["cisco"]["esa"]["cleartext"] is True
    assert outbound["destination"] == {"address": "172.16.155.102", "ip": "172.16.155.102", "port": 25}
    assert outbound["network"]["direction"] == "egress"
    assert "code" not in outbound["event"]  # the template id is the project's, not the product's (#21)
    assert outbound["cisco"]["esa"]["signature_id"] == "ESA-T11"
    assert outbound["message"] == outbound["event"]["original"]  # the log line, not the template's name
    assert outbound["event"]["reason"] == "5.7.8 Error: authentication failed: authentication failure"
    assert outbound["cisco"]["esa"]["reply_code"] == "535"
    assert "user" not in outbound


@pytest.mark.parametrize(
    ("utc_offset", "zone"),
    [
        pytest.param(7200, "+02:00", id="+2 h"),
        pytest.param(19800, "+05:30", id="+5:30"),
        pytest.param(-21600, "-06:00", id="-6 h"),
        pytest.param(0, "+00:00", id="UTC"),
    ],
)
def test_event_timezone_from_the_header_offset(utc_offset: int, zone: str) -> None:
    doc = assert_ecs(make_event(utc_offset=utc_offset, log_name="mail_logs"))
    assert doc["event"]["timezone"] == zone
    assert doc["cisco"]["esa"]["utc_offset"] == utc_offset
    assert doc["log"] == {"syslog": {"appname": "mail_logs"}}


def test_observer_and_related() -> None:
    doc = assert_ecs(make_event(dvc="esa01.example.com", dvc_serial="SN1", product_version="15.0.0-104", src_host="c"))
    assert doc["observer"] == {
        "vendor": "Cisco", "product": "Cisco Secure Email Gateway", "version": "15.0.0-104", "serial_number": "SN1",
        "hostname": "esa01.example.com",
    }  # fmt: skip
    assert doc["related"]["hosts"] == ["c", "esa01.example.com"]
    ip = assert_ecs(make_event(dvc="192.0.2.1", src="192.0.2.1", src_ip="192.0.2.1"))
    assert ip["observer"]["ip"] == ["192.0.2.1"]
    assert ip["related"]["ip"] == ["192.0.2.1"]  # once


def test_name_only_sides() -> None:
    """CIM src/dest hold an IP or else a name: ECS gets the address and the domain."""
    doc = assert_ecs(make_event(src="esa01.example.com", dest="192.0.2.7"))
    assert doc["source"] == {"address": "esa01.example.com", "domain": "esa01.example.com"}
    assert doc["destination"] == {"address": "192.0.2.7", "ip": "192.0.2.7"}


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        pytest.param("TLSv1.2", ("tls", "1.2"), id="TLSv1.2"),
        pytest.param("TLSv1.3", ("tls", "1.3"), id="TLSv1.3"),
        pytest.param("TLSv1", ("tls", "1.0"), id="TLSv1 is 1.0"),
        pytest.param("SSLv3", ("ssl", "3.0"), id="SSLv3"),
        pytest.param("tlsv1.1", ("tls", "1.1"), id="lower case"),
        pytest.param("TLS 1.2", None, id="other form"),
        pytest.param("QUIC", None, id="not TLS"),
    ],
)
def test_tls_version(protocol: str, expected: Optional[Tuple[str, str]]) -> None:
    assert tls_version(protocol) == expected
    doc = assert_ecs(make_event(tls=True, tls_protocol=protocol))
    assert doc["cisco"]["esa"]["tls_protocol"] == protocol
    if expected is None:
        assert "version" not in doc["tls"]
    else:
        assert (doc["tls"]["version_protocol"], doc["tls"]["version"]) == expected


def test_sourcetype_registered() -> None:
    assert RENDERERS["ecs"] is render_ecs
    assert SOURCETYPES["ecs"] == "cisco:esa:auth:ecs"


# --- The validator itself must be able to fail ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            lambda d: d["event"].update(outcome="error"), "event.outcome: 'error' is not one of", id="allowed"
        ),
        pytest.param(
            lambda d: d["event"].update(type=["creation"]), "event.type: 'creation' is not expected", id="type"
        ),
        pytest.param(lambda d: d["source"].update(ip="host"), "source.ip: 'host' is not of ECS type ip", id="ip"),
        pytest.param(lambda d: d["destination"].update(port="25"), "destination.port: '25' is not of", id="long"),
        pytest.param(lambda d: d["event"].update(category="authentication"), "must be an array", id="array"),
        pytest.param(lambda d: d["user"].update(roles="admin"), "user.roles: must be an array", id="roles array"),
        pytest.param(lambda d: d.update({"@timestamp": "yesterday"}), "@timestamp: 'yesterday'", id="date"),
        pytest.param(lambda d: d["tls"].update(established="yes"), "tls.established", id="boolean"),
        pytest.param(lambda d: d["user"].update(login="x"), "user.login: not an ECS field", id="unknown field"),
        pytest.param(lambda d: d["network"].update(direction="in"), "network.direction: 'in'", id="expected values"),
        pytest.param(lambda d: d.pop("ecs"), "ecs.version: required", id="required"),
    ],
)
def test_validator_catches(change: Any, problem: str) -> None:
    doc = render(CRAFTED["inbound SMTP AUTH, TLS"], "ecs")
    doc["user"]["roles"] = ["operators"]
    assert ecs_problems(doc) == []
    change(doc)
    problems = ecs_problems(doc)
    assert any(problem in p for p in problems), problems


# --- A golden sample, for review -----------------------------------------------------------------------------------

SAMPLES = sorted(DATA.glob("*.log"))


def test_no_orphan_expected_files() -> None:
    suffix = "-expected.json"
    orphans = [p.name for p in DATA.glob("*" + suffix) if not p.with_name(p.name[: -len(suffix)] + ".log").exists()]
    assert not orphans, f"expected files without their .log: {orphans}"
    assert SAMPLES, f"no sample .log under {DATA}"


@pytest.mark.parametrize("log", SAMPLES, ids=[p.name for p in SAMPLES])
def test_golden_sample(log: Path, update_golden: bool) -> None:
    """``<case>.log`` (read in UTC as appliance esa01.example.com) renders as ``<case>-expected.json``."""
    events = normalize(log.read_bytes(), Settings(tz="UTC"), source=log.name, appliance="esa01.example.com").events
    actual = dump_expected({"events": [assert_ecs(event) for event in events]})
    expected_path = log.with_name(log.stem + "-expected.json")
    if update_golden:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"{expected_path.name} is missing: run pytest --update-golden and review it"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_timestamp_is_the_first_key() -> None:
    """The sourcetype's TIME_PREFIX (``^\\{"@timestamp":"``) finds the time only as the first key."""
    for event in CRAFTED.values():
        assert next(iter(render(event, "ecs"))) == "@timestamp"
