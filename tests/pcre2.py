"""PCRE2, the regex engine of Splunk's ``REGEX`` and ``rex``, for tests and tools, through ctypes.

Splunk runs the ``REGEX`` of transforms.conf and the ``rex`` of searches with PCRE2, under a match limit
and a depth limit (``MATCH_LIMIT`` / ``DEPTH_LIMIT`` of transforms.conf, ``match_limit`` / ``depth_limit``
of limits.conf ``[rex]``; both default to :data:`SPLUNK_MATCH_LIMIT` and :data:`SPLUNK_DEPTH_LIMIT`). A
line that makes a regex reach a limit is no match for Splunk: the event silently loses its fields. This
module runs the system's libpcre2-8 (Debian package ``libpcre2-8-0``) so that tests see what Splunk sees,
and counts the work a regex does on a line.

API (small and stable: other tests and tools build on it)::

    rx = pcre2.compile(r"(?i)user (?<name>\\S+)")            # PCRE2 syntax, flags inline or as options
    m = rx.search("User admin")                              # None, or a Match
    m.group(0), m.group("name"), m.groupdict(), m.span(1)     # like re.Match (str offsets)
    rx.match(text)                                            # anchored at the start
    rx.search(text, match_limit=100_000, depth_limit=1_000)   # raises LimitError past a limit
    rx.steps(text)                                            # the work of the search, in matcher steps
    rx.least_match_limit(text), rx.least_depth_limit(text)    # the limits this search needs
    pcre2.from_python(re.compile(src, re.VERBOSE | re.I))     # a Python regex, as PCRE2 would run it

:meth:`Regex.steps` counts the work of a whole search: the pattern is compiled a second time with
``PCRE2_AUTO_CALLOUT``, which calls back before every item the matcher tries (again after each backtrack),
at every start position; the count does not depend on the machine or its load. (Auto-callouts turn off
auto-possessification, so a count of a pattern compiled without ``NO_AUTO_POSSESS`` is an upper bound.)
:meth:`Regex.least_match_limit` and :meth:`Regex.least_depth_limit` are the smallest limits under which
the search ends without :class:`LimitError` (found by bisection). PCRE2 applies both limits afresh at each
start position of a search, so they bound the work at the worst start position, not the whole search:
they tell whether Splunk would give up on a line, :meth:`Regex.steps` tells how much work it does.

:func:`from_python` compiles a Python pattern with PCRE2 to model the backtracking of Python's ``re``:
``re.VERBOSE`` and ``re.IGNORECASE`` become ``PCRE2_EXTENDED`` and ``PCRE2_CASELESS``, and the two
optimizations Python's engine does not have are turned off (``PCRE2_NO_AUTO_POSSESS``, which would make
``\\ +`` before a non-space possessive, and ``PCRE2_NO_START_OPTIMIZE``, which would skip start
positions and fail early on a missing literal), so that a backtracking shape Python pays for shows in
the step count. The syntax both engines share (``(?P<name>...)``, classes, look-arounds, lazy
quantifiers) is all the library uses.

:data:`AVAILABLE` is False, with :data:`UNAVAILABLE_REASON`, when the library cannot be loaded; callers
decide (tests skip with that reason; ``build.py --setup`` installs nothing for it: the runtime package is
part of every Debian and Ubuntu base system).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

__all__ = [
    "ANCHORED",
    "AVAILABLE",
    "CASELESS",
    "DOTALL",
    "EXTENDED",
    "MULTILINE",
    "NO_AUTO_POSSESS",
    "NO_START_OPTIMIZE",
    "SPLUNK_DEPTH_LIMIT",
    "SPLUNK_MATCH_LIMIT",
    "UCP",
    "UNAVAILABLE_REASON",
    "UTF",
    "LimitError",
    "Match",
    "Pcre2Error",
    "Regex",
    "compile",
    "from_python",
    "version",
]

# Option bits of pcre2.h (stable across PCRE2 10.x).
ANCHORED = 0x80000000
CASELESS = 0x00000008
DOTALL = 0x00000020
EXTENDED = 0x00000080
MULTILINE = 0x00000400
NO_AUTO_POSSESS = 0x00004000
NO_START_OPTIMIZE = 0x00010000
UCP = 0x00020000
UTF = 0x00080000
_AUTO_CALLOUT = 0x00000004

_ERROR_NOMATCH = -1
_ERROR_CALLOUT = -37
_ERROR_MATCHLIMIT = -47
_ERROR_DEPTHLIMIT = -53
_ERROR_HEAPLIMIT = -63
_INFO_CAPTURECOUNT = 4
_INFO_NAMECOUNT = 17
_INFO_NAMEENTRYSIZE = 18
_INFO_NAMETABLE = 19
_CONFIG_VERSION = 11

#: Splunk's default ``MATCH_LIMIT`` (transforms.conf) and ``match_limit`` (limits.conf ``[rex]``).
SPLUNK_MATCH_LIMIT = 100_000
#: Splunk's default ``DEPTH_LIMIT`` (transforms.conf) and ``depth_limit`` (limits.conf ``[rex]``).
SPLUNK_DEPTH_LIMIT = 1_000
#: The largest limit PCRE2 takes (a uint32_t).
_MAX_LIMIT = 0xFFFFFFFF


class Pcre2Error(Exception):
    """A pattern PCRE2 refuses, or a match that ends in an error."""


class LimitError(Pcre2Error):
    """The search reached the match limit or the depth limit: Splunk treats the line as no match."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _load() -> Tuple[Optional[ctypes.CDLL], str]:
    names = [ctypes.util.find_library("pcre2-8"), "libpcre2-8.so.0", "libpcre2-8.dylib"]
    for name in names:
        if not name:
            continue
        try:
            return ctypes.CDLL(name), ""
        except OSError:
            continue
    return None, "libpcre2-8 not found (Debian/Ubuntu: apt-get install libpcre2-8-0)"


