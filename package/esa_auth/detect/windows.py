"""Sliding windows of a correlation, in one pass over its events sorted by group and time.

A correlation judges, for each group and each time ``t`` at which one of its
referenced rules matched, the window ``[t - timespan, t]`` (both ends
included), as the backend's plans and the shipped ``streamstats time_window``
searches do (``detections/README.md``). Events enter a window as the pass
reaches them and leave it when they fall out of the timespan, so each event is
handled twice whatever the window holds: time grows with the events, and
memory with the events of one window of one group.

Metrics, as ``sigma.backends.sqlite.correlation`` computes them:

- ``event_count``: the distinct events in the window;
- ``value_count``: the distinct values of the condition's field (compared
  without ASCII case, as ``COLLATE NOCASE``; missing values not counted);
- ``temporal`` and ``temporal_ordered``: the distinct referenced rules in the
  window. ``temporal_ordered`` also asks that the rules of a clause occur in
  order: each one's first time in the window after the previous one's.

A ``success_ratio`` (an extension, :data:`.compiler.RATIO_KEY`) adds the
successes of the group as a slot that neither counts in the metric nor ends a
window; a window then qualifies only if its successes are at most the ratio's
share of its events (successes and counted events).

Each qualifying window is a :class:`Window`; a correlation that another one
references keeps its windows (its alerts) in a temporary table, where the
parent reads them as events at their window's end.
"""

from __future__ import annotations

import json
import sqlite3
from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Deque, Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

from .compiler import ID_FIELD, TABLE, TIME_FIELD, Node, qualifies
from .store import group_key, quote

#: An event of a correlation: slot, group values, time, event key, value, child alert id.
Row = Tuple[Any, ...]
#: ``(slot, time)`` of the events a ``temporal_ordered`` window chose.
Chosen = FrozenSet[Tuple[int, float]]

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Window:
    """A qualifying window: its group values, bounds (seconds since the epoch), metric and, for
    ``temporal_ordered``, the events it chose (else its evidence is every event between its bounds);
    a plain rule's window (one event) carries its ``event_id``."""

    group: Tuple[Any, ...]
    start: float
    end: float
    metric: float
    chosen: Optional[Chosen]
    event_id: Optional[str] = None


def _fold(value: Any) -> Tuple[str, Any]:
    # COUNT(DISTINCT v COLLATE NOCASE): ASCII case folded, text never equal to a number.
    if isinstance(value, str):
        return ("t", value.translate(_ASCII_LOWER))
    if isinstance(value, bytes):
        return ("b", value)
    return ("n", value)


