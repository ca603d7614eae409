"""The shipped JSON Schema of events: valid 2020-12, in step with AuthEvent, and strict."""

from __future__ import annotations

import re
from dataclasses import MISSING, fields
from typing import Any, Dict, Union, get_args, get_origin, get_type_hints

import jsonschema
import pytest
from esa_auth import AuthEvent, load_schema
from esa_auth.events import FIELD_ORDER

SCHEMA = load_schema()
PROPERTIES: Dict[str, Any] = SCHEMA["properties"]


def _minimal(**extra: Any) -> Dict[str, Any]:
    event = AuthEvent(
        action="success", activity="logon", app="esa:gui", signature="Appliance login succeeded",
        signature_id="ESA-A3", raw="Wed Apr 22 11:44:48 2009 Info: User admin from 192.0.2.10 was authenticated "
        "successfully.", event_id="0" * 32,
    ).to_dict()  # fmt: skip
    event.update(extra)
    return event


def _smtp(**extra: Any) -> Dict[str, Any]:
    event = _minimal(activity="authenticate", app="smtp", direction="inbound", session_id="450", icid=450)
    event.update(extra)
    return event


def test_schema_is_valid_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_properties_equal_the_event_fields() -> None:
    names = {f.name for f in fields(AuthEvent)}
    assert set(PROPERTIES) == names
    assert set(FIELD_ORDER) == names
    assert SCHEMA["additionalProperties"] is False


@pytest.mark.parametrize("name", list(FIELD_ORDER))
def test_every_property_is_documented(name: str) -> None:
    description = PROPERTIES[name].get("description", "")
    assert description.strip(), f"{name}: no description"
    docstring = AuthEvent.__doc__ or ""
    assert re.search(rf"^\s+{name} \(\w+\): \S", docstring, re.MULTILINE), f"{name}: not in AuthEvent's docstring"


_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _python_type(hint: Any) -> type:
    if get_origin(hint) is Union:
        (inner,) = [a for a in get_args(hint) if a is not type(None)]
        return inner  # type: ignore[no-any-return]
    return hint  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", list(FIELD_ORDER))
def test_property_type_matches_the_field_type(name: str) -> None:
    hint = _python_type(get_type_hints(AuthEvent)[name])
    prop = PROPERTIES[name]
    declared = prop.get("type")
    if declared is None and "$ref" in prop:
        declared = SCHEMA["$defs"][prop["$ref"].rsplit("/", 1)[1]]["type"]
    if declared is None:  # an enum or a constant, of strings
        assert all(isinstance(v, str) for v in prop.get("enum", [prop.get("const")]))
        assert hint is str
        return
    assert declared == _JSON_TYPES[hint], name


def test_required_fields_are_the_fields_without_default() -> None:
    no_default = {f.name for f in fields(AuthEvent) if f.default is MISSING and f.default_factory is MISSING}
    # vendor and vendor_product have constant defaults and are always written.
    assert set(SCHEMA["required"]) == no_default | {"vendor", "vendor_product"}


def test_minimal_events_validate(schema_validator: Any) -> None:
    assert list(schema_validator.iter_errors(_minimal())) == []
    assert list(schema_validator.iter_errors(_smtp())) == []


@pytest.mark.parametrize(
    ("event", "why"),
    [
        (_minimal(user=""), "empty string"),
        (_minimal(user="-"), "placeholder -"),
        (_minimal(src="unknown"), "placeholder unknown"),
        (_minimal(user=None), "null"),
        (_minimal(src_ip="not-an-ip"), "bad IP"),
        (_minimal(src_ip="192.0.2.300"), "bad IPv4"),
        (_minimal(time="2009-04-22 11:44:48"), "not RFC 3339"),
        (_minimal(time="2009-04-22T11:44:48+02:00"), "not UTC"),
        (_minimal(action="ok"), "unknown action"),
        (_minimal(app="smtp"), "smtp without direction"),
        (_minimal(direction="inbound"), "direction outside smtp"),
        (_smtp(icid=None), "inbound without icid"),
        (_smtp(dcid=7), "inbound with dcid"),
        (_smtp(direction="outbound", dcid=7, icid=None), "outbound without dest"),
        (_minimal(activity="logoff", action="failure"), "failed logoff"),
        (_minimal(dest_port=70000), "port out of range"),
        (_minimal(icid="450"), "icid as string"),
        (_minimal(event_id="xyz"), "bad event id"),
        (_minimal(extra="field"), "unknown field"),
        ({k: v for k, v in _minimal().items() if k != "raw"}, "no raw"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_schema_rejects(event: Dict[str, Any], why: str, schema_validator: Any) -> None:
    event = {k: v for k, v in event.items() if not (v is None and why != "null")}
    assert list(schema_validator.iter_errors(event)), f"accepted an event with {why}"
