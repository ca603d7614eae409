"""The engine: rules compiled once, run over any number of event sets.

A run puts the events in a :class:`~.store.Store` (SQLite on a temporary
file) as they come, then judges every rule's windows in one pass each
(:mod:`.windows`) and merges the overlapping windows of one rule and one
group into one alert (one burst). Alerts come out in time order; the event
ids behind each are read from the store when the alert is written, so memory
holds the alerts' bounds, not their events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Set, Tuple

from ..timezones import rfc3339
from .compiler import ID_FIELD, TABLE, TIME_FIELD, Compiled, compile_rules, load_rules
from .store import Store, quote
from .windows import Evaluator, Window

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sigma.collection import SigmaCollection

#: Called as rules are judged: (rules judged, rules, alerts so far).
Progress = Callable[[int, int, int], None]
#: What every alert names of its events, whatever its group (#19): the accounts, the client addresses and the
#: appliances, by event field and alert key. The shipped searches list the same fields (detections/generate.py).
CONTEXT = (("user", "users"), ("src", "sources"), ("dvc", "dvc"))
#: How many values of each an alert lists (the first in text order); ``<field>_count`` says how many there were.
CONTEXT_LIMIT = 10


@dataclass(frozen=True)
class Alert:
    """One alert: a rule that fired for one group of events over one window.

    Attributes:
        rule: the rule title.
        rule_id: the rule id (UUID).
        rule_name: the rule's Sigma ``name``, if it has one.
        level: the Sigma level (``high`` ...).
        kind: the correlation type (``event_count`` ...), or ``event`` for a plain rule.
        group: the group-by fields and their values (lower case: Sigma compares without case).
        window_start: start of the window, RFC 3339 UTC.
        window_end: end of the window (the event that completed it), RFC 3339 UTC.
        metric: the value compared with the threshold (a count, or a number of distinct values).
        event_ids: the ``event_id`` of every event behind the alert, sorted.
        context: by field of :data:`CONTEXT` (``user``, ``src``, ``dvc``), the distinct values of the events behind
            the alert, in lower case, sorted (all of them: :meth:`to_dict` lists the first :data:`CONTEXT_LIMIT`).
    """

    rule: str
    rule_id: str
    rule_name: Optional[str]
    level: Optional[str]
    kind: str
    group: Dict[str, Any]
    window_start: str
    window_end: str
    metric: Optional[float]
    event_ids: Tuple[str, ...]
    context: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()

    def to_dict(self) -> Dict[str, Any]:
        """The alert as one JSON object (``count`` is the number of events)."""
        metric: Any = self.metric
        if isinstance(metric, float) and metric.is_integer():
            metric = int(metric)
        out: Dict[str, Any] = {
            "rule": self.rule,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "level": self.level,
            "type": self.kind,
            "group": self.group,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "metric": metric,
        }
        values = dict(self.context)
        for field, key in CONTEXT:
            found = values.get(field, ())
            out[key] = list(found[:CONTEXT_LIMIT])
            out[f"{field}_count"] = len(found)
        out["count"] = len(self.event_ids)
        out["event_ids"] = list(self.event_ids)
        return out


@dataclass
class _Burst:
    """Overlapping windows of one rule and one group, merged; its events are read when it is written."""

    rule: Compiled
    group: Tuple[Any, ...]
    start: float
    end: float
    metric: Optional[float]
    chosen: Optional[Set[Tuple[int, float]]]
    ids: Optional[List[str]]

    def order(self) -> Tuple[str, str, str, str]:
        """Where its alert goes among the others: by window end, rule, group, window start (as text)."""
        group = json.dumps(_group(self.rule, self.group), sort_keys=True)
        return (rfc3339(self.end), self.rule.title, group, rfc3339(self.start))

    def dump(self) -> str:
        """The burst as JSON text (floats written exactly), for the table where bursts wait to be sorted."""
        chosen = None if self.chosen is None else sorted(self.chosen)
        return json.dumps([list(self.group), self.start, self.end, self.metric, chosen, self.ids])

    @classmethod
    def load(cls, rule: Compiled, text: str) -> _Burst:
        group, start, end, metric, chosen, ids = json.loads(text)
        picked = None if chosen is None else {(int(slot), float(when)) for slot, when in chosen}
        return cls(rule, tuple(group), start, end, metric, picked, ids)


class Engine:
    """Rules compiled once for SQLite, run over any number of event sets.

    Args:
        rules: a rule set from :func:`load_rules`. It is consumed: pySigma's
            processing mutates rules, so load a fresh set per engine.

    Attributes:
        rules: the rules that run, in rule-set order.
        skipped: ``(rule title, reason)`` for every rule the engine cannot run.
        diagnostics: after a run, by rule id, counts of events left out
            (``invalid_timestamp``: no time; ``missing_group_key``: a group-by field absent).
    """

    def __init__(self, rules: SigmaCollection) -> None:
        self.rules, self.skipped = compile_rules(rules)
        self.diagnostics: Dict[str, Dict[str, int]] = {}

    def store(self, events: Iterable[Dict[str, Any]] = (), directory: Optional[str] = None) -> Store:
        """A new store holding events (more can be added with :meth:`Store.add`); close it after the run."""
        store = Store(directory, fields={f for rule in self.rules for f in rule.fields} | {f for f, _ in CONTEXT})
        try:
            store.add(events)
        except BaseException:
            store.close()
            raise
        return store

    def alerts(self, store: Store, progress: Optional[Progress] = None) -> Iterator[Alert]:
        """Judge every rule over a store's events: alerts in time order, overlapping windows merged.

        The merged windows wait in a temporary table, sorted there, so that memory does not grow with
        the number of alerts either.
        """
        store.ensure_fields(sorted({f for rule in self.rules for f in rule.fields} | {f for f, _ in CONTEXT}))
        evaluator = Evaluator(store.connection)
        connection = store.connection
        self.diagnostics = {}
        connection.execute("DROP TABLE IF EXISTS temp.esa_detect_bursts")
        connection.execute(
            "CREATE TEMP TABLE esa_detect_bursts (window_end TEXT, rule TEXT, grp TEXT, window_start TEXT, "
            "rule_index INTEGER, burst TEXT)"
        )
        insert = "INSERT INTO esa_detect_bursts VALUES (?, ?, ?, ?, ?, ?)"
        found = 0
        for index, rule in enumerate(self.rules):
            batch: List[Tuple[Any, ...]] = []
            for burst in self._bursts(store, evaluator, rule):
                batch.append((*burst.order(), index, burst.dump()))
                if len(batch) >= 5000:
                    connection.executemany(insert, batch)
                    found += len(batch)
                    batch = []
            connection.executemany(insert, batch)
            found += len(batch)
            self.diagnostics[rule.rule_id] = self._diagnostics(store, evaluator, rule)
            if progress is not None:
                progress(index + 1, len(self.rules), found)
        # Ties keep the order they were found in (rule order, then group and time), as a stable sort would.
        rows = connection.execute(
            "SELECT rule_index, burst FROM esa_detect_bursts ORDER BY window_end, rule, grp, window_start, rowid"
        )
        for index, text in rows:
            yield self._alert(evaluator, _Burst.load(self.rules[index], text))

    def run(self, events: Iterable[Dict[str, Any]]) -> List[Alert]:
        """Run every rule over events (CIM dicts): alerts in time order, overlapping windows merged."""
        with self.store(events) as store:
            return list(self.alerts(store))

    def windows(self, events: Iterable[Dict[str, Any]], evidence: bool = False) -> Dict[str, List[Dict[str, Any]]]:
        """Every qualifying window of every rule, before merging, by rule id.

        A window: ``group_keys`` (field -> value), ``window_start``, ``window_end``
        (seconds since the epoch) and ``metric_value``; with ``evidence``, also
        ``event_ids`` (sorted; reading them costs the window's events, for each window).
        A plain rule (no correlation) gives one zero-length window per matching event.
        """
        found: Dict[str, List[Dict[str, Any]]] = {}
        with self.store(events) as store:
            store.ensure_fields(sorted({f for rule in self.rules for f in rule.fields}))
            evaluator = Evaluator(store.connection)
            for rule in self.rules:
                rows = found.setdefault(rule.rule_id, [])
                for window in self._windows(store, evaluator, rule):
                    row = {
                        "group_keys": _group(rule, window.group),
                        "window_start": window.start,
                        "window_end": window.end,
                        "metric_value": window.metric,
                    }
                    if evidence:
                        burst = _Burst(rule, window.group, window.start, window.end, window.metric, None, None)
                        _add(burst, window)
                        row["event_ids"] = list(self._alert(evaluator, burst).event_ids)
                    rows.append(row)
        return found

    # --- internals ------------------------------------------------------------------------------------------------
    def _windows(self, store: Store, evaluator: Evaluator, rule: Compiled) -> Iterator[Window]:
        if rule.node is not None:
            yield from evaluator.windows(rule.node)
            return
        assert rule.query is not None
        # A plain rule: one window of length zero per matching event, in time order.
        sql = (
            f"SELECT {quote(TIME_FIELD)}, CAST({quote(ID_FIELD)} AS TEXT) FROM ({rule.query.rstrip().rstrip(';')}) "
            f"WHERE {quote(TIME_FIELD)} IS NOT NULL AND {quote(ID_FIELD)} IS NOT NULL ORDER BY {quote(TIME_FIELD)}"
        )
        for when, event_id in store.connection.execute(sql):
            yield Window((), when, when, 1, None, event_id)

    def _bursts(self, store: Store, evaluator: Evaluator, rule: Compiled) -> Iterator[_Burst]:
        """The rule's windows merged: one burst per run of overlapping windows of one group."""
        current: Optional[_Burst] = None
        for window in self._windows(store, evaluator, rule):
            if current is not None and current.group == window.group and window.start <= current.end:
                current.end = max(current.end, window.end)
                current.metric = _max(current.metric, window.metric)
                _add(current, window)
                continue
            if current is not None:
                yield current
            current = _Burst(rule, window.group, window.start, window.end, window.metric, None, None)
            _add(current, window)
        if current is not None:
            yield current

    def _alert(self, evaluator: Evaluator, burst: _Burst) -> Alert:
        rule = burst.rule
        if burst.ids is not None:
            ids: Iterable[str] = burst.ids
        else:
            assert rule.node is not None
            chosen = None if burst.chosen is None else frozenset(burst.chosen)
            ids = evaluator.evidence(rule.node, burst.group, burst.start, burst.end, chosen)
        event_ids = tuple(sorted(set(ids)))
        return Alert(
            rule=rule.title,
            rule_id=rule.rule_id,
            rule_name=rule.name,
            level=rule.level,
            kind=rule.kind,
            group=_group(rule, burst.group),
            window_start=rfc3339(float(burst.start)),
            window_end=rfc3339(float(burst.end)),
            metric=None if burst.metric is None else float(burst.metric),
            event_ids=event_ids,
            context=_context(evaluator, event_ids),
        )

    def _diagnostics(self, store: Store, evaluator: Evaluator, rule: Compiled) -> Dict[str, int]:
        counts: Dict[str, int] = {}
        predicates = rule.predicates()
        if predicates:
            where = " OR ".join(f"({p})" for p in predicates)
            (untimed,) = store.connection.execute(
                f"SELECT COUNT(*) FROM logs WHERE {quote(TIME_FIELD)} IS NULL AND ({where})"
            ).fetchone()
            counts["invalid_timestamp"] = int(untimed)
        missing = 0
        stack = [rule.node] if rule.node is not None else []
        seen: Set[str] = set()
        while stack:
            node = stack.pop()
            if node.key in seen:
                continue
            seen.add(node.key)
            missing += evaluator.diagnostics.get(node.key, 0)
            stack.extend(slot.child for slot in node.slots if slot.child is not None)
        if missing:
            counts["missing_group_key"] = missing
        return {k: v for k, v in counts.items() if v}


def _context(evaluator: Evaluator, event_ids: Sequence[str]) -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """The distinct user, src and dvc values of an alert's events in lower case, each sorted (read from the store)."""
    found: Dict[str, Set[str]] = {field: set() for field, _ in CONTEXT}
    # Built once per store, when the first alert is written: each alert then reads only its own events.
    evaluator.connection.execute(f"CREATE INDEX IF NOT EXISTS esa_detect_event_id ON {TABLE} ({quote(ID_FIELD)})")
    columns = ", ".join(quote(field) for field, _ in CONTEXT)
    for i in range(0, len(event_ids), 500):
        chunk = event_ids[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT {columns} FROM {TABLE} WHERE {quote(ID_FIELD)} IN ({marks})"
        for row in evaluator.connection.execute(sql, chunk):
            for (field, _), value in zip(CONTEXT, row):
                if value is not None and value != "":
                    # In lower case, as the group values (and the shipped searches' lists).
                    found[field].add(str(value).lower())
    return tuple((field, tuple(sorted(found[field]))) for field, _ in CONTEXT)


def _add(burst: _Burst, window: Window) -> None:
    """A window's evidence joins its burst's: a plain rule's event, or a ``temporal_ordered`` window's chosen times."""
    if window.event_id is not None:
        burst.ids = [*(burst.ids or []), window.event_id]
    elif window.chosen is not None:
        burst.chosen = (burst.chosen or set()) | set(window.chosen)


def _group(rule: Compiled, values: Tuple[Any, ...]) -> Dict[str, Any]:
    # Fields in name order, as alerts have always listed them.
    fields = rule.node.group_by if rule.node is not None else ()
    return dict(sorted(zip(fields, values)))


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def detect(events: Iterable[Dict[str, Any]], rules: Optional[Path] = None) -> List[Alert]:
    """Run a rule set (default: the shipped one) over events (CIM dicts).

    Raises:
        ConfigError: the rules cannot be read, or pySigma is missing.
    """
    return Engine(load_rules(rules)).run(events)


__all__ = ["CONTEXT", "CONTEXT_LIMIT", "Alert", "Engine", "Progress", "detect"]
