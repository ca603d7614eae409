"""The regex shapes the templates of :mod:`esa_auth.patterns` are written with.

Each shape reads its part of a line in time linear in the line's length on any input (#18,
docs/SECURITY.md: a user name is whatever an SMTP client sends, a relay takes lines from anyone), with
what Python 3.9's ``re`` has: the reasons are beside each shape. tests/test_linear_time.py holds every
template to it.
"""

from __future__ import annotations

import itertools
import re
from typing import Callable, Dict, Iterable, List, Optional

# Linear time on any line (#18, docs/SECURITY.md): a user name is whatever an SMTP client sends before
# authenticating, and a relay takes lines from anyone, so no shape here may go over a run of the line
# more than a bounded number of times (tests/test_linear_time.py holds every template to it). Python
# 3.9's re has no possessive or atomic forms; the shapes below do the same with what it has:
# - A free-text value before "<spaces><literal>" ends with a character that is no space (U, free): the
#   separator is then tried at the start of each run of spaces only, not at every space of the run. The
#   shortest value the plain lazy form found never ended with a space either (one space fewer would do),
#   so the value found is the same. A value before "\s*$" ends with a non-blank (tail) for the same reason.
# - The spaces before a free-text value are followed by no space (SEP, "\ *(?!\ )" in the audit log):
#   giving one back to the value cannot help, so the value is not tried again from every space of the
#   run. (The one difference: a value made of spaces only, on a line that has no value there, is no
#   longer taken.)
# - "\s*\.?\s*$" tried every split of a run of blanks between its two runs: END takes a dot only after
#   the first run. A value that runs to the end of the line is found from the end (LAST).
SEP = r"\ +(?!\ )"
U = r"(?P<user>(?:.*?[^\ ])??)"  # a user name is free text (spaces, @, \ ...): always bounded by literals
# The user names of the appliance's own logs (A1, A3-A14, L1-L4, L6, L7, W1-W3) are read word by word, in a
# look-ahead that stops at the first word after which the rest of the template matches: the value of the lazy
# form above (its shortest value ending with a character that is no space, followed by the rest), but a
# look-ahead is atomic in Python's re and PCRE2 alike, and the back reference that follows takes what it read,
# so nothing is given back: a run in the user name is read once, where the lazy form paid three or four steps
# a character and, on a line that fails, read a run of the address twice. The rest is read once more where
# the user ends. A7 and A8 (short lines: an ordinary one costs little a byte) also read the run of spaces
# before the address atomically, so that a run there, with no address after it, is not given back at each
# word that tries the rest. UW marks the place; patterns._add writes the look-ahead from the rest of the template
# (by_words). T1 and T2 keep U: their rest is short and they are the most frequent events; they are within
# the bound already, as are A2, L5 and P1 (short lines whose rest is one literal stretch).
UW = r"(?#user-by-words)"
# A user name that runs to the end of the line, before END: the shortest value the lazy form found is the
# line up to its last character that is no blank nor dot, or up to the last dot but one when two or more
# dots follow that character (END takes one). Found greedily, from the end of the line: no try per character.
LAST = r".*(?:\.(?=\s*\.\s*$)|[^\s.])"
U_END = rf"(?P<user>(?:{LAST})?)"
IP = r"(?P<src>[0-9A-Fa-f:.]+)"  # IPv4, IPv6 or IPv4-mapped IPv6
END = r"\s*(?:\.\s*)?$"


def free(name: str) -> str:
    """A free-text value of one character or more, followed by spaces and a literal."""
    return rf"(?P<{name}>.*?[^\ ])"


def unnamed(source: str) -> str:
    """``source`` with its named groups made plain groups: for a look-ahead that reads what they will read.

    The groups of :func:`atomic` keep a name (their back reference needs one): a new one, as a name is
    defined once in a regex.
    """
    fresh: Dict[str, str] = {}

    def group(found: re.Match[str]) -> str:
        name = found.group(1)
        if not name.startswith(PRIVATE):
            return "(?:"
        fresh[name] = f"{PRIVATE}a{next(_ATOMS)}"
        return f"(?P<{fresh[name]}>"

    source = re.sub(r"\(\?P<(\w+)>", group, source)
    return re.sub(r"\(\?P=(\w+)\)", lambda found: f"(?P={fresh[found.group(1)]})", source)


#: The prefix of the names of groups that hold no value (:func:`atomic`): :func:`values` leaves them out.
PRIVATE = "_"
_ATOMS = itertools.count(1)


def atomic(source: str) -> str:
    """``source`` matched as an atomic group: what it takes is never given back (Python 3.9's re has no
    ``(?>...)``). A look-ahead is atomic, and the back reference after it takes what it read; its group
    is private (:data:`PRIVATE`). Costs three items more than ``source`` alone."""
    name = f"{PRIVATE}a{next(_ATOMS)}"
    return rf"(?=(?P<{name}>{source}))(?P={name})"


def values(found: re.Match[str]) -> Dict[str, Optional[str]]:
    """The values of a template's match: its named groups, less the private ones of :func:`atomic`."""
    return {name: value for name, value in found.groupdict().items() if not name.startswith(PRIVATE)}


def tail(name: str) -> str:
    """A free-text value of one character or more that runs to the end of the line (trailing blanks apart)."""
    return rf"(?P<{name}>.*?\S|.)\s*$"


def by_words(source: str) -> str:
    """``source`` with its user name at :data:`UW` read word by word (see there), if it has one."""
    head, marker, rest = source.partition(UW)
    if not marker:
        return source
    return head + rf"(?=(?P<user>(?:(?!{unnamed(rest)})\ *[^\ ]+)*))(?P=user)" + rest


def alternation_tree(words: Iterable[str], atom: Callable[[str], str] = re.escape) -> str:
    """An alternation of ``words`` (all of one length) as a tree of their characters: the engine tries each
    branch once per character, not each word once (``logf|logi|logo`` is ``log(?:f|i|o)``). ``atom`` writes
    one character (escaped, or in any ASCII case)."""
    heads: Dict[str, List[str]] = {}
    for word in sorted(set(words)):
        heads.setdefault(word[:1], []).append(word[1:])
    branches = [atom(head) + (alternation_tree(tails, atom) if tails[0] else "") for head, tails in heads.items()]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
