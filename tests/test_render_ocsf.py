"""OCSF output: every event is a valid OCSF 1.7.0 Authentication (3002) event.

Two validators, because each alone is too lenient:

- pydantic-ocsf 3.0 (``ocsf.v1_7_0.events.Authentication``): the models of the
  official schema; it checks required attributes and enum ids, but accepts
  extra attributes, any string as an IP and any value as a time;
- :func:`ocsf_problems` below, a strict walker over the same official
  schema source that pydantic-ocsf ships (``ocsf/schemas/v1_7_0.json``:
  classes, objects, dictionary, data types): every attribute must be defined
  for its class or object, with its data type (``ip_t``, ``port_t`` range,
  ``timestamp_t`` integer ...), array-ness, enum ids, sibling captions,
  required attributes and ``at_least_one`` constraints; plus the class
  identities (``type_uid = class_uid * 100 + activity_id``). ocsf-emitter 0.3
  checks those identities too but is pinned to OCSF 1.5.0 and accepts extra
  attributes, so it adds nothing here.

The events come from every golden case of the project, from every example of
every authentication template, from the crosswalk's crafted events and from
generated events (hypothesis): see ``test_crosswalk.py``. The
OCSF 1.8.0 definitions (``tests/data/ocsf``, see its README) show that the
output is also 1.8.0 as it stands.
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
from esa_auth import patterns as P
from esa_auth.render import RENDERERS, SOURCETYPES, render
from esa_auth.render.ocsf import OCSF_VERSION, epoch_ms, render_ocsf
from hypothesis import HealthCheck, given, settings
from test_crosswalk import CRAFTED, auth_events, golden_events, make_event, template_events

ocsf = pytest.importorskip("ocsf", reason="pydantic-ocsf (a dev dependency) is not installed: pip install -e '.[dev]'")

DATA = Path(__file__).resolve().parent / "data" / "ocsf"
SCHEMA_17 = Path(ocsf.__file__).resolve().parent / "schemas" / "v1_7_0.json"

# The attributes the ``host`` profile adds to a class (OCSF profiles/host.json,
# unchanged from 1.0 to 1.8; pydantic-ocsf does not ship the profiles, the 1.8
# resolved file does: test_host_profile_is_as_assumed checks it).
HOST_PROFILE = {"device": {"requirement": "recommended"}, "actor": {"requirement": "optional"}}


#: Class identities: their enums are filled by the OCSF compiler, not in the
#: source; :func:`ocsf_problems` checks them.
IDENTITIES = ("class_uid", "category_uid", "type_uid")


# --- The strict validator --------------------------------------------------------------------------------------


class Attr:
    """One attribute of a class or object, resolved against the dictionary."""

    def __init__(self, name: str, local: Dict[str, Any], dictionary: Dict[str, Any]) -> None:
        known = dictionary["attributes"].get(name)
        assert known is not None, f"attribute {name!r} is not in the OCSF dictionary"
        self.name = name
        self.type: str = local.get("type") or known["type"]
        self.is_array: bool = bool(local.get("is_array", known.get("is_array", False)))
        self.requirement: str = local.get("requirement", known.get("requirement", "optional"))
        self.sibling: Optional[str] = local.get("sibling", known.get("sibling"))
        # A class or object enum adds values to the dictionary's (0 Unknown, 99 Other).
        self.enum: Dict[str, str] = {
            k: v["caption"] for k, v in {**known.get("enum", {}), **local.get("enum", {})}.items()
        }


class Schema:
    """The OCSF 1.7.0 Authentication class with the objects it uses."""

    def __init__(self, source: Dict[str, Any]) -> None:
        self.source = source
        self.dictionary = source["dictionary"]
        self.types = self.dictionary["types"]["attributes"]
        merged: Dict[str, Dict[str, Any]] = {}
        for name in ("base_event", "iam", "authentication"):  # authentication extends iam extends base_event
            for attr, spec in source["events"][name]["attributes"].items():
                if attr != "$include":
                    merged[attr] = {**merged.get(attr, {}), **spec}
        self.event = source["events"]["authentication"]
        self.class_attrs = {n: Attr(n, s, self.dictionary) for n, s in merged.items()}
        self.profile_attrs = {n: Attr(n, s, self.dictionary) for n, s in HOST_PROFILE.items()}
        self._objects: Dict[str, Tuple[Dict[str, Attr], Dict[str, Any]]] = {}

    def obj(self, name: str) -> Tuple[Dict[str, Attr], Dict[str, Any]]:
        """An object's attributes and constraints, its ``extends`` chain merged."""
        if name not in self._objects:
            chain = []
            current: Optional[str] = name
            while current is not None and current in self.source["objects"]:
                chain.append(self.source["objects"][current])
                current = chain[-1].get("extends")
            merged: Dict[str, Dict[str, Any]] = {}
            constraints: Dict[str, Any] = {}
            for spec in reversed(chain):
                for attr, local in spec.get("attributes", {}).items():
                    if attr != "$include":
                        merged[attr] = {**merged.get(attr, {}), **local}
                constraints = spec.get("constraints") or constraints
            attrs = {n: Attr(n, s, self.dictionary) for n, s in merged.items()}
            if name == "observable":
                # Like the class identities, the compiler fills observable.type_id: one
                # value per data type and object that declares an ``observable`` number.
                declared = [*self.types.values(), *self.source["objects"].values()]
                observable = {str(d["observable"]): d["caption"] for d in declared if "observable" in d}
                attrs["type_id"].enum.update(observable)
            self._objects[name] = (attrs, constraints)
        return self._objects[name]

    def category_caption(self) -> str:
        caption: str = self.source["categories_meta"]["attributes"]["iam"]["caption"]
        return caption


