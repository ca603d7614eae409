"""The local detection engine judges windows as pySigma's SQLite backend does, on random event sets.

The backend's own correlation plans (``execute_plan``) are the reference: for every rule of the shipped set
and of ``tests/detections/engine/extra_rules.yml`` (correlation forms the shipped rules do not use), the
engine's qualifying windows (group, bounds, metric, event ids) and its counts of events left out are the
plan's. The events are crafted to stress the windows: few users and sources (with case variants), many
events in the same second, missing group-by values, events without a time.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from esa_auth.detect import DEFAULT_RULES, Engine, Store, load_rules
from esa_auth.detect.networks import source_network

EXTRA = Path(__file__).resolve().parent / "detections" / "engine" / "extra_rules.yml"
START = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)

Window = Tuple[str, float, float, float, Tuple[str, ...]]


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rules compared with the backend's plans: the shipped set without its success ratios (an extension the
    plans do not have; test_success_ratio_keeps_the_windows_with_few_successes checks it), and the extra forms."""
    where = tmp_path_factory.mktemp("rules")
    for source in (*DEFAULT_RULES.glob("*.yml"), EXTRA):
        shutil.copyfile(source, where / source.name)
    for path in where.glob("*.yml"):
        path.write_text(without_ratios(path.read_text(encoding="utf-8")), encoding="utf-8")
    return where


def without_ratios(text: str) -> str:
    """A rule file's text without its success_ratio blocks (the key and its indented lines)."""
    return re.sub(r"^success_ratio:\n(?:[ ]+.*\n)+", "", text, flags=re.MULTILINE)


@pytest.fixture(scope="module")
def engine(rules_dir: Path) -> Engine:
    built = Engine(load_rules(rules_dir))
    assert built.skipped == []
    return built


@pytest.fixture(scope="module")
def plans(rules_dir: Path) -> List[Dict[str, Any]]:
    """The backend's compiled rules ("zircolite" output: a correlation plan, or a plain query)."""
    from sigma.backends.sqlite.sqlite import sqliteBackend

    backend = sqliteBackend(
        collect_errors=True, timestamp_field="_time", timestamp_format="unix", event_id_field="event_id"
    )
    return list(json.loads(backend.convert(load_rules(rules_dir), "zircolite")))


