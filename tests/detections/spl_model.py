"""A Python model of the SPL that ``detections/generate.py`` writes: it runs the shipped search text itself.

Only the commands and functions the generator and the hand-written fill searches use are known (``search`` terms,
``multisearch``, ``eval``, ``where``, ``sort``, ``rex``, ``streamstats``, ``eventstats``, ``addinfo``, ``stats``,
``fields``, ``table``, and the KV store commands ``lookup``, ``inputlookup``, ``outputlookup``); anything else raises
``NotImplementedError``, so that a change of the generator cannot go unmodelled.

Splunk semantics modelled, as documented for each command:

- ``search field="v"``: case-insensitive equality; ``field IN (...)``; a JSON boolean reads as ``true``/``false``;
  ``OR`` binds tighter than the implicit ``AND``.
- A quoted term alone (``"ICID"``): the event's text holds it, in any case.
- ``sort 0 _time [F ...]``: ascending on each field in turn, stable.
- ``rex field=_raw "<PCRE>"``: run by PCRE2 (tests/pcre2.py); the named groups of the first match that take part set
  their fields, the others leave theirs.
- ``streamstats [time_window=<w>s] ... by F``: for each event, the events of its group so far (with a window, those
  whose ``_time`` lies in ``[_time - w, _time]``; the lower bound is taken as inclusive, as the SQLite engine's
  ``RANGE <w> PRECEDING`` is: the one point not checked against splunkd); ``first``/``last``: the first/last
  value in row order.
- ``eventstats`` / ``stats`` ``by F``: events with a null by-field belong to no group; ``max``/``min`` of values
  none of which is a number compare them as text.
- ``where``: a comparison with a null operand is false.
- KV store collections (:class:`Collections`, carried from run to run): ``lookup local=true T f AS g ...
  OUTPUT a AS b ...`` sets each output from the row whose match fields equal the event's (exact text, the
  lookup's default ``case_sensitive_match``), null without one; ``outputlookup append=true key_field=_key T`` adds
  or replaces rows by ``_key`` and leaves every other row; ``outputlookup append=false override_if_empty=false T``
  replaces the collection with the results, and with no result leaves it as it is; ``inputlookup T`` returns at
  most ``max_rows_per_query`` rows (limits.conf ``[kvstore]``), in ``_key`` order.
- ``eval max(a, b)``/``min(a, b)``: the larger/smaller number; ``coalesce``: the first non-null argument;
  ``a . b``: text concatenation; ``now()``: the run's time; ``relative_time(t, "-31d@h")``: ``t`` moved back and
  snapped down to the unit; ``mvindex(mv, start, end)``: the values from ``start`` to ``end``
  (inclusive); ``values(f)``: the distinct values in lexicographic order (a list: a multivalue field);
  ``case(c1, v1, ...)``: the value of the first true condition; ``replace``/``match`` with PCRE patterns that read
  the same in Python's ``re``; ``substr`` counts from 1; ``eval a=..., b=...`` assigns in order (``b`` sees ``a``).

:func:`replay` runs a saved search as the scheduler does: at each cron time, over the events indexed by then
(``_indextime``) whose ``_time`` lies in the dispatch range, with ``addinfo`` giving that range; with ``writers``
(the searches that fill and purge a collection the search reads), every search runs in one time line over shared
collections.
"""

from __future__ import annotations

import fnmatch
import math
import re
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import pcre2

Row = Dict[str, Any]
Expr = Callable[[Row], Any]

_MACRO = re.compile(r"`([A-Za-z0-9_]+)`")
_TOKEN = re.compile(
    r'\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>"[^"]*")|(?P<op>>=|<=|==|!=|[=<>+\-*/(),\[\]]|\.)'
    # A name never ends with a dot: in ``appliance."|"`` the dot is eval's concatenation.
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_:]*(?:\.[A-Za-z0-9_:]+)*))"
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