def _type_problems(path: str, value: Any, type_name: str, types: Dict[str, Any]) -> List[str]:
    """Check a scalar against an OCSF data type, following ``type`` to the base type."""
    checks: List[Dict[str, Any]] = []
    base = type_name
    while base in types and types[base].get("type"):
        checks.append(types[base])
        base = types[base]["type"]
    checks.append(types.get(base, {}))
    python = {
        "string_t": (str,), "integer_t": (int,), "long_t": (int,), "float_t": (int, float), "boolean_t": (bool,),
    }.get(base)  # fmt: skip
    if python is None:
        return [f"{path}: unknown base type {base!r}"]
    if not isinstance(value, python) or (base != "boolean_t" and isinstance(value, bool)):
        return [f"{path}: {value!r} is not {type_name}"]
    problems = []
    for check in checks:
        if "regex" in check and not re.match(check["regex"], value):
            problems.append(f"{path}: {value!r} does not match {type_name}")
        if "range" in check and not check["range"][0] <= value <= check["range"][1]:
            problems.append(f"{path}: {value!r} is out of the {type_name} range {check['range']}")
        if "max_len" in check and len(value) > check["max_len"]:
            problems.append(f"{path}: {value!r} is longer than {check['max_len']}")
    if type_name == "ip_t":
        try:
            ipaddress.ip_address(value)
        except ValueError:
            problems.append(f"{path}: {value!r} is not an IP address")
    return problems


def _object_problems(
    path: str, doc: Any, attrs: Dict[str, Attr], constraints: Dict[str, Any], schema: Schema
) -> List[str]:
    if not isinstance(doc, dict):
        return [f"{path or '<event>'}: not an object"]
    problems = []
    for name, value in doc.items():
        where = f"{path}.{name}" if path else name
        attr = attrs.get(name)
        if attr is None:
            problems.append(f"{where}: not an attribute of this class or object")
            continue
        if name in IDENTITIES and not path:
            continue  # the compiler fills their enums; ocsf_problems checks them
        values = value if attr.is_array else [value]
        if attr.is_array and not isinstance(value, list):
            problems.append(f"{where}: must be an array")
            continue
        for item in values:
            problems.extend(_value_problems(where, item, attr, schema))
        if attr.enum and attr.sibling and isinstance(value, int):
            key = str(value)
            if key != "99" and attr.sibling in doc and doc[attr.sibling] != attr.enum.get(key):
                problems.append(f"{where}: sibling {attr.sibling}={doc[attr.sibling]!r} is not {attr.enum.get(key)!r}")
    for name, attr in attrs.items():
        if attr.requirement == "required" and name not in doc:
            problems.append(f"{path + '.' if path else ''}{name}: required")
    group = constraints.get("at_least_one")
    if group and not any(name in doc for name in group):
        problems.append(f"{path or '<event>'}: none of {', '.join(group)}")
    return problems


