"""A Python model of the SPL that ``detections/generate.py`` writes: it runs the shipped search text itself.

Only the commands and functions the generator uses are known (``search`` terms, ``multisearch``, ``eval``,
``where``, ``sort``, ``streamstats``, ``eventstats``, ``addinfo``, ``stats``, ``fields``); anything else raises
``NotImplementedError``, so that a change of the generator cannot go unmodelled.

Splunk semantics modelled, as documented for each command:

- ``search field="v"``: case-insensitive equality; ``field IN (...)``; a JSON boolean reads as ``true``/``false``;
  ``OR`` binds tighter than the implicit ``AND``.
- ``sort 0 _time``: ascending, stable.
- ``streamstats time_window=<w>s ... by F``: for each event, the events of its group so far whose ``_time`` lies
  in ``[_time - w, _time]``. The lower bound is taken as inclusive (the SQLite engine's ``RANGE <w> PRECEDING``
  is); this is the one point not checked against splunkd.
- ``eventstats`` / ``stats`` ``by F``: events with a null by-field belong to no group.
- ``where``: a comparison with a null operand is false.
- ``eval max(a, b)``: the larger number; ``mvindex(mv, start, end)``: the values from ``start`` to ``end``
  (inclusive); ``values(f)``: the distinct values in lexicographic order (a list: a multivalue field);
  ``case(c1, v1, ...)``: the value of the first true condition; ``replace``/``match`` with PCRE patterns that read
  the same in Python's ``re``; ``substr`` counts from 1; ``eval a=..., b=...`` assigns in order (``b`` sees ``a``).

:func:`replay` runs a saved search as the scheduler does: at each cron time, over the events indexed by then
(``_indextime``) whose ``_time`` lies in the dispatch range, with ``addinfo`` giving that range.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

Row = Dict[str, Any]
Expr = Callable[[Row], Any]

_MACRO = re.compile(r"`([A-Za-z0-9_]+)`")
_TOKEN = re.compile(
    r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"[^"]*")|(?P<op>>=|<=|==|!=|[=<>+\-*/(),\[\]])'
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.:]*))"
)


def expand(text: str, macros: Dict[str, str]) -> str:
    """Expand `macro` references (recursively), as splunkd does before parsing."""
    for _ in range(10):
        new = _MACRO.sub(lambda m: macros[m.group(1)], text)
        if new == text:
            return new
        text = new
    raise ValueError(f"macro expansion does not end: {text}")


def tokens(text: str) -> List[Tuple[str, str]]:
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise NotImplementedError(f"cannot read SPL at: {text[pos:]!r}")
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.i = 0

    def peek(self) -> Optional[Tuple[str, str]]:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, value: Optional[str] = None) -> Tuple[str, str]:
        tok = self.peek()
        if tok is None or (value is not None and tok[1] != value):
            raise NotImplementedError(f"expected {value!r} at {self.toks[self.i :]!r}")
        self.i += 1
        return tok

    def at(self, value: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[1] == value

    def done(self) -> bool:
        return self.i >= len(self.toks)


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _values(value: Any) -> List[Any]:
    """A field's values: a multivalue field is a list."""
    return value if isinstance(value, list) else [value]


