"""The bounded table of open SMTP sessions, keyed by (appliance, ICID) and (appliance, DCID)."""

from __future__ import annotations

import json
from typing import Any, Dict

import pytest
from esa_auth.errors import StateError
from esa_auth.sessions import _FIELDS, INBOUND, OUTBOUND, SessionTable


def test_open_get_close() -> None:
    table = SessionTable()
    session = table.open(("esa01", INBOUND, 7), 100.0)
    session.client_ip = "198.51.100.7"
    found = table.get(("esa01", INBOUND, 7), 101.0)
    assert found is session
    assert found.seen == 101.0
    assert table.close(("esa01", INBOUND, 7)) is session
    assert table.get(("esa01", INBOUND, 7), 102.0) is None
    assert table.close(("esa01", INBOUND, 7)) is None
    assert table.evictions == 0


def test_keys_separate_appliances_and_directions() -> None:
    table = SessionTable()
    one = table.open(("esa01", INBOUND, 7), 1.0)
    two = table.open(("esa02", INBOUND, 7), 1.0)
    out = table.open(("esa01", OUTBOUND, 7), 1.0)
    assert len({id(one), id(two), id(out)}) == 3
    assert table.get(("esa02", INBOUND, 7), 2.0) is two
    assert table.get(("esa01", OUTBOUND, 7), 2.0) is out
    assert len(table) == 3


def test_reopening_a_key_replaces_the_session() -> None:
    """ICIDs are reused after a restart; a lost close must not leak old context."""
    table = SessionTable()
    old = table.open(("esa01", INBOUND, 1), 1.0)
    old.tls = True
    new = table.open(("esa01", INBOUND, 1), 2.0)
    assert new is not old
    assert new.tls is False
    assert len(table) == 1
    assert table.evictions == 0


def test_max_sessions_evicts_the_least_recently_active() -> None:
    table = SessionTable(max_sessions=2)
    table.open(("a", INBOUND, 1), 1.0)
    table.open(("a", INBOUND, 2), 2.0)
    table.get(("a", INBOUND, 1), 3.0)  # 1 is now the most recently active
    table.open(("a", INBOUND, 3), 4.0)
    assert list(table) == [("a", INBOUND, 1), ("a", INBOUND, 3)]
    assert table.evicted_full == 1
    assert table.evictions == 1


def test_table_stays_bounded_under_a_flood() -> None:
    table = SessionTable(max_sessions=100, timeout=10**9)
    for number in range(10_000):
        table.open(("esa01", INBOUND, number), float(number))
    assert len(table) == 100
    assert table.evicted_full == 9_900
    assert table.get(("esa01", INBOUND, 9_999), 10_000.0) is not None
    assert table.get(("esa01", INBOUND, 0), 10_000.0) is None


def test_idle_session_expires_on_get() -> None:
    table = SessionTable(timeout=60)
    table.open(("a", INBOUND, 1), 0.0)
    assert table.get(("a", INBOUND, 1), 61.0) is None
    assert table.evicted_idle == 1
    assert len(table) == 0


def test_idle_sessions_expire_as_log_time_advances() -> None:
    table = SessionTable(timeout=60)
    table.open(("a", INBOUND, 1), 0.0)
    table.open(("a", INBOUND, 2), 30.0)
    table.open(("a", INBOUND, 3), 70.0)  # 1 is 70 s old: gone; 2 is 40 s old: kept
    assert list(table) == [("a", INBOUND, 2), ("a", INBOUND, 3)]
    assert table.evicted_idle == 1


def test_session_seen_exactly_at_the_timeout_is_kept() -> None:
    table = SessionTable(timeout=60)
    table.open(("a", INBOUND, 1), 0.0)
    assert table.get(("a", INBOUND, 1), 60.0) is not None


def test_lines_without_time_never_expire_anything() -> None:
    """E10 lines (no time) must neither refresh nor age sessions."""
    table = SessionTable(timeout=60)
    table.open(("a", INBOUND, 1), 100.0)
    assert table.get(("a", INBOUND, 1), None) is not None
    table.open(("a", INBOUND, 2), None)
    assert len(table) == 2
    assert table.clock == 100.0


