"""build.py: a deterministic package with only what the app needs, consistent versions and
parameters, and sample validation that catches a wrong field or tag."""

from __future__ import annotations

import ast
import json
import re
import shutil
import struct
import sys
import tarfile
import zlib
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest
from esa_auth.splunk.modinput import EsaAuthInput
from splunkd import APP_ID, ROOT

sys.path.insert(0, str(ROOT))
import build

sys.path.remove(str(ROOT))

#: Splunk's own settings of every input (Splunk's inputs.conf.spec), not parameters of this scheme.
SPLUNK_INPUT_SETTINGS = frozenset({
    "interval", "index", "host", "sourcetype", "disabled", "python.version", "python.required", "start_by_shell",
    "run_introspection", "send_index_as_argument_for_path",
})  # fmt: skip


@pytest.fixture(scope="module")
def wheel() -> str:
    return build.fetch_sdk()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, wheel: str) -> Tuple[Path, Path]:
    """(app directory, .spl) of a build of the working tree."""
    out = tmp_path_factory.mktemp("one")
    app_dir = build.assemble(str(out / "app"), wheel)
    return Path(app_dir), Path(build.package(app_dir, str(out / "dist")))


def test_two_builds_are_byte_for_byte_identical(built: Tuple[Path, Path], tmp_path: Path, wheel: str) -> None:
    _, spl = built
    app_dir = build.assemble(str(tmp_path / "app"), wheel)
    (Path(app_dir) / "default" / "app.conf").touch()  # a newer mtime must not matter
    again = Path(build.package(app_dir, str(tmp_path / "dist")))
    assert again.name == spl.name == f"{APP_ID}-{build.library_version()}.spl"
    assert again.read_bytes() == spl.read_bytes()
    # ... and the comparison can fail: one changed byte gives another package.
    (Path(app_dir) / "default" / "app.conf").write_text(
        (Path(app_dir) / "default" / "app.conf").read_text(encoding="utf-8") + "\n", encoding="utf-8"
    )
    third = Path(build.package(app_dir, str(tmp_path / "dist3")))
    assert third.read_bytes() != spl.read_bytes()


def test_package_members_are_normalized(built: Tuple[Path, Path]) -> None:
    _, spl = built
    with open(spl, "rb") as handle:
        assert handle.read(10)[4:8] == b"\x00\x00\x00\x00", "gzip mtime must be 0"
    with tarfile.open(spl) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[0] == APP_ID
    for member in members:
        assert member.name == APP_ID or member.name.startswith(APP_ID + "/")
        assert (member.uid, member.gid, member.uname, member.gname, member.mtime) == (0, 0, "", "", 0)
        if member.isdir():
            assert member.mode == 0o755
        elif re.match(rf"{APP_ID}/bin/[^/]+\.py$", member.name):
            assert member.mode == 0o755, member.name
        else:
            assert member.mode == 0o644, member.name