def _compare(op: str, a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    x, y = _number(a), _number(b)
    if x is None or y is None:
        x, y = str(a), str(b)  # type: ignore[assignment]
    return {
        "=": x == y,
        "==": x == y,
        "!=": x != y,
        ">": x > y,  # type: ignore[operator]
        ">=": x >= y,  # type: ignore[operator]
        "<": x < y,  # type: ignore[operator]
        "<=": x <= y,  # type: ignore[operator]
    }[op]


_FUNCTIONS: Dict[str, Callable[..., Any]] = {
    "isnotnull": lambda v: v is not None,
    "isnull": lambda v: v is None,
    "lower": lambda v: None if v is None else str(v).lower(),
    "null": lambda: None,
    "max": lambda *v: max((n for n in (_number(x) for x in v) if n is not None), default=None),
    "mvindex": lambda v, start, end: None if v is None else _values(v)[int(start) : int(end) + 1],
    # Text functions (PCRE patterns; the ones the searches use read the same in Python's re). A null argument
    # gives null, which a condition reads as false.
    "len": lambda v: None if v is None else len(str(v)),
    "match": lambda v, pattern: None if v is None else re.search(str(pattern), str(v)) is not None,
    # replace(): every match, groups as \1 ... in the replacement (as re.sub reads them).
    "replace": lambda v, pattern, to: None if v is None else re.sub(str(pattern), str(to), str(v)),
    "substr": lambda v, start, length: None if v is None else str(v)[int(start) - 1 : int(start) - 1 + int(length)],
    "true": lambda: True,
}


class _ExprParser(_Parser):
    """eval/where expressions: OR, AND, NOT, comparisons, + and -, calls, if()."""

    def parse(self) -> Expr:
        expr = self.or_()
        if not self.done():
            raise NotImplementedError(f"unexpected {self.toks[self.i :]!r}")
        return expr

    def or_(self) -> Expr:
        left = self.and_()
        while self.at("OR"):
            self.take()
            right, prev = self.and_(), left
            left = lambda r, a=prev, b=right: bool(a(r)) or bool(b(r))  # noqa: E731
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.at("AND"):
            self.take()
            right, prev = self.not_(), left
            left = lambda r, a=prev, b=right: bool(a(r)) and bool(b(r))  # noqa: E731
        return left

    def not_(self) -> Expr:
        if self.at("NOT"):
            self.take()
            inner = self.not_()
            return lambda r: not inner(r)
        return self.cmp()

    def cmp(self) -> Expr:
        left = self.add()
        tok = self.peek()
        if tok and tok[1] in ("=", "==", "!=", ">", ">=", "<", "<="):
            op = self.take()[1]
            right = self.add()
            return lambda r: _compare(op, left(r), right(r))
        return left

    def add(self) -> Expr:
        left = self.mul()
        while self.peek() and self.peek()[1] in ("+", "-"):  # type: ignore[index]
            op = self.take()[1]
            right, prev = self.mul(), left

            def arith(r: Row, a: Expr = prev, b: Expr = right, op: str = op) -> Any:
                x, y = _number(a(r)), _number(b(r))
                if x is None or y is None:
                    return None
                return x + y if op == "+" else x - y

            left = arith
        return left

    def mul(self) -> Expr:
        left = self.atom()
        while self.at("*"):
            self.take()
            right, prev = self.atom(), left

            def times(r: Row, a: Expr = prev, b: Expr = right) -> Any:
                x, y = _number(a(r)), _number(b(r))
                return None if x is None or y is None else x * y

            left = times
        return left

    def atom(self) -> Expr:
        kind, value = self.take()
        if kind == "num":
            number = float(value)
            return lambda r: number
        if kind == "str":
            text = value[1:-1]
            return lambda r: text
        if value == "(":
            inner = self.or_()
            self.take(")")
            return inner
        if kind == "name" and self.at("("):
            self.take("(")
            args: List[Expr] = []
            while not self.at(")"):
                args.append(self.or_())
                if self.at(","):
                    self.take(",")
            self.take(")")
            if value == "if":
                cond, yes, no = args
                return lambda r: yes(r) if cond(r) else no(r)
            if value == "case":
                pairs = list(zip(args[0::2], args[1::2]))

                def first(r: Row) -> Any:
                    # The value of the first true condition; null if none is.
                    return next((then(r) for when, then in pairs if when(r)), None)

                return first
            if value not in _FUNCTIONS:
                raise NotImplementedError(f"SPL function {value}()")
            fn = _FUNCTIONS[value]
            return lambda r: fn(*(a(r) for a in args))
        if kind == "name":
            return lambda r: r.get(value)
        raise NotImplementedError(f"unexpected {value!r}")


def expression(text: str) -> Expr:
    return _ExprParser(text).parse()


def _value_text(value: Any) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class _SearchParser(_Parser):
    """``search`` terms: field=value, field IN (...), NOT, OR, parentheses, implicit AND, ``*``."""

    def parse(self) -> Callable[[Row], bool]:
        expr = self.and_()
        if not self.done():
            raise NotImplementedError(f"unexpected {self.toks[self.i :]!r}")
        return expr

    def and_(self) -> Callable[[Row], bool]:
        # In the search command OR binds tighter than the implicit AND: "a b OR c" is "a AND (b OR c)".
        terms = []
        while not self.done() and not self.at(")"):
            terms.append(self.or_())
        return lambda r: all(t(r) for t in terms)

    def or_(self) -> Callable[[Row], bool]:
        terms = [self.term()]
        while self.at("OR"):
            self.take()
            terms.append(self.term())
        return lambda r: any(t(r) for t in terms)

    def term(self) -> Callable[[Row], bool]:
        if self.at("NOT"):
            self.take()
            inner = self.term()
            return lambda r: not inner(r)
        if self.at("("):
            self.take("(")
            inner = self.and_()
            self.take(")")
            return inner
        _kind, field = self.take()
        if field == "*" and (self.done() or not self.at("=")):
            return lambda r: True
        if self.at("IN"):
            self.take()
            self.take("(")
            values = []
            while not self.at(")"):
                values.append(self._value())
                if self.at(","):
                    self.take(",")
            self.take(")")
        else:
            self.take("=")
            values = [self._value()]
        patterns = [v.lower() for v in values]

        def match(row: Row) -> bool:
            text = _value_text(row.get(field))
            return text is not None and any(fnmatch.fnmatchcase(text.lower(), p) for p in patterns)

        return match

    def _value(self) -> str:
        kind, value = self.take()
        return value[1:-1] if kind == "str" else value


def search_filter(text: str) -> Callable[[Row], bool]:
    return _SearchParser(text).parse()


_AGG = re.compile(
    r"(?:(?P<fn>count|dc|sum|min|max|values)(?:\((?P<arg>[A-Za-z0-9_]+)\))?)\s+as\s+(?P<name>[A-Za-z0-9_]+)"
)


def _aggregations(text: str) -> Tuple[List[Tuple[str, Optional[str], str]], List[str]]:
    body, _, group = text.partition(" by ")
    aggs = []
    pos = 0
    body = body.strip()
    while pos < len(body):
        match = _AGG.match(body, pos)
        if not match:
            raise NotImplementedError(f"aggregation: {body[pos:]!r}")
        aggs.append((match["fn"], match["arg"], match["name"]))
        pos = match.end()
        while pos < len(body) and body[pos] == " ":
            pos += 1
    return aggs, group.split()


def _aggregate(fn: str, arg: Optional[str], rows: Sequence[Row]) -> Any:
    if fn == "count":
        return len(rows)
    values = [r.get(arg or "") for r in rows]
    # A multivalue field (a list) counts each of its values, as stats does.
    present = [x for v in values if v is not None for x in _values(v)]
    if fn == "dc":
        return len({_value_text(v) for v in present})
    if fn == "values":
        # Distinct values in lexicographic order; none: null.
        return sorted({str(_value_text(v)) for v in present}) or None
    numbers = [n for n in (_number(v) for v in present) if n is not None]
    if not numbers:
        return None
    return {"sum": sum, "min": min, "max": max}[fn](numbers)


def _key(row: Row, fields: Sequence[str]) -> Optional[Tuple[Any, ...]]:
    key = tuple(row.get(f) for f in fields)
    return None if any(v is None for v in key) else key


def _split_assignments(text: str) -> List[Tuple[str, str]]:
    parts, depth, start, quoted = [], 0, 0, False
    for i, ch in enumerate(text):
        quoted ^= ch == '"'
        depth += ch == "(" and not quoted
        depth -= ch == ")" and not quoted
        if ch == "," and depth == 0 and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    out = []
    for part in parts:
        name, _, expr = part.strip().partition("=")
        out.append((name.strip(), expr.strip()))
    return out


class SplModel:
    """Runs a generated search over events (dicts with ``_time`` in seconds).

    Args:
        macros: macros.conf definitions, by name.
        info_min_time: what ``addinfo`` gives: the start of the searched range.
        info_max_time: its end.
    """

    def __init__(self, macros: Dict[str, str], info_min_time: float, info_max_time: float) -> None:
        self.macros = macros
        self.info = {"info_min_time": info_min_time, "info_max_time": info_max_time}

    def run(self, search: str, events: Sequence[Row], until: Optional[str] = None) -> List[Row]:
        """The rows out of the pipeline, or out of the commands before the first ``until`` command."""
        lines = [line.strip() for line in expand(search, self.macros).split("\n") if line.strip()]
        rows: List[Row] = []
        i = 0
        if lines[0] == "| multisearch":
            i = 1
            while i < len(lines) and lines[i].startswith("["):
                inner = lines[i].strip("[] ")
                if not inner.startswith("search "):
                    raise NotImplementedError(inner)
                rows += self.run(inner[len("search ") :].replace(" | ", "\n| "), events)
                i += 1
        elif not lines[0].startswith("|"):
            keep = search_filter(lines[0])
            rows = [dict(e) for e in events if keep(e)]
            i = 1
        for line in lines[i:]:
            command, _, args = line[2:].partition(" ")
            if command == until:
                return rows
            rows = self.command(command, args, rows)
        return rows

    def command(self, command: str, args: str, rows: List[Row]) -> List[Row]:
        if command == "search":
            keep = search_filter(args)
            return [r for r in rows if keep(r)]
        if command == "eval":
            for name, text in _split_assignments(args):
                fn = expression(text)
                for row in rows:
                    row[name] = fn(row)
            return rows
        if command == "where":
            keep = expression(args)
            return [r for r in rows if keep(r)]
        if command == "sort":
            if args != "0 _time":
                raise NotImplementedError(f"sort {args}")
            return sorted(rows, key=lambda r: r["_time"])
        if command == "addinfo":
            for row in rows:
                row.update(self.info)
            return rows
        if command == "fields":
            names = args.split()
            if names[0] != "-":
                raise NotImplementedError(f"fields {args}")
            for row in rows:
                for name in names[1:]:
                    row.pop(name, None)
            return rows
        if command == "streamstats":
            return self.streamstats(args, rows)
        if command == "eventstats":
            aggs, group = _aggregations(args)
            groups: Dict[Tuple[Any, ...], List[Row]] = {}
            for row in rows:
                key = _key(row, group)
                if key is not None:
                    groups.setdefault(key, []).append(row)
            results = {key: {n: _aggregate(f, a, members) for f, a, n in aggs} for key, members in groups.items()}
            for row in rows:
                key = _key(row, group)
                row.update(results[key] if key is not None else {n: None for _, _, n in aggs})
            return rows
        if command == "stats":
            aggs, group = _aggregations(args)
            grouped: Dict[Tuple[Any, ...], List[Row]] = {}
            for row in rows:
                key = _key(row, group)
                if key is not None:
                    grouped.setdefault(key, []).append(row)
            return [
                dict(zip(group, key), **{n: _aggregate(f, a, members) for f, a, n in aggs})
                for key, members in grouped.items()
            ]
        raise NotImplementedError(f"SPL command {command}")

    @staticmethod
    def streamstats(args: str, rows: List[Row]) -> List[Row]:
        match = re.match(r"time_window=(\d+)s\s+(.*)$", args)
        if not match:
            raise NotImplementedError(f"streamstats {args}")
        window = float(match.group(1))
        aggs, group = _aggregations(match.group(2))
        seen: Dict[Tuple[Any, ...], List[Row]] = {}
        for row in rows:
            key = _key(row, group)
            if key is None:
                # Without its by-field an event is passed on without statistics.
                row.update({n: None for _, _, n in aggs})
                continue
            history = seen.setdefault(key, [])
            history.append(dict(row))
            inside = [h for h in history if h["_time"] >= row["_time"] - window]
            row.update({n: _aggregate(f, a, inside) for f, a, n in aggs})
        return rows


_RELATIVE = re.compile(r"-(\d+)([mhd])@m")
_CRON = {"*/10 * * * *": 600, "0 * * * *": 3600}


def _seconds(relative: str) -> int:
    match = _RELATIVE.fullmatch(relative)
    if not match:
        raise NotImplementedError(f"time modifier {relative}")
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


def replay(
    macros: Dict[str, str], stanza: Dict[str, str], events: Sequence[Row], until: Optional[str] = None
) -> List[Tuple[float, Row]]:
    """The rows of every scheduled run of a saved search, as ``(run time, row)``.

    Runs happen at the cron times (minute-aligned, so ``@m`` changes nothing); a run at ``S`` searches
    ``[S - earliest, S - latest)`` in event time and sees the events indexed by ``S``. Only the runs during whose
    interval of arrival (``[S - latest - interval, S - latest)``) some event arrived are executed: the searches
    judge a window in the run during which its last event arrived, so other runs find nothing.
    """
    interval = _CRON[stanza["cron_schedule"]]
    earliest = _seconds(stanza["dispatch.earliest_time"])
    latest = _seconds(stanza["dispatch.latest_time"])
    arrivals = {max(e["_indextime"], e["_time"]) for e in events}
    runs = sorted({(int(a + latest) // interval + 1) * interval for a in arrivals})
    out: List[Tuple[float, Row]] = []
    for when in runs:
        low, high = when - earliest, when - latest
        visible = [e for e in events if e["_indextime"] <= when and low <= e["_time"] < high]
        if visible:
            model = SplModel(macros, info_min_time=low, info_max_time=high)
            out += [(float(when), row) for row in model.run(stanza["search"], visible, until=until)]
    return out
