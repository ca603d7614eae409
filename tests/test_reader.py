"""The reader's block checks: each shortcut agrees with the rule it stands for."""

from __future__ import annotations

import json
from typing import List

from esa_auth import patterns as P
from esa_auth.envelope import ENVELOPE_HEADS, all_envelopes, starts_envelope
from esa_auth.events import cim_text
from esa_auth.framing import lines_within
from esa_auth.pipeline import Normalizer, Settings, Stream
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


def _events(blocks: List[bytes]) -> List[str]:
    normalizer = Normalizer(Settings(tz="UTC"))
    stream = Stream("mail.current")
    out = [cim_text(event) for block in blocks for event in normalizer.feed(stream, block)]
    return out + [cim_text(event) for event in normalizer.end(stream)]


def test_lines_not_printable_ascii_in_a_block_are_read_from_their_bytes() -> None:
    # A block is read as one-byte text; a line holding UTF-8 or a control character is read from
    # its own bytes (reader.py). Such lines between plain ones, and plain ones after them, must be
    # read as when each line comes on its own (which reads every line from its bytes).
    users = ["plain1", "m\u00fcller", "zo\u00eb", "plain2", "tab\tuser", "plain3", "\u5c71\u7530", "x", "plain4"]
    lines = [b"Mon Jun  3 12:00:00 2024 Info: " + P.BY_NAME["C1"].examples[0].encode()]
    for n, user in enumerate(users):
        body = f"SMTP Auth: (ICID 450) failed for user: {user} using AUTH mechanism: PLAIN with profile: Corp"
        lines.append(f"Mon Jun  3 12:00:{n + 1:02d} 2024 Info: {body}".encode())
    whole = _events([b"\n".join(lines) + b"\n"])
    assert [json.loads(text)["user"] for text in whole] == users
    assert all(json.loads(text)["src"] == "172.16.155.102" for text in whole)
    assert whole == _events([line + b"\n" for line in lines])
