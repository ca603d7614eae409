"""Sigma rules to plans: what :mod:`.windows` evaluates and :mod:`.store` queries.

The Sigma rules are the single source of the detections: the searches shipped
for Splunk are generated from them (``detections/generate.py``), and so is the
local engine. pySigma's SQLite backend compiles every detection (the field
conditions: values, wildcards, case) to an SQL predicate; this module keeps
those predicates and reads each correlation's type, group-by fields, timespan
and condition from the parsed Sigma rule, so that the windows can be evaluated
in one pass over the events in time order (:mod:`.windows`) instead of by the
backend's correlation SQL, whose cost grows with the events in each window for
every window (quadratic when windows are long or busy).

The semantics are the backend's (``sigma.backends.sqlite.correlation``,
"zircolite" plans), which tests/test_detect_engine.py compares with on random
event sets; a correlation the one-pass evaluation does not cover (an extended
condition, ``value_sum`` and the other numeric types, a parent grouped by a
field its child correlation does not keep) is reported as a rule that cannot run.

pySigma is imported only here and only when rules are loaded: it needs
Python 3.10 or newer, and neither ``esa-auth normalize`` nor the Splunk app use it.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sigma.collection import SigmaCollection

#: The rule set shipped with the library (built from ``detections/rules`` by ``detections/generate.py``).
DEFAULT_RULES = Path(__file__).resolve().with_name("rules")
#: The table the rules read, its time column (seconds since the epoch, as Splunk's ``_time``) and its id column.
TABLE = "logs"
TIME_FIELD = "_time"
ID_FIELD = "event_id"

#: Comparison operators of Sigma correlation conditions, as the backend maps them to SQL.
_OPERATORS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">=", "eq": "=", "neq": "!="}


def one_line(exc: BaseException) -> str:
    """An error as one line (YAML and pySigma errors span several)."""
    return " ".join(str(exc).split())


def import_error() -> ConfigError:
    return ConfigError(
        "detect needs pySigma and its SQLite backend (Python 3.10 or newer): "
        "pip install 'pysigma>=1.5,<2' 'pysigma-backend-sqlite>=2.0'"
    )


def load_rules(path: Optional[Path] = None) -> SigmaCollection:
    """Read a Sigma rule set: a ``.yml`` file, or every ``*.yml`` under a directory.

    Args:
        path: the file or directory; None: the rule set shipped with the library.

    Raises:
        ConfigError: the path holds no rule, a rule is not valid Sigma, or pySigma is missing.
            The message names the file when pySigma says which one.
    """
    try:
        import yaml
        from sigma.collection import SigmaCollection
        from sigma.exceptions import SigmaError
    except ImportError:
        raise import_error() from None
    where = DEFAULT_RULES if path is None else path
    if where.is_dir():
        files = sorted(where.rglob("*.yml"))
    elif where.is_file():
        files = [where]
    else:
        raise ConfigError(f"no such rule file or directory: {where}")
    if not files:
        raise ConfigError(f"no rule (*.yml) under {where}")
    # File by file, so that an error names its file; references are resolved once all are read.
    parts = []
    for file in files:
        try:
            parts.append(SigmaCollection.load_ruleset([file], resolve_references=False))
        except SigmaError as exc:
            raise ConfigError(f"invalid Sigma rule in {file}: {one_line(exc)}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file} is not valid YAML: {one_line(exc)}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {file}: {one_line(exc)}") from None
    try:
        collection = SigmaCollection.merge(parts)
    except SigmaError as exc:
        raise ConfigError(f"invalid Sigma rule set under {where}: {one_line(exc)}") from None
    if not collection.rules:
        raise ConfigError(f"no rule in {where}")
    return collection


@dataclass(frozen=True)
class Slot:
    """One referenced rule of a correlation: a detection (an SQL predicate) or a child correlation.

    ``fields`` are the event fields that give the parent's group-by values
    (after the correlation's aliases); for a child, the positions of those
    values in the child's group key.
    """

    predicate: Optional[str]
    child: Optional[Node]
    fields: Tuple[str, ...]
    positions: Tuple[int, ...]
    value_field: Optional[str]
    #: False for the successes of a ``success_ratio``: they count in the ratio, not in the metric, and no window
    #: ends at them.
    anchor: bool = True


@dataclass(frozen=True)
class Node:
    """A correlation: its referenced rules and how their events are judged.

    Attributes:
        key: a name unique within the engine (temporary table names).
        kind: ``event_count``, ``value_count``, ``temporal`` or ``temporal_ordered``.
        group_by: the group-by fields.
        span: the timespan, in seconds.
        operator: the condition's comparison (``>=`` ...), applied to the metric.
        threshold: the condition's number.
        slots: the referenced rules, in the rule's order.
        clauses: for ``temporal_ordered``: the ordered slots each qualifying window must hold.
        ratio: with a ``success_ratio`` (the last slot holds the successes): the largest share of successes among
            the window's events (successes and the counted rule's events) that still qualifies.
    """

    key: str
    kind: str
    group_by: Tuple[str, ...]
    span: float
    operator: str
    threshold: float
    slots: Tuple[Slot, ...]
    clauses: Tuple[Tuple[int, ...], ...]
    ratio: Optional[float] = None


#: The rule key of a success ratio (an extension of Sigma, as ``notable`` and ``suppress`` are): ``rule``, the name
#: of the base rule of successes, and ``lte``, the largest share of successes among the window's attempts.
RATIO_KEY = "success_ratio"


@dataclass(frozen=True)
class Compiled:
    """A rule ready to run: a correlation :class:`Node`, or a plain ``SELECT`` (one alert per matching event)."""

    title: str
    rule_id: str
    name: Optional[str]
    level: Optional[str]
    kind: str
    node: Optional[Node]
    query: Optional[str]
    fields: Tuple[str, ...]

    def predicates(self) -> List[str]:
        """The SQL predicates of every detection the rule reads (its own, or its correlations')."""
        found: List[str] = []

        def walk(node: Node) -> None:
            for slot in node.slots:
                if slot.predicate is not None and slot.predicate not in found:
                    found.append(slot.predicate)
                if slot.child is not None:
                    walk(slot.child)

        if self.node is not None:
            walk(self.node)
        return found


class Unsupported(Exception):
    """A correlation outside what the one-pass evaluation covers (the rule is skipped with this reason)."""


def compile_rules(rules: SigmaCollection) -> Tuple[List[Compiled], List[Tuple[str, str]]]:
    """Compile a rule set: the rules that run, in rule-set order, and ``(title, reason)`` of those that cannot.

    The rule set is consumed: pySigma's processing mutates rules.
    """
    try:
        from sigma.backends.sqlite.sqlite import sqliteBackend
    except ImportError:
        raise import_error() from None
    backend = sqliteBackend(  # type: ignore[no-untyped-call]
        collect_errors=True, timestamp_field=TIME_FIELD, timestamp_format="unix", event_id_field=ID_FIELD
    )
    # The backend decides which rules are reported on their own (not the
    # detections and intermediate correlations that others reference) and
    # compiles every detection to a predicate (get_conversion_result).
    output = json.loads(backend.convert(rules, "zircolite"))
    by_id = {str(rule.id): rule for rule in rules.rules}
    by_name = {str(rule.name): rule for rule in rules.rules if rule.name}
    skipped: List[Tuple[str, str]] = [(rule.title, one_line(error)) for rule, error in backend.errors]
    compiled: List[Compiled] = []
    nodes: Dict[int, Node] = {}
    for item in output:
        source = by_id.get(item.get("id", ""))
        node: Optional[Node] = None
        kind = "event"
        fields = set(item.get("required_fields") or ())
        if item.get("correlation"):
            try:
                node = _node(source, nodes, by_name)
            except Unsupported as exc:
                skipped.append((item["title"], str(exc)))
                continue
            kind = node.kind
            for table_fields in (item.get("correlation_plan") or {}).get("required_fields", {}).values():
                fields.update(table_fields)
            fields.update(_node_fields(node))
        compiled.append(
            Compiled(
                title=item["title"],
                rule_id=item["id"],
                name=getattr(source, "name", None),
                level=item.get("level") or None,
                kind=kind,
                node=node,
                query=None if node is not None else item["rule"][0],
                fields=tuple(sorted(fields)),
            )
        )
    return compiled, skipped


def _node_fields(node: Node) -> List[str]:
    out = list(node.group_by)
    for slot in node.slots:
        out.extend(slot.fields)
        if slot.value_field:
            out.append(slot.value_field)
        if slot.child is not None:
            out.extend(_node_fields(slot.child))
    return out


def _node(rule: Any, nodes: Dict[int, Node], by_name: Dict[str, Any]) -> Node:
    """The :class:`Node` of a parsed, converted correlation rule (memoized: a child may have several parents)."""
    from sigma.correlations import SigmaCorrelationRule, SigmaExtendedCorrelationCondition

    if id(rule) in nodes:
        return nodes[id(rule)]
    kind = rule.type.name.lower()
    if kind not in ("event_count", "value_count", "temporal", "temporal_ordered"):
        raise Unsupported(f"correlation type {kind} is not supported by the local engine")
    if isinstance(rule.condition, SigmaExtendedCorrelationCondition):
        raise Unsupported("extended correlation conditions are not supported by the local engine")
    span = float(rule.timespan.seconds)
    if span <= 0:
        raise Unsupported("the correlation timespan must be positive")
    group_by = tuple(rule.group_by or ())
    value_field = getattr(rule.condition, "fieldref", None)
    slots: List[Slot] = []
    references: List[str] = []
    for ref in rule.referenced_rules:
        references.append(ref.reference)
        # Aliases name a field differently in each referenced rule (Sigma correlation spec, "aliases").
        mapping = {
            alias.alias: field
            for alias in rule.aliases
            for target, field in alias.mapping.items()
            if target.reference in (ref.reference, ref.rule.name, str(ref.rule.id))
        }
        fields = tuple(mapping.get(f, f) for f in group_by)
        value = mapping.get(value_field, value_field) if value_field else None
        if isinstance(ref.rule, SigmaCorrelationRule):
            child = _node(ref.rule, nodes, by_name)
            # A child's events are its alerts, which keep only its group-by values.
            missing = [f for f in fields if f not in child.group_by]
            if missing:
                raise Unsupported(f"grouped by {', '.join(missing)}, which {ref.reference} does not group by")
            if value is not None:
                raise Unsupported(f"a value count over the correlation {ref.reference} is not supported")
            positions = tuple(child.group_by.index(f) for f in fields)
            slots.append(Slot(predicate=None, child=child, fields=fields, positions=positions, value_field=None))
        else:
            queries = ref.rule.get_conversion_result()
            if not queries or any(not isinstance(q, str) for q in queries):
                raise Unsupported(f"{ref.reference} has no compiled condition")
            predicate = " OR ".join(f"({q})" for q in queries)
            slots.append(Slot(predicate=predicate, child=None, fields=fields, positions=(), value_field=value))
    ratio = _ratio(rule, kind, group_by, by_name, slots)
    operator = _OPERATORS[rule.condition.op.name.lower()]
    threshold = float(rule.condition.count)
    clauses: Tuple[Tuple[int, ...], ...] = ()
    if kind == "temporal_ordered":
        if operator in (">", ">="):
            # As the backend: a threshold of k of n rules asks for some k of them in order.
            required = max(0, math.floor(threshold) + 1 if operator == ">" else math.ceil(threshold))
            clauses = tuple(tuple(c) for c in itertools.combinations(range(len(slots)), required))
        else:
            clauses = (tuple(range(len(slots))),)
    node = Node(
        key=f"n{len(nodes)}",
        kind=kind,
        group_by=group_by,
        span=span,
        operator=operator,
        threshold=threshold,
        slots=tuple(slots),
        clauses=clauses,
        ratio=ratio,
    )
    nodes[id(rule)] = node
    return node


def _ratio(
    rule: Any, kind: str, group_by: Tuple[str, ...], by_name: Dict[str, Any], slots: List[Slot]
) -> Optional[float]:
    """A rule's ``success_ratio``: its successes become the last slot (no anchor); None without one."""
    spec = (getattr(rule, "custom_attributes", None) or {}).get(RATIO_KEY)
    if spec is None:
        return None
    if kind not in ("event_count", "value_count") or not isinstance(spec, dict):
        raise Unsupported(f"{RATIO_KEY} is a mapping (rule, lte) on an event_count or value_count rule")
    successes = by_name.get(str(spec.get("rule")))
    limit = spec.get("lte")
    if successes is None or not isinstance(limit, (int, float)) or not 0 <= limit <= 1:
        raise Unsupported(f"{RATIO_KEY} needs 'rule', the name of a base rule, and 'lte', a share from 0 to 1")
    queries = successes.get_conversion_result()
    if not queries or any(not isinstance(q, str) for q in queries):
        raise Unsupported(f"{RATIO_KEY}: {spec.get('rule')} has no compiled condition")
    predicate = " OR ".join(f"({q})" for q in queries)
    slots.append(Slot(predicate=predicate, child=None, fields=group_by, positions=(), value_field=None, anchor=False))
    return float(limit)


def qualifies(metric: float, operator: str, threshold: float) -> bool:
    """The correlation condition: ``metric <operator> threshold``."""
    if operator == ">=":
        return metric >= threshold
    if operator == ">":
        return metric > threshold
    if operator == "<=":
        return metric <= threshold
    if operator == "<":
        return metric < threshold
    if operator == "=":
        return metric == threshold
    return metric != threshold


__all__: Sequence[str] = [
    "DEFAULT_RULES",
    "ID_FIELD",
    "RATIO_KEY",
    "TABLE",
    "TIME_FIELD",
    "Compiled",
    "Node",
    "Slot",
    "compile_rules",
    "load_rules",
    "qualifies",
]