def test_package_holds_the_app_and_nothing_else(built: Tuple[Path, Path]) -> None:
    _, spl = built
    with tarfile.open(spl) as tar:
        names = {m.name[len(APP_ID) + 1 :] for m in tar.getmembers() if m.name != APP_ID}
    for name in names:
        parts = name.split("/")
        assert not any(p.startswith(".") for p in parts), f"dotfile {name}"
        assert not name.endswith((".pyc", ".pyo")), f"bytecode {name}"
        assert "__pycache__" not in parts, name
        assert parts[0] != "local", f"local settings {name}"
        assert not name.endswith("local.meta"), f"local settings {name}"
        assert "tests" not in parts, f"tests {name}"
        assert not name.startswith("bin/lib/splunklib/ai"), name
    required = {
        "app.manifest", "default/app.conf", "default/inputs.conf", "default/props.conf", "default/eventtypes.conf",
        "default/tags.conf", "metadata/default.meta", "README/inputs.conf.spec", "bin/esa_auth.py",
        "bin/lib/esa_auth/__init__.py", "bin/lib/esa_auth/follow.py", "bin/lib/esa_auth/splunk/modinput.py",
        "bin/lib/esa_auth/schemas/auth_event.schema.json", "bin/lib/splunklib/__init__.py",
        "bin/lib/splunklib/modularinput/script.py", "bin/lib/splunklib/LICENSE",
        "static/appIcon.png", "static/appIcon_2x.png", "static/appIconAlt.png", "static/appIconAlt_2x.png",
    }  # fmt: skip
    assert required <= names, sorted(required - names)
    # The command line tool and its detection engine (pySigma) stay out of the app, by package; every other
    # module of the library ships, and nothing shipped imports what was left out.
    library = ROOT / "package" / "esa_auth"
    for package in build.LIBRARY_OUTSIDE_APP:
        assert (library / package / "__init__.py").is_file(), package
        assert not any(n.startswith(f"bin/lib/esa_auth/{package}/") for n in names), package
    assert "bin/lib/esa_auth/__main__.py" not in names
    expected = {
        f"bin/lib/esa_auth/{p.relative_to(library).as_posix()}"
        for p in library.rglob("*.py")
        if p.relative_to(library).parts[0] not in (*build.LIBRARY_OUTSIDE_APP, "__main__.py")
    }
    assert expected <= names, sorted(expected - names)
    with tarfile.open(spl) as tar:
        for member in tar.getmembers():
            name = member.name[len(APP_ID) + 1 :]
            if name.startswith("bin/") and name.endswith(".py") and not name.startswith("bin/lib/splunklib/"):
                handle = tar.extractfile(member)
                assert handle is not None
                imported = _imports(name, handle.read().decode("utf-8"))
                left_out = {m for m in imported if m.split(".")[0] == "sigma"} | {
                    m for m in imported for p in build.LIBRARY_OUTSIDE_APP if m.startswith(f"esa_auth.{p}")
                }
                assert not left_out, f"{name} imports {sorted(left_out)}, which the app does not ship"
    # Nor compiled code: the app runs the pure Python library on Splunk's own Python.
    compiled = [n for n in names if n.startswith("bin/lib/") and n.endswith((".so", ".pyd", ".c"))]
    assert compiled == [], compiled
    assert "bin/lib/esa_auth/pipeline.py" in names
    # No build tooling or repository files.
    for tooling in ("build.py", "pyproject.toml", "requirements", "samples", "package", "docs", "README.md"):
        assert not any(n == tooling or n.startswith(tooling + "/") for n in names), tooling


