"""The add-on on a distributed Splunk (#14): what only a real deployment would show, checked on the files.

No test here runs splunkd. Each test reads the shipped configuration (default/*.conf, app.manifest, the
searches of detections/searches/) and checks one property that a search head cluster, an indexer cluster
or data model acceleration depends on; each fails on the configuration as it was before #14.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Dict, List

import pytest
from ksconf.conf.parser import PARSECONF_STRICT_NC, parse_conf
from test_detections import spl_model  # how SPL reads a search's rex
from test_search_time import pcre

ROOT = Path(__file__).resolve().parent.parent
DEFAULT = ROOT / "default"
SEARCHES = ROOT / "detections" / "searches"
RAW_SOURCETYPES = ("cisco:esa:textmail", "cisco:esa:authentication", "cisco:esa:http")


def conf(name: str) -> Dict[str, Dict[str, str]]:
    return parse_conf(str(DEFAULT / f"{name}.conf"), profile=PARSECONF_STRICT_NC)  # type: ignore[no-any-return]


def fragment(name: str) -> Dict[str, str]:
    """The one stanza of detections/searches/<name>.conf."""
    stanzas = parse_conf(str(SEARCHES / f"{name}.conf"), profile=PARSECONF_STRICT_NC)
    ((_, stanza),) = ((k, v) for k, v in stanzas.items() if k != "default")
    return stanza  # type: ignore[no-any-return]


def commands(search: str) -> List[str]:
    """The commands of a search, one per pipe, continuation backslashes removed."""
    return [c.strip() for c in search.replace("\\\n", " ").split("\n| ")]


def fill() -> Dict[str, str]:
    return fragment("esa_auth_icid_sessions")


def purge() -> Dict[str, str]:
    return fragment("esa_auth_icid_sessions_purge")


# 1. The session lookup runs on indexers.
def test_the_session_collection_is_replicated_to_indexers() -> None:
    collection = conf("collections")["esa_auth_icid_sessions"]
    # collections.conf.spec: with replicate = false, "lookups that depend on this collection are not available"
    # on indexers, where the automatic LOOKUP- runs in distributed search and data model acceleration.
    assert collection["replicate"] == "true"
    assert conf("transforms")["esa_auth_icid_sessions"]["collection"] == "esa_auth_icid_sessions"


# 2. Versions: minimum Splunk, Python settings, README.
def test_minimum_splunk_and_python_versions_are_declared_everywhere() -> None:
    manifest = json.loads((ROOT / "app.manifest").read_text(encoding="utf-8"))
    assert manifest["platformRequirements"] == {"splunk": {"Enterprise": ">=9.3.0"}}
    for stanza in (conf("commands")["esaauth"], conf("inputs")["esa_auth"]):
        # 9.3 to 10.1 read python.version: by name, never "python3" (3.7 on 9.0-9.2, or by server default).
        assert stanza["python.version"] == "python3.9"
        # 10.2 and later read python.required: both versions the code is tested on, 3.13 run.
        assert [v.strip() for v in stanza["python.required"].split(",")] == ["3.9", "3.13"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "Splunk Enterprise 9.3" in readme
    assert "Python 3.9 and 3.13" in readme
    assert "3.9 in Splunk 9," not in readme  # Splunk 9.0-9.2 run python3 as 3.7: not supported


# 3. case_sensitive_match = false on a KV store lookup lowers only the event's value.
def test_the_collection_stores_the_appliance_in_lower_case() -> None:
    assert conf("transforms")["esa_auth_icid_sessions"]["case_sensitive_match"] == "false"
    assigned = dict(re.findall(r"(\w+)=([^,]+?)(?:,\s|$)", next(c for c in commands(fill()["search"])
                                                                 if c.startswith("eval appliance="))[5:]))  # fmt: skip
    assert assigned["appliance"] == "lower(host)"


# 4. The fill search only adds rows; the purge is separate, and both are bounded.
def test_the_fill_search_never_reads_the_collection_back() -> None:
    steps = commands(fill()["search"])
    assert not any("inputlookup" in step or step.startswith(("append", "join")) for step in steps)
    # Rows are added or updated by _key: nothing the search did not read is deleted.
    assert steps[-1] == "outputlookup append=true key_field=_key override_if_empty=false esa_auth_icid_sessions"
    # Bounded by its time window: 30 minutes every 10 minutes (overlapping, so late lines are completed).
    assert fill()["dispatch.earliest_time"] == "-30m@m"
    assert fill()["cron_schedule"].startswith("3-59/10 ")


def test_the_purge_is_a_main_search_that_never_writes_an_incomplete_read() -> None:
    steps = commands(purge()["search"])
    assert steps[0] == "| inputlookup esa_auth_icid_sessions"
    assert not any(step.startswith(("append", "join")) or "[" in step for step in steps)  # no subsearch cap
    # A read as long as [kvstore] max_rows_per_query may be cut: then nothing is written.
    assert any("`esa_auth_icid_sessions_max_rows`" in step for step in steps)
    assert any("`esa_auth_icid_sessions_retention`" in step for step in steps)
    assert steps[-1] == "outputlookup append=false override_if_empty=false esa_auth_icid_sessions"
    # Once a day, at a minute the fill search (3, 13, ... 53) never runs.
    minute, hour = purge()["cron_schedule"].split()[:2]
    assert hour.isdigit()
    assert int(minute) % 10 != 3
    macros = conf("macros")
    assert macros["esa_auth_icid_sessions_max_rows"]["definition"] == "50000"  # limits.conf default
    assert macros["esa_auth_icid_sessions_retention"]["definition"] == '"-2d@h"'


# 5. Ties: an open line and its AUTH line in the same second.
def _fill_step(line: str) -> int:
    """The fill search's esa_auth_step of a line: its rex patterns and its case() (read from the search)."""
    text = fill()["search"]
    groups = {}
    for pattern in spl_model.raw_rexes(text):
        found = pcre(pattern).search(line)
        if found:
            groups.update({k: v for k, v in found.groupdict().items() if v is not None})
    case = re.search(r"esa_auth_step=case\(([^)]*\)[^)]*\)[^)]*\)[^)]*)\)", text)
    assert case, "no esa_auth_step=case(...)"
    pairs = re.findall(r"isnotnull\((\w+)\), (\d)", case.group(1))
    default = re.search(r"true\(\), (\d)", case.group(1))
    assert default
    return next((int(step) for name, step in pairs if name in groups), int(default.group(1)))