#: A ``rex`` of a search that reads ``_raw``, its PCRE in the quoted string as written.
_RAW_REX = re.compile(r'\|\s*rex\s+field=_raw\s+"((?:[^"\\]|\\.)*)"')


def unquote(text: str) -> str:
    """The content of a quoted SPL string as SPL reads it: ``\\"`` is a quote and ``\\\\`` a backslash (Splunk
    Search Manual, "Backslashes"); any other backslash stays, for the regex."""
    return re.sub(r'\\(["\\])', r"\1", text)


def raw_rexes(search: str) -> List[str]:
    """The PCRE of every ``rex field=_raw "..."`` of a search (or of a savedsearches.conf text), as SPL reads it."""
    return [unquote(found.group(1)) for found in _RAW_REX.finditer(search)]


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
    "min": lambda *v: min((n for n in (_number(x) for x in v) if n is not None), default=None),
    "coalesce": lambda *v: next((x for x in v if x is not None), None),
    "mvindex": lambda v, start, end: None if v is None else _values(v)[int(start) : int(end) + 1],
    # Text functions (PCRE patterns; the ones the searches use read the same in Python's re). A null argument
    # gives null, which a condition reads as false.
    "len": lambda v: None if v is None else len(str(v)),
    "match": lambda v, pattern: None if v is None else re.search(str(pattern), str(v)) is not None,
    # replace(): every match, groups as \1 ... in the replacement (as re.sub reads them).
    "replace": lambda v, pattern, to: None if v is None else re.sub(str(pattern), str(to), str(v)),
    "substr": lambda v, start, length: None if v is None else str(v)[int(start) - 1 : int(start) - 1 + int(length)],
    "true": lambda: True,
    "floor": lambda v: None if _number(v) is None else math.floor(_number(v)),  # type: ignore[arg-type]
}


class _ExprParser(_Parser):
    """eval/where expressions: OR, AND, NOT, comparisons, +, - and ., calls, if().

    ``functions``: functions of the run (``now()``), beside the fixed ones."""

    def __init__(self, text: str, functions: Optional[Dict[str, Callable[..., Any]]] = None) -> None:
        super().__init__(text)
        self.functions = {**_FUNCTIONS, **(functions or {})}

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
        while self.peek() and self.peek()[1] in ("+", "-", "."):  # type: ignore[index]
            op = self.take()[1]
            right, prev = self.mul(), left

            def arith(r: Row, a: Expr = prev, b: Expr = right, op: str = op) -> Any:
                if op == ".":
                    # Concatenation: null if either side is (as eval's "." gives).
                    u, v = _value_text(a(r)), _value_text(b(r))
                    return None if u is None or v is None else u + v
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
            if value not in self.functions:
                raise NotImplementedError(f"SPL function {value}()")
            fn = self.functions[value]
            return lambda r: fn(*(a(r) for a in args))
        if kind == "name":
            return lambda r: r.get(value)
        raise NotImplementedError(f"unexpected {value!r}")