def test_assembly_drops_what_must_not_ship(tmp_path: Path, wheel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "default", root / "default")
    shutil.copytree(ROOT / "package" / "esa_auth", root / "package" / "esa_auth")
    shutil.copyfile(ROOT / "app.manifest", root / "app.manifest")
    (root / "default" / ".DS_Store").write_bytes(b"x")
    (root / "local").mkdir()
    (root / "default" / "local.meta").write_text("[]\n", encoding="utf-8")
    (root / "package" / "esa_auth" / "__pycache__").mkdir(exist_ok=True)
    (root / "package" / "esa_auth" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"x")
    (root / "package" / "esa_auth" / "tests").mkdir()
    (root / "package" / "esa_auth" / "tests" / "test_x.py").write_text("", encoding="utf-8")
    (root / "package" / "esa_auth" / "stray.cpython-39-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    # A new package of the library ships without being listed; the left-out packages go whole, with the
    # top-level modules that import them.
    (root / "package" / "esa_auth" / "newstage").mkdir()
    (root / "package" / "esa_auth" / "newstage" / "__init__.py").write_text("", encoding="utf-8")
    (root / "package" / "esa_auth" / "cli" / "extra.py").write_text("", encoding="utf-8")
    (root / "package" / "esa_auth" / "tool.py").write_text("from .detect import Engine\n", encoding="utf-8")
    (root / "package" / "esa_auth" / "plain.py").write_text("import esa_auth.events\n", encoding="utf-8")
    monkeypatch.setattr(build, "ROOT", str(root))
    app_dir = Path(build.assemble(str(tmp_path / "out"), wheel))
    shipped = {str(p.relative_to(app_dir)) for p in app_dir.rglob("*")}
    assert "default/props.conf" in shipped
    assert not [p for p in shipped if ".DS_Store" in p or "__pycache__" in p or "local" in p.split("/")[0]]
    assert "default/local.meta" not in shipped
    assert not [p for p in shipped if "/tests" in p]
    assert not [p for p in shipped if p.endswith((".so", ".c"))], "compiled modules stay out of the app"
    assert "bin/lib/esa_auth/pipeline.py" in shipped
    assert {"bin/lib/esa_auth/newstage/__init__.py", "bin/lib/esa_auth/plain.py"} <= shipped
    for left_out in ("cli", "detect", "__main__.py", "tool.py"):
        assert not [
            p for p in shipped if p == f"bin/lib/esa_auth/{left_out}" or p.startswith(f"bin/lib/esa_auth/{left_out}/")
        ]


def _imports(name: str, source: str) -> Set[str]:
    """The absolute module names a shipped file imports (relative imports resolved from its path under bin/lib)."""
    parts = name[len("bin/lib/") :].split("/")[:-1] if name.startswith("bin/lib/") else []
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{a.name}" for a in node.names)
    return found


def test_versions_agree_with_the_library() -> None:
    version = build.check_versions()
    assert version == build.library_version()
    from esa_auth import __version__

    assert version == __version__
    assert set(build.app_versions(str(ROOT)).values()) == {version}


def test_a_version_mismatch_fails_the_build(tmp_path: Path) -> None:
    (tmp_path / "default").mkdir()
    conf = (ROOT / "default" / "app.conf").read_text(encoding="utf-8")
    launcher = re.sub(r"(?s)(\[launcher\].*?^version = )\S+", r"\g<1>9.9.9", conf, flags=re.MULTILINE)
    assert launcher != conf
    (tmp_path / "default" / "app.conf").write_text(launcher, encoding="utf-8")
    shutil.copyfile(ROOT / "app.manifest", tmp_path / "app.manifest")
    with pytest.raises(build.BuildError, match=r"\[launcher\] version is '9.9.9'") as caught:
        build.check_versions(str(tmp_path))
    assert caught.value.code == build.EXIT_VERSION


def _spec_parameters() -> Dict[str, List[str]]:
    """key -> its '*' lines, from README/inputs.conf.spec's [esa_auth://<name>] stanza."""
    text = (ROOT / "README" / "inputs.conf.spec").read_text(encoding="utf-8")
    stanza = text.split("[esa_auth://<name>]", 1)[1]
    params: Dict[str, List[str]] = {}
    current = None
    for line in stanza.splitlines():
        match = re.match(r"^([a-z_.]+) = (\S.*)$", line)
        if match:
            current = match.group(1)
            params[current] = []
        elif current and line.startswith("* "):
            params[current].append(line[2:])
        elif current and line.startswith("  ") and params[current]:
            params[current][-1] += " " + line.strip()
    return params


def test_spec_scheme_and_inputs_conf_agree() -> None:
    spec = _spec_parameters()
    scheme = {a.name: a for a in EsaAuthInput().get_scheme().arguments}
    assert set(spec) == set(scheme)
    for name, bullets in spec.items():
        assert bullets[0] == scheme[name].description, name
        assert bullets[-1].startswith(("Default:", "Required.")), f"{name}: last bullet must give the default"
        assert (bullets[-1] == "Required.") == scheme[name].required_on_create, name
    defaults = build.read_conf(str(ROOT / "default" / "inputs.conf"))["esa_auth"]
    assert set(defaults) - SPLUNK_INPUT_SETTINGS <= set(scheme)
    assert defaults["python.version"] == "python3.9"
    assert "3.13" in defaults["python.required"]
    for name, value in defaults.items():
        if name in spec:
            assert f"* Default: {value}" in "\n".join("* " + b for b in spec[name]), name


def _png_size(path: Path) -> Tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    offset = 8
    size = (0, 0)
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset : offset + 8])
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"{path.name}: bad CRC in {kind!r}"
        if kind == b"IHDR":
            size = struct.unpack(">II", body[:8])
        offset += 12 + length
    return size


@pytest.mark.parametrize(("name", "size"), [("appIcon.png", 36), ("appIcon_2x.png", 72), ("appIconAlt.png", 36),
                                            ("appIconAlt_2x.png", 72)])  # fmt: skip
def test_icons_are_valid_pngs(name: str, size: int) -> None:
    assert _png_size(ROOT / "static" / name) == (size, size)


def test_manifest_and_meta() -> None:
    manifest = json.loads((ROOT / "app.manifest").read_text(encoding="utf-8"))
    assert manifest["info"]["id"]["name"] == APP_ID
    assert manifest["schemaVersion"] == "2.0.0"
    meta = build.read_conf(str(ROOT / "metadata" / "default.meta"))
    assert meta[""]["export"] == "system"
    app = build.read_conf(str(ROOT / "default" / "app.conf"))
    assert app["package"]["id"] == app["id"]["name"] == APP_ID
    assert app["package"]["check_for_updates"] == "false"


