"""Generate the Splunk searches and the packaged rule set from the Sigma rules.

    python detections/generate.py           # rewrite the generated files
    python detections/generate.py --check   # exit 1, naming the stale files, if a rewrite would change them

Inputs: ``detections/rules/**/*.yml`` (Sigma rules and Sigma correlation rules, specification v2) and
``detections/searches/*.conf`` (hand-written scheduled searches, included verbatim). Outputs:

- ``default/savedsearches.conf``: one Enterprise Security correlation search per top-level correlation rule,
  disabled, with the ``action.correlationsearch.*`` and ``action.notable.*`` keys;
- ``default/macros.conf``: ``esa_auth_events`` (where the events are), one ``<rule>_threshold`` macro per
  correlation threshold, the shared ``esa_auth_tuning`` macro and one ``<rule>_filter`` macro per search (tuning
  hooks applied to the events, before they are counted);
- ``package/esa_auth/detect/rules/esa_auth_rules.yml``: every rule in one file, the default rule set of
  ``esa-auth detect``.

The base rules' conditions are converted to SPL by pySigma's Splunk backend. The correlation part is written
here rather than taken from the backend, which windows with ``bin _time span=...`` (tumbling windows): a burst
that straddles a bin edge is split and missed, while the embedded SQLite engine (``esa-auth detect``) windows
per event (sliding windows). The searches below use ``streamstats time_window=<span>`` over events sorted by
time, the same sliding windows; ``tests/test_detections.py`` checks both agree on bursts across window edges.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import yaml
from esa_auth.detect import networks
from esa_auth.detect.compiler import RATIO_KEY
from esa_auth.detect.engine import CONTEXT, CONTEXT_LIMIT
from esa_auth.detect.networks import FIELD as NETWORK_FIELD
from esa_auth.detect.networks import MACRO as NETWORK_MACRO
from esa_auth.detect.networks import NetworkRule
from sigma.backends.splunk import SplunkBackend
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationConditionOperator, SigmaCorrelationRule, SigmaCorrelationType
from sigma.processing.pipeline import ProcessingPipeline
from sigma.rule import SigmaRule

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RULES_DIR = HERE / "rules"
FRAGMENTS_DIR = HERE / "searches"
SAVEDSEARCHES = ROOT / "default" / "savedsearches.conf"
MACROS = ROOT / "default" / "macros.conf"
BUNDLE = ROOT / "package" / "esa_auth" / "detect" / "rules" / "esa_auth_rules.yml"

#: Where the authentication events are, on both data paths: the modular input's cisco:esa:auth events, and
#: the ESA logs indexed with the official add-on or SC4S, through the eventtype of the search-time knowledge
#: (esa_auth_raw: authentication attempts, the same activity/action/app/direction/user/src/dest fields).
BASE_MACRO = "esa_auth_events"
BASE_DEFINITION = '((`esa_auth_index` sourcetype="cisco:esa:auth") OR (`esa_auth_raw_index` eventtype="esa_auth_raw"))'
#: The tuning hook of every search (exclusions that hold for all rules), applied to events before counting.
TUNING_MACRO = "esa_auth_tuning"
#: The index macros, one per data path: the first thing an admin sets (README). The default, every index the
#: role may search, finds the events wherever they are (the default-searched indexes of a role often leave
#: custom indexes out, and an empty result would look like a quiet network); naming the index saves work.
INDEX_MACROS = (
    ("esa_auth_index", "index=*", "Indexes of the cisco:esa:auth events written by the modular input; set it to "
     "your index, e.g. index=email."),
    ("esa_auth_raw_index", "index=*", "Indexes of the ESA logs indexed with the official Splunk Add-on for Cisco "
     "ESA or SC4S (cisco:esa:textmail, cisco:esa:authentication, cisco:esa:http); set it to your index."),
)  # fmt: skip
#: The KV store collection of the first-seen rules (a value count of ``time`` at most 1: "first time this account
#: used this source in the window"): one row per rule, account and source (or country), with the first and last
#: time seen (default/collections.conf). The rule's search reads its own recent events and this collection,
#: instead of its whole window of events (README, "First-seen rules on a lookup").
SEEN = "esa_auth_seen_sources"
#: The fill search of a first-seen rule runs hourly; each run reads two intervals of events (a failed run is
#: made up by the next).
SEEN_INTERVAL = 3600
#: How long after its scheduled time a first-seen search may run (scheduler load) and still read the collection
#: as its range needs: the fill writes only events this much older than the detection's oldest judged event.
SEEN_SLACK = 3600
#: How long a row unseen is kept: 30 days of window, plus how far behind the clock the fill writes, rounded up to
#: a day. The search decides "new" on the row's last-seen time, so the purge only bounds the size.
SEEN_RETENTION = '"-31d@h"'
#: Other fixed macros of the shipped searches (the ICID session lookup's fill and purge searches).
FIXED_MACROS = (
    ("esa_auth_textmail", '`esa_auth_raw_index` sourcetype="cisco:esa:textmail"',
     "The ESA mail logs the ICID session searches read (built on esa_auth_raw_index)."),
    ("esa_auth_icid_sessions_retention", '"-2d@h"',
     "How long the ICID session collection keeps a session (relative_time modifier). Every row is replicated to "
     "the indexers in the knowledge bundle: longer costs bundle size."),
    ("esa_auth_icid_sessions_max_rows", "50000",
     "limits.conf [kvstore] max_rows_per_query of the search head: the purge writes nothing when a read reaches it."),
    ("esa_auth_seen_sources_retention", SEEN_RETENTION,
     "How long the collection esa_auth_seen_sources keeps a source unseen (relative_time modifier): at least the "
     "first-seen rules' 30 days plus 6 hours."),
    ("esa_auth_seen_sources_max_rows", "50000",
     "limits.conf [kvstore] max_rows_per_query of the search head: the purge of esa_auth_seen_sources writes "
     "nothing when a read reaches it."),
)  # fmt: skip
#: Enterprise Security risk score of an alert by the rule's Sigma level, unless the rule sets ``risk_score``.
RISK_SCORES = {"informational": 10, "low": 25, "medium": 50, "high": 75, "critical": 100}
#: Group-by fields that are risk objects, and their ES risk object type.
RISK_OBJECTS = {"user": "user", "src": "system", "src_net": "system", "dest": "system"}
#: Searches end this far behind the clock, so that events in transit are indexed before they are judged.
LAG = 300
#: How late an event may be indexed (its ``_indextime`` after its ``_time``) and still be judged. The documented
#: input is an FTP/SCP push of log files, which the appliance sends when a file rolls over: events arrive
#: minutes to hours after they happened. Every search reads this much further back in event time, and judges a
#: window in the run during which its last event arrived (README: "Late data").
LATE = 4 * 3600
#: Searches over windows up to an hour run every 10 minutes; longer ones hourly.
SHORT_SPAN = 3600


def interval_of(lookback: int) -> int:
    """How often a search runs (seconds): every 10 minutes for windows up to an hour, else hourly."""
    return 600 if lookback <= SHORT_SPAN else 3600


def arrival_lines(group: Sequence[str], lookback: int) -> List[str]:
    """When each window became complete: the last arrival among its events (``esa_arrived``); and what it holds
    (``esa_<field>``: the distinct values of each CONTEXT field).

    An event arrives when it is indexed, or at its own time if it was indexed before it (a clock ahead): after
    that, a search can see it. A window ending at an event covers ``[_time - lookback, _time]``.
    """
    values = "".join(f" values({field}) as esa_{field}" for field, _ in CONTEXT)
    return [
        "| eval esa_arrival=max(_indextime, _time)",
        f"| streamstats time_window={lookback}s max(esa_arrival) as esa_arrived{values}{by(group)}",
        f"| eventstats max(esa_arrived) as esa_arrived{by([*group, '_time'])}",
    ]


def context_lines(group: Sequence[str], span: int, extra: str) -> List[str]:
    """The alert rows: per group, the window bounds, ``extra`` aggregations, and the accounts, clients and appliances
    of its windows (the first CONTEXT_LIMIT values of each, with their number), as ``esa-auth detect`` lists them."""
    values = "".join(f" values(esa_{field}) as {key} dc(esa_{field}) as {field}_count" for field, key in CONTEXT)
    bounded = ", ".join(f"{key}=mvindex({key}, 0, {CONTEXT_LIMIT - 1})" for _, key in CONTEXT)
    return [
        f"| stats min(_time) as first_window_end max(_time) as window_end {extra}{values}{by(group)}",
        f"| eval window_start=first_window_end-{span}, {bounded}",
        "| fields - first_window_end",
    ]


def judged(lookback: int) -> str:
    """The windows a run judges: whole inside the searched range, completed during the run's own interval.

    Each run's interval of arrival ends where its searched range ends (``info_max_time``, the scheduled time less
    LAG) and starts one run interval before: consecutive runs judge each window once, late or not.
    """
    return (
        f"_time >= info_min_time + {lookback} AND esa_arrived >= info_max_time - {interval_of(lookback)}"
        " AND esa_arrived < info_max_time"
    )


OPERATORS = {
    SigmaCorrelationConditionOperator.GTE: ">=",
    SigmaCorrelationConditionOperator.GT: ">",
    SigmaCorrelationConditionOperator.LTE: "<=",
    SigmaCorrelationConditionOperator.LT: "<",
    SigmaCorrelationConditionOperator.EQ: "==",
    SigmaCorrelationConditionOperator.NEQ: "!=",
}

Rule = Union[SigmaRule, SigmaCorrelationRule]


class GenerationError(ValueError):
    """A rule that this generator cannot turn into a Splunk search (the message names it)."""


@dataclass(frozen=True)
class Macro:
    """One stanza of macros.conf."""

    name: str
    definition: str
    description: str


@dataclass(frozen=True)
class Search:
    """One stanza of savedsearches.conf."""

    stanza: str
    settings: Dict[str, str]


def load() -> Tuple[SigmaCollection, Dict[str, Dict[str, Any]]]:
    """The rule set, and every rule's YAML document by id (for standalone conversion)."""
    files = sorted(RULES_DIR.rglob("*.yml"))
    collection = SigmaCollection.load_ruleset([str(f) for f in files])
    docs: Dict[str, Dict[str, Any]] = {}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                docs[str(doc["id"])] = doc
    return collection, docs


