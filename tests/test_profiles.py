"""The outbound SMTP AUTH profile map (#15): the account behind a profile, as the administrator writes it."""

from __future__ import annotations

from typing import List

import pytest
from conftest import normalize
from esa_auth import ConfigError, Settings
from esa_auth.events import AuthEvent
from esa_auth.profiles import ProfileMap, parse_profile_map

UTC = Settings(tz="UTC")
E1 = "Mon Jun  3 12:00:{:02d} 2024 Info: "
T10 = "DCID: 5633 IP: 172.16.155.102 SMTP authentication using the profile {} succeeded."
T11 = ("DCID: 5640 IP: 172.16.155.102 SMTP authentication using the profile {} failed: "
       "('535', ['5.7.8 Error: authentication failed: authentication failure'])")  # fmt: skip
T1 = "SMTP Auth: (ICID 450) succeeded for user: alice using AUTH mechanism: PLAIN with profile: {}"
T3 = "SMTP Auth (ICID 31) profile: {} is misconfigured or missing causing an Auth failure"


def events(*bodies: str) -> List[AuthEvent]:
    data = "".join(E1.format(i) + body + "\n" for i, body in enumerate(bodies)).encode("utf-8")
    return normalize(data, UTC).events


MAP = parse_profile_map("profile,user\nOutbound Relay,svc-relay@example.com\nCorp,mallory\n")


def test_outbound_events_of_a_listed_profile_get_its_user() -> None:
    success, failure, other = (MAP.apply(e) for e in events(T10.format("Outbound Relay"), T11.format("Outbound Relay"),
                                                             T10.format("Unlisted")))  # fmt: skip
    assert (success.user, failure.user, other.user) == ("svc-relay@example.com", "svc-relay@example.com", None)
    assert success.epoch is not None, "the event keeps its epoch"
    assert success.to_dict() == dict(events(T10.format("Outbound Relay"))[0].to_dict(), user="svc-relay@example.com")


def test_inbound_events_and_known_users_are_left_alone() -> None:
    # "Corp" is mapped, but as an inbound profile it says nothing about the account (T1 has its own user,
    # T3 has none and must not get one).
    for event in events(T1.format("Corp"), T3.format("Corp")):
        assert MAP.apply(event) is event


def test_matching_is_exact() -> None:
    assert MAP.apply(events(T10.format("outbound relay"))[0]).user is None


@pytest.mark.parametrize(
    "text",
    ["profile,user\n", "profile,user\n\n", "\ufeffprofile,user\r\nRelay,\r\n", "user,profile,comment\n"],
)
def test_an_empty_map_maps_nothing(text: str) -> None:
    assert parse_profile_map(text).users == {}


def test_cells_lose_their_spaces_and_extra_columns_are_ignored() -> None:
    parsed = parse_profile_map('comment, profile , user\nours, Relay 1 ,"svc, relay"\n')
    assert parsed == ProfileMap({"Relay 1": "svc, relay"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must name the columns profile and user (missing: profile, user)"),
        ("name,account\nRelay,svc\n", "missing: profile, user"),
        ("profile\nRelay\n", "missing: user"),
        ("profile,user\n,svc\n", "map.csv:2: user 'svc' has no profile"),
        ("profile,user\nRelay,svc\nOther,x\nRelay,svc2\n", "map.csv:4: profile 'Relay' is already mapped on line 2"),
        ('profile,user\n"Relay,svc\n', "map.csv:"),
    ],
)
def test_a_bad_map_is_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"^map\.csv") as raised:
        parse_profile_map(text, "map.csv")
    assert message in str(raised.value)