def _value_problems(path: str, value: Any, attr: Attr, schema: Schema) -> List[str]:
    if attr.type == "object":  # free-form (``unmapped``)
        return [] if isinstance(value, dict) else [f"{path}: not an object"]
    if attr.type in schema.source["objects"]:
        attrs, constraints = schema.obj(attr.type)
        return _object_problems(path, value, attrs, constraints, schema)
    problems = _type_problems(path, value, attr.type, schema.types)
    if attr.enum and not problems and str(value) not in attr.enum:
        problems.append(f"{path}: {value!r} is not one of {sorted(attr.enum, key=int)}")
    return problems


def ocsf_problems(doc: Dict[str, Any], schema: Schema) -> List[str]:
    """Everything in an event that OCSF 1.7.0 class Authentication does not allow."""
    attrs = dict(schema.class_attrs)
    if "host" in doc.get("metadata", {}).get("profiles", []):
        attrs.update(schema.profile_attrs)
    problems = _object_problems("", doc, attrs, schema.event.get("constraints", {}), schema)
    activity = attrs["activity_id"].enum.get(str(doc.get("activity_id")))
    expected = {
        "class_uid": 3002,
        "class_name": "Authentication",
        "category_uid": 3,
        "category_name": schema.category_caption(),
        "type_uid": 3002 * 100 + doc.get("activity_id", -1),
        "type_name": f"Authentication: {activity}",
    }
    for name, value in expected.items():
        if doc.get(name) != value:
            problems.append(f"{name}: {doc.get(name)!r}, expected {value!r}")
    if doc.get("metadata", {}).get("version") != OCSF_VERSION:
        problems.append(f"metadata.version: not {OCSF_VERSION}")
    if ("device" in doc) != ("host" in doc.get("metadata", {}).get("profiles", [])):
        problems.append("device and metadata.profiles 'host' go together")
    return problems


@lru_cache(maxsize=1)
def schema_17() -> Schema:
    return Schema(json.loads(SCHEMA_17.read_text(encoding="utf-8")))


def assert_ocsf(event: AuthEvent) -> Dict[str, Any]:
    """Render an event and check it with both validators; return the OCSF dict."""
    from ocsf.v1_7_0.events import Authentication

    doc = render(event, "ocsf")
    json.dumps(doc, allow_nan=False)  # JSON-able, no NaN
    problems = ocsf_problems(doc, schema_17())
    if event.user is None:
        # OCSF requires ``user`` with a name, uid or account; lines that name no
        # account (T3-T5, T7, T9-T11, L7) can only say the user is unknown.
        assert doc["user"].get("type_id") in (0, 1, 2)
        problems.remove("user: none of account, name, uid")
    if event.time is None:
        # A line without its envelope (E10) has no time; none is invented.
        problems.remove("time: required")
    assert not problems, f"{event.signature_id}: {problems}\n{json.dumps(doc, indent=1)}"
    # pydantic-ocsf requires ``time`` too: check the rest of a time-less event.
    Authentication.model_validate(doc if "time" in doc else {**doc, "time": 0})
    return doc


# --- Events to validate ----------------------------------------------------------------------------------------


def test_corpus_is_not_empty() -> None:
    assert sum(1 for _ in golden_events()) >= 50
    names = {event.signature_id for event in template_events()}
    assert names == {p.signature_id for p in P.PATTERNS if p.role == P.AUTH}


def test_every_golden_event_is_valid_ocsf() -> None:
    count = 0
    for case, event in golden_events():
        try:
            assert_ocsf(event)
        except AssertionError as error:
            raise AssertionError(f"{case}: {error}") from None
        count += 1
    assert count > 0


def test_every_template_example_is_valid_ocsf() -> None:
    for event in template_events():
        assert_ocsf(event)


@pytest.mark.parametrize("case", list(CRAFTED))
def test_crafted_events_are_valid_ocsf(case: str) -> None:
    assert_ocsf(CRAFTED[case])


# --- Generated events (any AuthEvent the schema allows) ---------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(auth_events())
def test_any_event_renders_valid_ocsf(event: AuthEvent) -> None:
    doc = assert_ocsf(event)
    assert doc["raw_data"] == event.raw
    assert doc["metadata"]["uid"] == event.event_id