def base_query(rule: SigmaRule, docs: Dict[str, Dict[str, Any]]) -> str:
    """The SPL condition of a base rule, from pySigma's Splunk backend.

    The rule is converted on its own, from its YAML: in the full collection a rule that a correlation uses is not
    emitted, and processing pipelines change rules in place.
    """
    return convert(docs[str(rule.id)], rule.title)


def convert(doc: Dict[str, Any], title: str) -> str:
    """One base rule's YAML as an SPL condition."""
    queries = SplunkBackend(ProcessingPipeline()).convert(SigmaCollection.from_dicts([doc]))
    if len(queries) != 1 or not isinstance(queries[0], str):
        raise GenerationError(f"{title}: expected one SPL query, got {queries!r}")
    return str(queries[0])


def referenced(rule: SigmaCorrelationRule) -> List[Rule]:
    """The rules a correlation refers to, in order."""
    return [ref.rule for ref in rule.rules or []]


def span_seconds(rule: SigmaCorrelationRule) -> int:
    return int(rule.timespan.seconds)


def threshold_macro(rule: SigmaCorrelationRule) -> str:
    return f"{macro_stem(rule)}_threshold"


def macro_stem(rule: Rule) -> str:
    if not rule.name:
        raise GenerationError(f"{rule.title}: a correlation rule needs a 'name' (it names its macros)")
    return str(rule.name)


