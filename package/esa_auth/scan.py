"""The templates of :mod:`esa_auth.patterns` compiled for reading a block of lines.

The reader finds the lines that matter in two regex steps, both made here from
the template registry, so that no second description of a template exists:

1. :data:`CANDIDATE` finds the next ``: `` followed by a dispatch key (the first
   four bytes of some template's examples, in any case). It looks at one or two
   characters at most lines' colons, so the lines no template reads (most of a
   mail log: ``MID ...`` lines) cost a scan of their bytes in C and nothing else.
2. :data:`BODY` is every template, in registry order, as one alternation, matched
   at the body start of a candidate line, up to the line's end. The template that
   matched is the alternative that did (``Match.lastindex``): the first template
   in registry order that matches, as trying them one after the other would give.
   A body that starts with a dispatch key but matches no template matches the last
   alternative (``_key``), so that such lines are still seen (and warned about when
   they look like authentication, see :data:`esa_auth.patterns.DRIFT`).

Each alternative keeps its template's source and flags, and is only tried on
bodies whose dispatch key is one of the template's keys (a lookahead, in ASCII
case), as the dispatch table did. Group names get the template's tag as prefix; :class:`Template`
maps them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Dict, List, Match, Optional, Pattern, Tuple

from . import patterns as P


@dataclass(frozen=True)
class Template:
    """A template as the reader meets it in :data:`BODY`.

    Attributes:
        pattern: the registry entry.
        index: the number of its alternative's group in :data:`BODY`.
        names: its own group names, in order.
        indexes: the numbers of those groups in :data:`BODY`.
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


_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


def _tag(number: int) -> str:
    return f"t{number}_"


def _alternative(number: int, pattern: P.LinePattern) -> str:
    """A template's source as an alternative of :data:`BODY`: its groups renamed, its keys checked first."""
    if "(?P=" in pattern.source:
        raise ValueError(f"template {pattern.name}: back references are not supported")
    source = _GROUP.sub(lambda m: f"(?P<{_tag(number)}{m.group(1)}>", pattern.source)
    keys = "|".join(re.escape(key.decode("latin-1")) for key in pattern.keys)
    # Verbose, case-insensitive like the template itself (patterns._rx); the group
    # wraps the whole alternative, so that it closes last and names the template.
    return f"(?P<{_tag(number)}>(?=(?a:(?i:{keys})))(?x:(?i:{source})))"


def _build() -> Tuple[Pattern[str], Pattern[str], Dict[int, Template]]:
    alternatives = [_alternative(n, p) for n, p in enumerate(P.PATTERNS)]
    keys = sorted(P.DISPATCH)
    any_key = "|".join(re.escape(key.decode("latin-1")) for key in keys)
    body = re.compile("(?:" + "|".join(alternatives) + f")|(?P<_key>(?a:(?i:{any_key})))")
    heads = sorted({chr(key[0]) for key in keys} | {chr(key[0]).upper() for key in keys})
    # ": " then spaces then a dispatch key: the lookahead on the keys' first letters
    # lets the engine drop most colons at one character. Keys compare in ASCII case
    # only, as the dispatch table compared lower-cased bytes ("\u017f" is no "s").
    candidate = re.compile(": +(?=[" + re.escape("".join(heads)) + "])(?a:(?i:" + any_key + "))")
    templates: Dict[int, Template] = {}
    for number, pattern in enumerate(P.PATTERNS):
        tag = _tag(number)
        own = [(name[len(tag) :], i) for name, i in body.groupindex.items() if name.startswith(tag) and name != tag]
        own.sort(key=lambda item: item[1])
        names = tuple(name for name, _ in own)
        indexes = tuple(index for _, index in own)
        by_name = dict(own)
        number_group = by_name.get("icid") or by_name.get("dcid") or 0
        templates[body.groupindex[tag]] = Template(
            pattern, body.groupindex[tag], names, indexes, number_group, by_name.get("mid", 0), by_name.get("result", 0)
        )
    return candidate, body, templates


#: The next candidate: ``: `` (and more spaces), then a dispatch key.
CANDIDATE: Pattern[str]
#: Every template as one alternation, then any dispatch key (group ``_key``).
BODY: Pattern[str]
#: The templates by the number of their group in :data:`BODY`.
TEMPLATES: Dict[int, Template]
CANDIDATE, BODY, TEMPLATES = _build()
#: The number of the ``_key`` group: a dispatch key no template matched.
KEY_ONLY: int = BODY.groupindex["_key"]


def templates_in_order() -> List[Template]:
    """Every template, in registry order."""
    return sorted(TEMPLATES.values(), key=lambda t: t.index)