def test_time_going_backwards_does_not_expire() -> None:
    """Lines arrive slightly out of order across a rotation (docs/log-formats.md#correlation)."""
    table = SessionTable(timeout=60)
    table.open(("a", INBOUND, 1), 1000.0)
    assert table.get(("a", INBOUND, 1), 990.0) is not None
    assert table.clock == 1000.0


def _state_after_some_traffic() -> Dict[str, Any]:
    table = SessionTable(max_sessions=3, timeout=60)
    first = table.open(("esa01", INBOUND, 1), 10.0)
    first.client_ip, first.listener, first.tls, first.sbrs = "198.51.100.1", "Data 1", True, "3.5"
    out = table.open(("esa01", OUTBOUND, 9), 11.0)
    out.local_ip, out.remote_ip, out.remote_port, out.mid = "192.0.2.1", "203.0.113.9", 25, 441
    table.open(("esa01", INBOUND, 2), 12.0)
    table.open(("esa01", INBOUND, 3), 13.0)  # evicts ICID 1
    return table.to_state()


def test_state_round_trips_through_json() -> None:
    state = _state_after_some_traffic()
    restored = SessionTable(max_sessions=3, timeout=60)
    restored.restore(json.loads(json.dumps(state)))
    assert restored.to_state() == state
    assert list(restored) == [("esa01", OUTBOUND, 9), ("esa01", INBOUND, 2), ("esa01", INBOUND, 3)]
    session = restored.get(("esa01", OUTBOUND, 9), 14.0)
    assert session is not None
    assert (session.local_ip, session.remote_port, session.mid) == ("192.0.2.1", 25, 441)
    assert restored.evicted_full == 1


def test_restore_applies_this_tables_bounds() -> None:
    restored = SessionTable(max_sessions=1, timeout=60)
    restored.restore(_state_after_some_traffic())
    assert list(restored) == [("esa01", INBOUND, 3)]
    assert restored.evicted_full == 3


@pytest.mark.parametrize(
    "damage",
    [
        lambda s: s.update(version=2),
        lambda s: s.update(fields=["opened"]),
        lambda s: s.pop("clock"),
        lambda s: s.update(clock="soon"),
        lambda s: s["sessions"].append(["esa01"]),
        lambda s: s["sessions"].append(["esa01", "i", "seven"]),
        lambda s: s.update(sessions=None),
        # json reads NaN and Infinity: a session never idle (or always), a clock that never moves on.
        lambda s: s.update(clock=float("nan")),
        lambda s: s.update(clock=float("inf")),
        lambda s: s["sessions"][0].__setitem__(3 + _FIELDS.index("seen"), float("nan")),
        lambda s: s["sessions"][0].__setitem__(3 + _FIELDS.index("opened"), float("-inf")),
    ],
    ids=[
        "version",
        "fields",
        "no clock",
        "bad clock",
        "short row",
        "bad number",
        "no rows",
        "NaN clock",
        "infinite clock",
        "NaN seen",
        "infinite opened",
    ],
)
def test_damaged_state_raises_state_error(damage: Any) -> None:
    state = _state_after_some_traffic()
    damage(state)
    with pytest.raises(StateError):
        SessionTable().restore(state)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(StateError):
        SessionTable(max_sessions=0)
    with pytest.raises(StateError):
        SessionTable(timeout=0)


def test_a_state_saved_before_a_field_was_added_restores_with_its_default() -> None:
    # 0.1.0 saved sessions without "country" (added by #19): its checkpoints are read on, not set aside.
    table = SessionTable()
    table.open(("esa1", "i", 7), 100.0).client_ip = "192.0.2.7"
    state = table.to_state()
    at = state["fields"].index("country")
    state["fields"] = state["fields"][:at] + state["fields"][at + 1 :]
    state["sessions"] = [row[: 3 + at] + row[4 + at :] for row in state["sessions"]]
    restored = SessionTable()
    restored.restore(state)
    session = restored.get(("esa1", "i", 7), None)
    assert session is not None
    assert session.client_ip == "192.0.2.7"
    assert session.country is None


@pytest.mark.parametrize("fields", [["seen", "from_a_newer_release"], ["seen", "seen"], ["opened"], "seen"])
def test_a_state_with_fields_this_release_does_not_know_is_refused(fields: object) -> None:
    state = SessionTable().to_state()
    state["fields"] = fields
    with pytest.raises(StateError, match="unknown fields"):
        SessionTable().restore(state)