def events(seed: int) -> List[Dict[str, Any]]:
    rng = random.Random(seed)
    users = ["alice", "Alice", "bob", "carol", "dave", "admin", "erin"]
    # Addresses in several networks, some sharing a /24 or a /64 (the rules that count sources count src_net).
    sources = ["192.0.2.1", "192.0.2.2", "198.51.100.7", "Host.Example", "192.0.2.9", "192.0.2.10", "203.0.113.5"]
    sources += ["2001:DB8::1", "2001:db8:0:0::7", "2001:db8:1::9", "::ffff:10.0.0.1"]
    # One set in four is inbound SMTP AUTH, one in four appliance logins, mostly failures: what the rules count;
    # one in four a spray over many user names (the spray rules count 10 and 15 names).
    mode = seed % 4
    many = [f"user{n:02d}" for n in range(24)]
    out: List[Dict[str, Any]] = []
    second = 0
    for index in range(rng.randint(20, 120)):
        second += rng.choice((0, 0, 0, 1, 2, 5, 20, 70))
        event: Dict[str, Any] = {
            "time": (START + timedelta(seconds=second)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "action": rng.choice(("failure", "failure", "success", "error")),
            "activity": rng.choice(("authenticate", "authenticate", "logon", "logoff")),
            "app": rng.choice(("smtp", "smtp", "esa:gui")),
            "direction": rng.choice(("inbound", "inbound", "outbound")),
            "signature_id": rng.choice(("ESA-T1", "ESA-T2", "ESA-T6", "ESA-A2")),
            "user": rng.choice(users),
            "src": rng.choice(sources),
            "dest": rng.choice(("203.0.113.25", "203.0.113.26")),
            "authentication_service": rng.choice(("relay", "Relay", "backup")),
            "default_account": rng.random() < 0.3,
            "privileged": rng.random() < 0.4,
            "cleartext": rng.random() < 0.3,
            "src_country": rng.choice(("France", "france", "Brazil")),
            "event_id": f"{seed:04x}{index:04x}",
        }
        for field in ("user", "src", "time", "dest", "src_country"):
            if rng.random() < 0.06:
                del event[field]
        if mode == 0:
            event.update(
                app="smtp", direction="inbound", activity="authenticate", signature_id=rng.choice(("ESA-T2", "ESA-T6"))
            )
            event["action"] = "failure" if rng.random() < 0.8 else "success"
        elif mode == 1:
            event.update(app="esa:gui", activity="logon", user=rng.choice(("admin", "Admin", "ops")))
            event["action"] = "failure" if rng.random() < 0.7 else "success"
        elif mode == 3:
            event.update(app="smtp", direction="inbound", activity="authenticate", action="failure")
            if "user" in event:
                event["user"] = rng.choice(many)
        out.append(event)
    rng.shuffle(out)  # the engine must not depend on the order events come in
    return out


def reference(plans: List[Dict[str, Any]], data: List[Dict[str, Any]]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """Windows and diagnostics by rule id, as the backend's plans judge them."""
    from sigma.backends.sqlite.runtime import ensure_fields, execute_plan

    windows: Dict[str, List[Window]] = {}
    diagnostics: Dict[str, Dict[str, int]] = {}
    with Store() as store:
        store.add(data)
        for item in plans:
            found: List[Window] = []
            if item.get("correlation"):
                rows, counts = execute_plan(store.connection, item["correlation_plan"], include_events=False)
                diagnostics[item["id"]] = {k: int(v) for k, v in counts.items() if v}
                for row in rows:
                    ids = tuple(sorted(e.split(":", 1)[1] for e in row["event_ids"]))
                    group = json.dumps(row["group_keys"], sort_keys=True)
                    found.append((group, row["window_start"], row["window_end"], float(row["metric_value"]), ids))
            else:
                ensure_fields(store.connection, {"logs": item["required_fields"]})
                cursor = store.connection.execute(item["rule"][0])
                columns = [d[0] for d in cursor.description]
                for values in cursor:
                    row = dict(zip(columns, values))
                    if row["_time"] is not None and row["event_id"] is not None:
                        found.append(("{}", row["_time"], row["_time"], 1.0, (str(row["event_id"]),)))
            windows[item["id"]] = sorted(found)
    return windows, diagnostics


def judged(engine: Engine, data: List[Dict[str, Any]]) -> Dict[str, List[Window]]:
    out: Dict[str, List[Window]] = {}
    for rule_id, rows in engine.windows(data, evidence=True).items():
        out[rule_id] = sorted(
            (
                json.dumps(r["group_keys"], sort_keys=True),
                r["window_start"],
                r["window_end"],
                float(r["metric_value"]),
                tuple(r["event_ids"]),
            )
            for r in rows
        )
    return out


@pytest.mark.parametrize("seed", range(60))
def test_windows_and_diagnostics_are_the_backends(seed: int, engine: Engine, plans: List[Dict[str, Any]]) -> None:
    data = events(seed)
    want, want_diagnostics = reference(plans, data)
    got = judged(engine, data)
    assert set(got) == set(want)
    for rule in engine.rules:
        assert got[rule.rule_id] == want[rule.rule_id], rule.title
    engine.run(data)
    for rule in engine.rules:
        if rule.node is not None:
            assert engine.diagnostics.get(rule.rule_id, {}) == want_diagnostics[rule.rule_id], rule.title


def test_random_sets_reach_every_rule(engine: Engine, plans: List[Dict[str, Any]]) -> None:
    """The comparison above means something: across the seeds, every rule qualifies some window."""
    fired = set()
    for seed in range(60):
        fired.update(rule_id for rule_id, rows in reference(plans, events(seed))[0].items() if rows)
    assert fired == {rule.rule_id for rule in engine.rules}


def test_a_run_leaves_no_file_behind(tmp_path: Path, engine: Engine) -> None:
    with engine.store(events(1), directory=str(tmp_path)) as store:
        assert store.events > 0
        assert len(list(tmp_path.iterdir())) == 1
        alerts = list(engine.alerts(store))
    assert alerts
    assert list(tmp_path.iterdir()) == []


def _success(event: Dict[str, Any]) -> bool:
    """The base rule esa_smtp_auth_success, for the events of events() (their values are in lower case)."""
    wanted = {"app": "smtp", "direction": "inbound", "activity": "authenticate", "action": "success"}
    return all(event.get(k) == v for k, v in wanted.items())


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine(load_rules())


def test_success_ratio_keeps_the_windows_with_few_successes(engine: Engine, shipped: Engine) -> None:
    """The shipped spray rules' windows are the ratio-free rules' windows (those the backend's plans agree with)
    whose group had at most 20% successes among its events in the window; their evidence adds the successes."""
    spray = [r for r in shipped.rules if r.node is not None and r.node.ratio is not None]
    assert {r.name for r in spray} == {"esa_smtp_auth_password_spray", "esa_smtp_auth_password_spray_slow"}
    kept = dropped = 0
    for seed in range(0, 60, 4):  # the sets of inbound SMTP AUTH, with successes
        data = events(seed)
        base = engine.windows(data, evidence=True)
        got = shipped.windows(data, evidence=True)
        for rule in spray:
            assert rule.node is not None
            assert rule.node.ratio == 0.2
            want = []
            for window in base[rule.rule_id]:
                ok = {
                    str(e["event_id"])
                    for e in data
                    if _success(e)
                    and (source_network(e.get("src")) or "").lower() == window["group_keys"]["src_net"]
                    and e.get("time") is not None
                    and window["window_start"]
                    <= datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
                    <= window["window_end"]
                }
                if len(ok) <= 0.2 * (len(ok) + len(window["event_ids"])):
                    want.append(dict(window, event_ids=sorted({*window["event_ids"], *ok})))
                    kept += 1
                else:
                    dropped += 1
            assert got[rule.rule_id] == want, (seed, rule.title)
    assert kept
    assert dropped


@pytest.mark.parametrize(
    "ratio",
    ["    rule: no_such_rule\n    lte: 0.2\n", "    rule: ok\n    lte: 2\n", "    rule: ok\n"],
    ids=["unknown rule", "share above 1", "no share"],
)
def test_a_bad_success_ratio_is_a_rule_that_cannot_run(tmp_path: Path, ratio: str) -> None:
    (tmp_path / "rules.yml").write_text(
        "title: failures\nid: 5b0f2a8e-7a4c-4d8e-9a51-0c3e3f6f1a01\nname: fail\nlogsource: {product: esa}\n"
        "detection: {sel: {action: failure}, condition: sel}\n---\n"
        "title: successes\nid: 5b0f2a8e-7a4c-4d8e-9a51-0c3e3f6f1a02\nname: ok\nlogsource: {product: esa}\n"
        "detection: {sel: {action: success}, condition: sel}\n---\n"
        "title: spray\nid: 5b0f2a8e-7a4c-4d8e-9a51-0c3e3f6f1a03\nname: spray\n"
        "correlation: {type: value_count, rules: [fail], group-by: [src], timespan: 1h, "
        "condition: {field: user, gte: 2}}\n"
        f"success_ratio:\n{ratio}",
        encoding="utf-8",
    )
    built = Engine(load_rules(tmp_path))
    assert [title for title, _ in built.skipped] == ["spray"]
    assert "success_ratio" in built.skipped[0][1]