# --- Specific mappings -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activity", "action", "activity_id", "type_uid", "status_id", "status"),
    [
        # SMTP AUTH authenticates the SMTP session (RFC 4954): a Logon, not 99 "Other" (#21).
        pytest.param("authenticate", "success", 1, 300201, 1, "Success", id="SMTP AUTH success: Logon"),
        pytest.param("authenticate", "failure", 1, 300201, 2, "Failure", id="SMTP AUTH failure: Logon"),
        pytest.param("authenticate", "error", 1, 300201, 99, "Error", id="error: status Other, never Failure"),
        pytest.param("logon", "failure", 1, 300201, 2, "Failure", id="logon failure"),
        pytest.param("logoff", "success", 2, 300202, 1, "Success", id="logoff"),
    ],
)
def test_activity_and_status(
    activity: str, action: str, activity_id: int, type_uid: int, status_id: int, status: str
) -> None:
    doc = assert_ocsf(make_event(activity=activity, action=action))
    assert (doc["activity_id"], doc["type_uid"], doc["status_id"], doc["status"]) == (
        activity_id, type_uid, status_id, status,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("time", "expected"),
    [
        pytest.param("2009-04-22T11:44:48Z", 1240400688000, id="whole seconds"),
        pytest.param("2009-04-22T11:44:48.5Z", 1240400688500, id="tenths"),
        pytest.param("2009-04-22T11:44:48.123999Z", 1240400688123, id="microseconds truncated"),
        pytest.param("1970-01-01T00:00:00Z", 0, id="epoch"),
        pytest.param("2009-04-22 11:44:48", None, id="not RFC 3339 UTC"),
        pytest.param("2009-02-30T00:00:00Z", None, id="impossible date"),
    ],
)
def test_epoch_ms(time: str, expected: Optional[int]) -> None:
    assert epoch_ms(time) == expected


def test_mission_events_in_ocsf() -> None:
    """The four events of Cisco's published example (TAC 118570), field by field."""
    from conftest import MISSION_LOG

    if not MISSION_LOG.exists():
        pytest.skip(f"mission log not found at {MISSION_LOG}")
    events = normalize(MISSION_LOG.read_bytes(), Settings(tz="UTC")).events
    docs = [assert_ocsf(event) for event in events]
    assert [d["status_id"] for d in docs] == [1, 2, 1, 2]
    inbound, _, _, outbound_failure = docs
    assert inbound["user"] == {"name": "ironport"}
    assert inbound["src_endpoint"] == {"ip": "172.16.155.102"}
    assert (inbound["auth_protocol"], inbound["auth_protocol_id"]) == ("PLAIN", 99)
    assert (inbound["is_cleartext"], inbound["logon_type_id"]) == (True, 8)
    assert inbound["session"] == {"uid": "450"}
    assert outbound_failure["status_code"] == "535"
    assert outbound_failure["unmapped"]["enhanced_status"] == "5.7.8"
    assert outbound_failure["dst_endpoint"] == {"ip": "172.16.155.102", "port": 25}
    assert outbound_failure["user"] == {"type_id": 0, "type": "Unknown"}


def test_device_and_names() -> None:
    doc = assert_ocsf(make_event(dvc="esa01.example.com", dvc_serial="SN1", user="admin", privileged=True))
    assert doc["device"] == {
        "type_id": 99, "type": "Email Security Appliance", "hostname": "esa01.example.com", "uid": "SN1",
        "hw_info": {"serial_number": "SN1"},
    }  # fmt: skip
    assert doc["metadata"]["profiles"] == ["host"]
    assert doc["user"] == {"name": "admin", "type_id": 2, "type": "Admin"}
    assert assert_ocsf(make_event(dvc="192.0.2.1"))["device"]["ip"] == "192.0.2.1"
    bare = assert_ocsf(make_event())
    assert "device" not in bare
    assert "profiles" not in bare["metadata"]


def test_endpoint_name_when_no_address() -> None:
    """CIM src/dest hold an IP or else a name: the name becomes the endpoint's hostname."""
    doc = assert_ocsf(make_event(src="esa01.example.com", dest="192.0.2.7", dest_host="mx.example.com"))
    assert doc["src_endpoint"] == {"hostname": "esa01.example.com"}
    assert doc["dst_endpoint"] == {"hostname": "mx.example.com", "ip": "192.0.2.7"}