class Evaluator:
    """Evaluates correlations over a store's events; children once, however many parents read them.

    Args:
        connection: the store's database.

    Attributes:
        diagnostics: by node key, events left out for a missing group-by value.
    """

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self._ready: Set[str] = set()
        self.diagnostics: Dict[str, int] = {}

    # --- the events of a node -------------------------------------------------------------------------------
    def prepare(self, node: Node) -> None:
        """Fill the node's input table (children first), index it, and count what it leaves out."""
        if node.key in self._ready:
            return
        for slot in node.slots:
            if slot.child is not None:
                self.prepare(slot.child)
                self._materialize(slot.child)
        groups = [f"g{i}" for i in range(len(node.group_by))]
        table = _input(node)
        self.connection.execute(
            f"CREATE TEMP TABLE {table} (slot INTEGER, {''.join(g + ', ' for g in groups)}"
            "ts REAL, eid TEXT, v, ref INTEGER)"
        )
        for index, slot in enumerate(node.slots):
            if slot.child is not None:
                values = "".join(f"c.g{p}, " for p in slot.positions)
                self.connection.execute(
                    f"INSERT INTO {table} SELECT {index}, {values}c.end, 'c:' || c.id, NULL, c.id "
                    f"FROM {_alerts(slot.child)} c"
                )
            else:
                values = "".join(group_key(quote(f)) + ", " for f in slot.fields)
                value = quote(slot.value_field) if slot.value_field else "NULL"
                self.connection.execute(
                    f"INSERT INTO {table} SELECT {index}, {values}{quote(TIME_FIELD)}, "
                    f"'e:' || CAST({quote(ID_FIELD)} AS TEXT), {value}, NULL FROM {TABLE} WHERE {slot.predicate}"
                )
        self.connection.execute(f"CREATE INDEX {table}_g ON {table} ({', '.join([*groups, 'ts'])})")
        if groups:
            missing = " OR ".join(f"{g} IS NULL" for g in groups)
            (count,) = self.connection.execute(f"SELECT COUNT(DISTINCT eid) FROM {table} WHERE {missing}").fetchone()
            self.diagnostics[node.key] = int(count)
        self._ready.add(node.key)

    def _materialize(self, node: Node) -> None:
        """A referenced correlation's windows, as the table its parents read."""
        table = _alerts(node)
        if table in self._ready:
            return
        groups = [f"g{i}" for i in range(len(node.group_by))]
        self.connection.execute(
            f"CREATE TEMP TABLE {table} (id INTEGER PRIMARY KEY, {''.join(g + ', ' for g in groups)}"
            "start REAL, end REAL, metric REAL, chosen TEXT)"
        )
        insert = f"INSERT INTO {table} VALUES (NULL, {', '.join('?' for _ in range(len(groups) + 4))})"
        batch: List[Sequence[Any]] = []
        for window in self.windows(node):
            chosen = None if window.chosen is None else json.dumps(sorted(window.chosen))
            batch.append((*window.group, window.start, window.end, window.metric, chosen))
            if len(batch) >= 5000:
                self.connection.executemany(insert, batch)
                batch = []
        self.connection.executemany(insert, batch)
        self._ready.add(table)

    def _rows(self, node: Node) -> Iterator[Row]:
        groups = [f"g{i}" for i in range(len(node.group_by))]
        guard = " AND ".join(["ts IS NOT NULL", "eid IS NOT NULL"] + [f"{g} IS NOT NULL" for g in groups])
        columns = ", ".join(["slot", *groups, "ts", "eid", "v", "ref"])
        return iter(
            self.connection.execute(
                f"SELECT {columns} FROM {_input(node)} WHERE {guard} ORDER BY {', '.join([*groups, 'ts'])}"
            )
        )

    # --- windows --------------------------------------------------------------------------------------------
    def windows(self, node: Node) -> Iterator[Window]:
        """Every qualifying window of a node, by group, then by end."""
        self.prepare(node)
        width = len(node.group_by)
        for group, rows in groupby(self._rows(node), key=lambda r: r[1 : 1 + width]):
            yield from _group_windows(node, tuple(group), rows, width)

    # --- evidence -------------------------------------------------------------------------------------------
    def evidence(
        self, node: Node, group: Sequence[Any], start: float, end: float, chosen: Optional[Chosen]
    ) -> Set[str]:
        """The event ids behind windows of a group: every event between ``start`` and ``end``, or the chosen ones."""
        found: Set[str] = set()
        self._evidence(node, group, start, end, chosen, found, set())
        return found

    def _evidence(
        self,
        node: Node,
        group: Sequence[Any],
        start: float,
        end: float,
        chosen: Optional[Chosen],
        found: Set[str],
        seen: Set[Tuple[str, int]],
    ) -> None:
        where = "".join(f"g{i} = ? AND " for i in range(len(group)))
        table = _input(node)
        if chosen is None:
            queries = [(f"SELECT eid, ref, slot FROM {table} WHERE {where}ts BETWEEN ? AND ?", (*group, start, end))]
        else:
            queries = [
                (f"SELECT eid, ref, slot FROM {table} WHERE {where}ts = ? AND slot = ?", (*group, when, slot))
                for slot, when in sorted(chosen)
            ]
        for sql, parameters in queries:
            for eid, ref, slot in self.connection.execute(sql, parameters).fetchall():
                if eid is None:
                    continue
                child = node.slots[slot].child
                if ref is None or child is None:
                    found.add(eid[2:])
                    continue
                if (child.key, ref) in seen:
                    continue
                seen.add((child.key, ref))
                width = len(child.group_by)
                row = self.connection.execute(f"SELECT * FROM {_alerts(child)} WHERE id = ?", (ref,)).fetchone()
                picked = None if row[-1] is None else frozenset((int(s), float(t)) for s, t in json.loads(row[-1]))
                self._evidence(child, row[1 : 1 + width], row[1 + width], row[2 + width], picked, found, seen)


