"""Detection rules: the generated Splunk files, and replays of crafted scenarios on both engines.

- The committed ``default/savedsearches.conf``, ``default/macros.conf`` and the packaged rule set are what
  ``detections/generate.py`` writes now.
- The .conf files parse with ksconf's strict parser and keep AppInspect's and Enterprise Security's rules.
- Every scenario of ``tests/detections/scenarios.py`` gives exactly its expected alerts on the embedded SQLite
  engine (``esa-auth detect``).
- For every scenario and every rule, the shipped SPL, run by a Python model of its commands
  (``tests/detections/spl_model.py``), judges the same windows as the SQLite engine: same groups, same window
  ends. Bursts across a tumbling-bin edge are among them.
"""

from __future__ import annotations

import functools
import importlib.util
import ipaddress
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Set, Tuple

import pytest
from esa_auth import Normalizer, Settings, Stream
from esa_auth.detect import DEFAULT_RULES, Engine, load_rules, networks
from esa_auth.detect.networks import NetworkRule, source_network
from ksconf.conf.parser import PARSECONF_STRICT, parse_conf

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "detections"


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


generate = _module("esa_detections_generate", ROOT / "detections" / "generate.py")
spl_model = _module("esa_detections_spl_model", HELPERS / "spl_model.py")
scenarios = _module("esa_detections_scenarios", HELPERS / "scenarios.py")

SAVEDSEARCHES = ROOT / "default" / "savedsearches.conf"
MACROS = ROOT / "default" / "macros.conf"


def _conf(path: Path) -> Dict[str, Dict[str, str]]:
    parsed = parse_conf(str(path), profile=PARSECONF_STRICT)
    return {name: dict(body) for name, body in parsed.items() if isinstance(name, str)}


@pytest.fixture(scope="module")
def searches() -> Dict[str, Dict[str, str]]:
    """The generated correlation searches (hand-written fragments left out)."""
    return {k: v for k, v in _conf(SAVEDSEARCHES).items() if "action.correlationsearch.label" in v}


@pytest.fixture(scope="module")
def macros() -> Dict[str, str]:
    return {name: body["definition"] for name, body in _conf(MACROS).items()}


@pytest.fixture(scope="module")
def rules() -> Dict[str, Any]:
    """The shipped rules by id (parsed Sigma objects)."""
    return {str(rule.id): rule for rule in load_rules().rules}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_rules())


def normalize(data: bytes) -> List[Dict[str, Any]]:
    normalizer = Normalizer(Settings(tz="UTC", reference_time=datetime(2026, 1, 1, tzinfo=timezone.utc)))
    stream = Stream("scenario.log")
    events = normalizer.feed(stream, data) + normalizer.end(stream)
    assert not normalizer.take_diagnostics(), "a scenario must be read without warnings"
    return [event.to_dict() for event in events]


# --- generated files -------------------------------------------------------------------------------------------


def test_generated_files_are_current() -> None:
    stale = [
        str(path.relative_to(ROOT))
        for path, text in generate.generate().items()
        if not path.is_file() or path.read_text(encoding="utf-8") != text
    ]
    assert not stale, f"stale generated files {stale}: run python detections/generate.py and review the diff"


def test_packaged_rule_set_is_the_default_of_detect() -> None:
    assert generate.BUNDLE.parent == DEFAULT_RULES
    names = {rule.name for rule in load_rules().rules}
    source = {rule.name for rule in load_rules(generate.RULES_DIR).rules}
    assert names == source


def test_confs_parse_strictly_and_have_no_default_stanza(searches: Dict[str, Dict[str, str]]) -> None:
    everything = _conf(SAVEDSEARCHES)
    assert "default" not in everything
    assert len(searches) == 13
    assert _conf(MACROS)
    text = SAVEDSEARCHES.read_text(encoding="utf-8")
    for fragment in sorted(generate.FRAGMENTS_DIR.glob("*.conf")):
        assert fragment.read_text(encoding="utf-8").rstrip() + "\n" in text, fragment.name


def test_searches_are_disabled_scheduled_correlation_searches(searches: Dict[str, Dict[str, str]]) -> None:
    for name, stanza in searches.items():
        assert stanza["disabled"] == "1", name
        assert stanza["enableSched"] == "1", name
        # AppInspect: no real-time searches (cloud failure), no every-minute cron (warning).
        assert not stanza["dispatch.earliest_time"].startswith("rt"), name
        assert not stanza["dispatch.latest_time"].startswith("rt"), name
        assert stanza["cron_schedule"] in ("*/10 * * * *", "0 * * * *"), name
        assert stanza["action.correlationsearch.enabled"] == "1", name
        assert stanza["action.notable"] in ("0", "1"), name
        assert stanza["action.notable.param.security_domain"] == "access", name
        assert stanza["action.notable.param.severity"] in ("low", "medium", "high", "critical"), name
        assert stanza["description"], name
        assert stanza["action.notable.param.rule_description"] == stanza["description"], name
        attack = json.loads(stanza["action.correlationsearch.annotations"])["mitre_attack"]
        assert attack, name
        assert all(re.fullmatch(r"T\d{4}(\.\d{3})?", t) for t in attack), name
        assert stanza["search"].split()[0] in ("`esa_auth_events`", "|"), name
        assert "`esa_auth_events`" in stanza["search"], name
        assert "bin _time" not in stanza["search"], f"{name}: tumbling windows"