def expression(text: str, functions: Optional[Dict[str, Callable[..., Any]]] = None) -> Expr:
    return _ExprParser(text, functions).parse()


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def relative_time(when: Any, modifier: Any) -> Optional[float]:
    """eval relative_time() for the modifiers the searches use: ``-<n><unit>`` then an optional ``@<unit>`` snap
    (down, UTC)."""
    number = _number(when)
    match = re.fullmatch(r"-(\d+)([smhd])(?:@([smhd]))?", str(modifier))
    if number is None or not match:
        raise NotImplementedError(f"relative_time({when!r}, {modifier!r})")
    moved = number - int(match.group(1)) * _UNITS[match.group(2)]
    snap = _UNITS[match.group(3)] if match.group(3) else 1
    return float(moved // snap * snap)


_FUNCTIONS["relative_time"] = relative_time


class Collections:
    """KV store collections by name (rows by ``_key``), carried from one run to the next.

    Args:
        max_rows_per_query: limits.conf ``[kvstore]``: the most rows one ``inputlookup`` returns.
    """

    def __init__(self, max_rows_per_query: int = 50000) -> None:
        self.tables: Dict[str, Dict[str, Row]] = {}
        self.max_rows_per_query = max_rows_per_query

    def rows(self, name: str) -> List[Row]:
        return [dict(row) for _, row in sorted(self.tables.get(name, {}).items())]


def _stored(row: Row) -> Row:
    """What a collection keeps of a result: its fields, and ``_key``; not the other internal fields."""
    return {k: v for k, v in row.items() if not k.startswith("_") or k == "_key"}


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
        kind, field = self.take()
        if field == "*" and (self.done() or not self.at("=")):
            return lambda r: True
        if kind == "str" and not self.at("="):
            # A quoted term alone: the event's text holds it, in any case (the searches' terms are whole words,
            # so that the text's segments need not be modelled).
            term = field[1:-1].lower()
            return lambda r: term in str(r.get("_raw", "")).lower()
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
    r"(?:(?P<fn>count|dc|sum|min|max|values|first|last)(?:\((?P<arg>[A-Za-z0-9_]+)\))?)\s+(?i:as)\s+"
    r"(?P<name>[A-Za-z0-9_]+)"
)