def base_rules_of(rule: SigmaCorrelationRule) -> List[SigmaRule]:
    """The base rules under an event_count or value_count correlation."""
    bases = referenced(rule)
    if not all(isinstance(b, SigmaRule) for b in bases):
        raise GenerationError(f"{rule.title}: a {rule.type.name.lower()} rule must refer to base rules only")
    return [b for b in bases if isinstance(b, SigmaRule)]


def or_queries(queries: Sequence[str]) -> str:
    """One search condition for several base rules; a rule's own OR in parentheses, so that it reads the same
    whatever precedes it (the search command binds OR tighter than the implicit AND, but readers may not)."""
    if len(queries) == 1:
        return f"({queries[0]})" if " OR " in queries[0] else queries[0]
    return " OR ".join(f"({q})" for q in queries)


def lower_group(fields: Sequence[str]) -> List[str]:
    """Sigma compares values without case: so do the group keys and counted values here (as in SQLite)."""
    lines = []
    if fields:
        lines.append("| eval " + ", ".join(f"{f}=lower({f})" for f in fields))
    return lines


def spl_field(field: str) -> str:
    """The Splunk field of a counted Sigma field: the event's ``time`` is ``_time`` (the same instant, and on both
    data paths: only the modular input's events carry a ``time`` field)."""
    return "_time" if field == "time" else field


def unique(fields: Sequence[str]) -> List[str]:
    return list(dict.fromkeys(fields))


def derived(fields: Sequence[str]) -> List[str]:
    """Fields the events do not carry, set from those they do: ``src_net`` (the client's /24 or /64) by the macro
    ``esa_auth_src_net``, the same definition as ``esa-auth detect``'s (``esa_auth.detect.networks``)."""
    return [f"| `{NETWORK_MACRO}`"] if NETWORK_FIELD in fields else []


def network_macro(rule: NetworkRule) -> str:
    """The definition of ``esa_auth_src_net``: one ``eval`` that gives ``src_net`` the network ``rule`` gives ``src``
    (``esa_auth.detect.networks``, whose ``source_network`` follows the same rule in ``esa-auth detect``).

    Steps, in order: lower case, zone (``%eth0``) dropped, ``::ffff:a.b.c.d`` to ``a.b.c.d`` (if the rule maps it);
    a ``::`` at either end given a ``0`` group beside it, so that it sits between two groups and the groups present
    are as many as the colons; ``::`` expanded to the missing zero groups (8 less the colons); then the kept octets
    of an IPv4 address with zeros after them, or the kept groups of an IPv6 one with leading zeros dropped.
    """
    start = 'replace(lower(src), "%.*$", "")'
    if rule.mapped_as_ipv4:
        start = rf'replace({start}, "^::ffff:(\d+\.\d+\.\d+\.\d+)$", "\1")'
    octets, groups = rule.ipv4_octets, rule.ipv6_groups
    ipv4 = rf'replace(src_net, "^((\d+\.){{{octets - 1}}}\d+).*$", "\1{".0" * (4 - octets)}/{rule.ipv4_prefix}")'
    ipv6 = (
        rf'replace(replace(src_net, "^(([0-9a-f]+:){{{groups}}}).*$", "\1:/{rule.ipv6_prefix}"), '
        r'"(^|:)0+([0-9a-f])", "\1\2")'
    )
    return (
        f"eval src_net={start}, "
        r'src_net=if(match(src_net, "^[0-9a-f:]+$"), replace(replace(src_net, "^::", "0::"), "::$", "::0"), src_net), '
        r'src_net=if(match(src_net, "^[0-9a-f:]+$") AND match(src_net, "::"), '
        r'replace(src_net, "::", substr(":0:0:0:0:0:0:0:0:", 1, 17 - 2 * len(replace(src_net, "[^:]", "")))), '
        "src_net), "
        rf'src_net=case(match(src_net, "^\d+\.\d+\.\d+\.\d+$"), {ipv4}, '
        rf'match(src_net, "^[0-9a-f]+(:[0-9a-f]+){{7}}$"), {ipv6}, true(), src_net)'
    )


def not_null(fields: Sequence[str]) -> List[str]:
    # An event without a group field belongs to no group (the SQLite engine drops it the same way).
    return ["| where " + " AND ".join(f"isnotnull({f})" for f in fields)] if fields else []


def tuning(rule: SigmaCorrelationRule) -> List[str]:
    """The tuning hooks, applied to the events before anything is counted (an excluded service account, listener
    or relay sender group then neither raises a count nor hides in one): the shared ``esa_auth_tuning`` macro,
    then the rule's own ``<rule>_filter`` (README: "Tuning")."""
    return [f"| `{TUNING_MACRO}`", f"| `{macro_stem(rule)}_filter`"]


def by(fields: Sequence[str]) -> str:
    return " by " + " ".join(fields) if fields else ""