@pytest.mark.parametrize(
    ("app", "src", "expected"),
    [
        pytest.param("smtp", None, True, id="SMTP AUTH"),
        pytest.param("esa:gui", "192.0.2.10", True, id="GUI"),
        pytest.param("esa:ssh", None, True, id="SSH, address not logged"),
        pytest.param("esa:cli", "192.0.2.10", True, id="CLI from an address"),
        pytest.param("esa:cli", None, None, id="CLI, channel unknown"),
        pytest.param("esa", None, None, id="channel not logged"),
    ],
)
def test_is_remote(app: str, src: Optional[str], expected: Optional[bool]) -> None:
    appliance: Dict[str, Any] = {} if app == "smtp" else {"direction": None, "icid": None, "activity": "logon"}
    doc = assert_ocsf(make_event(app=app, src=src, **appliance))
    assert doc.get("is_remote") is expected


def test_mechanism_is_the_protocol_and_a_login_method_a_factor() -> None:
    smtp = assert_ocsf(make_event(authentication_method="CRAM-MD5"))
    assert (smtp["auth_protocol_id"], smtp["auth_protocol"]) == (99, "CRAM-MD5")
    assert "auth_factors" not in smtp
    for method in ("password based", "CLI based"):
        login = assert_ocsf(
            make_event(app="esa:ssh", activity="logon", direction=None, icid=None, authentication_method=method)
        )
        assert login["auth_factors"] == [{"factor_type_id": 11, "factor_type": "Password"}]
        assert "auth_protocol" not in login
        assert "auth_protocol_id" not in login
        assert login["unmapped"]["authentication_method"] == method


def test_interface_name() -> None:
    """C1's ``interface NAME`` is the receiving interface of the appliance, not a listener (#21)."""
    doc = assert_ocsf(make_event(dest="192.0.2.1", dest_interface="Management"))
    assert doc["dst_endpoint"] == {"ip": "192.0.2.1", "interface_name": "Management"}
    assert "listener" not in doc.get("unmapped", {})
    alone = assert_ocsf(make_event(dest_interface="Data 1"))
    assert "dst_endpoint" not in alone
    assert alone["unmapped"]["dest_interface"] == "Data 1"


def test_observables_name_the_values_of_the_event() -> None:
    event = CRAFTED["inbound SMTP AUTH, TLS"]
    doc = assert_ocsf(event)
    found = {(o["name"], o["type_id"], o["type"]): o["value"] for o in doc["observables"]}
    assert found == {
        ("user.name", 4, "User Name"): "alice@example.com",
        ("user.email_addr", 5, "Email Address"): "alice@example.com",
        ("src_endpoint.hostname", 1, "Hostname"): "client.example.net",
        ("src_endpoint.ip", 2, "IP Address"): "198.51.100.102",
        ("dst_endpoint.hostname", 1, "Hostname"): "mail.example.com",
        ("dst_endpoint.ip", 2, "IP Address"): "192.0.2.16",
        ("device.hostname", 1, "Hostname"): "esa01.example.com",
    }
    for (path, _, _), value in found.items():
        parent, name = path.split(".")
        assert doc[parent][name] == value, path
    assert "observables" not in assert_ocsf(make_event(dest=None))


@pytest.mark.parametrize(
    ("user", "email", "domain"),
    [
        pytest.param("jdoe@example.com", "jdoe@example.com", "example.com", id="mailbox"),
        pytest.param("CORP\\svc-scan", None, "CORP", id="down-level name"),
        pytest.param("jdoe", None, None, id="plain name"),
        pytest.param("j doe@example.com", None, None, id="not an address"),
        pytest.param("jdoe@localhost", None, None, id="no domain part"),
    ],
)
def test_user_mailbox_and_domain(user: str, email: Optional[str], domain: Optional[str]) -> None:
    doc = assert_ocsf(make_event(user=user))
    assert (doc["user"]["name"], doc["user"].get("email_addr"), doc["user"].get("domain")) == (user, email, domain)


