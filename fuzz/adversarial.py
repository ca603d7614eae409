"""Adversarial lines for a regex, derived from the regex and its example lines, and a verdict on its cost.

A regex that backtracks can take time that grows with the square (or worse) of a line's length; a user
name is whatever an unauthenticated SMTP client sends, and a syslog relay takes lines from anyone, so an
attacker chooses the line (docs/SECURITY.md). This module makes the lines such an attacker would try and
measures what each costs, with PCRE2 (tests/pcre2.py): machine independent, never timed.

Lines (:func:`hostile_lines`): each example, with a long run inserted at every place where the template
can be stretched: every space, every start and end of a group (the groups of the example's match). A run
repeats one *filler*: a space, ``(``, ``'``, ``:``, ``,``, ``.``, ``-``, a letter, a digit, a tab; every
word of the example followed by a space (the template's literal words and the values of its groups); and
every literal stretch of the example between two groups (``" using AUTH mechanism: "`` ...), so that the
separators a lazy group looks for appear again and again. Each such line is also cut right after the run
(a template that needs its tail then fails only after trying every split). Runs make the line ``size``
bytes long.

Starts (:func:`repeated_starts`): each example cut after its first words, then a level word and those words
repeated: every repetition is a start of the search; the work of the whole search must stay linear.

Verdict (:func:`check`): the cost of a line is the work of one search, in PCRE2 steps; the cost of the
ordinary lines (the examples) per byte is the reference. A regex passes when no adversarial line costs more
than ``bound`` (3) times the reference per byte. For a Splunk regex (``splunk=True``), every line is also
searched under Splunk's default match and depth limits, and a line that reaches one is reported (Splunk
would drop that event's fields).

Cost measure: :meth:`pcre2.Regex.steps`, the count of items the matcher tries (auto-callouts), over all
start positions of a search (Splunk's ``REGEX``) or at the start only (the library's ``regex.match``).
A literal character, a character class, a group each count once per try; a greedy run counts once, and
once more for each character it gives back; a lazy run once per character it takes. An ordinary line
costs one to two steps per byte.

To hold a new regex to linear time, hand it to :func:`check` with its example lines, e.g. in
tests/test_linear_time.py::

    verdict = check("my-scan", pcre2.from_python(MY_RE), ["an example line"], size=4096, anchored=True)
    assert verdict.ok, verdict.describe()

or add the regex to :func:`library_regexes` (the library) or :func:`splunk_regexes` (the add-on), which
the tests, ``bench/hostile.py`` and ``fuzz/fuzz_pipeline.py``'s seeds read.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "detections"))

import pcre2
import spl_model  # how SPL reads a search's rex

#: Fillers of every run, whatever the template (the issue's list: spaces, ``(``, ``'``, ``:``, characters
#: free-text groups accept, and what ends a group: ``,`` ``.`` ``-`` a tab).
BASE_FILLERS: Tuple[str, ...] = (" ", "(", "'", ":", ",", ".", "-", "a", "0", "\t", ") ", "  a")

#: Runs of short words, for the regexes that read a value word by word (a possessive group a word: the
#: work, and PCRE2's match limit, count the words, not the bytes): two-character words, the words a stop
#: is looked for at (C1's ``address`` and ``verified``), and the separator words repeated.
SPLUNK_FILLERS: Tuple[str, ...] = ("a ", "ab ", "( ", "verified yes ", "address 192.0.2.7 ", "reverse dns host ")

#: Default bound: the worst cost per byte of an adversarial line, in ordinary cost per byte.
BOUND = 3.0


@dataclass(frozen=True)
class Hostile:
    """One adversarial line: what was repeated, where, and whether the line was cut after the run."""

    line: str
    filler: str
    at: int
    cut: bool

    @property
    def label(self) -> str:
        cut = " (cut)" if self.cut else ""
        return f"{self.filler!r} x{len(self.line) // max(len(self.filler), 1)} at {self.at}{cut}"


def _stretch_points(example: str, spans: Sequence[Tuple[int, int]]) -> List[int]:
    points = {i for i, char in enumerate(example) if char == " "}
    points.add(len(example))
    for start, end in spans:
        if start >= 0:
            points.update((start, end))
    return sorted(points)


def _fillers(example: str, spans: Sequence[Tuple[int, int]], more: Sequence[str] = ()) -> List[str]:
    fillers = list(BASE_FILLERS) + list(more)
    fillers.extend(word + " " for word in example.split(" ") if word)
    # The literal stretches between groups: the separators a lazy group looks ahead for.
    bounds = sorted((s, e) for s, e in spans if s >= 0)
    edges = [0] + [x for span in bounds for x in span] + [len(example)]
    for i in range(0, len(edges) - 1, 2):
        stretch = example[edges[i] : edges[i + 1]]
        if stretch.strip():
            fillers.append(stretch)
    seen: List[str] = []
    for filler in fillers:
        if filler and filler not in seen:
            seen.append(filler)
    return seen


def hostile_lines(
    example: str, size: int, spans: Sequence[Tuple[int, int]] = (), more: Sequence[str] = ()
) -> Iterator[Hostile]:
    """The adversarial lines of one example, each about ``size`` characters long (see the module doc).

    ``spans`` are the group spans of the example's match (``(-1, -1)`` for a group that took no part);
    ``more``: fillers tried besides those of the module doc (:data:`SPLUNK_FILLERS`).
    """
    room = max(size - len(example), 1)
    for filler in _fillers(example, spans, more):
        run = filler * max(room // len(filler), 1)
        for at in _stretch_points(example, spans):
            yield Hostile(example[:at] + run + example[at:], filler, at, False)
            yield Hostile(example[:at] + run, filler, at, True)


#: The rest of a template that a free-text value before it can meet again and again: C1's address and rDNS part,
#: the audit log's source and location (#18: each such try read to the end of the line, looking for its end).
#: Each is (where the example is cut, what is put after the cut once, the rest repeated). X4's event need not
#: end the line: the user holds one early, so that every try of a location finds the line has an event.
REPEATED_RESTS = {
    "C1": (" (", "", " address 192.0.2.7 reverse dns host x"),
    **{
        name: ("Source IP", "", "Source IP: 192.0.2.10, Location: /x, ")
        for name in ("U1", "U2", "U3", "U4", "U5", "U6")
    },
    "X4": ("Source IP", "Event: User visited the web page, ", "Source IP: 192.0.2.10, Location: /x, "),
}


def repeated_rest(name: str, example: str, count: int) -> Optional[str]:
    """``example`` of template ``name`` cut before its rest, then that rest ``count`` times (None: none to repeat)."""
    cut, once, rest = REPEATED_RESTS.get(name, ("", "", ""))
    if not cut or cut not in example:
        return None
    return example[: example.index(cut)] + once + rest * count


#: The branches that follow the rest of a Splunk regex (``X(?:REST|<these>)``) where a failure of the rest means
#: that no later start of its line can match (docs/SECURITY.md, "a run of starts"): when no line break follows,
#: no later start at all (``(*COMMIT)``); else the search goes on at the line's last non-blank, where a level
#: word's colon could still start a body on the next line (``(*SKIP)``). Each only fails.
LINE_BRANCHES = r"|(?![^\n]*+\n)(*COMMIT)(*FAIL)|[^\n]*(?=\S[^\S\n]*+\n)(*SKIP)(*FAIL))"

#: The level word put before each repetition of :func:`repeated_starts` (any of them starts a body).
START = "info: "


def repeated_starts(example: str, size: int, words: Sequence[int] = (1, 2, 3, 5)) -> Iterator[Tuple[str, str]]:
    """``example`` cut after its first ``k`` words, then :data:`START` and those words again and again, about
    ``size`` characters in all: (label, line) for each ``k`` of ``words`` shorter than the example, the run alone,
    then followed by a line break and ``x`` (a second line), by ``, x`` (a comma, where values read up to a comma
    end), and by a line break and the example.

    Each repetition is a start of a search (a level word and the body's first words) where nothing can match:
    a regex that reads the rest of the line again from each does work that grows with the square of the event,
    though the work of each start, what Splunk's match limit bounds, stays linear (docs/SECURITY.md). A regex
    that ends its search at the first start that fails must still find the example on the line after the run.
    """
    parts = example.split(" ")
    for k in words:
        if k >= len(parts):
            break
        head = " ".join(parts[:k])
        unit = START + head + " "
        run = head + " " + unit * max((size - len(head)) // len(unit), 1)
        yield f"{k} words", run
        yield f"{k} words, a second line", run + "\nx"
        yield f"{k} words, then a comma", run + ", x"
        yield f"{k} words, the example on a second line", run + "\n" + example


def starts_costs(
    source: str, examples: Sequence[str], sizes: Tuple[int, int], cap: Optional[float] = None
) -> Iterator[Tuple[str, Tuple[float, float]]]:
    """The steps per byte of the whole search of a Splunk regex (every start position) on each event of
    :func:`repeated_starts` of its first two examples, at both ``sizes``, by ``"<example> <case>"``, one event
    after the other (a caller may stop at the one it looks for).

    Counted a step a character (``pcre2.per_character``): the plain count takes a run of one class for one step
    whatever its length, and so misses a start that reads the rest of the line by such a run. An event the
    regex turns away unsearched counts one step. With ``cap``, the count on the larger event stops past ``cap``
    times the steps per byte of the smaller (then infinite): a search that grows so is slow to count.
    """
    regex = pcre2.compile(pcre2.per_character(source))
    for n, example in enumerate(examples[:2]):
        small, large = (dict(repeated_starts(example, size)) for size in sizes)
        for case in small:
            steps = regex.steps(ENVELOPE + small[case])
            assert steps is not None
            per_byte = max(steps, 1) / len(ENVELOPE + small[case])
            text = ENVELOPE + large[case]
            more = regex.steps(text) if cap is None else regex.steps(text, cap=int(cap * per_byte * len(text)))
            yield f"{n} {case}", (per_byte, math.inf if more is None else max(more, 1) / len(text))


@dataclass
class Verdict:
    """The cost of one regex on its ordinary and adversarial lines."""

    name: str
    ordinary: float  # cost per byte of the most expensive example
    worst: float = 0.0  # cost per byte of the most expensive adversarial line (a lower bound if over budget)
    worst_line: str = ""
    lines: int = 0
    over_budget: List[str] = field(default_factory=list)
    limit_hits: List[str] = field(default_factory=list)
    bound: float = BOUND

    @property
    def ratio(self) -> float:
        return self.worst / self.ordinary if self.ordinary else 0.0

    @property
    def ok(self) -> bool:
        return not self.over_budget and not self.limit_hits

    def describe(self) -> str:
        text = (
            f"{self.name}: {self.lines} lines, ordinary {self.ordinary:.2f}/byte, worst {self.worst:.2f}/byte "
            f"({self.ratio:.2f}x, bound {self.bound}x) on {self.worst_line}"
        )
        if self.over_budget:
            text += f"; over {self.bound}x on {len(self.over_budget)} line(s), e.g. {self.over_budget[0]}"
        if self.limit_hits:
            text += f"; Splunk's limits reached on {len(self.limit_hits)} line(s), e.g. {self.limit_hits[0]}"
        return text


def _cost(regex: pcre2.Regex, line: str, anchored: bool, cap: int) -> Optional[int]:
    return regex.steps(line, anchored=anchored, cap=cap)


def _over(regex: pcre2.Regex, line: str, anchored: bool, budget: int) -> bool:
    return regex.steps(line, anchored=anchored, cap=budget) is None


def check(
    name: str,
    regex: pcre2.Regex,
    examples: Sequence[str],
    *,
    size: int,
    anchored: bool,
    bound: float = BOUND,
    splunk: bool = False,
    exact: bool = False,
    prefix: str = "",
    fillers: Optional[Sequence[str]] = None,
    more: Sequence[str] = (),
    limits: Tuple[int, int] = (pcre2.SPLUNK_MATCH_LIMIT, pcre2.SPLUNK_DEPTH_LIMIT),
) -> Verdict:
    """Measure ``regex`` on ``examples`` and on their adversarial lines of ``size`` characters.

    Args:
        name: what the verdict is about.
        regex: the regex, compiled for PCRE2 (:func:`pcre2.from_python` for a Python regex).
        examples: ordinary lines the regex matches (each must match).
        anchored: match at the start only (Python's ``match``), else search (Splunk).
        bound: how many times the ordinary cost per byte a line may cost (``float("inf")``: not measured).
        splunk: also search every line under Splunk's match and depth limits (``limits``: the defaults unless
            a stanza sets MATCH_LIMIT / DEPTH_LIMIT).
        exact: measure each adversarial line's cost (slower), not only whether it is over budget.
        prefix: text put before every line (an envelope), not stretched.
        fillers: only the fillers given (default: all, see :func:`hostile_lines`).
        more: fillers tried besides those (:func:`hostile_lines`); kept by ``fillers`` too.
    """
    ordinary = 0.0
    spans_of: List[Tuple[str, Tuple[Tuple[int, int], ...]]] = []
    for example in examples:
        found = regex.search(prefix + example, anchored=anchored)
        if found is None:
            raise ValueError(f"{name}: the example does not match: {example!r}")
        cost = _cost(regex, prefix + example, anchored, 2**32 - 1)
        assert cost is not None
        ordinary = max(ordinary, max(cost, 1) / len(prefix + example))
        offset = len(prefix)
        spans = tuple((s - offset, e - offset) if s >= offset else (-1, -1) for s, e in found.spans[1:])
        spans_of.append((example, spans))
    verdict = Verdict(name, ordinary, bound=bound)
    for example, spans in spans_of:
        for hostile in hostile_lines(example, size, spans, more):
            if fillers is not None and hostile.filler not in fillers and hostile.filler not in more:
                continue
            line = prefix + hostile.line
            verdict.lines += 1
            budget = int(bound * ordinary * len(line)) + 1 if bound != float("inf") else 0
            if not budget:  # no bound: only the limits are checked
                over, per_byte = False, 0.0
            elif exact:
                cost = _cost(regex, line, anchored, 20 * budget)
                per_byte = (20 * budget if cost is None else cost) / len(line)
                over = per_byte * len(line) > budget
            else:
                over = _over(regex, line, anchored, budget)
                per_byte = budget / len(line) if over else 0.0
            if per_byte > verdict.worst:
                verdict.worst, verdict.worst_line = per_byte, hostile.label
            if over:
                verdict.over_budget.append(hostile.label)
            if splunk:
                try:
                    regex.search(
                        line,
                        anchored=anchored,
                        match_limit=limits[0],
                        depth_limit=limits[1],
                    )
                except pcre2.LimitError as error:
                    verdict.limit_hits.append(f"{hostile.label}: {error}")
    return verdict


# --- the regexes of the project ---------------------------------------------------------


def library_regexes() -> List[Tuple[str, re.Pattern[str], Tuple[str, ...]]]:
    """Every regex the library applies to line text, with ordinary lines: (name, regex, examples).

    The templates (matched at the body start), then the other regexes of the reading path.
    """
    from esa_auth import patterns

    out: List[Tuple[str, re.Pattern[str], Tuple[str, ...]]] = [(p.name, p.regex, p.examples) for p in patterns.PATTERNS]
    return out


#: The envelope put before an example body for the Splunk regexes (docs/log-formats.md#E1).
ENVELOPE = "Wed Apr 22 11:44:48 2009 Info: "


def reading_regexes() -> List[Tuple[str, re.Pattern[str], Tuple[str, ...], bool]]:
    """The other regexes the library applies to line text: (name, regex, examples, anchored).

    The envelope forms (matched at the start of the text before the body), the reply of a T11 failure,
    its quoted items (searched), the reader's search for candidate lines and the drift check (searched in a
    body no template took). The reader matches each dispatch key's templates as one alternation
    (``scan.templates_of``): an alternation of linear templates is linear. The byte
    regexes of the reading loop (``_CONTROL``, ``_LEADING_CONTROL``, ``_NOT_ENVELOPE``) are character
    classes and alternations of fixed forms with no free-text run to split.
    """
    from esa_auth import envelope, mapping, patterns, scan

    reply = "('535', ['5.7.8 Error: authentication failed: authentication failure'])"
    return [
        (
            "envelope E1",
            envelope._NATIVE,
            ("Wed Apr 22 11:44:48 2009 Info:", "Tue Apr  6 14:38:34 2004 Warning:"),
            True,
        ),
        (
            "envelope syslog",
            envelope._SYSLOG,
            (
                "<22>Nov 24 14:22:57 esa01.example.com mail_logs: Info:",
                "Oct 20 16:11:05 192.0.2.9 Original Address=192.0.2.10 Oct 20 16:11:05 esa_maillog: Info:",
            ),
            True,
        ),
        ("envelope E10", envelope._BARE, ("Info:",), True),
        ("T11 reply", mapping._REPLY, (reply,), True),
        (
            "T11 reply items",
            mapping._REPLY_ITEM,
            ("'5.7.8 Error: authentication failed', \"4.7.0 Try again\"",),
            False,
        ),
        (
            "reader's candidate search",
            scan.CANDIDATE,
            (ENVELOPE + "ICID 5 close", "Oct 20 16:11:05 esa01 mail_logs: Info: SMTP Auth: (ICID 5) x"),
            False,
        ),
        (
            "drift",
            patterns.DRIFT,
            ("SMTP Auth (ICID 5) was frobnicated for user: x", "User admin logged on to a new console"),
            False,
        ),
    ]


def transforms_regexes(text: str) -> Dict[str, str]:
    """The ``REGEX`` of each ``esa_auth_*`` stanza of a transforms.conf text, by stanza, in file order."""
    out: Dict[str, str] = {}
    stanza = ""
    for raw in text.splitlines():
        if raw.startswith("["):
            stanza = raw.strip("[]")
        elif raw.startswith("REGEX = ") and stanza.startswith("esa_auth_"):
            out[stanza] = raw[len("REGEX = ") :]
    return out


def rex_regexes(text: str, file_name: str) -> Dict[str, str]:
    """The ``rex field=_raw`` of a savedsearches.conf text, as SPL unquotes them, by ``"<file_name> rex <n>"``."""
    return {f"{file_name} rex {i + 1}": regex for i, regex in enumerate(spl_model.raw_rexes(text))}


def splunk_regexes(root: Optional[Path] = None) -> List[Tuple[str, str, Tuple[str, ...]]]:
    """Every ``REGEX`` of default/transforms.conf and ``rex`` of the shipped searches: (name, PCRE2 source, examples).

    The examples are the example bodies of the registry the regex finds in an E1 envelope (:data:`ENVELOPE`):
    those of its own template for ``esa_auth_<template>``. Put :data:`ENVELOPE` before them to search.
    """
    from esa_auth import patterns

    root = root or Path(__file__).resolve().parent.parent
    sources = list(transforms_regexes((root / "default" / "transforms.conf").read_text(encoding="utf-8")).items())
    searches = [root / "default" / "savedsearches.conf", *sorted((root / "detections" / "searches").glob("*.conf"))]
    for path in searches:
        sources.extend(rex_regexes(path.read_text("utf-8"), path.name).items())
    # The interaction modes and channels the examples do not show, for the esa_auth_app_* regexes.
    variants = (("Mode: GUI", "Mode: API"), ("Mode: GUI", "Mode: CLI"), ("an HTTPS connection", "a telnet connection"))
    examples = [e for p in patterns.PATTERNS for e in p.examples]
    everything = tuple(examples + [e.replace(a, b) for e in examples for a, b in variants if a in e])
    out: List[Tuple[str, str, Tuple[str, ...]]] = []
    for name, source in sources:
        template = patterns.BY_NAME.get(name[len("esa_auth_") :]) if name.startswith("esa_auth_") else None
        regex = pcre2.compile(source)
        candidates = template.examples if template is not None else everything
        out.append((name, source, tuple(e for e in candidates if regex.search(ENVELOPE + e) is not None)))
    return out
