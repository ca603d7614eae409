"""AuthEvent: the fast constructor the pipeline uses is the dataclass's own, field for field."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Dict

import pytest
from conftest import GOLDEN_DIR, run_golden_case_events
from esa_auth.cli import build_parser
from esa_auth.events import FIELD_ORDER, AuthEvent, json_text
from esa_auth.mapping import event_id
from esa_auth.timezones import rfc3339
from hypothesis import given
from hypothesis import strategies as st

REQUIRED = {
    "action": "failure",
    "activity": "authenticate",
    "app": "smtp",
    "signature": "SMTP AUTH failed",
    "signature_id": "ESA-T2",
    "raw": "Info: SMTP Auth: (ICID 1) failed for user: a using AUTH mechanism: PLAIN with profile: p",
    "event_id": "0" * 32,
}
OPTIONAL = {
    "time": st.just("2009-04-22T11:44:48Z"),
    "direction": st.just("inbound"),
    "user": st.text(min_size=1, max_size=8),
    "src": st.just("192.0.2.7"),
    "dest_port": st.integers(1, 65535),
    "icid": st.integers(0, 10**6),
    "sbrs": st.floats(-10, 10),
    "tls": st.booleans(),
    "cleartext": st.booleans(),
    "product_version": st.just("15.0.0-104"),
}


@given(st.fixed_dictionaries({}, optional=OPTIONAL))
def test_from_fields_is_the_constructor(extra: Dict[str, Any]) -> None:
    values = {**REQUIRED, **extra}
    fast, slow = AuthEvent.from_fields(dict(values)), AuthEvent(**values)
    assert fast == slow
    assert fast.to_dict() == slow.to_dict()
    assert list(fast.to_dict()) == [name for name in FIELD_ORDER if name in fast.to_dict()]


def test_from_fields_keeps_the_event_frozen() -> None:
    event = AuthEvent.from_fields(dict(REQUIRED))
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.user = "mallory"  # type: ignore[misc]


def test_from_fields_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="colour"):
        AuthEvent.from_fields({**REQUIRED, "colour": "red"})


def test_from_fields_refuses_a_missing_required_field() -> None:
    values = dict(REQUIRED)
    del values["event_id"]
    with pytest.raises(TypeError, match="event_id"):
        AuthEvent.from_fields(values)


@pytest.mark.parametrize(("name", "value"), [("epoch", 1240400688.25), ("offset", 4096)])
def test_the_epoch_and_the_offset_ride_along_but_are_no_part_of_the_event(name: str, value: float) -> None:
    values = {**REQUIRED, "time": "2009-04-22T11:44:48.250000Z"}
    event = AuthEvent.from_fields(dict(values), **{name: value})
    assert getattr(event, name) == value
    assert name not in event.to_dict()
    assert event == AuthEvent(**values)  # equality reads the fields only
    assert getattr(AuthEvent(**values), name) is None
    assert re.search(rf"\b{name}=", repr(event)) is None  # (utc_offset is a field)
    assert str(value) not in repr(event)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(event, name, 0)
    again = pickle.loads(pickle.dumps(event))
    assert (again, getattr(again, name)) == (event, value)
    assert getattr(copy.deepcopy(event), name) == value


@pytest.mark.parametrize("log", sorted(GOLDEN_DIR.glob("*/*.log")), ids=lambda p: p.relative_to(GOLDEN_DIR).as_posix())
def test_every_golden_event_carries_the_offset_its_id_was_made_from(log: Path) -> None:
    # The offset is where the event's line starts in the file, and the position its event_id hashes.
    data = log.read_bytes()
    for event in run_golden_case_events(log):
        assert event.offset is not None, event.raw
        assert event.offset == 0 or data[event.offset - 1 : event.offset] == b"\n", event.raw
        assert event.event_id == event_id(event.dvc_serial, event.offset, event.raw), event.raw


@pytest.mark.parametrize("log", sorted(GOLDEN_DIR.glob("*/*.log")), ids=lambda p: p.relative_to(GOLDEN_DIR).as_posix())
def test_every_golden_event_carries_the_epoch_its_time_was_written_from(log: Path) -> None:
    events = run_golden_case_events(log)
    for event in events:
        if event.time is None:
            assert event.epoch is None, event.raw
        else:
            assert event.epoch is not None, event.raw
            assert rfc3339(event.epoch) == event.time, event.raw


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--help"], ["normalize", "detect"]),
        (["normalize", "--help"], ["--tz", "--host", "--year", "--max-sessions", "--session-timeout", "--format"]),
        (["detect", "--help"], ["--tz", "--rules"]),
    ],
)
def test_help_is_complete_whichever_command_is_named(
    argv: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    command = argv[0] if argv[0] != "--help" else None
    with pytest.raises(SystemExit) as done:
        build_parser(command).parse_args(argv)
    assert done.value.code == 0
    text = capsys.readouterr().out
    for word in words:
        assert word in text


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@given(_JSON_VALUES)
def test_json_text_writes_what_the_standard_encoder_writes(document: Any) -> None:
    # json_text keeps one C encoder for every document (events.py); its text must be encode()'s.
    expected = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(document)
    assert json_text(document) == expected


@pytest.mark.parametrize(
    "document",
    [
        "plain",
        'm\u00fcller \u5c71\u7530 "quoted" \\ \n\t\x00\x1f \ud800',
        {"a": [1, 2.5, float("nan"), float("inf"), -0.0, True, None], "b": {"c": ["\u00e9"]}},
        [],
        {},
        10**30,
    ],
)
def test_json_text_on_chosen_documents(document: Any) -> None:
    assert json_text(document) == json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(document)


def test_json_text_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError):
        json_text({"when": object()})


@given(
    st.one_of(
        st.integers(min_value=0, max_value=253402300799).map(float),
        st.floats(min_value=0, max_value=253402300799, allow_nan=False, allow_infinity=False),
    )
)
def test_an_event_time_is_written_as_rfc_3339_with_four_digit_years_and_six_fraction_digits_or_none(
    epoch: float,
) -> None:
    # The times the reader writes (from 1970 to 9999: reader._MAX_EPOCH), as the strftime form of RFC 3339.
    moment = datetime(1970, 1, 1) + timedelta(seconds=epoch)  # noqa: DTZ001 - UTC wall clock
    form = "%Y-%m-%dT%H:%M:%S.%fZ" if moment.microsecond else "%Y-%m-%dT%H:%M:%SZ"
    assert rfc3339(epoch) == moment.strftime(form)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", rfc3339(epoch))
