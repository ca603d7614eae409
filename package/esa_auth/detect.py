"""Run Sigma detection rules over normalized events: ``esa-auth detect [FILE ...]``.

The embedded engine behind the command. Events (the CIM form of
:class:`~esa_auth.events.AuthEvent`) go into an in-memory SQLite table; each
rule is compiled by pySigma's SQLite backend and run there. Correlation rules
(Sigma correlation specification v2: ``event_count``, ``value_count``,
``temporal``, ``temporal_ordered`` ...) are evaluated over sliding windows that
end at each matching event, the same semantics as the ``streamstats
time_window`` searches generated for Splunk (``detections/README.md``).

The backend reports one row per qualifying window end; overlapping windows of
one rule and one group are one burst, so they are merged into one alert.

pySigma is imported only when rules are loaded, so that ``esa-auth normalize``
and the Splunk app never pay for it; it needs Python 3.10 or newer.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple, get_args, get_type_hints

from .errors import ConfigError
from .events import FIELD_ORDER, AuthEvent, json_text
from .timezones import rfc3339

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sigma.collection import SigmaCollection

#: The rule set shipped with the library (built from ``detections/rules`` by ``detections/generate.py``).
DEFAULT_RULES = Path(__file__).resolve().with_name("detections")
#: The table the rules read, and its time column (seconds since the epoch, as Splunk's ``_time``).
TABLE = "logs"
TIME_FIELD = "_time"
ID_FIELD = "event_id"


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

    def to_dict(self) -> Dict[str, Any]:
        """The alert as one JSON object (``count`` is the number of events)."""
        metric: Any = self.metric
        if isinstance(metric, float) and metric.is_integer():
            metric = int(metric)
        return {
            "rule": self.rule,
            "rule_id": self.rule_id,
            "rule_name": self.rule_name,
            "level": self.level,
            "type": self.kind,
            "group": self.group,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "metric": metric,
            "count": len(self.event_ids),
            "event_ids": list(self.event_ids),
        }


@dataclass(frozen=True)
class _Compiled:
    """A rule compiled for SQLite: a correlation plan, or a plain ``SELECT``."""

    title: str
    rule_id: str
    name: Optional[str]
    level: Optional[str]
    kind: str
    plan: Optional[Dict[str, Any]]
    query: Optional[str]
    fields: Tuple[str, ...]


def _one_line(exc: BaseException) -> str:
    # Errors go to stderr as one line each (YAML errors span several).
    return " ".join(str(exc).split())


def _import_error() -> ConfigError:
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
    """
    try:
        import yaml
        from sigma.collection import SigmaCollection
        from sigma.exceptions import SigmaError
    except ImportError:
        raise _import_error() from None
    where = DEFAULT_RULES if path is None else path
    if where.is_dir():
        files = sorted(where.rglob("*.yml"))
    elif where.is_file():
        files = [where]
    else:
        raise ConfigError(f"no such rule file or directory: {where}")
    if not files:
        raise ConfigError(f"no rule (*.yml) under {where}")
    try:
        collection = SigmaCollection.load_ruleset([str(f) for f in files])
    except SigmaError as exc:
        raise ConfigError(f"invalid Sigma rule under {where}: {_one_line(exc)}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"rules under {where} are not valid YAML: {_one_line(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read rules under {where}: {_one_line(exc)}") from None
    if not collection.rules:
        raise ConfigError(f"no rule in {where}")
    return collection


class Engine:
    """Rules compiled once for SQLite, run over any number of event sets.

    Args:
        rules: a rule set from :func:`load_rules`. It is consumed: pySigma's
            processing mutates rules, so load a fresh set per engine.

    Attributes:
        rules: the rules that run, in rule-set order.
        skipped: ``(rule title, reason)`` for every rule the backend cannot run.
        diagnostics: after a run, by rule id, counts of events left out
            (``invalid_timestamp``: no time; ``missing_group_key``: a group-by field absent).
    """

    def __init__(self, rules: SigmaCollection) -> None:
        try:
            from sigma.backends.sqlite.sqlite import sqliteBackend
        except ImportError:
            raise _import_error() from None
        backend = sqliteBackend(  # type: ignore[no-untyped-call]
            collect_errors=True, timestamp_field=TIME_FIELD, timestamp_format="unix", event_id_field=ID_FIELD
        )
        # The "zircolite" output carries each correlation's execution plan, which
        # runtime.execute_plan runs with indexes (plain CTEs would be quadratic).
        compiled = json.loads(backend.convert(rules, "zircolite"))
        by_id = {str(rule.id): rule for rule in rules.rules}
        self.rules: List[_Compiled] = []
        for item in compiled:
            source = by_id.get(item.get("id", ""))
            kind = "event"
            if item.get("correlation"):
                kind = str(getattr(getattr(source, "type", None), "name", "correlation")).lower()
            self.rules.append(
                _Compiled(
                    title=item["title"],
                    rule_id=item["id"],
                    name=getattr(source, "name", None),
                    level=item.get("level") or None,
                    kind=kind,
                    plan=item.get("correlation_plan"),
                    query=None if item.get("correlation") else item["rule"][0],
                    fields=tuple(item.get("required_fields") or ()),
                )
            )
        self.skipped: List[Tuple[str, str]] = [(rule.title, _one_line(error)) for rule, error in backend.errors]
        self.diagnostics: Dict[str, Dict[str, int]] = {}

    def windows(self, events: Iterable[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
        """Every qualifying window of every rule, before merging, by rule id.

        A window is the backend's row: ``group_keys``, ``window_start``,
        ``window_end`` (seconds since the epoch), ``metric_value``, ``event_ids``.
        A plain rule (no correlation) gives one zero-length window per match.
        Events without a ``time`` cannot take part in a window and are left
        out (counted in :attr:`diagnostics` as ``invalid_timestamp``).
        """
        from sigma.backends.sqlite.runtime import ensure_fields, execute_plan

        connection = sqlite3.connect(":memory:")
        found: Dict[str, List[Dict[str, Any]]] = {}
        self.diagnostics = {}
        try:
            _load(connection, events)
            for rule in self.rules:
                if rule.plan is not None:
                    rows, diagnostics = execute_plan(  # type: ignore[no-untyped-call]
                        connection, rule.plan, include_events=False
                    )
                    self.diagnostics[rule.rule_id] = {k: int(v) for k, v in diagnostics.items() if v}
                    found[rule.rule_id] = list(rows)
                elif rule.query is not None:
                    ensure_fields(connection, {TABLE: list(rule.fields)})  # type: ignore[no-untyped-call]
                    found[rule.rule_id] = _plain(connection.execute(rule.query))
        finally:
            connection.close()
        return found

    def run(self, events: Iterable[Dict[str, Any]]) -> List[Alert]:
        """Run every rule over events (CIM dicts): alerts in time order, overlapping windows merged."""
        found = self.windows(events)
        alerts: List[Alert] = []
        for rule in self.rules:
            alerts.extend(_merge(rule, found.get(rule.rule_id, [])))
        alerts.sort(key=lambda a: (a.window_end, a.rule, json.dumps(a.group, sort_keys=True), a.window_start))
        return alerts


def _column_types() -> Dict[str, str]:
    """SQLite column types of the event fields: numbers stay numbers, text compares without case."""
    hints = get_type_hints(AuthEvent)
    types: Dict[str, str] = {}
    for name in FIELD_ORDER:
        kinds = get_args(hints[name]) or (hints[name],)
        types[name] = "NUMERIC" if any(k in (int, float) for k in kinds) else "TEXT COLLATE NOCASE"
    return types


_COLUMNS = _column_types()


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _epoch(text: Any) -> Optional[float]:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        try:
            moment = datetime.strptime(text.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z")
        except ValueError:
            return None
    return moment.astimezone(timezone.utc).timestamp()


def _value(value: Any) -> Any:
    # JSON booleans as Splunk sees them with KV_MODE = json; the backend accepts 'true' and 1.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return value


def _load(connection: sqlite3.Connection, events: Iterable[Dict[str, Any]]) -> None:
    names = list(_COLUMNS)
    columns = ", ".join(f"{_quote(n)} {_COLUMNS[n]}" for n in names)
    connection.execute(f"CREATE TABLE {TABLE} ({_quote(TIME_FIELD)} REAL, {columns})")
    insert = (
        f"INSERT INTO {TABLE} ({_quote(TIME_FIELD)}, {', '.join(_quote(n) for n in names)}) "
        f"VALUES ({', '.join('?' for _ in range(len(names) + 1))})"
    )
    connection.executemany(
        insert, ([_epoch(event.get("time"))] + [_value(event.get(n)) for n in names] for event in events)
    )
    connection.execute(f"CREATE INDEX {TABLE}_time ON {TABLE} ({_quote(TIME_FIELD)})")


def _event_id(evidence: str) -> str:
    # The backend scopes ids by source table ("0:<event_id>").
    return evidence.split(":", 1)[1] if ":" in evidence else evidence


def _merge(rule: _Compiled, rows: Sequence[Dict[str, Any]]) -> List[Alert]:
    """One alert per run of overlapping windows of one group."""
    by_group: Dict[str, List[Dict[str, Any]]] = {}
    for row in rows:
        by_group.setdefault(json.dumps(row["group_keys"], sort_keys=True), []).append(row)
    alerts: List[Alert] = []
    for key, windows in by_group.items():
        windows.sort(key=lambda r: (r["window_end"], r["window_start"]))
        current: Optional[Dict[str, Any]] = None
        for row in windows:
            if current is not None and row["window_start"] <= current["end"]:
                current["end"] = max(current["end"], row["window_end"])
                current["metric"] = _max(current["metric"], row["metric_value"])
                current["ids"].update(row["event_ids"])
                continue
            if current is not None:
                alerts.append(_alert(rule, key, current))
            current = {
                "start": row["window_start"],
                "end": row["window_end"],
                "metric": row["metric_value"],
                "ids": set(row["event_ids"]),
            }
        if current is not None:
            alerts.append(_alert(rule, key, current))
    return alerts


def _max(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def _alert(rule: _Compiled, key: str, window: Dict[str, Any]) -> Alert:
    return Alert(
        rule=rule.title,
        rule_id=rule.rule_id,
        rule_name=rule.name,
        level=rule.level,
        kind=rule.kind,
        group=json.loads(key),
        window_start=rfc3339(float(window["start"])),
        window_end=rfc3339(float(window["end"])),
        metric=None if window["metric"] is None else float(window["metric"]),
        event_ids=tuple(sorted(_event_id(e) for e in window["ids"])),
    )


def _plain(cursor: sqlite3.Cursor) -> List[Dict[str, Any]]:
    """Windows of a rule without correlation: one per matching event, of length zero."""
    columns = [d[0] for d in cursor.description]
    windows = []
    for values in cursor:
        row = dict(zip(columns, values))
        when = row.get(TIME_FIELD)
        if when is None or row.get(ID_FIELD) is None:
            continue
        windows.append(
            {
                "group_keys": {},
                "window_start": when,
                "window_end": when,
                "metric_value": 1,
                "event_ids": [str(row[ID_FIELD])],
            }
        )
    return windows


def detect(events: Iterable[Dict[str, Any]], rules: Optional[Path] = None) -> List[Alert]:
    """Run a rule set (default: the shipped one) over events (CIM dicts).

    Raises:
        ConfigError: the rules cannot be read, or pySigma is missing.
    """
    return Engine(load_rules(rules)).run(events)


def add_detect_options(parser: argparse.ArgumentParser) -> None:
    """Options of ``esa-auth detect``: the reading options of ``normalize``, and ``--rules``."""
    from .cli import add_reading_options

    add_reading_options(parser)
    parser.add_argument(
        "--rules", type=Path, metavar="DIR",
        help="Sigma rules to run: a directory (every *.yml under it) or a file (default: the shipped rule set)",
    )  # fmt: skip


def cmd_detect(args: argparse.Namespace, stdin: IO[bytes], stdout: IO[str], stderr: IO[str]) -> int:
    """``detect``: normalize the logs, run the rules, one JSON alert per line on stdout."""
    from .cli import EXIT_OK, EXIT_UNREADABLE, PROG, read_sources, settings_from
    from .pipeline import Normalizer

    # Rules first: a bad rule set is reported before any log is read.
    engine = Engine(load_rules(args.rules))
    for title, reason in engine.skipped:
        stderr.write(f"{PROG}: warning: rule {title!r} cannot run: {reason}\n")
    normalizer = Normalizer(settings_from(args, datetime.now(timezone.utc)))
    events, failures = read_sources(normalizer, args.files, stdin, stderr)
    dicts = [event.to_dict() for event in events]
    untimed = sum(1 for d in dicts if "time" not in d)
    if untimed:
        stderr.write(f"{PROG}: warning: {untimed} event(s) have no time and take part in no rule\n")
    alerts = engine.run(dicts)
    for alert in alerts:
        stdout.write(json_text(alert.to_dict()))
        stdout.write("\n")
    stdout.flush()
    if args.stats:
        stats = dict(normalizer.stats_dict(), rules=len(engine.rules), alerts=len(alerts))
        stderr.write(" ".join(f"{k}={v}" for k, v in stats.items()) + "\n")
        for rule in engine.rules:
            counts = engine.diagnostics.get(rule.rule_id)
            if counts:
                detail = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                stderr.write(f"{PROG}: rule {rule.title!r}: {detail}\n")
    return EXIT_UNREADABLE if failures else EXIT_OK


__all__ = ["DEFAULT_RULES", "Alert", "Engine", "add_detect_options", "cmd_detect", "detect", "load_rules"]