def test_search_window_and_lookback_follow_the_rule(
    searches: Dict[str, Dict[str, str]], rules: Dict[str, Any], macros: Dict[str, str]
) -> None:
    by_title = {r.title: r for r in rules.values()}
    for name, stanza in searches.items():
        rule = by_title[stanza["action.correlationsearch.label"]]
        span = int(rule.timespan.seconds)
        assert f"streamstats time_window={span}s " in stanza["search"], name
        # The lookback covers the window (and a step's window), one run interval and the 5-minute lag.
        lookback = int(re.fullmatch(r"-(\d+)m@m", stanza["dispatch.earliest_time"]).group(1)) * 60  # type: ignore[union-attr]
        interval = 600 if stanza["cron_schedule"] == "*/10 * * * *" else 3600
        judged = int(re.search(r"_time >= info_min_time \+ (\d+)", stanza["search"]).group(1))  # type: ignore[union-attr]
        if f"lookup local=true {generate.SEEN} " in stanza["search"]:
            # A first-seen rule: what came before its range is in the collection; the range covers where the fill
            # searches may not have written yet (their interval, and a late run's slack).
            assert judged == generate.SEEN_INTERVAL + generate.SEEN_SLACK, name
            assert _writers(stanza), name
        else:
            assert judged >= span
        # Late events (#19): the range reaches LATE further back, and a window is judged in the run of its last arrival.
        assert lookback == judged + generate.LATE + interval + 300, name
        assert f"esa_arrived >= info_max_time - {interval} AND esa_arrived < info_max_time" in stanza["search"], name
        assert stanza["dispatch.latest_time"] == "-5m@m"
        if stanza["action.notable"] == "1":
            # Throttled per entity: savedsearches.conf.spec applies alert.suppress.fields to per-result alerts only.
            assert stanza["alert.digest_mode"] == "0", name
            assert stanza["alert.suppress"] == "1", name
            assert stanza["alert.suppress.fields"] == ",".join(rule.group_by), name
            assert 3600 <= int(stanza["alert.suppress.period"].rstrip("s")) <= 86400, name
        else:
            # Risk events only, never throttled: each window is judged once, and each is a risk event.
            assert stanza["alert.suppress"] == "0", name
            assert "alert.suppress.fields" not in stanza, name
        for field in rule.group_by:
            assert f'{field}="${field}$"' in stanza["action.notable.param.drilldown_search"], name


def test_thresholds_are_macros_equal_to_the_sigma_conditions(
    macros: Dict[str, str], rules: Dict[str, Any], searches: Dict[str, Dict[str, str]]
) -> None:
    counted = [r for r in rules.values() if getattr(r, "type", None) is not None and r.type.name.endswith("COUNT")]
    assert len(counted) == 13
    text = "\n".join(s["search"] for s in searches.values())
    for rule in counted:
        assert macros[f"{rule.name}_threshold"] == str(int(rule.condition.count)), rule.name
        assert f"`{rule.name}_threshold`" in text, rule.name
    # Both data paths, each through its own index macro (#14: detections read only cisco:esa:auth before).
    assert macros["esa_auth_events"] == (
        '((`esa_auth_index` sourcetype="cisco:esa:auth") OR (`esa_auth_raw_index` eventtype="esa_auth_raw"))'
    )
    for stanza in searches.values():
        lines = stanza["search"].split("\n")
        hooks = [i for i, line in enumerate(lines) if re.fullmatch(r"\| `(esa_auth_tuning|\w+_filter)`", line.strip())]
        # The tuning hooks come before anything is counted (#19 item 5).
        assert len(hooks) == 2, stanza["search"]
        assert all(i < min(j for j, line in enumerate(lines) if "streamstats" in line) for i in hooks)
        assert all(macros[lines[i].strip()[3:-1]] == "search *" for i in hooks)


def test_base_rule_conditions_come_from_the_splunk_backend(searches: Dict[str, Dict[str, str]]) -> None:
    brute = next(s for s in searches.values() if "brute force" in s["action.correlationsearch.label"])
    first = brute["search"].split("\n")[0].strip().rstrip("\\").strip()
    assert first == '`esa_auth_events` app="smtp" direction="inbound" activity="authenticate" action="failure"'


def test_fragments_are_included_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "FRAGMENTS_DIR", tmp_path)
    without = generate.generate()[generate.SAVEDSEARCHES]
    fragment = "# Keeps the lookup of known sources.\n[ESA Auth - Known sources - Lookup Gen]\nsearch = | makeresults\n"
    (tmp_path / "known_sources.conf").write_text(fragment, encoding="utf-8")
    (tmp_path / "a_first.conf").write_text("[ESA Auth - Other]\nsearch = | makeresults\n", encoding="utf-8")
    text = generate.generate()[generate.SAVEDSEARCHES]
    assert fragment in text
    blocks = ("\n" + fragment, "\n[ESA Auth - Other]\nsearch = | makeresults\n")
    assert text.replace(blocks[0], "").replace(blocks[1], "") == without
    # Sorted among the generated stanzas by their first stanza name, as ksconf sort sorts.
    assert text.index("[ESA Auth - Known sources - Lookup Gen]") < text.index("[ESA Auth - Other]")
    assert text.index("[ESA Auth - Other]") < text.index("[ESA Auth - SMTP AUTH brute force from one source - Rule]")
    target = tmp_path / "savedsearches.conf"
    target.write_text(text, encoding="utf-8")
    assert "ESA Auth - Known sources - Lookup Gen" in _conf(target)