_LIB, UNAVAILABLE_REASON = _load()
#: Whether libpcre2-8 could be loaded.
AVAILABLE = _LIB is not None

if _LIB is not None:
    _p, _sz, _u32, _i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint32, ctypes.c_int
    for _name, _res, _args in (
        ("pcre2_compile_8", _p, [ctypes.c_char_p, _sz, _u32, ctypes.POINTER(_i), ctypes.POINTER(_sz), _p]),
        ("pcre2_code_free_8", None, [_p]),
        ("pcre2_get_error_message_8", _i, [_i, ctypes.c_char_p, _sz]),
        ("pcre2_match_data_create_from_pattern_8", _p, [_p, _p]),
        ("pcre2_match_data_free_8", None, [_p]),
        ("pcre2_match_8", _i, [_p, ctypes.c_char_p, _sz, _sz, _u32, _p, _p]),
        ("pcre2_get_ovector_pointer_8", ctypes.POINTER(_sz), [_p]),
        ("pcre2_match_context_create_8", _p, [_p]),
        ("pcre2_match_context_free_8", None, [_p]),
        ("pcre2_set_match_limit_8", _i, [_p, _u32]),
        ("pcre2_set_depth_limit_8", _i, [_p, _u32]),
        ("pcre2_pattern_info_8", _i, [_p, _u32, _p]),
        ("pcre2_config_8", _i, [_u32, _p]),
        ("pcre2_set_callout_8", _i, [_p, _p, _p]),
    ):
        _fn = getattr(_LIB, _name)
        _fn.restype = _res
        _fn.argtypes = _args


_CALLOUT = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)


def _lib() -> ctypes.CDLL:
    if _LIB is None:
        raise Pcre2Error(UNAVAILABLE_REASON)
    return _LIB


def version() -> str:
    """The version of the loaded libpcre2-8, e.g. ``10.42 2022-12-11``."""
    buf = ctypes.create_string_buffer(64)
    _lib().pcre2_config_8(_CONFIG_VERSION, buf)
    return buf.value.decode("ascii")