def _input(node: Node) -> str:
    return f"esa_detect_{node.key}_input"


def _alerts(node: Node) -> str:
    return f"esa_detect_{node.key}_alerts"


def _group_windows(node: Node, group: Tuple[Any, ...], rows: Iterator[Row], width: int) -> Iterator[Window]:
    """The qualifying windows of one group, whose rows come in time order."""
    at_ts, at_eid, at_v = 1 + width, 2 + width, 3 + width
    kind = node.kind
    window: Deque[Row] = deque()
    counts: Counter[Any] = Counter()
    # temporal_ordered: each slot's times in the window (a list read from `heads`, for bisect).
    times: List[List[float]] = [[] for _ in node.slots]
    heads = [0] * len(node.slots)
    ordered = kind == "temporal_ordered"
    # What a row adds to its window's metric (None: nothing): its event, its value, or its referenced rule.
    at_key = at_eid if kind == "event_count" else at_v if kind == "value_count" else 0
    fold = _fold if kind == "value_count" else None
    # success_ratio: the slots that end no window (the successes), and the window's events of each kind.
    quiet = {index for index, slot in enumerate(node.slots) if not slot.anchor}
    successes = attempts = 0
    for end, peers in groupby(rows, key=lambda r: r[at_ts]):
        anchored = False
        for row in peers:
            window.append(row)
            if row[0] in quiet:
                successes += 1
                continue
            anchored = True
            attempts += 1
            key = row[at_key]
            if key is not None:
                counts[key if fold is None else fold(key)] += 1
            if ordered:
                times[row[0]].append(end)
        start = end - node.span
        while window[0][at_ts] < start:
            old = window.popleft()
            if old[0] in quiet:
                successes -= 1
                continue
            attempts -= 1
            key = old[at_key]
            if key is not None:
                key = key if fold is None else fold(key)
                counts[key] -= 1
                if not counts[key]:
                    del counts[key]
            if ordered:
                slot = old[0]
                heads[slot] += 1
                if heads[slot] > 1024 and heads[slot] * 2 > len(times[slot]):
                    del times[slot][: heads[slot]]
                    heads[slot] = 0
        metric = len(counts)
        if not anchored or not qualifies(metric, node.operator, node.threshold):
            continue
        if node.ratio is not None and successes > node.ratio * (successes + attempts):
            continue
        if not ordered:
            yield Window(group, start, end, metric, None)
            continue
        chosen: Set[Tuple[int, float]] = set()
        held = False
        for clause in node.clauses:
            picked = _ordered(clause, times, heads, required=node.operator in (">", ">="))
            if picked is not None:
                held = True
                chosen.update(picked)
        if held:
            yield Window(group, start, end, metric, frozenset(chosen))


def _ordered(
    clause: Tuple[int, ...], times: List[List[float]], heads: List[int], required: bool
) -> Optional[List[Tuple[int, float]]]:
    """The times a clause chose in the window, each slot's first after the previous chosen one; None: not in order.

    With ``required`` (a ``>``/``>=`` threshold, where clauses are the subsets of that size) every slot of the
    clause must occur; otherwise an absent slot is allowed, and a present one must still come in order.
    """
    picked: List[Tuple[int, float]] = []
    previous: Optional[float] = None
    for slot in clause:
        series, head = times[slot], heads[slot]
        present = head < len(series)
        if previous is None:
            index = head
        else:
            index = bisect_right(series, previous, head)
        if index < len(series):
            picked.append((slot, series[index]))
            previous = series[index]
        elif required or present:
            return None
    return picked


__all__ = ["Evaluator", "Window"]