def count_search(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> Tuple[List[str], int, List[str]]:
    """SPL of an event_count or value_count rule: (lines, lookback in seconds, base queries)."""
    group = list(rule.group_by or [])
    span = span_seconds(rule)
    queries = [base_query(b, docs) for b in base_rules_of(rule)]
    op = OPERATORS[rule.condition.op]  # type: ignore[union-attr]
    ratio = success_ratio(rule, docs)
    if rule.type == SigmaCorrelationType.EVENT_COUNT:
        metric, aggregate, counted = "event_count", "count as event_count", []
    else:
        field = spl_field(str(rule.condition.fieldref))  # type: ignore[union-attr]
        metric, aggregate, counted = "value_count", f"dc({field}) as value_count", [field]
    if ratio is None:
        lines = [f"`{BASE_MACRO}` {or_queries(queries)}"]
        counting: List[str] = []
        peers = f"max({metric}) as {metric}"
        condition = f"{metric} {op} `{threshold_macro(rule)}`"
    else:
        # Successes join the events (esa_ok=1): counted in the ratio, not in the metric; no window ends at them.
        success = ratio
        lines = [
            "| multisearch",
            f"    [ search `{BASE_MACRO}` {or_queries(queries)} | eval esa_ok=0 ]",
            f"    [ search `{BASE_MACRO}` {or_queries([success])} | eval esa_ok=1 ]",
        ]
        queries = [*queries, success]
        if counted:
            counting = [f"| eval esa_value=if(esa_ok=0, {counted[0]}, null())"]
            aggregate = "dc(esa_value) as value_count"
        else:
            counting = ["| eval esa_in=1-esa_ok"]
            aggregate = "sum(esa_in) as event_count"
        aggregate += " sum(esa_ok) as esa_successes count as esa_events"
        peers = f"max({metric}) as {metric} max(esa_successes) as esa_successes max(esa_events) as esa_events "
        peers += "min(esa_ok) as esa_anchor"
        condition = (
            f"esa_anchor=0 AND {metric} {op} `{threshold_macro(rule)}` "
            f"AND esa_successes <= `{macro_stem(rule)}_success_ratio` * esa_events"
        )
    lines += [*tuning(rule), *derived([*group, *counted])]
    lines += lower_group(unique([*group, *(f for f in counted if f != "_time"), *(f for f, _ in CONTEXT)]))
    lines += not_null(group)
    # A first-seen rule reads its recent events only: what came before is in the collection (seen_lines).
    lookback = seen_lookback() if is_first_seen(rule, docs) else span
    lines += [
        "| sort 0 _time",
        *counting,
        # One window per event, ending at it: [_time - span, _time] (sliding, as in the SQLite engine).
        f"| streamstats time_window={span}s {aggregate}{by(group)}",
        # Events of the same second share one window, the whole second's events counted (SQL RANGE peers).
        f"| eventstats {peers}{by([*group, '_time'])}",
        *arrival_lines(group, span),
        "| addinfo",
        # Judge only windows that lie wholly inside the searched range and were completed in this run's interval.
        f"| where {condition} AND {judged(lookback)}",
        *(seen_lines(rule, span) if lookback != span else []),
        *context_lines(group, span, f"max({metric}) as {metric}"),
    ]
    return lines, lookback, queries


def is_first_seen(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> bool:
    """Whether a rule asks "first time in the window": a value count of ``time`` at most 1, grouped by the account
    and one other field (a source, a network, a country). Such a rule is generated on the SEEN collection.

    Raises:
        GenerationError: the rule has the shape but another grouping, or a success ratio.
    """
    if not first_seen_shape(rule):
        return False
    if list(rule.group_by or [])[:1] != ["user"] or len(rule.group_by or []) != 2:
        raise GenerationError(f"{rule.title}: a first-seen rule groups by user and one other field")
    if docs[str(rule.id)].get(RATIO_KEY) is not None:
        raise GenerationError(f"{rule.title}: a first-seen rule has no {RATIO_KEY}")
    return True


def first_seen_shape(rule: SigmaCorrelationRule) -> bool:
    """A value count of ``time`` at most 1: the condition of a first-seen rule."""
    condition = rule.condition
    return bool(
        rule.type == SigmaCorrelationType.VALUE_COUNT
        and str(condition.fieldref) == "time"  # type: ignore[union-attr]
        and condition.op == SigmaCorrelationConditionOperator.LTE  # type: ignore[union-attr]
        and condition.count == 1  # type: ignore[union-attr]
    )


def seen_offset() -> int:
    """How far behind its scheduled time the fill search of a first-seen rule writes (its range ends this much
    earlier): every event it reads is then indexed (LATE), and older than every event a detection run judges, even
    one that runs SEEN_SLACK late (the detections of these rules run hourly)."""
    return LATE + interval_of(seen_lookback()) + LAG + SEEN_SLACK


def seen_lookback() -> int:
    """The part of a first-seen search's range that only gives history: a run reads back to where the collection
    is complete even if the fill of its own slot has not run yet (SEEN_INTERVAL) and if it runs late (SEEN_SLACK)."""
    return SEEN_INTERVAL + SEEN_SLACK


def seen_lines(rule: SigmaCorrelationRule, span: int) -> List[str]:
    """After the judged windows (new in the search's own events), the collection: new if its row was last seen
    more than ``span`` before the event, or there is no row."""
    value = list(rule.group_by or [])[1]
    return [
        f'| eval esa_rule="{macro_stem(rule)}"',
        # local=true: on the search head, where the collection is (it is not replicated to indexers).
        f"| lookup local=true {SEEN} rule AS esa_rule user value AS {value} OUTPUT last_seen AS esa_last_seen",
        f"| where isnull(esa_last_seen) OR esa_last_seen < _time - {span}",
    ]


def fill_search(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]], label: str) -> Search:
    """The search that keeps a first-seen rule's rows of the SEEN collection: each run reads two SEEN_INTERVALs of
    the rule's events, seen_offset() behind the clock, and adds or updates the row of each account and value (first
    and last time seen) by ``_key``, reading only those rows (a lookup), never the whole collection."""
    group = list(rule.group_by or [])
    span = span_seconds(rule)
    stem = macro_stem(rule)
    queries = [base_query(b, docs) for b in base_rules_of(rule)]
    offset = seen_offset()
    lines = [
        f"`{BASE_MACRO}` {or_queries(queries)}",
        *tuning(rule),
        *derived(group),
        *lower_group(group),
        *not_null(group),
        f"| stats min(_time) as first_seen max(_time) as last_seen{by(group)}",
        f'| eval rule="{stem}", value={group[1]}',
        f"| lookup local=true {SEEN} rule user value OUTPUT first_seen AS esa_first_seen last_seen AS esa_last_seen",
        # A row last seen more than the window before these events starts again: the value was new again.
        f"| eval first_seen=if(coalesce(esa_last_seen, 0) >= first_seen - {span}, min(esa_first_seen, first_seen), "
        'first_seen), last_seen=max(coalesce(esa_last_seen, 0), last_seen), _key=rule . "|" . user . "|" . value',
        "| table _key rule user value first_seen last_seen",
        f"| outputlookup append=true key_field=_key override_if_empty=false {SEEN}",
    ]
    return Search(
        f"ESA Auth - {label} - Lookup Gen",
        {
            "cron_schedule": "30 * * * *",
            "description": f"Keeps the rows of '{rule.title}' in the KV store collection {SEEN} (first and last time "
            "each account used each value), which the rule's search reads instead of its whole window of events. "
            "Enable it with the rule, and 'ESA Auth - Purge seen sources'. To skip the learning period, run this "
            f"search once over the rule's window (earliest -{duration(span)}, latest -{duration(offset)}).",
            "disabled": "1",
            "dispatch.earliest_time": f"-{duration(offset + 2 * SEEN_INTERVAL)}@m",
            "dispatch.latest_time": f"-{duration(offset)}@m",
            "enableSched": "1",
            # Continuous scheduling: a delayed run still runs, so the collection has no gap.
            "realtime_schedule": "0",
            "search": "\n".join(lines),
        },
    )