def _aggregations(text: str) -> Tuple[List[Tuple[str, Optional[str], str]], List[str]]:
    # "by" and "as" in any case, as SPL reads them.
    body, group = [*re.split(r" (?i:by) ", text, maxsplit=1), ""][:2]
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
    if fn in ("first", "last"):
        # The first (last) value in the order the rows come; rows without one are passed over.
        return (present[0] if fn == "first" else present[-1]) if present else None
    numbers = [n for n in (_number(v) for v in present) if n is not None]
    if not numbers:
        if fn in ("min", "max") and present:
            # No value is a number: compared as text ("true" > "false"), as stats orders them.
            return {"min": min, "max": max}[fn](str(_value_text(v)) for v in present)
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

    def __init__(
        self,
        macros: Dict[str, str],
        info_min_time: float,
        info_max_time: float,
        collections: Optional[Collections] = None,
        now: Optional[float] = None,
    ) -> None:
        self.macros = macros
        self.info = {"info_min_time": info_min_time, "info_max_time": info_max_time}
        self.collections = collections if collections is not None else Collections()
        self.now = info_max_time if now is None else now
        self.functions: Dict[str, Callable[..., Any]] = {"now": lambda: self.now}

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
                fn = expression(text, self.functions)
                for row in rows:
                    row[name] = fn(row)
            return rows
        if command == "where":
            keep = expression(args, self.functions)
            return [r for r in rows if keep(r)]
        if command == "sort":
            names = args.split()
            if names[:2] != ["0", "_time"] or any(not n.isidentifier() for n in names[1:]):
                raise NotImplementedError(f"sort {args}")
            # Ascending on each field in turn (numbers here), stable.
            return sorted(rows, key=lambda r: tuple(_number(r.get(n)) or 0.0 for n in names[1:]))
        if command == "rex":
            return self.rex(args, rows)
        if command == "addinfo":
            for row in rows:
                row.update(self.info)
            return rows
        if command == "fields":
            names = args.split()
            if names[0] != "-":
                # The fields named, and the internal ones (fields keeps _time ... unless removed by name).
                return [{k: v for k, v in r.items() if k in names or k.startswith("_")} for r in rows]
            for row in rows:
                for name in names[1:]:
                    row.pop(name, None)
            return rows
        if command == "table":
            names = args.split()
            return [{name: row.get(name) for name in names} for row in rows]
        if command == "lookup":
            return self.lookup(args, rows)
        if command == "inputlookup":
            (name,) = args.split()
            return self.collections.rows(name)[: self.collections.max_rows_per_query]
        if command == "outputlookup":
            return self.outputlookup(args, rows)
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

    def lookup(self, args: str, rows: List[Row]) -> List[Row]:
        """``lookup local=true <table> <field> [AS <event field>] ... OUTPUT <field> [AS <event field>] ...``."""
        words = args.replace(",", " ").split()
        if words[0] != "local=true":
            # Only a lookup on the search head reads the collection as the fill searches left it (README).
            raise NotImplementedError(f"lookup {args}")
        table = self.collections.tables.get(words[1], {})
        match_words, _, output_words = " ".join(words[2:]).partition(" OUTPUT ")

        def pairs(text: str) -> List[Tuple[str, str]]:
            out, items = [], text.split()
            while items:
                name = items.pop(0)
                if items[:1] == ["AS"]:
                    out.append((name, items[1]))
                    items = items[2:]
                else:
                    out.append((name, name))
            return out

        keys, outputs = pairs(match_words), pairs(output_words)
        if not keys or not outputs:
            raise NotImplementedError(f"lookup {args}")
        for row in rows:
            wanted = [_value_text(row.get(event)) for _, event in keys]
            found = next(
                (
                    stored
                    for stored in table.values()
                    if None not in wanted and [_value_text(stored.get(f)) for f, _ in keys] == wanted
                ),
                None,
            )
            for field, event in outputs:
                row[event] = None if found is None else found.get(field)
        return rows

    def outputlookup(self, args: str, rows: List[Row]) -> List[Row]:
        words = args.split()
        options = dict(w.split("=", 1) for w in words[:-1])
        name = words[-1]
        table = self.collections.tables.setdefault(name, {})
        if options == {"append": "true", "key_field": "_key", "override_if_empty": "false"}:
            for row in rows:
                if row.get("_key") is None:
                    raise ValueError(f"outputlookup {name}: a result without _key")
                table[str(row["_key"])] = _stored(row)
        elif options == {"append": "false", "override_if_empty": "false"}:
            if rows:
                self.collections.tables[name] = {str(r["_key"]): _stored(r) for r in rows}
        else:
            raise NotImplementedError(f"outputlookup {args}")
        return rows

    @staticmethod
    def rex(args: str, rows: List[Row]) -> List[Row]:
        """``rex field=_raw "<PCRE>"``: each named group that takes part in the first match sets its field (PCRE2,
        Splunk's engine, in UTF mode); an event it does not match keeps its fields."""
        match = _RAW_REX.fullmatch("| rex " + args)
        if not match:
            raise NotImplementedError(f"rex {args}")
        regex = pcre2.compile(unquote(match.group(1)), pcre2.UTF)
        for row in rows:
            found = regex.search(str(row.get("_raw", "")))
            if found is not None:
                row.update({name: value for name, value in found.groupdict().items() if value is not None})
        return rows

    @staticmethod
    def streamstats(args: str, rows: List[Row]) -> List[Row]:
        # Without time_window, the group's events so far.
        match = re.match(r"(?:time_window=(\d+)s\s+)?(.*)$", args)
        assert match is not None
        window = float(match.group(1)) if match.group(1) else float("inf")
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


def _seconds(relative: str) -> int:
    if relative == "now":
        return 0
    match = _RELATIVE.fullmatch(relative)
    if not match:
        raise NotImplementedError(f"time modifier {relative}")
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


def cron(text: str) -> Tuple[int, int]:
    """A cron schedule as (period, offset) in seconds: ``*/10 * * * *``, ``M * * * *`` (hourly at minute M) or
    ``M H * * *`` (daily at H:M, UTC)."""
    if text == "*/10 * * * *":
        return 600, 0
    fields = text.split()
    if len(fields) == 5 and fields[0].isdigit() and fields[2:] == ["*", "*", "*"]:
        if fields[1] == "*":
            return 3600, int(fields[0]) * 60
        if fields[1].isdigit():
            return 86400, int(fields[1]) * 3600 + int(fields[0]) * 60
    raise NotImplementedError(f"cron {text}")