def test_confs_are_sorted_as_ksconf_sorts_them() -> None:
    """build.py refuses .conf files that ``ksconf sort`` would reorder."""
    ksconf = Path(sys.executable).with_name("ksconf")
    if not ksconf.is_file():
        pytest.skip(f"ksconf not installed beside {sys.executable}")
    for path in (SAVEDSEARCHES, MACROS):
        result = subprocess.run([str(ksconf), "sort", str(path)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout == path.read_text(encoding="utf-8"), f"{path.name} is not in ksconf sort order"


def test_a_fragment_cannot_reuse_a_generated_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generate, "FRAGMENTS_DIR", tmp_path)
    (tmp_path / "clash.conf").write_text(
        "[ESA Auth - SMTP AUTH brute force from one source - Rule]\nsearch = *\n", encoding="utf-8"
    )
    with pytest.raises(generate.GenerationError, match="also generated"):
        generate.generate()


def test_check_mode_reports_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert generate.main(["--check"]) == 0
    stale = tmp_path / "macros.conf"
    stale.write_text("[esa_auth_events]\ndefinition = *\n", encoding="utf-8")
    monkeypatch.setattr(generate, "MACROS", stale)
    assert generate.main(["--check"]) == 1
    assert f"stale: {stale}" in capsys.readouterr().err
    assert stale.read_text(encoding="utf-8") == "[esa_auth_events]\ndefinition = *\n"


# --- rule documentation ------------------------------------------------------------------------------------------


def test_every_alerting_rule_documents_threshold_attack_and_false_positives(
    rules: Dict[str, Any], searches: Dict[str, Dict[str, str]]
) -> None:
    readme = (ROOT / "detections" / "README.md").read_text(encoding="utf-8")
    top = generate.top_level(load_rules())
    assert len(top) == 13
    by_label = {s["action.correlationsearch.label"]: s for s in searches.values()}
    for rule in top:
        assert "Threshold" in (rule.description or ""), rule.name
        assert rule.falsepositives, rule.name
        assert any(t.namespace == "attack" and re.fullmatch(r"t\d{4}(\.\d{3})?", t.name) for t in rule.tags), rule.name
        assert rule.level is not None, rule.name
        stanza = by_label[rule.title]
        # A notable is medium or high; a risk-only rule may be low (weak evidence that adds to an entity's risk).
        levels = ("medium", "high") if stanza["action.notable"] == "1" else ("low", "medium", "high")
        assert rule.level.name.lower() in levels, rule.name
        assert f"`{rule.name}`" in readme, f"{rule.name} is not documented in detections/README.md"
        # ESCU's context, from the rule (#19 item 7): how to implement, false positives, drilldowns.
        assert stanza["action.escu.how_to_implement"].startswith(generate.HOW_TO_IMPLEMENT), rule.name
        assert len(stanza["action.escu.how_to_implement"]) > len(generate.HOW_TO_IMPLEMENT) + 20, rule.name
        assert stanza["action.escu.known_false_positives"] == "; ".join(rule.falsepositives), rule.name
        drilldowns = json.loads(stanza["action.notable.param.drilldown_searches"])
        assert drilldowns[0]["search"] == stanza["action.notable.param.drilldown_search"], rule.name
        objects = [r["risk_object_field"] for r in json.loads(stanza["action.risk.param._risk"])]
        assert [d["name"] for d in drilldowns[1:]] == [f"View the risk events of {f} ${f}$ (7 days)" for f in objects]
        assert all(f'normalized_risk_object="${f}$"' in d["search"] for f, d in zip(objects, drilldowns[1:]))
    for rule in rules.values():
        assert rule.name, rule.title


def test_success_rules_never_count_logoffs(rules: Dict[str, Any]) -> None:
    """Logoffs carry action=success: every rule on successes pins the activity."""
    for rule in rules.values():
        detection = getattr(rule, "detection", None)
        if detection is None:
            continue
        for selection in detection.detections.values():
            items = {str(i.field): [str(v) for v in i.value] for i in selection.detection_items}
            if "success" in items.get("action", []) or items.get("default_account"):
                assert items.get("activity") in (["logon"], ["authenticate"]), rule.name


# --- replays -------------------------------------------------------------------------------------------------------


SCENARIOS = scenarios.SCENARIOS
HOUR = scenarios.HOUR


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_alerts(scenario: Any, engine: Engine) -> None:
    events = normalize(scenario.log())
    assert events
    alerts = engine.run(events)
    got = sorted((a.rule_name, sorted(a.group.items())) for a in alerts)
    want = sorted((name, sorted(group.items())) for name, group in scenario.alerts)
    assert got == want
    for name, metric in scenario.metrics.items():
        assert [a.metric for a in alerts if a.rule_name == name] == [metric]
    for alert in alerts:
        ids = {e["event_id"] for e in events}
        assert alert.event_ids
        assert set(alert.event_ids) <= ids
        assert alert.window_start <= alert.window_end


#: Fields the search-time path (cisco:esa:textmail ... with the add-on's extractions) does not give an event.
MODINPUT_ONLY = ("cleartext", "default_account", "privileged", "src_country", "time")


def _model_events(events: List[Dict[str, Any]], path: str = "modinput", delay: float = 60) -> List[Dict[str, Any]]:
    """Events as a search finds them: from the modular input (cisco:esa:auth), or from the raw sourcetypes,
    each indexed ``delay`` seconds after its time (``_indextime``)."""
    out = []
    for event in events:
        if "time" not in event:
            continue
        when = datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
        stamps = {"_time": when, "_indextime": when + delay}
        if path == "modinput":
            out.append(dict(event, **stamps, index="email", sourcetype="cisco:esa:auth"))
        elif event.get("activity") != "logoff":  # eventtype esa_auth_raw: authentication attempts only
            raw = {k: v for k, v in event.items() if k not in MODINPUT_ONLY}
            out.append(dict(raw, **stamps, index="mail", sourcetype="cisco:esa:textmail", eventtype="esa_auth_raw"))
    return out


@functools.cache
def _shipped() -> Dict[str, Dict[str, str]]:
    return _conf(SAVEDSEARCHES)


def _writers(stanza: Dict[str, str]) -> List[Dict[str, str]]:
    """The searches that keep what a correlation search reads: for a first-seen rule, its Lookup Gen search and the
    purge of the collection; none for the others."""
    label = stanza["action.correlationsearch.label"].replace("Cisco ESA ", "", 1)
    fill = _shipped().get(f"ESA Auth - {label} - Lookup Gen")
    return [] if fill is None else [fill, _shipped()["ESA Auth - Purge seen sources"]]


def _replay(
    macros: Dict[str, str], stanza: Dict[str, str], rows: List[Dict[str, Any]], until: Any = None, **options: Any
) -> List[Tuple[float, Dict[str, Any]]]:
    """The scheduled runs of a correlation search, with the searches that write what it reads."""
    return spl_model.replay(macros, stanza, rows, until, writers=_writers(stanza), **options)  # type: ignore[no-any-return]


def _anchors(
    stanza: Dict[str, str], macros: Dict[str, str], rows: List[Dict[str, Any]], group: List[str], **options: Any
) -> Dict[Tuple[Any, ...], Set[float]]:
    """The windows the scheduled runs of a search judge, as (group values..., window end), and the runs of each."""
    runs: Dict[Tuple[Any, ...], Set[float]] = {}
    for when, anchor in _replay(macros, stanza, rows, "stats", **options):
        runs.setdefault((*(anchor[f] for f in group), float(anchor["_time"])), set()).add(when)
    return runs


#: Rules that need a field only cisco:esa:auth events carry (docs: detections/README.md).
MODINPUT_ONLY_RULES = ("cleartext SMTP AUTH", "privileged account used from a new source", "from a new country")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_searches_judge_search_time_events_as_modular_input_ones(
    scenario: Any, searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """The detections read both data paths: the same attack indexed raw gives the same alerts (#14)."""
    events = normalize(scenario.log())
    modinput, raw = _model_events(events), _model_events(events, path="raw")
    for name, stanza in searches.items():
        if any(label in name for label in MODINPUT_ONLY_RULES):
            continue
        assert _replay(macros, stanza, raw) == _replay(macros, stanza, modinput), name
    # Events of neither path (another sourcetype, or a logoff) are not read.
    other = [dict(r, sourcetype="cisco:esa:bounce") for r in modinput]
    assert all(_replay(macros, s, other) == [] for s in searches.values())


def test_every_correlation_search_carries_risk_keys(searches: Dict[str, Dict[str, str]], rules: Dict[str, Any]) -> None:
    """Risk-based alerting beside the notable: risk objects user/src (src_net for the rules that count networks, dest
    for the smart-host rule), one score."""
    by_title = {r.title: r for r in rules.values()}
    for name, stanza in searches.items():
        rule = by_title[stanza["action.correlationsearch.label"]]
        assert stanza["action.risk"] == "1", name
        risk = json.loads(stanza["action.risk.param._risk"])
        fields = [r["risk_object_field"] for r in risk]
        assert fields == [f for f in rule.group_by if f in ("user", "src", "src_net", "dest")], name
        assert {r["risk_object_type"] for r in risk} <= {"user", "system"}
        assert all(r["risk_object_type"] == ("user" if r["risk_object_field"] == "user" else "system") for r in risk)
        assert len({r["risk_score"] for r in risk}) == 1, name
        assert 0 < risk[0]["risk_score"] <= 100, name
        assert all(f"${f}$" in stanza["action.risk.param._risk_message"] for f in rule.group_by), name


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_shipped_spl_judges_the_same_windows_as_the_sqlite_engine(
    scenario: Any, engine: Engine, searches: Dict[str, Dict[str, str]], macros: Dict[str, str], rules: Dict[str, Any]
) -> None:
    events = normalize(scenario.log())
    windows = engine.windows(events)
    rows = _model_events(events)
    by_title = {r.title: r for r in rules.values()}
    alerting = 0
    for name, stanza in searches.items():
        rule = by_title[stanza["action.correlationsearch.label"]]
        group = list(rule.group_by)
        sqlite: Set[Tuple[Any, ...]] = {
            (*(w["group_keys"][f] for f in group), float(w["window_end"])) for w in windows[str(rule.id)]
        }
        anchors = _anchors(stanza, macros, rows, group)
        assert all(len(runs) == 1 for runs in anchors.values()), f"{name}: a window judged by two runs"
        assert set(anchors) == sqlite, name
        final = [row for _, row in _replay(macros, stanza, rows)]
        assert {tuple(r[f] for f in group) for r in final} == {s[:-1] for s in sqlite}, name
        alerting += bool(sqlite)
    assert alerting == len({name for name, _ in scenario.alerts})


def test_cross_edge_burst_is_missed_by_tumbling_windows(rules: Dict[str, Any]) -> None:
    """Why the stock backend's ``bin _time span=10m`` is not shipped: this burst splits 5 + 5 across 10:20."""
    scenario = next(s for s in SCENARIOS if "bin edge" in s.name)
    failures = [e for e in _model_events(normalize(scenario.log())) if e["action"] == "failure"]
    bins: Dict[int, int] = {}
    for event in failures:
        bins[int(event["_time"]) // 600] = bins.get(int(event["_time"]) // 600, 0) + 1
    assert len(failures) == 10
    assert sorted(bins.values()) == [5, 5]
    pair = generate.SigmaCollection.load_ruleset(
        [
            str(generate.RULES_DIR / "base" / "esa_smtp_auth_failure.yml"),
            str(generate.RULES_DIR / "esa_smtp_auth_brute_force.yml"),
        ]
    )
    (stock,) = generate.SplunkBackend(generate.ProcessingPipeline()).convert(pair)
    assert "| bin _time span=10m" in stock
    assert "event_count >= 10" in stock


def test_a_first_seen_search_reads_before_its_range_in_the_collection(
    searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """A login 10 days after another is within the 30-day window, far outside the search's few hours of events: the
    collection that the fill search wrote says it is not new; without the row it would be, and a login in the part
    of the range that only gives history (where the collection may not be written yet) is never judged."""
    label = "privileged account used from a new source"
    stanza = next(s for s in searches.values() if label in s["action.correlationsearch.label"])
    fill = _writers(stanza)[0]
    log = scenarios.Log()
    log.admin(0, "admin", scenarios.ADMIN_PC, ok=True)
    log.admin(10 * scenarios.DAY, "admin", scenarios.ADMIN_PC, ok=True)
    rows = _model_events(normalize(log.data()))
    end = rows[1]["_indextime"] + 60  # the second login arrived during the run's interval
    start = end - spl_model._seconds(stanza["dispatch.earliest_time"]) + 300
    store = spl_model.Collections()
    fill_at = rows[0]["_time"] + spl_model._seconds(fill["dispatch.latest_time"]) + 60
    spl_model.SplModel(macros, 0, fill_at, collections=store, now=fill_at).run(fill["search"], rows[:1])
    ((row,),) = [store.rows(generate.SEEN)]
    assert (row["rule"], row["user"], row["value"]) == ("esa_privileged_login_new_source", "admin", "192.0.2.77")
    assert row["first_seen"] == row["last_seen"] == rows[0]["_time"]
    learned = spl_model.SplModel(macros, info_min_time=start, info_max_time=end, collections=store)
    assert learned.run(stanza["search"], rows[1:], until="stats") == []
    # Without the collection's row, the same run finds it new: the collection is what decided.
    empty = spl_model.SplModel(macros, info_min_time=start, info_max_time=end)
    assert [r["_time"] for r in empty.run(stanza["search"], rows[1:], until="stats")] == [rows[1]["_time"]]
    # Near the start of the range, where the collection may lag, nothing is judged.
    early = spl_model.SplModel(macros, info_min_time=rows[1]["_time"] - 3600, info_max_time=end)
    assert [r["value_count"] for r in early.run(stanza["search"], rows[1:], until="addinfo")] == [1.0]
    assert early.run(stanza["search"], rows[1:], until="stats") == []


def test_spl_model_refuses_unknown_commands(macros: Dict[str, str]) -> None:
    model = spl_model.SplModel(macros, info_min_time=0, info_max_time=1)
    with pytest.raises(NotImplementedError):
        model.run('`esa_auth_events` action="failure"\n| bin _time span=10m', [{"_time": 0.0}])


# --- late data (#19) -------------------------------------------------------------------------------------------------


def _judged(stanza: Dict[str, str], macros: Dict[str, str], rows: List[Dict[str, Any]], group: List[str]) -> Any:
    anchors = _anchors(stanza, macros, rows, group)
    assert all(len(runs) == 1 for runs in anchors.values()), "a window judged by two runs"
    return anchors


@pytest.mark.parametrize("late", [0.5, 3.0, 3.9])
def test_events_indexed_hours_late_are_judged_once_when_they_arrive(
    late: float, engine: Engine, searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """A file pushed at roll-over: the events arrive hours after they happened, some of a burst before the rest."""
    log = scenarios.Log()
    for i in range(12):
        log.smtp(i * 15, scenarios.ATTACKER, "alice")
    for i in range(6):
        log.smtp(HOUR + i * 30, scenarios.OTHER, "bob")
    log.smtp(HOUR + 450, scenarios.OTHER, "bob", ok=True)
    events = normalize(log.data())
    rows = _model_events(events)
    for row in rows:
        # The attacker's last 4 failures and the whole second attack come in a later file.
        if row["_time"] >= scenarios.T0.timestamp() + 8 * 15:
            row["_indextime"] = row["_time"] + late * HOUR
    windows = engine.windows(events)
    checked = 0
    for stanza in searches.values():
        rule = next(r for r in load_rules().rules if r.title == stanza["action.correlationsearch.label"])
        group = list(rule.group_by)
        anchors = _judged(stanza, macros, rows, group)
        sqlite = {(*(w["group_keys"][f] for f in group), float(w["window_end"])) for w in windows[str(rule.id)]}
        assert set(anchors) == sqlite, stanza["action.correlationsearch.label"]
        for key, runs in anchors.items():
            # Judged after the late events arrived: in the first run whose interval holds the last arrival.
            assert min(runs) >= key[-1] + late * HOUR + 300
        checked += bool(anchors)
    # Brute force (attacker), success after failures (bob), and bob's first success from that address.
    assert checked == 3


def test_events_later_than_the_bound_are_not_judged(
    searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """The documented limit: an event indexed more than LATE after it happened is outside every run's range."""
    stanza = next(s for s in searches.values() if "brute force" in s["action.correlationsearch.label"])
    log = scenarios.Log()
    for i in range(12):
        log.smtp(i * 15, scenarios.ATTACKER, "alice")
    rows = _model_events(normalize(log.data()), delay=generate.LATE - 600)
    assert _judged(stanza, macros, rows, ["src"])
    rows = _model_events(normalize(log.data()), delay=generate.LATE + 1800)
    assert _judged(stanza, macros, rows, ["src"]) == {}


@pytest.mark.parametrize("hook", ["esa_auth_tuning", "esa_smtp_auth_brute_force_filter"])
def test_tuning_hooks_drop_events_before_they_are_counted(
    hook: str, searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """An excluded service account neither counts towards a source's failures nor hides inside its count."""
    stanza = next(s for s in searches.values() if "brute force" in s["action.correlationsearch.label"])
    log = scenarios.Log()
    for i in range(12):
        log.smtp(i * 15, scenarios.ATTACKER, "svc-scanner" if i % 4 == 0 else "alice")
    rows = _model_events(normalize(log.data()))
    assert _judged(stanza, macros, rows, ["src"])  # 12 failures, 3 of them the scanner's
    tuned = dict(macros, **{hook: 'search NOT user IN ("svc-scanner")'})
    assert _judged(stanza, tuned, rows, ["src"]) == {}  # 9 left: under the threshold


# --- first-seen rules on a lookup (#19) ----------------------------------------------------------------------------

#: The rules generated on the collection esa_auth_seen_sources, and the scenarios that exercise them.
FIRST_SEEN = ("esa_privileged_login_new_source", "esa_smtp_auth_user_new_source", "esa_smtp_auth_user_new_country")
FIRST_SEEN_SCENARIOS = [s for s in SCENARIOS if any(name in FIRST_SEEN for name, _ in s.alerts)]


def _first_seen_searches(
    searches: Dict[str, Dict[str, str]], rules: Dict[str, Any]
) -> List[Tuple[Dict[str, str], Any]]:
    by_title = {r.title: r for r in rules.values()}
    found = [(s, by_title[s["action.correlationsearch.label"]]) for s in searches.values()]
    return [(stanza, rule) for stanza, rule in found if rule.name in FIRST_SEEN]


def test_the_first_seen_rules_are_generated_on_the_collection(
    searches: Dict[str, Dict[str, str]], rules: Dict[str, Any]
) -> None:
    pairs = _first_seen_searches(searches, rules)
    assert len(pairs) == 3
    assert len(FIRST_SEEN_SCENARIOS) >= 8
    for stanza, rule in pairs:
        assert f"lookup local=true {generate.SEEN} " in stanza["search"], rule.name
        fill, purge = _writers(stanza)
        assert f'eval rule="{rule.name}", value={rule.group_by[1]}' in fill["search"]
        # Work per run: hours of events, not the 30-day window (#19: "read 30 days of events every hour").
        assert spl_model._seconds(stanza["dispatch.earliest_time"]) <= 8 * HOUR
        assert spl_model._seconds(fill["dispatch.earliest_time"]) <= 9 * HOUR
        assert purge["search"].startswith(f"| inputlookup {generate.SEEN}")
    others = [s for s in searches.values() if all(s is not stanza for stanza, _ in pairs)]
    assert not any(generate.SEEN in s["search"] for s in others)


#: How the fill and the detection may meet: the fill's minute, which runs first when both are due, how late the
#: detection runs after its scheduled time, and how late the events are indexed.
ORDERS = [
    ("30 * * * *", True, 0, 0),
    ("0 * * * *", True, 0, 0),
    ("0 * * * *", False, 0, 0),
    ("30 * * * *", False, 50 * 60, 0),
    ("0 * * * *", False, 55 * 60, 3.9 * HOUR),
    ("45 * * * *", True, 20 * 60, 2 * HOUR),
]


@pytest.mark.parametrize(("fill_cron", "fill_first", "delay", "late"), ORDERS)
def test_first_seen_searches_agree_with_detect_whatever_the_order_of_the_fill(
    fill_cron: str,
    fill_first: bool,
    delay: float,
    late: float,
    engine: Engine,
    searches: Dict[str, Dict[str, str]],
    macros: Dict[str, str],
    rules: Dict[str, Any],
) -> None:
    """The detection tolerates the order: the fill of its own slot may run before or after it, at any minute, and
    the detection may run up to SEEN_SLACK after its scheduled time; events up to LATE late. The windows judged are
    the SQLite engine's, each once."""
    for scenario in FIRST_SEEN_SCENARIOS:
        events = normalize(scenario.log())
        windows = engine.windows(events)
        rows = [dict(r, _indextime=r["_time"] + late + 60) for r in _model_events(events)]
        for stanza, rule in _first_seen_searches(searches, rules):
            fill, purge = _writers(stanza)
            runs: Dict[Tuple[Any, ...], Set[float]] = {}
            for when, anchor in spl_model.replay(
                macros,
                stanza,
                rows,
                "stats",
                writers=[dict(fill, cron_schedule=fill_cron), purge],
                writers_first=fill_first,
                delay=delay,
            ):
                runs.setdefault((*(anchor[f] for f in rule.group_by), float(anchor["_time"])), set()).add(when)
            sqlite = {
                (*(w["group_keys"][f] for f in rule.group_by), float(w["window_end"])) for w in windows[str(rule.id)]
            }
            assert set(runs) == sqlite, (scenario.name, rule.name)
            assert all(len(r) == 1 for r in runs.values()), (scenario.name, rule.name)


def test_a_first_seen_alert_is_not_taken_back_when_an_earlier_use_arrives_later(
    engine: Engine, searches: Dict[str, Dict[str, str]], macros: Dict[str, str], rules: Dict[str, Any]
) -> None:
    """The documented limit: a success indexed two hours before an earlier success of the same account and address
    (a later file pushed first) is judged new when it arrives; the engine, reading both, finds only the earlier one
    new. Every other window agrees."""
    log = scenarios.Log()
    log.smtp(0, scenarios.OTHER, "alice", ok=True)
    log.smtp(HOUR, scenarios.OTHER, "alice", ok=True)
    events = normalize(log.data())
    rows = _model_events(events)
    rows[0]["_indextime"] = rows[1]["_indextime"] + 2 * HOUR
    (stanza, rule) = next(p for p in _first_seen_searches(searches, rules) if p[1].name == FIRST_SEEN[1])
    sqlite = {("alice", scenarios.OTHER, rows[0]["_time"])}
    assert {(w["group_keys"]["user"], w["group_keys"]["src"], float(w["window_end"])) for w in
            engine.windows(events)[str(rule.id)]} == sqlite  # fmt: skip
    assert set(_anchors(stanza, macros, rows, ["user", "src"])) == sqlite | {
        ("alice", scenarios.OTHER, rows[1]["_time"])
    }


def _collection_after(
    macros: Dict[str, str], stanza: Dict[str, str], rows: List[Dict[str, Any]], **options: Any
) -> List[Dict[str, Any]]:
    store = spl_model.Collections()
    _replay(macros, stanza, rows, collections=store, **options)
    return store.rows(generate.SEEN)


def test_a_rows_first_seen_survives_runs_with_no_events(
    searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """Every hourly fill run over ten days, nearly all of them without an event: the row keeps the first time, the
    last time moves on; a value unseen for more than the window starts again."""
    stanza = next(s for s in searches.values() if "user from a new source" in s["action.correlationsearch.label"])
    scenario = next(s for s in SCENARIOS if s.name.startswith("user new source: a success from the usual"))
    rows = _model_events(normalize(scenario.log()))
    day0, day10 = rows[0]["_time"], rows[0]["_time"] + 10 * scenarios.DAY
    later = rows[-1]["_time"] + scenarios.DAY  # the fill writes hours behind the clock
    found = {r["value"]: r for r in _collection_after(macros, stanza, rows, every_run=True, end=later)}
    assert (found[scenarios.OTHER]["first_seen"], found[scenarios.OTHER]["last_seen"]) == (day0, day10)
    assert found[scenarios.ATTACKER]["first_seen"] == day10 + HOUR
    assert _collection_after(macros, stanza, rows, end=later) == list(found.values())
    # A fill run without events writes nothing: the collection stays as it was.
    fill = _writers(stanza)[0]
    store = spl_model.Collections()
    store.tables[generate.SEEN] = {r["_key"]: dict(r) for r in found.values()}
    spl_model.SplModel(macros, 0, day10 + 40 * scenarios.DAY, collections=store).run(fill["search"], [])
    assert store.rows(generate.SEEN) == list(found.values())
    # 40 days apart: the purge removed the row in between (bob's daily row kept it writing); the row starts again.
    scenario = next(s for s in SCENARIOS if s.name.startswith("user new source edge: 40 days apart"))
    rows = _model_events(normalize(scenario.log()))
    alice = [r for r in rows if r["user"] == "alice"]
    before = [r for r in rows if r["_time"] < alice[1]["_time"]]
    assert [r["user"] for r in _collection_after(macros, stanza, before, end=alice[1]["_time"] - HOUR)] == ["bob"]
    found = _collection_after(macros, stanza, rows, every_run=True, end=rows[-1]["_time"] + scenarios.DAY)
    (row,) = [r for r in found if r["user"] == "alice"]
    assert (row["first_seen"], row["last_seen"]) == (alice[1]["_time"], alice[-1]["_time"])


def _seen_row(user: str, value: str, last: float, rule: str = "esa_smtp_auth_user_new_source") -> Dict[str, Any]:
    return {"_key": f"{rule}|{user}|{value}", "rule": rule, "user": user, "value": value, "first_seen": last - 5.0,
            "last_seen": last}  # fmt: skip


def test_the_purge_keeps_what_a_later_run_needs_and_never_writes_an_incomplete_read(
    macros: Dict[str, str],
) -> None:
    purge = _shipped()["ESA Auth - Purge seen sources"]
    now = scenarios.T0.timestamp()
    day = scenarios.DAY
    rows = [
        _seen_row("a", "x", now - 32 * day),
        _seen_row("b", "y", now - 30 * day - 7 * HOUR),
        _seen_row("c", "z", now),
    ]

    def purged(table: List[Dict[str, Any]], max_rows: int = 50000, **macro: str) -> List[Dict[str, Any]]:
        store = spl_model.Collections(max_rows_per_query=max_rows)
        store.tables[generate.SEEN] = {r["_key"]: dict(r) for r in table}
        spl_model.SplModel(dict(macros, **macro), 0, now, collections=store, now=now).run(purge["search"], [])
        return store.rows(generate.SEEN)

    # Unseen for 32 days: gone. Seen 30 days and 7 hours ago: kept, a run judging an event up to seen_offset() old
    # still needs it (a row older than the window is not read as a sighting anyway: the searches compare last_seen).
    assert [r["user"] for r in purged(rows)] == ["b", "c"]
    cutoff = spl_model.relative_time(now, macros["esa_auth_seen_sources_retention"].strip('"'))
    assert cutoff is not None
    assert cutoff <= now - 30 * day - generate.seen_offset()
    # A read that reaches max_rows_per_query may be cut: nothing is written, nothing deleted.
    assert purged(rows, max_rows=3, esa_auth_seen_sources_max_rows="3") == sorted(rows, key=lambda r: r["_key"])
    assert purged(rows, max_rows=2, esa_auth_seen_sources_max_rows="2") == sorted(rows, key=lambda r: r["_key"])
    # Every row expired: nothing to write, and override_if_empty=false leaves them (the documented limit).
    assert [r["user"] for r in purged(rows[:1])] == ["a"]


def test_the_collection_holds_what_was_seen_in_the_retention(
    searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """The bound: one row per account and value seen in the last 31 days. 30 users from 2 addresses on day 0, one
    user every day: after 40 days the collection holds the daily user's row only."""
    stanza = next(s for s in searches.values() if "user from a new source" in s["action.correlationsearch.label"])
    log = scenarios.Log()
    for n in range(30):
        log.smtp(n * 60, scenarios.far(n), f"user{n:02d}", ok=True)
        log.smtp(n * 60 + 30, scenarios.far(n + 100), f"user{n:02d}", ok=True)
    for d in range(41):
        log.smtp(d * scenarios.DAY + 2 * HOUR, scenarios.OTHER, "carol", ok=True)
    rows = _model_events(normalize(log.data()))
    store = spl_model.Collections()
    alerts = _replay(macros, stanza, rows, collections=store, end=rows[-1]["_time"] + scenarios.DAY)
    assert len(alerts) == 61  # 60 first sightings on day 0, carol's on day 0
    assert [(r["user"], r["value"]) for r in store.rows(generate.SEEN)] == [("carol", scenarios.OTHER)]


# --- what an alert names (#19 item 4) ------------------------------------------------------------------------------


def _final(stanza: Dict[str, str], macros: Dict[str, str], rows: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    return [row for _, row in _replay(macros, stanza, rows)]


def test_success_after_failures_names_the_account_and_the_sources(
    engine: Engine, searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    scenario = next(s for s in SCENARIOS if "botnet addresses, then a success" in s.name)
    events = normalize(scenario.log())
    botnet = [scenarios.far(50 + i) for i in range(5)] + [scenarios.far(99)]
    (alert,) = [a for a in engine.run(events) if a.rule_name == "esa_smtp_auth_success_after_failures"]
    found = alert.to_dict()
    assert found["group"] == {"user": "alice"}
    assert (found["users"], found["user_count"]) == (["alice"], 1)
    assert (found["sources"], found["src_count"]) == (sorted(botnet), 6)
    label = "success after repeated failures"
    stanza = next(s for s in searches.values() if label in s["action.correlationsearch.label"])
    (row,) = _final(stanza, macros, _model_events(events))
    assert (row["user"], row["users"], row["user_count"]) == ("alice", ["alice"], 1)
    assert (row["sources"], row["src_count"]) == (sorted(botnet), 6)
    assert row["window_start"] < row["window_end"]


def test_alert_lists_are_bounded_with_their_counts(
    engine: Engine, searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """A spray over 15 accounts: the first 10 names (text order) and the number 15, in both engines."""
    log = scenarios.Log()
    for i in range(15):
        log.smtp(i * 10, scenarios.ATTACKER, f"User{i:02d}")
    events = normalize(log.data())
    names = [f"user{i:02d}" for i in range(10)]
    alerts = {a.rule_name: a.to_dict() for a in engine.run(events)}
    stanza = next(s for s in searches.values() if "brute force" in s["action.correlationsearch.label"])
    (row,) = _final(stanza, macros, _model_events(events))
    for found in (alerts["esa_smtp_auth_brute_force"], row):
        assert (found["users"], found["user_count"]) == (names, 15)
        assert (found["sources"], found["src_count"]) == ([scenarios.ATTACKER], 1)
    # No appliance name in a file without syslog headers.
    assert row["dvc"] is None
    assert row["dvc_count"] == 0


# --- volume (#19 item 2) ---------------------------------------------------------------------------------------------


def _notables_and_risks(
    searches: Dict[str, Dict[str, str]], macros: Dict[str, str], rows: List[Dict[str, Any]]
) -> Tuple[List[Tuple[str, Tuple[Any, ...]]], int]:
    """The notables the scheduled runs raise after per-entity throttling, and the number of risk events.

    Throttling as savedsearches.conf.spec describes per-result suppression: a result whose ``alert.suppress.fields``
    values alerted less than ``alert.suppress.period`` ago raises nothing. Every result gives one risk event per
    risk object.
    """
    notables: List[Tuple[str, Tuple[Any, ...]]] = []
    risks = 0
    for name, stanza in searches.items():
        objects = [r["risk_object_field"] for r in json.loads(stanza["action.risk.param._risk"])]
        last: Dict[Tuple[Any, ...], float] = {}
        for when, row in _replay(macros, stanza, rows):
            risks += sum(row.get(f) is not None for f in objects)
            if stanza["action.notable"] != "1":
                continue
            key = tuple(row[f] for f in stanza["alert.suppress.fields"].split(","))
            if key in last and when - last[key] < int(stanza["alert.suppress.period"].rstrip("s")):
                continue
            last[key] = when
            notables.append((name, key))
    return notables, risks


@pytest.mark.parametrize(
    ("label", "risks"),
    [("botnet hour", 60 + 60 + 100 + 1), ("cleartext spray", 1 + 1 + 2 * 12)],
)
def test_one_attack_raises_one_notable_and_risk_events_for_the_rest(
    label: str, risks: int, searches: Dict[str, Dict[str, str]], macros: Dict[str, str]
) -> None:
    """The botnet hour gave 220 notables and the cleartext spray 16 before #19: now one each, for the listener."""
    scenario = next(s for s in SCENARIOS if s.name.startswith(label))
    notables, found = _notables_and_risks(searches, macros, _model_events(normalize(scenario.log())))
    assert notables == [
        ("ESA Auth - distributed SMTP AUTH password spraying against one listener - Rule", ("192.0.2.10",))
    ]
    # At least one risk event per entity and rule (a burst that spans two runs gives one per run).
    assert found >= risks


#: Every form a client address takes in the logs or the search-time fields, and what the rules count it as.
ADDRESS_FORMS = [
    ("203.0.113.7", "203.0.113.0/24"),
    ("::ffff:203.0.113.7", "203.0.113.0/24"),
    ("::FFFF:203.0.113.7", "203.0.113.0/24"),
    ("2001:db8:7:1::a", "2001:db8:7:1::/64"),
    ("2001:0DB8:0007:0001:0000:0000:0000:000a", "2001:db8:7:1::/64"),
    ("2001:db8::1", "2001:db8:0:0::/64"),
    ("2001:db8:0:0:1::", "2001:db8:0:0::/64"),
    ("::1", "0:0:0:0::/64"),
    ("1:2:3:4:5:6:7::", "1:2:3:4::/64"),
    ("::5:6:7:8:9", "0:0:0:5::/64"),
    ("1:2:3::5:6:7:8", "1:2:3:0::/64"),
    ("::", "0:0:0:0::/64"),
    ("fe80::1%eth0", "fe80:0:0:0::/64"),
    ("2001:db8:a0b:12f0::", "2001:db8:a0b:12f0::/64"),
    ("mail.example.com", "mail.example.com"),
    (None, None),
]


def _macro_network(definition: str, src: Any) -> Any:
    """What a definition of esa_auth_src_net gives src, run by the model of the searches."""
    model = spl_model.SplModel({}, 0, 1)
    command, _, args = definition.partition(" ")
    rows = model.command(command, args, [{"_time": 0, **({} if src is None else {"src": src})}])
    return rows[0].get("src_net")


@pytest.mark.parametrize(("src", "network"), ADDRESS_FORMS)
def test_src_net_is_the_same_in_the_searches_and_in_detect(src: Any, network: Any, macros: Dict[str, str]) -> None:
    """esa_auth_src_net (the searches) and source_network (esa-auth detect) give one text for every address form:
    a check of the SPL that generate.py writes from networks.RULE, the one definition of the rule."""
    assert source_network(src) == network
    assert _macro_network(macros["esa_auth_src_net"], src) == network


#: Other rules the one definition may state, each of which the generated macro must follow.
OTHER_NETWORK_RULES = [
    NetworkRule(ipv4_prefix=16, ipv6_prefix=48),
    NetworkRule(ipv4_prefix=32, ipv6_prefix=112, mapped_as_ipv4=False),
    NetworkRule(ipv4_prefix=8, ipv6_prefix=16),
]


@pytest.mark.parametrize("rule", OTHER_NETWORK_RULES, ids=str)
def test_editing_the_network_rule_changes_the_macro_and_detect_alike(
    rule: Any, monkeypatch: pytest.MonkeyPatch, macros: Dict[str, str]
) -> None:
    """The rule is data in esa_auth.detect.networks (RULE): generate.py writes the macro from it and source_network
    follows it, so one edit changes both, and they still agree on every address form."""
    monkeypatch.setattr(networks, "RULE", rule)
    written = generate.generate()[generate.MACROS]
    definition = re.search(r"^\[esa_auth_src_net\]\ndefinition = (.*)$", written, re.MULTILINE)
    assert definition, "no esa_auth_src_net macro"
    assert definition.group(1) != macros["esa_auth_src_net"]
    assert definition.group(1) == generate.network_macro(rule)
    changed = 0
    for src, default in ADDRESS_FORMS:
        found = source_network(src)
        assert found == source_network(src, rule)
        assert _macro_network(definition.group(1), src) == found, src
        changed += found != default
    assert changed >= 5
    assert source_network("203.0.113.7") == str(ipaddress.ip_network(f"203.0.113.7/{rule.ipv4_prefix}", strict=False))


@pytest.mark.parametrize("wrong", [{"ipv4_prefix": 20}, {"ipv6_prefix": 56}, {"ipv6_prefix": 128}])
def test_a_network_rule_the_searches_cannot_cut_is_refused(wrong: Dict[str, int]) -> None:
    with pytest.raises(ValueError, match="prefix"):
        NetworkRule(**wrong)  # type: ignore[arg-type]