def test_an_open_line_sorts_before_its_auth_line_in_the_same_second() -> None:
    sort = next(c for c in commands(fill()["search"]) if c.startswith("sort "))
    assert sort == "sort 0 _time esa_auth_step"
    prefix = "Mon Jan 06 10:00:00 2025 Info: "
    opened = _fill_step(prefix + "New SMTP ICID 7 interface Main (192.0.2.1) address 203.0.113.7 reverse dns host "
                        "unknown verified no")  # fmt: skip
    tls = _fill_step(prefix + "ICID 7 TLS success protocol TLSv1.2 cipher AES128-SHA")
    auth = _fill_step(prefix + "SMTP Auth: (ICID 7) succeeded for user: u using AUTH mechanism: PLAIN with profile: p")
    assert opened < tls < auth


# 6. OUTPUTNEW: the lookup fills, never clears or overwrites.
def test_the_session_lookup_only_fills_absent_fields() -> None:
    value = conf("props")["cisco:esa:textmail"]["LOOKUP-esa_auth_icid_sessions"]
    assert " OUTPUTNEW " in value
    assert " OUTPUT " not in value


# 7. Data model acceleration on the search-time path: documented, in step with the configuration.
def test_the_acceleration_answer_lists_what_the_lookup_gives() -> None:
    doc = (ROOT / "docs" / "search-time.md").read_text(encoding="utf-8")
    section = doc.split("### Data model acceleration", 1)[1].split("\n## ", 1)[0]
    lookup = conf("props")["cisco:esa:textmail"]["LOOKUP-esa_auth_icid_sessions"].split(" OUTPUTNEW ")[1].split()
    best_effort = re.search(r"Best effort: (.+)", section)
    assert best_effort, "the section says what is best effort"
    assert set(re.findall(r"`(\w+)`", best_effort.group(1))) == set(lookup)
    assert "Guaranteed:" in section
    assert "cisco:esa:auth" in section