def _times(stanza: Dict[str, str], start: float, end: float) -> List[float]:
    """The scheduled times of a search in ``[start, end]``."""
    period, offset = cron(stanza["cron_schedule"])
    first = (int(start - offset) // period) * period + offset
    return [float(t) for t in range(first, int(end) + 1, period) if t >= start]


def _run(
    macros: Dict[str, str],
    stanza: Dict[str, str],
    events: Sequence[Row],
    when: float,
    collections: Collections,
    seen_at: float,
    until: Optional[str] = None,
    skip_empty: bool = False,
) -> Optional[List[Row]]:
    """One scheduled run at ``when`` over the events indexed by ``seen_at``; None if skipped (no event in range and
    ``skip_empty``)."""
    low, high = when - _seconds(stanza["dispatch.earliest_time"]), when - _seconds(stanza["dispatch.latest_time"])
    reads_events = not stanza["search"].lstrip().startswith("| inputlookup")
    visible = [e for e in events if e["_indextime"] <= seen_at and low <= e["_time"] < high] if reads_events else []
    if skip_empty and reads_events and not visible:
        return None
    model = SplModel(macros, info_min_time=low, info_max_time=high, collections=collections, now=when)
    return model.run(stanza["search"], visible, until=until)


def replay(
    macros: Dict[str, str],
    stanza: Dict[str, str],
    events: Sequence[Row],
    until: Optional[str] = None,
    writers: Sequence[Dict[str, str]] = (),
    collections: Optional[Collections] = None,
    writers_first: bool = True,
    delay: float = 0,
    every_run: bool = False,
    end: float = 0,
) -> List[Tuple[float, Row]]:
    """The rows of every scheduled run of a saved search, as ``(run time, row)``.

    Runs happen at the cron times (minute-aligned, so ``@m`` changes nothing); a run at ``S`` searches
    ``[S - earliest, S - latest)`` in event time and sees the events indexed by ``S``. Only the runs during whose
    interval of arrival (``[S - latest - interval, S - latest)``) some event arrived are executed: the searches
    judge a window in the run during which its last event arrived, so other runs find nothing.

    ``writers``: the searches that keep the collections the search reads (a fill and its purge), run on their own
    schedules in the same time line, over ``collections`` (new and empty if not given). In a slot where a writer and
    the search are both due, the writer runs first if ``writers_first``. ``delay``: the search runs that long after
    its scheduled time (its range stays that of the scheduled time; it sees what was indexed and written by the time
    it runs). A fill run whose range holds no event writes nothing (``outputlookup`` of no result): such runs are
    skipped unless ``every_run``. The writers run until the search's last run, or ``end`` if later.
    """
    interval, _ = cron(stanza["cron_schedule"])
    latest = _seconds(stanza["dispatch.latest_time"])
    arrivals = {max(e["_indextime"], e["_time"]) for e in events}
    runs = sorted({(int(a + latest) // interval + 1) * interval for a in arrivals})
    store = collections if collections is not None else Collections()
    timeline: List[Tuple[float, int, int, Dict[str, str], float]] = []
    if writers and runs:
        start, last = min(e["_time"] for e in events), max(max(runs) + delay, end)
        for order, writer in enumerate(writers):
            for when in _times(writer, start, last):
                timeline.append((when, 0 if writers_first else 2, order, writer, when))
    timeline += [(when + delay, 1, 0, stanza, when) for when in runs]
    out: List[Tuple[float, Row]] = []
    for at, _, _, search, when in sorted(timeline, key=lambda item: item[:3]):
        if search is stanza:
            rows = _run(macros, stanza, events, when, store, at, until=until, skip_empty=True)
            out += [(float(when), row) for row in rows or []]
        else:
            _run(macros, search, events, when, store, at, skip_empty=not every_run)
    return out