def purge_search() -> Search:
    """The daily purge of the SEEN collection, as the ICID session purge: it writes back the rows seen within the
    retention, and nothing at all when its read may have been cut by max_rows_per_query or keeps no row."""
    lines = [
        f"| inputlookup {SEEN}",
        "| eventstats count as esa_rows",
        "| eval esa_complete=if(esa_rows < `esa_auth_seen_sources_max_rows`, 1, 0)",
        "| where esa_complete=1 AND last_seen >= relative_time(now(), `esa_auth_seen_sources_retention`)",
        "| fields _key rule user value first_seen last_seen",
        f"| outputlookup append=false override_if_empty=false {SEEN}",
    ]
    return Search(
        "ESA Auth - Purge seen sources",
        {
            "cron_schedule": "17 4 * * *",
            "description": f"Removes from the KV store collection {SEEN} the rows unseen for longer than the macro "
            "esa_auth_seen_sources_retention (31 days). Enable it with the first-seen rules and their Lookup Gen "
            "searches.",
            "disabled": "1",
            "dispatch.earliest_time": "-1m@m",
            "dispatch.latest_time": "now",
            "enableSched": "1",
            "search": "\n".join(lines),
        },
    )


def success_ratio(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> Optional[str]:
    """The SPL condition of the successes of a rule's ``success_ratio`` (``esa_auth.detect.compiler.RATIO_KEY``),
    None without one."""
    spec = docs[str(rule.id)].get(RATIO_KEY)
    if spec is None:
        return None
    name = spec.get("rule") if isinstance(spec, dict) else None
    found = [doc for doc in docs.values() if doc.get("name") == name and "correlation" not in doc]
    limit = spec.get("lte") if isinstance(spec, dict) else None
    if len(found) != 1 or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
        raise GenerationError(f"{rule.title}: {RATIO_KEY} needs 'rule' (a base rule's name) and 'lte' (0 to 1)")
    return convert(found[0], rule.title)


def ratio_macros(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> List[Macro]:
    """The ``<rule>_success_ratio`` macro of a rule with a success ratio."""
    spec = docs[str(rule.id)].get(RATIO_KEY)
    if not isinstance(spec, dict):
        return []
    return [
        Macro(
            f"{macro_stem(rule)}_success_ratio",
            str(spec["lte"]),
            f"Largest share of successes among the events of a window of '{rule.title}' that still alerts "
            f"(successes of {spec['rule']}).",
        )
    ]


def ordered_search(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> Tuple[List[str], int, List[str]]:
    """SPL of a temporal_ordered rule over two steps, each a base rule or an event_count correlation."""
    group = list(rule.group_by or [])
    steps = referenced(rule)
    if len(steps) != 2:
        raise GenerationError(f"{rule.title}: temporal_ordered is generated for exactly two steps")
    span = span_seconds(rule)
    lookback = span
    subsearches: List[str] = []
    step_lines: List[str] = []
    queries: List[str] = []
    for slot, step in enumerate(steps):
        if isinstance(step, SigmaRule):
            query = or_queries([base_query(step, docs)])
            step_lines.append(f'| eval esa_at{slot}=if(esa_step="{slot}", _time, null())')
        elif (
            step.type in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT)
            and list(step.group_by or []) == group
        ):
            query = or_queries([base_query(b, docs) for b in base_rules_of(step)])
            child_span = span_seconds(step)
            lookback = span + child_span
            op = OPERATORS[step.condition.op]  # type: ignore[union-attr]
            if step.type == SigmaCorrelationType.EVENT_COUNT:
                counting = [f"| streamstats time_window={child_span}s sum(esa_in{slot}) as esa_count{slot}{by(group)}"]
            else:
                # The step's distinct values of its field (null outside the step: not counted).
                value = spl_field(str(step.condition.fieldref))  # type: ignore[union-attr]
                counting = [
                    f'| eval esa_value{slot}=if(esa_step="{slot}", {value}, null())',
                    f"| streamstats time_window={child_span}s dc(esa_value{slot}) as esa_count{slot}{by(group)}",
                ]
            step_lines += [
                f'| eval esa_in{slot}=if(esa_step="{slot}", 1, 0)',
                *counting,
                f"| eventstats max(esa_count{slot}) as esa_count{slot}{by([*group, '_time'])}",
                # The step happens when its count reaches the threshold, at that event's time.
                f"| eval esa_at{slot}=if(esa_in{slot}=1 AND esa_count{slot} {op} `{threshold_macro(step)}`, "
                "_time, null())",
            ]
        else:
            raise GenerationError(
                f"{rule.title}: a step must be a base rule, or an event_count or value_count rule grouped alike"
            )
        queries.append(query)
        subsearches.append(f'    [ search `{BASE_MACRO}` {query} | eval esa_step="{slot}" ]')
    lines = ["| multisearch", *subsearches, *tuning(rule), *derived(group)]
    lines += lower_group(unique([*group, *(f for f, _ in CONTEXT)]))
    lines += not_null(group)
    lines += ["| sort 0 _time", *step_lines]
    lines += [
        # In the window ending at each step event: the first step 0, and the last step 1 after it.
        f"| streamstats time_window={span}s min(esa_at0) as esa_first0 max(esa_at1) as esa_last1{by(group)}",
        f"| eventstats min(esa_first0) as esa_first0 max(esa_last1) as esa_last1{by([*group, '_time'])}",
        *arrival_lines(group, lookback),
        "| addinfo",
        f"| where (isnotnull(esa_at0) OR isnotnull(esa_at1)) AND esa_last1 > esa_first0 AND {judged(lookback)}",
        *context_lines(group, span, "min(esa_first0) as first_step_time max(esa_last1) as last_step_time"),
    ]
    return lines, lookback, queries


def attack_ids(rule: Rule) -> List[str]:
    """ATT&CK technique ids from the Sigma tags (``attack.t1110.001`` -> ``T1110.001``)."""
    ids = []
    for tag in rule.tags:
        if tag.namespace == "attack" and re.fullmatch(r"t\d{4}(\.\d{3})?", tag.name):
            ids.append(tag.name.upper())
    return ids


def one_line(text: Optional[str]) -> str:
    return " ".join((text or "").split())


def duration(seconds: int) -> str:
    """A Splunk time span in its largest exact unit (``600`` -> ``10m``, ``2592000`` -> ``30d``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def search_for(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> Tuple[Search, List[Macro]]:
    """The correlation search of a top-level correlation rule, and its macros."""
    if rule.type in (SigmaCorrelationType.EVENT_COUNT, SigmaCorrelationType.VALUE_COUNT):
        lines, lookback, queries = count_search(rule, docs)
    elif rule.type == SigmaCorrelationType.TEMPORAL_ORDERED:
        lines, lookback, queries = ordered_search(rule, docs)
    else:
        raise GenerationError(f"{rule.title}: correlation type {rule.type.name.lower()} is not generated yet")
    stem = macro_stem(rule)
    group = list(rule.group_by or [])
    interval = interval_of(lookback)
    title = rule.title.translate({ord(c): None for c in "[]"})
    label = re.sub(r"^Cisco ESA ", "", title)
    tokens = " ".join(f'{f}="${f}$"' for f in group)  # rule_title shows them
    description = one_line(rule.description)
    settings = {
        "action.correlationsearch.annotations": json.dumps({"mitre_attack": attack_ids(rule)}),
        "action.correlationsearch.enabled": "1",
        "action.correlationsearch.label": title,
        "action.notable": "1" if raises_notable(rule, docs) else "0",
        "action.notable.param.drilldown_earliest_offset": "$info_min_time$",
        "action.notable.param.drilldown_latest_offset": "$info_max_time$",
        "action.escu.how_to_implement": how_to_implement(rule, docs),
        "action.escu.known_false_positives": "; ".join(one_line(f) for f in rule.falsepositives),
        # Before ES 7.3 one drilldown (name and search); since, a list: the events, then each entity's risk events.
        "action.notable.param.drilldown_name": "View the events behind this alert",
        "action.notable.param.drilldown_search": events_drilldown(queries, group),
        "action.notable.param.drilldown_searches": json.dumps(drilldowns(queries, group)),
        "action.notable.param.nes_fields": ",".join(group),
        "action.notable.param.rule_description": description,
        "action.notable.param.rule_title": f"{label} ({tokens.replace(chr(34), '')})" if group else label,
        "action.notable.param.security_domain": "access",
        "action.notable.param.severity": rule.level.name.lower() if rule.level else "medium",
        **alerting(rule, docs, group, lookback),
        "counttype": "number of events",
        "cron_schedule": "*/10 * * * *" if interval == 600 else "0 * * * *",
        "description": description,
        "disabled": "1",
        # Each run judges the windows completed in its own interval, of events up to LATE late.
        "dispatch.earliest_time": f"-{duration(lookback + LATE + interval + LAG)}@m",
        "dispatch.latest_time": f"-{duration(LAG)}@m",
        "enableSched": "1",
        "quantity": "0",
        # Continuous scheduling: a delayed run still covers its interval, so no window goes unjudged.
        "realtime_schedule": "0",
        "relation": "greater than",
        "schedule_window": "auto",
        "search": "\n".join(lines),
    }
    settings.update(risk_settings(rule, docs, group, title))
    macros = [
        *ratio_macros(rule, docs),
        Macro(
            f"{stem}_filter",
            "search *",
            f"Exclusions of '{title}', applied to its events before they are counted "
            '(e.g. search NOT user IN ("svc-scanner")).',
        ),
    ]
    return Search(f"ESA Auth - {label} - Rule", settings), macros


#: What every search needs, before each rule's own ``how_to_implement``.
HOW_TO_IMPLEMENT = (
    "Needs the ESA authentication events on one of the two data paths: the add-on's modular input (sourcetype "
    "cisco:esa:auth), or the ESA logs indexed with the official Splunk Add-on for Cisco ESA or SC4S and read through "
    "this add-on's search-time knowledge (eventtype esa_auth_raw). Set the macros esa_auth_index and "
    "esa_auth_raw_index to their indexes. Exclusions go in the macros esa_auth_tuning and <rule>_filter, applied "
    "before counting; the threshold is <rule>_threshold (detections/README.md)."
)
#: How far back a risk drilldown looks: ES's earliest offset is "the amount of time before the time of the
#: triggering event" (for example 2h); 7 days, the span ESCU's risk drilldowns show.
RISK_LOOKBACK = "7d"


def how_to_implement(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> str:
    """The common requirements, then the rule's own (``how_to_implement`` in its YAML)."""
    own = docs[str(rule.id)].get("how_to_implement")
    if not isinstance(own, str) or not own.strip():
        raise GenerationError(f"{rule.title}: a rule that alerts needs a how_to_implement text")
    return f"{HOW_TO_IMPLEMENT} {one_line(own)}"


def events_drilldown(queries: Sequence[str], group: Sequence[str]) -> str:
    """The search of the events behind an alert: the rule's events of its group (a derived group field set first)."""
    tokens = " ".join(f'{f}="${f}$"' for f in group)
    base = f"`{BASE_MACRO}` ({or_queries(queries)})"
    steps = derived(group)
    if steps:
        return f"{base} {' '.join(steps)} | search {tokens}"
    return f"{base} {tokens}".rstrip()


def drilldowns(queries: Sequence[str], group: Sequence[str]) -> List[Dict[str, str]]:
    """ES drilldown searches: the events, over the searched range; then, for each group field that is a risk
    object, its risk events over RISK_LOOKBACK (the Risk data model, as ESCU's drilldowns read it)."""
    found = [
        {
            "name": "View the events behind this alert",
            "search": events_drilldown(queries, group),
            "earliest_offset": "$info_min_time$",
            "latest_offset": "$info_max_time$",
        }
    ]
    for field in group:
        if field in RISK_OBJECTS:
            found.append(
                {
                    "name": f"View the risk events of {field} ${field}$ (7 days)",
                    "search": f'| from datamodel Risk.All_Risk | search normalized_risk_object="${field}$" '
                    "| stats count min(_time) as first_time max(_time) as last_time sum(risk_score) as risk_score "
                    "values(search_name) as search_name values(risk_message) as risk_message by normalized_risk_object",
                    "earliest_offset": RISK_LOOKBACK,
                    "latest_offset": "$info_max_time$",
                }
            )
    return found


def raises_notable(rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]]) -> bool:
    """Whether the search raises notables (``notable: false`` in the rule: risk events only)."""
    value = docs[str(rule.id)].get("notable", True)
    if not isinstance(value, bool):
        raise GenerationError(f"{rule.title}: 'notable' must be true or false")
    return value