def test_samples_validate(built: Tuple[Path, Path]) -> None:
    app_dir, _ = built
    counts = build.validate_samples(str(app_dir))
    assert counts["events"] >= 13
    assert counts["models"] >= 12  # cisco_esa_auth.xml: every event but the logoff maps to a data model


def _tampered(tmp_path: Path, old: str, new: str) -> Path:
    samples = tmp_path / "samples"
    shutil.copytree(ROOT / "samples", samples)
    xml = samples / "cisco_esa_auth.xml"
    text = xml.read_text(encoding="utf-8")
    assert old in text
    xml.write_text(text.replace(old, new, 1), encoding="utf-8")
    return samples


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ('<field name="user" value="alice"/>', '<field name="user" value="mallory"/>', "field user is 'alice'"),
        ('"sbrs":3.5,', '"sbrs":"high",', "schema: sbrs"),
        (
            "<model>Authentication:Insecure_Authentication.2</model>",
            "<model>Authentication</model>",
            "give data models",
        ),
        (
            '<field name="privileged" value="true"/>',
            '<field name="privileged" value="false"/>',
            "field privileged is 'true'",
        ),
        # pytest-splunk-addon's schema wants one <model> or more in <models> (#14: its run stopped on these).
        ("<models>\n        <model>Authentication</model>\n      </models>", "<models/>", "<models> has no <model>"),
    ],
)
def test_sample_validation_can_fail(built: Tuple[Path, Path], tmp_path: Path, old: str, new: str, words: str) -> None:
    app_dir, _ = built
    samples = _tampered(tmp_path, old, new)
    with pytest.raises(build.BuildError, match=re.escape(words)) as caught:
        build.validate_samples(str(app_dir), str(samples))
    assert caught.value.code == build.EXIT_SAMPLES


def test_a_lost_tag_is_caught(built: Tuple[Path, Path], tmp_path: Path) -> None:
    app_dir, _ = built
    broken = tmp_path / "app"
    shutil.copytree(app_dir, broken)
    tags = broken / "default" / "tags.conf"
    tags.write_text(tags.read_text(encoding="utf-8").replace("privileged = enabled", "privileged = disabled"),
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(build.BuildError, match="Privileged_Authentication"):
        build.validate_samples(str(broken))


def test_logoffs_are_not_tagged_authentication(built: Tuple[Path, Path]) -> None:
    app_dir, _ = built
    kos = build.knowledge(str(app_dir))
    logoff = {"activity": "logoff", "action": "success", "privileged": True, "default_account": True}
    types, tags = build.event_tags(logoff, "cisco:esa:auth", kos)
    assert "authentication" not in tags
    assert "privileged" not in tags
    assert types == {"esa_auth_logoff"}
    logon = dict(logoff, activity="logon")
    _, tags = build.event_tags(logon, "cisco:esa:auth", kos)
    assert tags == {"authentication", "privileged", "default"}
    _, tags = build.event_tags({"activity": "authenticate", "cleartext": True}, "cisco:esa:auth", kos)
    assert tags == {"authentication", "cleartext"}


def test_confs_pass_ksconf(built: Tuple[Path, Path]) -> None:
    app_dir, _ = built
    assert build.check_confs(str(app_dir))["ksconf_sort"] == "passed"


def test_an_unsorted_conf_fails(built: Tuple[Path, Path], tmp_path: Path) -> None:
    app_dir, _ = built
    broken = tmp_path / "app"
    shutil.copytree(app_dir, broken)
    props = broken / "default" / "props.conf"
    props.write_text(props.read_text(encoding="utf-8").replace("ANNOTATE_PUNCT = false\n", "") + "ANNOTATE_PUNCT = 0\n",
                     encoding="utf-8")  # fmt: skip
    with pytest.raises(build.BuildError, match=r"props\.conf") as caught:
        build.check_confs(str(broken))
    assert caught.value.code == build.EXIT_CONF


def test_a_missing_tool_is_an_actionable_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build, "VENV_TOOLS", str(tmp_path / "nothing"))
    with pytest.raises(build.BuildError, match=r"python3 build.py --setup") as caught:
        build.appinspect(str(tmp_path / "x.spl"), cloud=True)
    assert caught.value.code == build.EXIT_TOOL_MISSING


def test_build_py_uses_only_the_standard_library_before_it_re_runs_in_the_venv() -> None:
    tree = ast.parse((ROOT / "build.py").read_text(encoding="utf-8"))
    top: Set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            top.add(node.module.split(".")[0])
    assert top - set(sys.stdlib_module_names) - {"__future__"} == set()