# 8. Raw-term prefilters in the eventtypes of the official sourcetypes.
def test_every_raw_eventtype_branch_starts_with_indexed_terms() -> None:
    for name, stanza in conf("eventtypes").items():
        search = stanza.get("search", "")
        if not any(st in search for st in RAW_SOURCETYPES):
            continue
        for branch in re.split(r"\)\s+OR\s+\(", search):
            # A quoted term with no field name is looked up in the index before any extraction.
            assert re.search(r'(?<![=\w])"[A-Za-z]+"', branch), f"{name}: no raw term in {branch!r}"


# 11. Index macros, one per data path, in every shipped search.
def test_every_shipped_search_goes_through_an_index_macro() -> None:
    macros = conf("macros")
    assert macros["esa_auth_index"]["definition"].startswith("index=")
    assert macros["esa_auth_raw_index"]["definition"].startswith("index=")
    assert "`esa_auth_index`" in macros["esa_auth_events"]["definition"]
    assert "`esa_auth_raw_index`" in macros["esa_auth_events"]["definition"]
    assert "`esa_auth_raw_index`" in macros["esa_auth_textmail"]["definition"]
    for name, stanza in conf("savedsearches").items():
        if name == "default":
            continue
        search = stanza["search"]
        if search.lstrip().startswith("| inputlookup"):
            continue  # reads the collection, no events
        assert re.search(r"`esa_auth_(events|textmail)`", search), name
        assert "sourcetype=" not in search.split("|")[0] or "`" in search.split("|")[0], name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert readme.index("esa_auth_index") < readme.index("### Configuring the input")


# 13. Indexers are a target workload: line breaking and time of cisco:esa:auth run there.
def test_the_manifest_targets_the_tiers_the_app_has_settings_for() -> None:
    manifest = json.loads((ROOT / "app.manifest").read_text(encoding="utf-8"))
    assert "LINE_BREAKER" in conf("props")["cisco:esa:auth"]
    assert set(manifest["targetWorkloads"]) == {"_search_heads", "_indexers", "_forwarders"}
    assert "_search_head_clustering" in manifest["supportedDeployments"]


@pytest.mark.parametrize("name", ["esa_auth_icid_sessions", "esa_auth_icid_sessions_purge"])
def test_the_session_searches_are_shipped_disabled_and_hidden(name: str) -> None:
    stanza = fragment(name)
    assert stanza["disabled"] == "1"
    assert stanza["is_visible"] == "false"


# 15. The seen-sources collection of the first-seen rules (#19): written and read on the search head.
SEEN = "esa_auth_seen_sources"


def _seen_searches() -> Dict[str, Dict[str, str]]:
    return {name: s for name, s in conf("savedsearches").items() if SEEN in s.get("search", "")}


def test_the_seen_collection_stays_on_the_search_head() -> None:
    """Not replicated (collections.conf.spec: replicate defaults to false), so every lookup of it must run on the
    search head: local=true on each, and no automatic lookup (those run on indexers)."""
    assert conf("collections")[SEEN]["replicate"] == "false"
    assert conf("transforms")[SEEN]["collection"] == SEEN
    searches = _seen_searches()
    assert len(searches) == 3 + 3 + 1  # the three rules, their fills, the purge
    for name, stanza in searches.items():
        for step in commands(stanza["search"]):
            if step.startswith("lookup "):
                assert step.startswith(f"lookup local=true {SEEN} "), name
    for stanza in conf("props").values():
        assert not any(SEEN in value for key, value in stanza.items() if key.startswith("LOOKUP-"))