def alerting(
    rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]], group: Sequence[str], lookback: int
) -> Dict[str, str]:
    """How results become alerts: throttled per entity for a notable search, never for a risk-only one.

    A notable search alerts per result (``alert.digest_mode = 0``) and suppresses a group's later results for the
    rule's ``suppress`` period (default: its lookback, at least an hour and at most a day): savedsearches.conf.spec
    applies ``alert.suppress.fields`` only to per-result alerts, and in digest mode the first alert would silence
    every other entity for the period. A risk-only search is not throttled: each window is judged once (README,
    "Late data"), and every judged window is a risk event.
    """
    if not raises_notable(rule, docs):
        return {"alert.digest_mode": "1", "alert.suppress": "0"}
    if not group:
        raise GenerationError(f"{rule.title}: a notable search needs a group-by field to throttle on")
    text = docs[str(rule.id)].get("suppress")
    period = min(max(lookback, 3600), 86400) if text is None else seconds_of(str(text), rule.title)
    return {
        "alert.digest_mode": "0",
        "alert.suppress": "1",
        "alert.suppress.fields": ",".join(group),
        "alert.suppress.period": f"{period}s",
    }


def seconds_of(text: str, title: str) -> int:
    """A rule's duration setting (``30m``, ``24h``, ``7d``) in seconds."""
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match:
        raise GenerationError(f"{title}: a duration is a number and m, h or d, not {text!r}")
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


