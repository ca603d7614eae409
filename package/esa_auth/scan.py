"""The templates of :mod:`esa_auth.patterns` compiled for reading a block of lines.

The reader finds the lines that matter in two steps, both made here from the
template registry, so that no second description of a template exists:

1. :data:`CANDIDATE` finds the next ``: `` followed by a dispatch key (the first
   four bytes of some template's examples, in any case). It looks at one or two
   characters at most lines' colons, so the lines no template reads (most of a
   mail log: ``MID ...`` lines) cost a scan of their bytes in C and nothing else.
2. The templates of that key, in registry order, are one alternation
   (:func:`templates_of`), matched at the body start up to the line's end. The
   template that matched is the alternative that did (``Match.lastindex``): the
   first template in registry order that matches, as trying them one after the
   other would give.

Each alternative keeps its template's source and flags; group names get the
template's tag as prefix, and :class:`Template` maps them back. The alternation
of a key is compiled when a line first needs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, Match, Optional, Pattern, Tuple

from . import patterns as P
from .shapes import PRIVATE, alternation_tree


@dataclass(frozen=True, eq=False)
class Template:
    """A template as the reader meets it in the alternation of its key (one object each: equal when the same).

    Attributes:
        pattern: the registry entry.
        index: the number of its alternative's group.
        names: its own group names, in order.
        indexes: the numbers of those groups.
        number: the index of its ``icid``/``dcid`` group (session lines), else 0.
        mid: the index of its ``mid`` group, else 0.
        result: the index of its ``result`` group (TLS lines), else 0.
    """

    pattern: P.LinePattern
    index: int
    names: Tuple[str, ...]
    indexes: Tuple[int, ...]
    number: int
    mid: int
    result: int

    def groups(self, match: Match[str]) -> Dict[str, Optional[str]]:
        """The template's named groups in ``match``, under their own names."""
        if not self.indexes:
            return {}
        values = match.group(*self.indexes) if len(self.indexes) > 1 else (match.group(self.indexes[0]),)
        return dict(zip(self.names, values))


#: The alternation of a dispatch key's templates, and its templates by group number.
Key = Tuple[Pattern[str], Dict[int, Template]]

_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")
_CONDITION = re.compile(r"\(\?\(([A-Za-z_][A-Za-z0-9_]*)\)")
_BACKREF = re.compile(r"\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)")


def _alternative(number: int, pattern: P.LinePattern) -> str:
    """A template's source as an alternative: its groups renamed, in its own flags (patterns._rx)."""
    tag = f"t{number}_"
    source = _GROUP.sub(lambda m: f"(?P<{tag}{m.group(1)}>", pattern.source)
    # A back reference (after a look-ahead that makes a part atomic: shapes.atomic, by_words) names its group too.
    source = _BACKREF.sub(lambda m: f"(?P={tag}{m.group(1)})", source)
    # A conditional on a group ("(?(verified)...)", C1) names the group too.
    source = _CONDITION.sub(lambda m: f"(?({tag}{m.group(1)})", source)
    # The group wraps the whole alternative, so that it closes last and names the template.
    return f"(?P<{tag}>(?x:(?i:{source})))"


def _compile(key: bytes) -> Key:
    patterns = P.DISPATCH[key]
    regex = re.compile("|".join(_alternative(n, p) for n, p in enumerate(patterns)))
    templates: Dict[int, Template] = {}
    for number, pattern in enumerate(patterns):
        tag = f"t{number}_"
        # The private groups of shapes.atomic hold no value.
        own = sorted(
            (i, n[len(tag) :])
            for n, i in regex.groupindex.items()
            if n.startswith(tag) and n != tag and not n[len(tag) :].startswith(PRIVATE)
        )
        by_name = {name: i for i, name in own}
        index = regex.groupindex[tag]
        templates[index] = Template(
            pattern, index, tuple(name for _, name in own), tuple(i for i, _ in own),
            by_name.get("icid") or by_name.get("dcid") or 0, by_name.get("mid", 0), by_name.get("result", 0),
        )  # fmt: skip
    return regex, templates


#: The alternations compiled so far, by key as written (any case: at most 16 spellings of each key).
KEYS: Dict[str, Key] = {}


def templates_of(key: str) -> Key:
    """The alternation of a dispatch key's templates (``key``: four characters, in any case)."""
    found = KEYS.get(key)
    if found is None:
        lower = key.lower()
        found = KEYS.get(lower)
        if found is None:
            found = KEYS[lower] = _compile(lower.encode("ascii"))
        KEYS[key] = found
    return found


def match(body: str) -> Optional[Tuple[Template, Match[str]]]:
    """The first template, in registry order, that matches ``body`` at its start; None if none does."""
    key = body[:4]
    if not key.isascii() or key.lower().encode() not in P.DISPATCH:
        return None
    regex, templates = templates_of(key.lower())
    found = regex.match(body)
    return (templates[found.lastindex], found) if found is not None else None  # type: ignore[index]


def _ascii_caseless(word: str) -> str:
    """A regex for ``word`` in any ASCII case: the dispatch table compares lower-cased bytes, so a
    "\u017f" (long s, an "S" to Unicode case folding) is no "s" here. No flag: the same regex in PCRE2."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


def _candidate() -> Pattern[str]:
    keys = sorted(key.decode("ascii") for key in P.DISPATCH)
    heads = sorted({key[0].lower() for key in keys} | {key[0].upper() for key in keys})
    # ": " then spaces then a dispatch key: the lookahead on the keys' first letters
    # lets the engine drop most colons at one character.
    return re.compile(": +(?=[" + re.escape("".join(heads)) + "])" + alternation_tree(keys, _ascii_caseless))


#: The next candidate: ``: `` (and more spaces), then a dispatch key (its last four characters).
CANDIDATE: Pattern[str] = _candidate()
