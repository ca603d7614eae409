"""The reader's block checks: each shortcut agrees with the rule it stands for."""

from __future__ import annotations

from esa_auth.envelope import ENVELOPE_HEADS, all_envelopes, starts_envelope
from esa_auth.framing import lines_within
from hypothesis import given
from hypothesis import strategies as st


@given(st.lists(st.integers(0, 40), min_size=1, max_size=30), st.integers(1, 30))
def test_lines_within_tells_the_longest_line(lengths: list, limit: int) -> None:  # type: ignore[type-arg]
    block = b"".join(b"x" * n + b"\n" for n in lengths)
    assert lines_within(block, len(block), limit) == (max(lengths) <= limit)


_HEADS = [*sorted(ENVELOPE_HEADS), b"xyz", b"<1>", b"<x", b" Mo", b"Mo", b"M", b"mon", b"\xff"]


@given(st.lists(st.tuples(st.sampled_from(_HEADS), st.binary(max_size=5).filter(lambda b: b"\n" not in b)), min_size=1))
def test_all_envelopes_is_starts_envelope_on_every_line(lines: list) -> None:  # type: ignore[type-arg]
    physical = [head + rest for head, rest in lines]
    block = b"\n".join(physical) + b"\n"
    assert all_envelopes(block, len(block)) == all(starts_envelope(line) for line in physical)