@pytest.mark.parametrize(
    ("utc_offset", "minutes"),
    [
        pytest.param(7200, 120, id="header +2 h"),
        pytest.param(19800, 330, id="+5:30"),
        pytest.param(-21600, -360, id="-6 h"),
        pytest.param(0, 0, id="UTC"),
        pytest.param(18 * 3600 + 60, None, id="beyond OCSF's range: left out"),
    ],
)
def test_timezone_offset_in_minutes(utc_offset: int, minutes: Optional[int]) -> None:
    doc = assert_ocsf(make_event(utc_offset=utc_offset))
    assert doc.get("timezone_offset") == minutes


def test_log_name_and_original_time_from_the_line() -> None:
    data = b"<22>Apr 22 13:44:48 esa01.example.com mail_logs: Info: " + P.BY_NAME["T1"].examples[0].encode() + b"\n"
    (event,) = normalize(data, Settings(tz="UTC", year=2009)).events
    doc = assert_ocsf(event)
    assert (doc["metadata"]["log_name"], doc["metadata"]["original_time"]) == ("mail_logs", "Apr 22 13:44:48")
    assert "timezone_offset" not in doc  # no file header: the zone was configured, not logged


def test_sourcetype_registered() -> None:
    assert RENDERERS["ocsf"] is render_ocsf
    assert SOURCETYPES["ocsf"] == "cisco:esa:auth:ocsf"


# --- The validator itself must be able to fail -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(lambda d: d.update(status_id=7), "status_id: 7 is not one of", id="enum id"),
        pytest.param(lambda d: d["src_endpoint"].update(ip="not-an-ip"), "src_endpoint.ip", id="ip_t"),
        pytest.param(lambda d: d["dst_endpoint"].update(port=70000), "dst_endpoint.port", id="port_t range"),
        pytest.param(lambda d: d.update(time="2009"), "time: '2009' is not timestamp_t", id="timestamp_t"),
        pytest.param(lambda d: d.update(type_uid=300202), "type_uid", id="type_uid identity"),
        pytest.param(lambda d: d.update(status="Failure"), "status_id: sibling", id="sibling caption"),
        pytest.param(lambda d: d["user"].update(email="x"), "user.email: not an attribute", id="unknown attribute"),
        pytest.param(
            lambda d: [d.pop("service"), d.pop("dst_endpoint")],
            "<event>: none of service, dst_endpoint",
            id="class constraint",
        ),
        pytest.param(lambda d: d.update(device={"type_id": 99}), "device: not an attribute", id="device w/o profile"),
        pytest.param(lambda d: d["metadata"].pop("version"), "metadata.version: required", id="required"),
        pytest.param(lambda d: d["metadata"].update(profiles="host"), "must be an array", id="array"),
        pytest.param(lambda d: d.update(is_cleartext="yes"), "is_cleartext", id="boolean_t"),
    ],
)
def test_validator_catches(change: Any, problem: str) -> None:
    doc = render(make_event(src="192.0.2.1", dest="192.0.2.2", dest_ip="192.0.2.2", dest_port=25, user="u"), "ocsf")
    assert ocsf_problems(doc, schema_17()) == []
    change(doc)
    problems = ocsf_problems(doc, schema_17())
    assert any(problem in p for p in problems), problems


# --- OCSF 1.8.0 ------------------------------------------------------------------------------------------------


def _resolved_18() -> Dict[str, Any]:
    data: Dict[str, Any] = json.loads((DATA / "authentication.resolved.json").read_text(encoding="utf-8"))
    return data


def test_class_definition_unchanged_in_1_8() -> None:
    """1.7.0 -> 1.8.0 changes nothing in the class but a D3FEND reference (docs/crosswalk.md)."""
    v17 = dict(schema_17().source["events"]["authentication"])
    v18 = json.loads((DATA / "authentication.json").read_text(encoding="utf-8"))
    assert [r["url"] for r in v18.pop("references")] == ["https://d3fend.mitre.org/event/d3f:AuthenticationEvent"]
    v17.pop("references", None)
    assert v17 == v18


def test_host_profile_is_as_assumed() -> None:
    profile = {a["name"]: a for a in _resolved_18()["profiles"]["host"]}
    assert {name: profile[name]["requirement"] for name in profile} == {
        name: spec["requirement"] for name, spec in HOST_PROFILE.items()
    }
    assert profile["device"]["type"] == "device"