def risk_settings(
    rule: SigmaCorrelationRule, docs: Dict[str, Dict[str, Any]], group: Sequence[str], title: str
) -> Dict[str, str]:
    """Risk-based alerting keys (ES 7/8 ``action.risk``): one risk object per group-by field that names one.

    The score is the rule's ``risk_score`` when it sets one, else its level's (RISK_SCORES).
    """
    objects = [f for f in group if f in RISK_OBJECTS]
    if not objects:
        raise GenerationError(f"{title}: no group-by field is a risk object ({', '.join(RISK_OBJECTS)})")
    level = rule.level.name.lower() if rule.level else "medium"
    score = int(docs[str(rule.id)].get("risk_score", RISK_SCORES[level]))
    risk = [{"risk_object_field": f, "risk_object_type": RISK_OBJECTS[f], "risk_score": score} for f in objects]
    message = re.sub(r"^Cisco ESA ", "", title) + " (" + " ".join(f"{f}=${f}$" for f in group) + ")"
    return {
        "action.risk": "1",
        "action.risk.param._risk": json.dumps(risk),
        "action.risk.param._risk_message": message,
        "action.risk.param._risk_score": "0",
        "action.risk.param.verbose": "0",
    }


def threshold_macros(collection: SigmaCollection) -> List[Macro]:
    """One macro per count threshold of a correlation rule (temporal rules have none)."""
    macros = []
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule) and rule.type in (
            SigmaCorrelationType.EVENT_COUNT,
            SigmaCorrelationType.VALUE_COUNT,
        ):
            count = rule.condition.count  # type: ignore[union-attr]
            value = str(int(count)) if float(count).is_integer() else str(count)
            macros.append(
                Macro(
                    threshold_macro(rule),
                    value,
                    f"Threshold of '{rule.title}' (Sigma condition {rule.condition.op.name.lower()} {value}"  # type: ignore[union-attr]
                    f" over {duration(span_seconds(rule))})."
                    + (
                        f" Keep 1: before its range the search reads the collection {SEEN}, which holds one last-seen "
                        "time per value."
                        if first_seen_shape(rule)
                        else ""
                    ),
                )
            )
    return macros