def _message(code: int) -> str:
    buf = ctypes.create_string_buffer(256)
    _lib().pcre2_get_error_message_8(code, buf, len(buf))
    return buf.value.decode("ascii", "replace")


@dataclass(frozen=True)
class Match:
    """A successful search: spans are str offsets into the subject, as in :class:`re.Match`."""

    string: str
    spans: Tuple[Tuple[int, int], ...]  # (-1, -1) for a group that took no part
    names: Dict[str, int]

    def _index(self, group: Union[int, str]) -> int:
        return self.names[group] if isinstance(group, str) else group

    def span(self, group: Union[int, str] = 0) -> Tuple[int, int]:
        return self.spans[self._index(group)]

    def group(self, group: Union[int, str] = 0) -> Optional[str]:
        start, end = self.span(group)
        return None if start < 0 else self.string[start:end]

    def groups(self) -> Tuple[Optional[str], ...]:
        return tuple(self.group(i) for i in range(1, len(self.spans)))

    def groupdict(self) -> Dict[str, Optional[str]]:
        return {name: self.group(index) for name, index in self.names.items()}


class Regex:
    """A compiled PCRE2 pattern. Subjects are ``str`` (matched as UTF-8 when ``UTF`` is set) or ``bytes``."""

    def __init__(self, pattern: Union[str, bytes], options: int = UTF) -> None:
        lib = _lib()
        raw = pattern.encode("utf-8") if isinstance(pattern, str) else pattern
        self.pattern = pattern
        self.options = options
        code, offset = ctypes.c_int(0), ctypes.c_size_t(0)
        self._code = lib.pcre2_compile_8(raw, len(raw), options, ctypes.byref(code), ctypes.byref(offset), None)
        if not self._code:
            raise Pcre2Error(f"{_message(code.value)} at offset {offset.value} of {pattern!r}")
        self._data = lib.pcre2_match_data_create_from_pattern_8(self._code, None)
        self._context = lib.pcre2_match_context_create_8(None)
        count = ctypes.c_uint32(0)
        lib.pcre2_pattern_info_8(self._code, _INFO_CAPTURECOUNT, ctypes.byref(count))
        self.groups = count.value
        self.groupindex = self._names()
        self._counting: Optional[Regex] = None

    def _names(self) -> Dict[str, int]:
        lib = _lib()
        count, size, table = ctypes.c_uint32(0), ctypes.c_uint32(0), ctypes.c_void_p(None)
        lib.pcre2_pattern_info_8(self._code, _INFO_NAMECOUNT, ctypes.byref(count))
        lib.pcre2_pattern_info_8(self._code, _INFO_NAMEENTRYSIZE, ctypes.byref(size))
        lib.pcre2_pattern_info_8(self._code, _INFO_NAMETABLE, ctypes.byref(table))
        names: Dict[str, int] = {}
        if count.value and table.value:
            raw = ctypes.string_at(table.value, count.value * size.value)
            for i in range(count.value):
                entry = raw[i * size.value : (i + 1) * size.value]
                names[entry[2:].split(b"\0", 1)[0].decode("utf-8")] = (entry[0] << 8) | entry[1]
        return names

    def __del__(self) -> None:
        lib = _LIB
        if lib is None:
            return
        for attribute, free in (
            ("_data", "pcre2_match_data_free_8"),
            ("_context", "pcre2_match_context_free_8"),
            ("_code", "pcre2_code_free_8"),
        ):
            pointer = getattr(self, attribute, None)
            if pointer:
                getattr(lib, free)(pointer)

    def __repr__(self) -> str:
        return f"pcre2.Regex({self.pattern!r}, {self.options:#x})"

    def _run(self, subject: Union[str, bytes], options: int, match_limit: int, depth_limit: int) -> int:
        lib = _lib()
        raw = subject.encode("utf-8") if isinstance(subject, str) else subject
        lib.pcre2_set_match_limit_8(self._context, match_limit)
        lib.pcre2_set_depth_limit_8(self._context, depth_limit)
        return int(lib.pcre2_match_8(self._code, raw, len(raw), 0, options, self._data, self._context))

    def search(
        self,
        subject: Union[str, bytes],
        *,
        anchored: bool = False,
        match_limit: int = _MAX_LIMIT,
        depth_limit: int = _MAX_LIMIT,
    ) -> Optional[Match]:
        """The first match in ``subject`` (at its start only when ``anchored``), or None.

        Raises:
            LimitError: the search reached ``match_limit`` or ``depth_limit``.
            Pcre2Error: any other error of ``pcre2_match``.
        """
        rc = self._run(subject, ANCHORED if anchored else 0, match_limit, depth_limit)
        if rc == _ERROR_NOMATCH:
            return None
        if rc in (_ERROR_MATCHLIMIT, _ERROR_DEPTHLIMIT, _ERROR_HEAPLIMIT):
            raise LimitError(_message(rc), rc)
        if rc < 0:
            raise Pcre2Error(_message(rc))
        vector = _lib().pcre2_get_ovector_pointer_8(self._data)
        raw = subject.encode("utf-8") if isinstance(subject, str) else subject
        spans: List[Tuple[int, int]] = []
        for i in range(self.groups + 1):
            start, end = vector[2 * i], vector[2 * i + 1]
            if i >= rc or start == ctypes.c_size_t(-1).value:
                spans.append((-1, -1))
            elif isinstance(subject, str):
                # Byte offsets of the UTF-8 subject to str offsets.
                first = len(raw[:start].decode("utf-8"))
                spans.append((first, first + len(raw[start:end].decode("utf-8"))))
            else:
                spans.append((start, end))
        text = subject if isinstance(subject, str) else subject.decode("latin-1")
        return Match(text, tuple(spans), dict(self.groupindex))

    def match(self, subject: Union[str, bytes], **limits: int) -> Optional[Match]:
        """:meth:`search` anchored at the start of ``subject`` (like :meth:`re.Pattern.match`)."""
        return self.search(subject, anchored=True, **limits)

    def steps(self, subject: Union[str, bytes], *, anchored: bool = False, cap: int = _MAX_LIMIT) -> Optional[int]:
        """The work of the search: how many times the matcher tries an item, over all start positions.

        Returns None once the count passes ``cap`` (the search is abandoned there: pass a cap to bound
        the time a runaway shape takes).
        """
        if self._counting is None:
            self._counting = Regex(self.pattern, self.options | _AUTO_CALLOUT)
        counting = self._counting
        count = [0]

        def callout(_block: Optional[int], _data: Optional[int]) -> int:
            count[0] += 1
            return _ERROR_CALLOUT if count[0] > cap else 0  # a negative value abandons the search

        hook = _CALLOUT(callout)
        lib = _lib()
        lib.pcre2_set_callout_8(counting._context, ctypes.cast(hook, ctypes.c_void_p), None)
        try:
            rc = counting._run(subject, ANCHORED if anchored else 0, _MAX_LIMIT, _MAX_LIMIT)
        finally:
            lib.pcre2_set_callout_8(counting._context, None, None)
        if rc < _ERROR_NOMATCH and rc != _ERROR_CALLOUT:
            raise Pcre2Error(_message(rc))
        return None if count[0] > cap else count[0]

    def _least(self, subject: Union[str, bytes], anchored: bool, which: str, cap: int) -> Optional[int]:
        raw = subject.encode("utf-8") if isinstance(subject, str) else subject
        options = ANCHORED if anchored else 0

        def fits(limit: int) -> bool:
            # The return code only: a Match (its spans read back as str offsets) is not needed here, and
            # building one at each step of the bisection was most of the time it took.
            if which == "match":
                rc = self._run(raw, options, limit, _MAX_LIMIT)
            else:
                rc = self._run(raw, options, _MAX_LIMIT, limit)
            if rc in (_ERROR_MATCHLIMIT, _ERROR_DEPTHLIMIT, _ERROR_HEAPLIMIT):
                return False
            if rc < 0 and rc != _ERROR_NOMATCH:
                raise Pcre2Error(_message(rc))
            return True

        if not fits(cap):
            return None
        if fits(0):  # the search never reaches the matcher (a required character is missing, say)
            return 0
        low, high = 0, 1
        while high < cap and not fits(high):
            low, high = high, min(high * 2, cap)
        while high - low > 1:  # fits(high), not fits(low)
            middle = (low + high) // 2
            if fits(middle):
                high = middle
            else:
                low = middle
        return high

    def least_match_limit(
        self, subject: Union[str, bytes], *, anchored: bool = False, cap: int = _MAX_LIMIT
    ) -> Optional[int]:
        """The smallest match limit under which the search ends without :class:`LimitError` (None past ``cap``)."""
        return self._least(subject, anchored, "match", cap)

    def least_depth_limit(
        self, subject: Union[str, bytes], *, anchored: bool = False, cap: int = _MAX_LIMIT
    ) -> Optional[int]:
        """The smallest depth limit under which the search ends without :class:`LimitError` (None past ``cap``)."""
        return self._least(subject, anchored, "depth", cap)