def _leaves(doc: Any, path: str = "") -> Iterator[Tuple[str, Any]]:
    if isinstance(doc, dict):
        for name, value in doc.items():
            yield from _leaves(value, f"{path}.{name}" if path else name)
    elif isinstance(doc, list):
        for item in doc:
            yield from _leaves(item, path)
    else:
        yield path, doc


def test_emitted_attributes_have_the_same_definition_in_1_8() -> None:
    """Every attribute path the renderer emits exists in 1.8.0 with the 1.7.0 type and enum ids.

    The 1.8.0 resolved file covers the class, its profiles and the objects
    user, endpoint, network_endpoint, service, session, metadata, product,
    auth_factor and device; deeper objects (device.hw_info) and the observables
    are checked in 1.7.0 only.
    """
    v18 = _resolved_18()
    top = {a["name"]: a for a in v18["attributes"]}
    top.update({a["name"]: a for a in v18["profiles"]["host"]})
    objects = v18["objects"]

    def object_attrs(name: str) -> Optional[Dict[str, Dict[str, Any]]]:
        if name not in objects:
            return None
        attrs: Dict[str, Dict[str, Any]] = {}
        current: Optional[str] = name
        while current in objects:
            for attr in objects[current]["attributes"]:
                attrs.setdefault(attr["name"], attr)
            current = objects[current].get("extends")
        return attrs

    full = make_event(
        user="jdoe@example.com", src="192.0.2.1", src_host="client.example.com", dest="192.0.2.2", dest_ip="192.0.2.2",
        dest_host="esa.example.com", dest_port=25, dvc="esa01", dvc_serial="SN", authentication_method="PLAIN",
        reason="r", reply_code="535", enhanced_status="5.7.8", cleartext=True, privileged=True, tls=True,
        product_version="15.0.0-104", user_role="admin", dest_interface="Data 1",
    )  # fmt: skip
    login = make_event(
        activity="logon", app="esa:ssh", direction=None, icid=None, user="CORP\\admin", src="192.0.2.1",
        authentication_method="password based",
    )  # fmt: skip
    unchecked = set()
    for path, value in [*_leaves(render(full, "ocsf")), *_leaves(render(login, "ocsf"))]:
        names = path.split(".")
        if names[0] == "unmapped":
            continue
        attrs: Optional[Dict[str, Dict[str, Any]]] = top
        for depth, name in enumerate(names):
            if attrs is None:
                unchecked.add(".".join(names[:depth]))
                break
            assert name in attrs, f"{path}: no attribute {name!r} in OCSF 1.8.0"
            attr = attrs[name]
            if depth == len(names) - 1:
                if attr.get("enum"):
                    assert str(value) in attr["enum"], f"{path}: {value!r} is not an enum id in 1.8.0"
            else:
                attrs = object_attrs(attr["type"])
    assert unchecked == {"device.hw_info", "observables"}


# --- A golden sample, for review ---------------------------------------------------------------------------------

SAMPLES = sorted(DATA.glob("*.log"))


def test_no_orphan_expected_files() -> None:
    orphans = [
        p.name
        for p in DATA.glob("*-expected.json")
        if not p.with_name(p.name[: -len("-expected.json")] + ".log").exists()
    ]
    assert not orphans, f"expected files without their .log: {orphans}"
    assert SAMPLES, f"no sample .log under {DATA}"


@pytest.mark.parametrize("log", SAMPLES, ids=[p.name for p in SAMPLES])
def test_golden_sample(log: Path, update_golden: bool) -> None:
    """``<case>.log`` (read in UTC as appliance esa01.example.com) renders as ``<case>-expected.json``."""
    events = normalize(log.read_bytes(), Settings(tz="UTC"), source=log.name, appliance="esa01.example.com").events
    actual = dump_expected({"events": [assert_ocsf(event) for event in events]})
    expected_path = log.with_name(log.stem + "-expected.json")
    if update_golden:
        expected_path.write_text(actual, encoding="utf-8")
    assert expected_path.exists(), f"{expected_path.name} is missing: run pytest --update-golden and review it"
    assert actual == expected_path.read_text(encoding="utf-8")


def test_time_is_the_first_key() -> None:
    """The sourcetype's TIME_PREFIX (``^\\{"time":``) finds the time only as the first key."""
    for event in CRAFTED.values():
        assert next(iter(render(event, "ocsf"))) == "time"