def top_level(collection: SigmaCollection) -> List[SigmaCorrelationRule]:
    """Correlation rules that no other correlation uses: each becomes a search."""
    used = set()
    for rule in collection.rules:
        if isinstance(rule, SigmaCorrelationRule):
            used.update(id(r) for r in referenced(rule))
    return [r for r in collection.rules if isinstance(r, SigmaCorrelationRule) and id(r) not in used]


def conf_value(value: str) -> str:
    # A multi-line value continues with a backslash at the end of each line (Splunk .conf syntax).
    return " \\\n".join(value.split("\n"))


HEADER = (
    "# Generated by detections/generate.py from detections/rules/**/*.yml: do not edit.\n"
    "# Change a rule, then run: python detections/generate.py (tests/test_detections.py fails when this is stale).\n"
    "# Stanzas without action.correlationsearch keys come verbatim from detections/searches/*.conf.\n"
)


def render_searches(searches: Sequence[Search], fragments: Sequence[Tuple[str, str]]) -> str:
    """savedsearches.conf: stanzas in ``ksconf sort`` order (build.py requires it), each fragment whole."""
    blocks = []
    for search in searches:
        body = "".join(f"{k} = {conf_value(v)}\n" for k, v in sorted(search.settings.items()))
        blocks.append((search.stanza, f"\n[{search.stanza}]\n{body}"))
    for _, text in fragments:
        first = _STANZA.search(text)
        # No note above the fragment: ksconf sort would attach it to the stanza before.
        blocks.append((first.group(1) if first else "", f"\n{text.strip()}\n"))
    return HEADER + "".join(block for _, block in sorted(blocks))


def render_macros(macros: Sequence[Macro]) -> str:
    parts = [HEADER]
    for macro in sorted(macros, key=lambda m: m.name):
        parts.append(
            f"\n[{macro.name}]\ndefinition = {macro.definition}\ndescription = {macro.description}\niseval = 0\n"
        )
    return "".join(parts)


def render_bundle() -> str:
    """Every rule file in one YAML stream (comments kept), the default rule set of ``esa-auth detect``."""
    parts = [
        "# The rule set of esa-auth detect. Generated by detections/generate.py from detections/rules: do not edit.\n"
    ]
    for path in sorted(RULES_DIR.rglob("*.yml")):
        text = path.read_text(encoding="utf-8").strip()
        text = re.sub(r"\A---\s*\n", "", text)
        parts.append(f"---\n# {path.relative_to(ROOT).as_posix()}\n{text}\n")
    return "".join(parts)


def fragments() -> List[Tuple[str, str]]:
    """Hand-written searches (zero or more ``detections/searches/*.conf``), by file name."""
    return [(p.name, p.read_text(encoding="utf-8")) for p in sorted(FRAGMENTS_DIR.glob("*.conf"))]


_STANZA = re.compile(r"^\[([^\]\n]+)\]\s*$", re.MULTILINE)


def generate() -> Dict[Path, str]:
    """Every generated file and its content.

    Raises:
        GenerationError: a rule cannot be generated, or a hand-written stanza has a generated stanza's name.
    """
    collection, docs = load()
    searches: List[Search] = []
    macros = [
        Macro(
            BASE_MACRO,
            BASE_DEFINITION,
            "The ESA authentication events of both data paths (set the index macros "
            "esa_auth_index and esa_auth_raw_index, not this one).",
        ),
        *(Macro(name, definition, description) for name, definition, description in INDEX_MACROS + FIXED_MACROS),
        Macro(
            NETWORK_MACRO,
            network_macro(networks.RULE),
            f"Sets src_net, the /{networks.RULE.ipv4_prefix} (IPv4) or /{networks.RULE.ipv6_prefix} (IPv6) network of "
            "src, for the rules that count sources by network (written from esa_auth.detect.networks.RULE, which "
            "esa-auth detect follows).",
        ),
        Macro(
            TUNING_MACRO,
            "search *",
            "Exclusions for every ESA Auth detection, applied to the events before they are counted (e.g. "
            'search NOT user IN ("svc-scanner") NOT sender_group="RELAYLIST"); each rule also has <rule>_filter.',
        ),
    ]
    for rule in top_level(collection):
        search, extra = search_for(rule, docs)
        searches.append(search)
        macros += extra
        if is_first_seen(rule, docs):
            searches.append(fill_search(rule, docs, search.stanza[len("ESA Auth - ") : -len(" - Rule")]))
    if any(s.stanza.endswith(" - Lookup Gen") for s in searches):
        searches.append(purge_search())
    macros += threshold_macros(collection)
    names = [s.stanza for s in searches]
    extra_files = fragments()
    for file_name, text in extra_files:
        for stanza in _STANZA.findall(text):
            if stanza in names:
                raise GenerationError(f"detections/searches/{file_name}: stanza [{stanza}] is also generated")
            names.append(stanza)
    if len(set(names)) != len(names):
        raise GenerationError(f"duplicate saved search names: {sorted(n for n in names if names.count(n) > 1)}")
    return {
        SAVEDSEARCHES: render_searches(searches, extra_files),
        MACROS: render_macros(macros),
        BUNDLE: render_bundle(),
    }


def _show(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="do not write; exit 1 if a generated file is stale")
    args = parser.parse_args(argv)
    try:
        outputs = generate()
    except (GenerationError, ValueError) as exc:
        sys.stderr.write(f"generate.py: error: {exc}\n")
        return 2
    stale = [p for p, text in outputs.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            sys.stderr.write(f"stale: {_show(path)} (run: python detections/generate.py)\n")
        return 1 if stale else 0
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(outputs[path], encoding="utf-8")
        sys.stdout.write(f"wrote {_show(path)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
