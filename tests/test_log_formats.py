"""docs/log-formats.md is the one reference of the log forms: every form has its anchor and a tested example, and
every comment, docstring, conf file and document that names a form points into it, never to a text outside the
repository."""

from __future__ import annotations

import io
import re
import tokenize
from functools import cache
from pathlib import Path
from typing import Dict, Iterator, List, Set, Tuple

import pytest
from esa_auth import patterns as P
from esa_auth.envelope import parse_prefix

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "log-formats.md"
ANCHOR = re.compile(r'<a id="([^"]+)"></a>')
#: Envelope forms (envelope.Envelope.form, and E1b, E9, E11 that the reader knows without a form of their own).
ENVELOPES = ["E1", "E1b", *(f"E{n}" for n in range(2, 12))]
#: What a form id looks like in running text: the registry's ids and the envelopes' (T1, C8c, H-OFFSET, E1b).
FORM_ID = re.compile(r"(?<![\w/#])(H-(?:VERSION|OFFSET|MARK)|C8[ct]|E1b|[TALUWPCXE][1-9]\d?)(?!\w)")
#: Text that points outside the repository for log forms: the document this one replaced, or the directory
#: it came from. Built from parts, so that this file does not name them itself.
OUTSIDE = re.compile("|".join(["catalog", "esa-log-" + "formats", r"\.\./" + "shared", "/work/" + "shared"]), re.I)
LINK = re.compile(r"log-formats\.md#([\w-]+)")
#: Directories that hold no project text (tools, caches, build output).
SKIP = {"build", "dist", "node_modules", "__pycache__"}
TEXT_SUFFIXES = {".py", ".conf", ".yml", ".yaml", ".md", ".xml", ".toml", ".cfg", ".txt", ".json", ".csv", ".spec"}


@cache
def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


@cache
def anchors() -> Set[str]:
    return set(ANCHOR.findall(doc_text()))


def project_files() -> Iterator[Path]:
    """Every text file of the project (hidden directories, caches and build output left out)."""
    for path in sorted(ROOT.rglob("*")):
        parts = path.relative_to(ROOT).parts
        if any(p.startswith(".") or p in SKIP for p in parts[:-1]) or not path.is_file():
            continue
        if path.suffix in TEXT_SUFFIXES or path.name in {"README", "app.manifest"}:
            if "golden" in parts and path.suffix != ".md":
                continue  # log input and expected output: data, no prose
            yield path


def prose(path: Path) -> Iterator[Tuple[int, str]]:
    """(line, text) of what a maintainer reads as words: comments and docstrings of Python, comments of conf
    files, every line of documents and rule files."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".py":
        try:
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.COMMENT or (
                    token.type == tokenize.STRING and token.string.lstrip("rbuRBU").startswith(('"""', "'''"))
                ):
                    for n, line in enumerate(token.string.splitlines()):
                        yield token.start[0] + n, line
        except (tokenize.TokenError, SyntaxError):
            pass
    elif path.suffix == ".conf":
        for n, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                yield n, line
    elif path.suffix in {".md", ".yml", ".yaml", ".xml"} or path.name == "README":
        yield from enumerate(text.splitlines(), 1)


# --- the document itself ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [p.name for p in P.PATTERNS] + ENVELOPES)
def test_every_form_has_an_anchor(name: str) -> None:
    assert name in anchors(), f'docs/log-formats.md has no <a id="{name}"></a>'


def rows() -> Dict[str, List[str]]:
    """The table rows of the document that start with a form's anchor: id -> cells."""
    out: Dict[str, List[str]] = {}
    for line in doc_text().splitlines():
        found = re.match(r'\|\s*<a id="([^"]+)"></a>', line)
        if found:
            cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            out[found.group(1)] = cells
    return out


def code(cell: str) -> str:
    found = re.fullmatch(r"`(.+)`", cell)
    assert found, f"not one code span: {cell!r}"
    return found.group(1)


@pytest.mark.parametrize("pattern", P.PATTERNS, ids=lambda p: p.name)
def test_the_example_of_each_template_is_read_as_that_template(pattern: P.LinePattern) -> None:
    example = code(rows()[pattern.name][2])
    found = P.match(example, P.dispatch_key(example.encode("utf-8")))
    assert found is not None, f"{pattern.name}: its example in docs/log-formats.md matches no template"
    assert found[0].name == pattern.name, f"{pattern.name}: its example is read as {found[0].name}"


@pytest.mark.parametrize("form", ["E1", "E1b", "E2", "E3", "E4", "E5", "E6", "E7", "E8", "E10"])
def test_the_example_of_each_envelope_is_read_as_that_envelope(form: str) -> None:
    example = code(rows()[form][2])
    prefix = example[: example.index("Info:") + len("Info:")]
    envelope = parse_prefix(prefix)
    assert envelope is not None, f"{form}: {prefix!r} is no envelope"
    assert envelope.form == ("E1" if form == "E1b" else form)


def test_links_into_the_document_name_its_anchors() -> None:
    # Links of the document to itself, and of every other file into it.
    own = {m for m in re.findall(r"\]\(#([\w-]+)\)", doc_text())}
    assert own <= anchors(), sorted(own - anchors())
    broken = []
    for path in project_files():
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            broken += [f"{path.relative_to(ROOT)}:{n}: #{a}" for a in LINK.findall(line) if a not in anchors()]
    assert not broken, "\n".join(broken)


# --- the rest of the repository ----------------------------------------------------------------------------------
def test_nothing_points_to_a_text_outside_the_repository() -> None:
    here = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()[:120]}"
        for path in project_files()
        if path.resolve() != here
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "refer to docs/log-formats.md instead:\n" + "\n".join(found)


def test_every_form_a_comment_names_is_in_the_document() -> None:
    unknown = [
        f"{path.relative_to(ROOT)}:{n}: {name}"
        for path in project_files()
        for n, line in prose(path)
        for name in FORM_ID.findall(line)
        if name not in anchors()
    ]
    assert not unknown, "forms docs/log-formats.md does not define:\n" + "\n".join(unknown)


def test_the_checks_see_what_they_must() -> None:
    # The scans above find nothing on a clean tree; this shows they would find something.
    assert FORM_ID.findall("# T1 and C8c, A1-A14, H-OFFSET, ESA-T3; not log-formats.md#T2, T100, W3C, C0") == [
        "T1", "C8c", "A1", "A14", "H-OFFSET", "T3",
    ]  # fmt: skip
    assert OUTSIDE.search("see the formats " + "catalog" + "ue, section 5")
    assert {p.relative_to(ROOT).as_posix() for p in project_files()} >= {
        "package/esa_auth/patterns.py", "default/transforms.conf", "README.md", "docs/log-formats.md",
        "tests/golden/README.md", "detections/rules/base/esa_smtp_auth_success.yml",
    }  # fmt: skip
    lines = dict(prose(ROOT / "package" / "esa_auth" / "patterns.py"))
    assert any("docs/log-formats.md" in line for line in lines.values())
    assert not any("_REGISTRY: List[LinePattern]" in line for line in lines.values()), "code is no prose"