def test_the_seen_fills_only_add_or_update_rows_over_a_bounded_window() -> None:
    fills = {n: s for n, s in _seen_searches().items() if n.endswith(" - Lookup Gen")}
    assert len(fills) == 3
    for name, stanza in fills.items():
        steps = commands(stanza["search"])
        assert not any("inputlookup" in step or step.startswith(("append", "join")) for step in steps), name
        assert steps[-1] == f"outputlookup append=true key_field=_key override_if_empty=false {SEEN}", name
        # The rows it updates are the ones it read by key (a lookup of its own accounts and values), never all.
        assert [s for s in steps if s.startswith("lookup ")] == [
            f"lookup local=true {SEEN} rule user value OUTPUT first_seen AS esa_first_seen last_seen AS esa_last_seen"
        ], name
        assert re.fullmatch(r"-\d+m@m", stanza["dispatch.earliest_time"]), name
        earliest, latest = (int(stanza[f"dispatch.{k}_time"][1:-3]) for k in ("earliest", "latest"))
        assert earliest - latest == 120, name  # two hours of events per hourly run
        assert stanza["cron_schedule"] == "30 * * * *", name
        assert stanza["realtime_schedule"] == "0", name


def test_the_seen_purge_never_writes_an_incomplete_read() -> None:
    (purge,) = [s for n, s in _seen_searches().items() if n == "ESA Auth - Purge seen sources"]
    steps = commands(purge["search"])
    assert steps[0] == f"| inputlookup {SEEN}"
    assert not any(step.startswith(("append", "join")) or "[" in step for step in steps)
    assert any("`esa_auth_seen_sources_max_rows`" in step for step in steps)
    assert any("`esa_auth_seen_sources_retention`" in step for step in steps)
    assert steps[-1] == f"outputlookup append=false override_if_empty=false {SEEN}"
    minute, hour = purge["cron_schedule"].split()[:2]
    assert hour.isdigit(), "daily"
    assert minute.isdigit()
    assert minute != "30", "never at the fills' minute"
    macros = conf("macros")
    assert macros["esa_auth_seen_sources_max_rows"]["definition"] == "50000"  # limits.conf default
    assert macros["esa_auth_seen_sources_retention"]["definition"] == '"-31d@h"'


def test_the_seen_fields_are_the_same_everywhere() -> None:
    fields = ["_key", "rule", "user", "value", "first_seen", "last_seen"]
    collection = conf("collections")[SEEN]
    assert sorted(k[len("field.") :] for k in collection if k.startswith("field.")) == sorted(fields[1:])
    assert [f.strip() for f in conf("transforms")[SEEN]["fields_list"].split(",")] == fields
    for name, stanza in _seen_searches().items():
        steps = commands(stanza["search"])
        written = [s for s in steps if s.startswith(("table ", "fields _key"))]
        if name.endswith(" - Rule"):
            assert not written, name
        else:
            assert [w.split()[1:] for w in written] == [fields], name


def test_the_short_keys_come_before_the_line_in_every_format() -> None:
    """Point 10: KV_MODE = json reads the first 5,000 bytes of an event ([spath] extraction_cutoff); a long line
    must not hide event_id (the key of `dedup event_id`) nor any other short field."""
    from conftest import MISSION_LOG, normalize
    from esa_auth import Settings
    from esa_auth.render import RENDERERS

    event = normalize(MISSION_LOG.read_bytes(), Settings(tz="UTC")).events[0]
    event = type(event).from_fields({**event.to_dict(), "raw": event.raw + " x" * 4000})
    cim = list(RENDERERS["cim"](event))
    assert cim[-1] == "raw", cim
    assert cim.index("event_id") < cim.index("raw"), cim
    ecs = RENDERERS["ecs"](event)
    assert list(ecs)[-2:] == ["event", "message"], list(ecs)
    assert list(ecs["event"])[-1] == "original", list(ecs["event"])
    ocsf = RENDERERS["ocsf"](event)
    assert list(ocsf)[-1] == "raw_data", list(ocsf)
    text = RENDERERS["cim"](event)
    assert json.dumps(text).index('"event_id"') < 5000