def compile(pattern: Union[str, bytes], options: int = UTF) -> Regex:
    """Compile a PCRE2 pattern (``options``: the bits above; ``UTF`` by default for str subjects)."""
    return Regex(pattern, options)


_ATOM = re.compile(
    r"\\[pPx]\{[^}]*\}"  # \p{..}, \x{..}
    r"|\\."  # an escape
    r"|\[\^?\]?(?:\\.|\[:[a-z]+:\]|[^\]\\])*\]"  # a class
    r"|\."  # any character
)
_QUANTIFIER = re.compile(r"(?:[*+]|\{\d+(?:,\d*)?\})[+?]?")
#: Escapes that match no character (a quantifier never follows them).
_ZERO_WIDTH = set("bBAzZGK")


def per_character(pattern: str) -> str:
    """``pattern`` with each repeated one-character item (``[^,]++``, ``.*``, ``\\S+``, `` *+``) made a repeated
    group of it (``(?:[^,])++``), the same matches: :meth:`Regex.steps` counts such a run once, whatever its
    length, and a group once a character, so that a search whose starts each read a run to a far end shows
    the work it does. For counting only (the group costs PCRE2 more than the run)."""
    out: List[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("(*", i):  # a verb
            end = pattern.index(")", i) + 1
            out.append(pattern[i:end])
            i = end
            continue
        found = _ATOM.match(pattern, i)
        atom = found.group(0) if found else pattern[i]
        end = i + len(atom)
        zero = atom[0] == "\\" and (atom[1:2] in _ZERO_WIDTH or atom[1:2].isdigit())
        repeat = None if zero or (found is None and atom in "()|^$*+?{}") else _QUANTIFIER.match(pattern, end)
        if repeat:
            out.append(f"(?:{atom}){repeat.group(0)}")
            i = repeat.end()
        else:
            out.append(atom)
            i = end
    return "".join(out)


def from_python(regex: re.Pattern[str]) -> Regex:
    """A Python ``str`` regex compiled by PCRE2 so that it backtracks as Python's ``re`` does (see above).

    Python's ``\\d``, ``\\s``, ``\\w`` and case folding are Unicode-aware on ``str``: ``UCP`` does the same.
    """
    options = UTF | UCP | NO_AUTO_POSSESS | NO_START_OPTIMIZE
    if regex.flags & re.VERBOSE:
        options |= EXTENDED
    if regex.flags & re.IGNORECASE:
        options |= CASELESS
    if regex.flags & re.DOTALL:
        options |= DOTALL
    if regex.flags & re.MULTILINE:
        options |= MULTILINE
    return Regex(regex.pattern, options)
