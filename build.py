#!/usr/bin/env python3
"""Build, package and validate the Splunk add-on TA-cisco-esa-auth.

    python3 build.py --setup       # create or refresh .venv and .venv-tools, then build
    python3 build.py               # build (re-runs itself inside .venv)
    python3 build.py --no-appinspect

Steps, each with its own exit code:

1. versions: app.conf and app.manifest carry the version of package/esa_auth/_version.py;
2. assemble build/TA-cisco-esa-auth/: the app tree, the library and splunklib in bin/lib;
3. package dist/TA-cisco-esa-auth-<version>.spl, byte for byte the same from the same tree;
4. samples: every event of samples/*.xml comes out of the pipeline from samples/logs/,
   validates against the schema, and has its expected CIM fields, eventtypes and tags;
5. conf: ``ksconf check`` and ``ksconf sort`` on the .conf and .meta files;
6. AppInspect (precert, with and without the cloud tag) on the .spl: no failure, error
   or future failure;
7. dist/validation.json and a short summary.

Until it re-runs itself inside .venv, this script uses only the standard library,
so that ``python3 build.py --setup`` works on a fresh clone.
"""

from __future__ import annotations

import argparse
import ast
import glob
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

ROOT = os.path.dirname(os.path.abspath(__file__))
APP_ID = "TA-cisco-esa-auth"
VENV = os.path.join(ROOT, ".venv")
VENV_TOOLS = os.path.join(ROOT, ".venv-tools")
VENV_PSA = os.path.join(ROOT, ".venv-psa")
#: Where --setup records the Python interpreters Splunk ships (the installed-app tests run the packaged scripts
#: on each, with -I): {"3.9": "/path/to/python3.9", "3.13": null}.
PYTHONS_RECORD = os.path.join(ROOT, ".splunk-pythons.json")
#: Splunk ships Python 3.9 (Splunk 9.3 and later) and 3.13 (Splunk 10).
SPLUNK_PYTHONS = ("3.9", "3.13")
BUILD = os.path.join(ROOT, "build")
#: rsyslog and logrotate from Debian's packages, unpacked here by --setup (not installed into the system) for the
#: relay test (tests/test_relay.py): the programs under usr/sbin, their libraries under usr/lib/<arch>.
RELAY_TOOLS = os.path.join(ROOT, ".venv-relay")
#: The packages unpacked: the two programs and the libraries they need that a minimal Debian lacks.
RELAY_PACKAGES = ("rsyslog", "logrotate", "libestr0", "libfastjson4", "libpopt0")
DIST = os.path.join(ROOT, "dist")
SAMPLES = os.path.join(ROOT, "samples")

# splunklib is vendored from the wheel on PyPI: 3.0.1 is what AppInspect 4.3 wants
# (older SDKs get check_python_sdk_version); its ai/ extra pulls in other packages.
SDK_VERSION = "3.0.1"
SDK_WHEEL = f"splunk_sdk-{SDK_VERSION}-py3-none-any.whl"
SDK_SHA256 = "cf5b0dc6a6908c84d13f3c62658f54ef1aec2d8421a6646b5281a2f14f0de6ed"

#: What goes into the app from the repository root (when present).
APP_TREE = ("app.manifest", "bin", "default", "metadata", "README", "static", "lookups", "appserver")
#: Never packaged: AppInspect fails an app with dotfiles, bytecode or local/.
EXCLUDED_DIRS = frozenset({"__pycache__", "local", "tests", "build", "dist"})
EXCLUDED_FILES = frozenset({"local.meta"})
#: Packages of the library the app leaves out: the command line tool (arguments, files, the terminal, exit
#: statuses) and the detection engine it runs (pySigma, Python 3.10 or newer: Splunk runs the searches generated
#: from the same Sigma rules instead). The app gets every other package and module of esa_auth, so new library
#: code ships without being listed; a top-level module that imports a left-out package (``__main__``, the
#: ``python -m esa_auth`` entry) is left out with it.
LIBRARY_OUTSIDE_APP = ("cli", "detect")
# Compiled modules (a stray build of another project's extension) never ship: the app is pure
# Python that runs on Splunk's own Python builds and platforms.
EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".egg-info", ".tmp", ".orig", ".rej", "~")

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_SETUP = 10
EXIT_TOOL_MISSING = 11
EXIT_VERSION = 20
EXIT_ASSEMBLE = 21
EXIT_SAMPLES = 30
EXIT_CONF = 40
EXIT_APPINSPECT = 50

#: CIM recommended fields of Authentication, as pytest-splunk-addon checks them
#: (pytest_splunk_addon/data_models/Authentication.json: required fields).
CIM_REQUIRED = ("action", "app", "dest", "src", "user")
#: Tag sets of the Authentication datasets, from pytest-splunk-addon 6.4.0
#: fields_tests/requirement_test_datamodel_tag_constants.py (Apache-2.0).
DATAMODEL_TAGS = {
    "Authentication": ("authentication",),
    "Authentication_Default_Authentication": ("default", "authentication"),
    "Authentication_Insecure_Authentication": ("authentication", "insecure"),
    "Authentication_Insecure_Authentication.2": ("authentication", "cleartext"),
    "Authentication_Privileged_Authentication": ("authentication", "privileged"),
}
#: The transport types pytest-splunk-addon's sample schema allows (sample_generation/schema.xsd).
PSA_TRANSPORTS = frozenset({
    "dbx", "forwarder", "modinput", "Mod input", "Modular Input", "Modular input", "modular input", "modular_input",
    "Mod Input", "scripted input", "Scripted Input", "scripted_input", "Scripted inputs", "scripted inputs", "Syslog",
    "syslog", "windows_input", "hec_raw", "hec_event", "file_monitor", "file_monitor_w3c",
})  # fmt: skip
SAMPLE_SOURCETYPE = "cisco:esa:auth"


class BuildError(Exception):
    """A step failed; ``code`` is the exit status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def say(message: str) -> None:
    print(f"build.py: {message}", flush=True)


# --- setup (standard library only) ----------------------------------------------
def _venv_python(venv: str) -> str:
    return os.path.join(venv, "Scripts", "python.exe") if os.name == "nt" else os.path.join(venv, "bin", "python")


def _digest(paths: Sequence[str]) -> str:
    h = hashlib.sha256(sys.version.encode())
    for path in paths:
        with open(os.path.join(ROOT, path), "rb") as handle:
            h.update(handle.read())
    return h.hexdigest()


def _ensure_venv(venv: str, inputs: Sequence[str], install: Sequence[str]) -> None:
    """Create or refresh a virtual environment when missing or stale (its inputs changed)."""
    stamp = os.path.join(venv, ".build-stamp")
    want = _digest(inputs)
    python = _venv_python(venv)
    try:
        with open(stamp, encoding="utf-8") as handle:
            have = handle.read().strip()
    except OSError:
        have = ""
    if os.path.exists(python) and have == want:
        say(f"{os.path.basename(venv)} is up to date")
        return
    if not os.path.exists(python):
        say(f"creating {os.path.basename(venv)}")
        result = subprocess.run([sys.executable, "-m", "venv", venv], check=False)
        if result.returncode != 0:
            raise BuildError(EXIT_SETUP, f"python3 -m venv {venv} failed (on Debian: apt-get install python3-venv)")
    say(f"installing into {os.path.basename(venv)}: pip install {' '.join(install)}")
    result = subprocess.run([python, "-m", "pip", "install", "--quiet", *install], cwd=ROOT, check=False)
    if result.returncode != 0:
        raise BuildError(EXIT_SETUP, f"pip install {' '.join(install)} into {venv} failed (see pip's output above)")
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(want + "\n")


def _pyenv_root() -> Optional[str]:
    """pyenv's root: $PYENV_ROOT, else what ``pyenv root`` says when pyenv is on PATH."""
    if os.environ.get("PYENV_ROOT"):
        return os.environ["PYENV_ROOT"]
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return None
    result = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
    return result.stdout.strip() or None if result.returncode == 0 else None


def find_python(version: str) -> Tuple[Optional[str], str]:
    """An interpreter of this version (never a pyenv shim), or None; and where it was looked for.

    Order: $ESA_AUTH_PYTHON39 / $ESA_AUTH_PYTHON313, the record of ``--setup``, pyenv's versions, PATH.
    """
    env_name = f"ESA_AUTH_PYTHON{version.replace('.', '')}"
    candidates = [os.environ.get(env_name)]
    try:
        with open(PYTHONS_RECORD, encoding="utf-8") as handle:
            candidates.append(json.load(handle).get(version))
    except (OSError, ValueError, AttributeError):
        pass
    root = _pyenv_root()
    if root:
        candidates += sorted(glob.glob(os.path.join(root, "versions", f"{version}.*", "bin", f"python{version}")))
    candidates.append(shutil.which(f"python{version}"))
    for candidate in candidates:
        # pyenv's shims need pyenv's environment, which a splunkd-like run (-I, no PATH) does not have.
        if candidate and os.access(candidate, os.X_OK) and f"{os.sep}shims{os.sep}" not in candidate:
            return candidate, candidate
    looked = f"${env_name}, {os.path.basename(PYTHONS_RECORD)}, " + (f"{root}/versions/{version}.*, " if root else "")
    return None, looked + f"python{version} on PATH"


def record_pythons() -> Dict[str, Optional[str]]:
    """Find Splunk's Python versions and record them for the tests (PYTHONS_RECORD)."""
    found = {version: find_python(version)[0] for version in SPLUNK_PYTHONS}
    with open(PYTHONS_RECORD, "w", encoding="utf-8") as handle:
        json.dump(found, handle, indent=2, sort_keys=True)
        handle.write("\n")
    for version, path in found.items():
        say(f"Python {version}: {path}" if path else
            f"warning: Python {version} not found: the installed-app tests that run it are skipped (set "
            f"ESA_AUTH_PYTHON{version.replace('.', '')}, or `pyenv install {version}`)")  # fmt: skip
    return found


def setup() -> None:
    """Create .venv (tests, library, build), .venv-tools (AppInspect, which pins old libraries) and .venv-psa
    (pytest-splunk-addon, with pins of its own); record Splunk's Python interpreters."""
    if sys.version_info < (3, 10):
        # The app runs on 3.9, but the tools that test it (pySigma, its backends) need 3.10.
        found = ".".join(map(str, sys.version_info[:3]))
        raise BuildError(EXIT_SETUP, f"--setup needs Python 3.10 or newer (found {found}): run it with python3.11")
    _ensure_venv(VENV, ["pyproject.toml"], ["-e", ".[dev]"])
    _ensure_venv(VENV_TOOLS, ["requirements/tools.txt"], ["-r", "requirements/tools.txt"])
    _ensure_venv(VENV_PSA, ["requirements/psa.txt"], ["-r", "requirements/psa.txt"])
    record_pythons()
    setup_relay_tools()


def setup_relay_tools(target: str = RELAY_TOOLS) -> bool:
    """Unpack rsyslog and logrotate from Debian's packages into ``target`` (``apt-get download``, ``dpkg -x``).

    Nothing is installed into the system and no root is needed (only the package lists, which ``apt-get
    update`` may need to fetch once). Returns False, with the reason said, where it cannot be done: the relay
    test then skips with that reason (and fails in CI).
    """
    marker = os.path.join(target, "packages.txt")
    wanted = "\n".join(RELAY_PACKAGES) + "\n"
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            if handle.read() == wanted:
                return True
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        say("warning: apt-get or dpkg not found: rsyslog and logrotate not unpacked (the relay test is skipped)")
        return False
    downloads = os.path.join(target, "debs")
    shutil.rmtree(target, ignore_errors=True)
    os.makedirs(downloads)

    def download() -> subprocess.CompletedProcess[str]:
        return subprocess.run(["apt-get", "download", *RELAY_PACKAGES], cwd=downloads, capture_output=True,
                              text=True, check=False)  # fmt: skip

    done = download()
    if done.returncode != 0 and os.geteuid() == 0:
        # A machine that never fetched the package lists: fetch them once (root only), then try again.
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, text=True, check=False)
        done = download()
    if done.returncode != 0:
        reason = " ".join(done.stderr.split())[-300:]
        say(f"warning: apt-get download {' '.join(RELAY_PACKAGES)} failed ({reason}): the relay test is skipped")
        return False
    for name in sorted(os.listdir(downloads)):
        if name.endswith(".deb"):
            subprocess.run(["dpkg", "-x", os.path.join(downloads, name), target], check=True)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    say(f"rsyslog and logrotate unpacked into {os.path.relpath(target, ROOT)}")
    return True


def _in_venv() -> bool:
    return os.path.realpath(sys.prefix) == os.path.realpath(VENV)


def _reexec(argv: Sequence[str]) -> None:
    python = _venv_python(VENV)
    if not os.path.exists(python):
        raise BuildError(EXIT_SETUP, f"{VENV} is missing: run `python3 build.py --setup` first")
    sys.stdout.flush()
    os.execv(python, [python, os.path.abspath(__file__), *argv])


# --- 1. versions ---------------------------------------------------------------------
def library_version() -> str:
    """The version written in package/esa_auth/_version.py (the one source of truth)."""
    with open(os.path.join(ROOT, "package", "esa_auth", "_version.py"), encoding="utf-8") as handle:
        match = re.search(r'^__version__\s*=\s*"([^"]+)"', handle.read(), re.MULTILINE)
    if not match:
        raise BuildError(EXIT_VERSION, 'package/esa_auth/_version.py has no __version__ = "..." line')
    return match.group(1)


def read_conf(path: str) -> Dict[str, Dict[str, str]]:
    """A small reader of Splunk .conf files: {stanza: {key: value}} (continuations joined)."""
    conf: Dict[str, Dict[str, str]] = {}
    stanza = conf.setdefault("default", {})
    with open(path, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        while line.endswith("\\") and index < len(lines):
            line = line[:-1] + "\n" + lines[index]
            index += 1
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("[") and text.endswith("]"):
            stanza = conf.setdefault(text[1:-1], {})
        elif "=" in text:
            key, _, value = text.partition("=")
            stanza[key.strip()] = value.strip()
    return conf


def app_versions(app_dir: str) -> Dict[str, Optional[str]]:
    """The versions an app tree declares: app.conf [id] and [launcher], app.manifest."""
    conf = read_conf(os.path.join(app_dir, "default", "app.conf"))
    with open(os.path.join(app_dir, "app.manifest"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    return {
        "app.conf [id] version": conf.get("id", {}).get("version"),
        "app.conf [launcher] version": conf.get("launcher", {}).get("version"),
        "app.manifest info.id.version": manifest.get("info", {}).get("id", {}).get("version"),
    }


def check_versions(app_dir: str = ROOT) -> str:
    """Fail unless every version of the app is the library's; return it."""
    version = library_version()
    wrong = {where: found for where, found in app_versions(app_dir).items() if found != version}
    if wrong:
        details = "; ".join(f"{where} is {found!r}" for where, found in wrong.items())
        raise BuildError(EXIT_VERSION, f"version mismatch with package/esa_auth/_version.py ({version}): {details}. "
                                       "Run `python3 build.py --stamp-version` to write it everywhere.")  # fmt: skip
    return version


def stamp_version() -> str:
    """Write the library's version into default/app.conf and app.manifest."""
    version = library_version()
    conf_path = os.path.join(ROOT, "default", "app.conf")
    with open(conf_path, encoding="utf-8") as handle:
        text = handle.read()
    text = re.sub(r"(?m)^(\[(?:id|launcher)\][^\[]*?^version\s*=\s*)\S+", lambda m: m.group(1) + version, text)
    with open(conf_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    manifest_path = os.path.join(ROOT, "app.manifest")
    with open(manifest_path, encoding="utf-8") as handle:
        text = handle.read()
    text = re.sub(r'("name":\s*"' + re.escape(APP_ID) + r'",\s*"version":\s*)"[^"]*"', rf'\g<1>"{version}"', text)
    with open(manifest_path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return version


# --- 2. assemble -------------------------------------------------------------------------
def _excluded(name: str) -> bool:
    return name.startswith(".") or name in EXCLUDED_DIRS or name in EXCLUDED_FILES or name.endswith(EXCLUDED_SUFFIXES)


def _copy_tree(src: str, dst: str) -> None:
    if os.path.isfile(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        return
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not _excluded(d))
        rel = os.path.relpath(dirpath, src)
        target = os.path.join(dst, rel) if rel != "." else dst
        os.makedirs(target, exist_ok=True)
        for name in sorted(filenames):
            if not _excluded(name):
                shutil.copyfile(os.path.join(dirpath, name), os.path.join(target, name))


def fetch_sdk(cache: str = os.path.join(BUILD, "dl")) -> str:
    """The splunk-sdk wheel, downloaded once into build/dl and checked against its SHA-256."""
    wheel = os.path.join(cache, SDK_WHEEL)
    if not os.path.exists(wheel) or _sha256(wheel) != SDK_SHA256:
        os.makedirs(cache, exist_ok=True)
        say(f"downloading splunk-sdk {SDK_VERSION}")
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--python-version", "3.13",
               "--only-binary=:all:", f"splunk-sdk=={SDK_VERSION}", "-d", cache]  # fmt: skip
        result = subprocess.run(cmd, check=False)
        if result.returncode != 0 or not os.path.exists(wheel):
            message = f"could not download splunk-sdk {SDK_VERSION} (pip download failed); put {SDK_WHEEL} in {cache}"
            raise BuildError(EXIT_TOOL_MISSING, message)
    if _sha256(wheel) != SDK_SHA256:
        raise BuildError(EXIT_ASSEMBLE, f"{wheel} does not have the expected SHA-256 {SDK_SHA256}")
    return wheel


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


def imported_packages(path: str, package: str = "esa_auth") -> Set[str]:
    """The subpackages of ``package`` that one of its top-level modules imports (``from .cli import ...``)."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found: Set[str] = set()
    for node in ast.walk(tree):
        names: List[str] = []
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                names = [node.module or ""] if node.module else [a.name for a in node.names]
            elif node.level == 0 and node.module and node.module.startswith(package + "."):
                names = [node.module[len(package) + 1 :]]
        elif isinstance(node, ast.Import):
            names = [a.name[len(package) + 1 :] for a in node.names if a.name.startswith(package + ".")]
        found.update(n.split(".")[0] for n in names if n)
    return found


def library_outside_app(library: str) -> List[str]:
    """Names under the library directory that the app leaves out: the packages of :data:`LIBRARY_OUTSIDE_APP`,
    and the top-level modules that import one of them."""
    out = [name for name in LIBRARY_OUTSIDE_APP if os.path.isdir(os.path.join(library, name))]
    for name in sorted(os.listdir(library)):
        path = os.path.join(library, name)
        if name.endswith(".py") and os.path.isfile(path) and imported_packages(path) & set(LIBRARY_OUTSIDE_APP):
            out.append(name)
    return out


def assemble(out_dir: str = BUILD, wheel: Optional[str] = None) -> str:
    """Lay out the app under ``out_dir/TA-cisco-esa-auth`` and return its path."""
    app_dir = os.path.join(out_dir, APP_ID)
    if os.path.exists(app_dir):
        shutil.rmtree(app_dir)
    os.makedirs(app_dir)
    for name in APP_TREE:
        src = os.path.join(ROOT, name)
        if os.path.exists(src):
            _copy_tree(src, os.path.join(app_dir, name))
    lib = os.path.join(app_dir, "bin", "lib")
    _copy_tree(os.path.join(ROOT, "package", "esa_auth"), os.path.join(lib, "esa_auth"))
    # The command line tool (and its detection engine, which needs pySigma) has no use inside Splunk.
    for name in library_outside_app(os.path.join(lib, "esa_auth")):
        path = os.path.join(lib, "esa_auth", name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
    with zipfile.ZipFile(wheel or fetch_sdk()) as archive:
        for member in sorted(archive.namelist()):
            if not member.startswith("splunklib/") or member.startswith("splunklib/ai/") or member.endswith("/"):
                continue
            target = os.path.join(lib, *member.split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with archive.open(member) as src_handle, open(target, "wb") as dst_handle:
                shutil.copyfileobj(src_handle, dst_handle)
        licence = f"splunk_sdk-{SDK_VERSION}.dist-info/licenses/LICENSE"
        with archive.open(licence) as src_handle, open(os.path.join(lib, "splunklib", "LICENSE"), "wb") as dst:
            shutil.copyfileobj(src_handle, dst)
    return app_dir


# --- 3. package ----------------------------------------------------------------------------
def _members(app_dir: str) -> Iterator[Tuple[str, str]]:
    """(path on disk, name in the archive) of every entry, directories included, sorted."""
    entries: List[Tuple[str, str]] = []
    for dirpath, dirnames, filenames in os.walk(app_dir):
        dirnames[:] = [d for d in dirnames if not _excluded(d)]
        rel = os.path.relpath(dirpath, app_dir)
        arc_dir = APP_ID if rel == "." else f"{APP_ID}/{rel.replace(os.sep, '/')}"
        entries.append((dirpath, arc_dir))
        for name in filenames:
            if not _excluded(name):
                entries.append((os.path.join(dirpath, name), f"{arc_dir}/{name}"))
    yield from sorted(entries, key=lambda item: item[1])


def package(app_dir: str, dist_dir: str = DIST) -> str:
    """Write ``<dist_dir>/TA-cisco-esa-auth-<version>.spl``: deterministic (sorted, owner 0, mtime 0)."""
    version = check_versions(app_dir)
    os.makedirs(dist_dir, exist_ok=True)
    spl = os.path.join(dist_dir, f"{APP_ID}-{version}.spl")
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar,
    ):
        for path, arcname in _members(app_dir):
            info = tarfile.TarInfo(arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            info.mtime = 0
            if os.path.isdir(path):
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                continue
            with open(path, "rb") as handle:
                data = handle.read()
            info.size = len(data)
            # Scripts splunkd runs are executable; everything else is plain data.
            info.mode = 0o755 if re.match(rf"{re.escape(APP_ID)}/bin/[^/]+\.py$", arcname) else 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(spl, "wb") as handle:
        handle.write(raw.getvalue())
    return spl


# --- 4. samples --------------------------------------------------------------------------------
def _field_text(value: Any) -> str:
    """A JSON value as Splunk's KV_MODE=json shows it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_TERM = re.compile(r'^(NOT\s+)?([A-Za-z_][A-Za-z0-9_.]*)=(?:"([^"]*)"|(\S+))$')


def _eventtype_terms(search: str) -> List[Tuple[bool, str, str]]:
    """Read an eventtype search of the simple form ``[NOT ]field="value" ...`` (all terms ANDed)."""
    tokens = re.findall(r'NOT\s+[^\s=]+=(?:"[^"]*"|\S+)|[^\s=]+=(?:"[^"]*"|\S+)|\S+', search)
    terms = []
    for token in tokens:
        match = _TERM.match(token)
        if not match:
            raise ValueError(f'term {token!r} is beyond the sample check\'s grammar ([NOT ]field="value")')
        value = match.group(3) if match.group(3) is not None else match.group(4)
        terms.append((bool(match.group(1)), match.group(2), value))
    return terms


Knowledge = List[Tuple[str, List[Tuple[bool, str, str]], Set[str]]]


def knowledge(app_dir: str, sourcetype: str = SAMPLE_SOURCETYPE) -> Knowledge:
    """The eventtypes of one sourcetype with their terms and tags."""
    eventtypes = read_conf(os.path.join(app_dir, "default", "eventtypes.conf"))
    tags = read_conf(os.path.join(app_dir, "default", "tags.conf"))
    out: Knowledge = []
    for name, settings in sorted(eventtypes.items()):
        search = settings.get("search")
        if not search or f'sourcetype="{sourcetype}"' not in search:
            continue
        try:
            terms = _eventtype_terms(search)
        except ValueError as exc:
            raise BuildError(EXIT_SAMPLES, f"eventtypes.conf [{name}]: {exc}") from None
        enabled = {tag for tag, state in tags.get(f"eventtype={name}", {}).items() if state == "enabled"}
        out.append((name, terms, enabled))
    return out


def event_tags(event: Dict[str, Any], sourcetype: str, kos: Knowledge) -> Tuple[Set[str], Set[str]]:
    """The eventtypes and tags Splunk would give an event (for the simple searches above)."""
    fields = {k: _field_text(v) for k, v in event.items()}
    fields["sourcetype"] = sourcetype
    types: Set[str] = set()
    tags: Set[str] = set()
    for name, terms, enabled in kos:
        if all((fields.get(field) == value) != negated for negated, field, value in terms):
            types.add(name)
            tags |= enabled
    return types, tags


def datamodels_of(tags: Set[str]) -> Set[str]:
    """The most specific Authentication datasets a tag set maps to (pytest-splunk-addon's test_datamodels rule)."""
    matched = {dm: set(t) for dm, t in DATAMODEL_TAGS.items() if set(t) <= tags}
    return {dm for dm, t in matched.items() if not any(t < other for other in matched.values())}


def sample_settings() -> Any:
    """Settings the sample logs are read with (fixed, so that the samples are reproducible)."""
    from datetime import datetime, timezone

    from esa_auth.pipeline import Settings

    # No zone: the files' headers give their offset, and the syslog relay's lines are read as UTC (a configured
    # zone would read every line, headers included: README, "Time and daylight saving").
    return Settings(year=2025, reference_time=datetime(2025, 6, 1, tzinfo=timezone.utc))


def pipeline_events(logs_dir: str) -> Dict[str, Tuple[str, Dict[str, Any]]]:
    """event_id -> (log file, CIM event) for every file of samples/logs, each read as ``Stream(name, key=name)``."""
    from esa_auth.pipeline import Normalizer, Stream, appliance_from_filename
    from esa_auth.render import render

    out: Dict[str, Tuple[str, Dict[str, Any]]] = {}
    for name in sorted(os.listdir(logs_dir)):
        if name.startswith(".") or name.endswith(".md"):
            continue
        normalizer = Normalizer(sample_settings())
        stream = Stream(name, key=name, appliance=appliance_from_filename(name))
        with open(os.path.join(logs_dir, name), "rb") as handle:
            events = normalizer.feed(stream, handle.read()) + normalizer.end(stream)
        for event in events:
            out[event.event_id] = (name, render(event, "cim"))
    return out


def _pipeline_line(raw: str) -> List[Dict[str, Any]]:
    from esa_auth.pipeline import Normalizer, Stream
    from esa_auth.render import render

    normalizer = Normalizer(sample_settings())
    stream = Stream("sample")
    events = normalizer.feed(stream, raw.encode("utf-8") + b"\n") + normalizer.end(stream)
    return [render(event, "cim") for event in events]


def validate_samples(app_dir: str, samples_dir: str = SAMPLES) -> Dict[str, Any]:
    """Check every sample event against the pipeline, the schema, the CIM fields and the tags.

    Raises:
        BuildError: with every problem found, one per line.
    """
    import xml.etree.ElementTree as ET

    from esa_auth.schema import validator

    check = validator()
    produced = pipeline_events(os.path.join(samples_dir, "logs"))
    kos = knowledge(app_dir)
    problems: List[str] = []
    seen: Set[str] = set()
    counts = {"files": 0, "events": 0, "cim_fields": 0, "models": 0}
    for name in sorted(os.listdir(samples_dir)):
        if not name.endswith(".xml"):
            continue
        counts["files"] += 1
        try:
            root = ET.parse(os.path.join(samples_dir, name)).getroot()
        except ET.ParseError as exc:
            problems.append(f"{name}: not well-formed XML: {exc}")
            continue
        if root.tag != "device" or root.find("vendor") is None or root.find("product") is None:
            problems.append(f"{name}: a <device> with <vendor> and <product> is expected")
        version = root.find("version")
        if version is None or not version.get("id"):
            problems.append(f"{name}: <version id=...> is required")
        for number, element in enumerate(root.findall("event"), 1):
            where = f"{name} event {number} ({element.get('code')})"
            problems.extend(_check_sample(where, element, produced, seen, check, kos, counts))
    missing = sorted(set(produced) - seen)
    for event_id in missing:
        log_name, event = produced[event_id]
        problems.append(f"samples/logs/{log_name}: event {event.get('signature_id')} ({event.get('raw')!r}) "
                        "has no sample in samples/*.xml")  # fmt: skip
    if problems:
        raise BuildError(EXIT_SAMPLES, "sample validation failed:\n  " + "\n  ".join(problems))
    return counts


def _check_sample(
    where: str,
    element: Any,
    produced: Dict[str, Tuple[str, Dict[str, Any]]],
    seen: Set[str],
    check: Any,
    kos: Knowledge,
    counts: Dict[str, int],
) -> List[str]:
    problems: List[str] = []
    for attribute in ("code", "name", "format"):
        if not element.get(attribute):
            problems.append(f"{where}: attribute {attribute} is required")
    transport = element.find("transport")
    if transport is None or transport.get("type") not in PSA_TRANSPORTS:
        problems.append(f"{where}: <transport type=...> must be one of pytest-splunk-addon's types")
    sourcetype = transport.get("sourcetype", SAMPLE_SOURCETYPE) if transport is not None else SAMPLE_SOURCETYPE
    if element.find("source/comment") is None:
        problems.append(f"{where}: <source><comment> is required")
    raw = element.findtext("raw") or ""
    if sourcetype == SAMPLE_SOURCETYPE:
        # The normalized event itself, as the modular input writes it.
        try:
            event = json.loads(raw)
        except ValueError as exc:
            return [*problems, f"{where}: <raw> is not a JSON event: {exc}"]
        found = produced.get(str(event.get("event_id")))
        if found is None:
            problems.append(f"{where}: no line of samples/logs gives this event (event_id {event.get('event_id')})")
        else:
            seen.add(str(event["event_id"]))
            if found[1] != event:
                diff = sorted(k for k in set(found[1]) | set(event) if found[1].get(k) != event.get(k))
                problems.append(f"{where}: the pipeline now gives other values for {', '.join(diff)}")
    else:
        # A raw ESA line (cisco:esa:textmail, cisco:esa:authentication ...): the pipeline reads it alone.
        events = _pipeline_line(raw)
        if len(events) != 1:
            return [*problems, f"{where}: the pipeline makes {len(events)} events of <raw>, not 1"]
        event = events[0]
    counts["events"] += 1
    errors = sorted(check.iter_errors(event), key=lambda e: list(e.path))
    problems.extend(f"{where}: schema: {'/'.join(map(str, e.path)) or '(event)'}: {e.message}" for e in errors)
    for field in element.findall("cim/cim_fields/field") + element.findall("other_mappings/field"):
        counts["cim_fields"] += 1
        name, value = field.get("name"), field.get("value")
        if name not in event:
            problems.append(f"{where}: expected field {name}={value!r} is absent")
        elif _field_text(event[name]) != value:
            problems.append(f"{where}: field {name} is {_field_text(event[name])!r}, expected {value!r}")
    for models_element in element.findall("cim/models"):
        # pytest-splunk-addon's sample_generation/schema.xsd: <models> holds one <model> or more (an event of no
        # data model has no <models> element); its own run stops with an INTERNALERROR on an empty one.
        if not models_element.findall("model"):
            problems.append(f"{where}: <models> has no <model> (leave the element out for no data model)")
    models = {m.text.replace(" ", "_").replace(":", "_") for m in element.findall("cim/models/model") if m.text}
    counts["models"] += len(models)
    if sourcetype != SAMPLE_SOURCETYPE:
        # Search-time knowledge of raw sourcetypes has its own tests (EXTRACT/EVAL, not the simple
        # eventtype grammar), and the pipeline may know fields it cannot (dest from the syslog host):
        # here the expected fields' values are what is checked.
        return problems
    declared_missing = {f.text for f in element.findall("cim/missing_recommended_fields/field")}
    for name in sorted(declared_missing & set(event)):
        problems.append(f"{where}: {name} is listed as missing but the event has it")
    _, tags = event_tags(event, sourcetype, kos)
    if "authentication" in tags:
        for name in CIM_REQUIRED:
            if name not in event and name not in declared_missing:
                problems.append(f"{where}: CIM field {name} is neither in the event nor in missing_recommended_fields")
    actual = datamodels_of(tags)
    if actual != models:
        problems.append(f"{where}: tags {sorted(tags)} give data models {sorted(actual)}, the sample expects "
                        f"{sorted(models)}")  # fmt: skip
    return problems


# --- 5. conf files ----------------------------------------------------------------------------------
def _tool(venv: str, name: str) -> str:
    path = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", name)
    if not os.path.exists(path):
        raise BuildError(EXIT_TOOL_MISSING, f"{name} is not installed in {os.path.basename(venv)}: "
                                            "run `python3 build.py --setup`")  # fmt: skip
    return path


def check_confs(app_dir: str) -> Dict[str, Any]:
    """``ksconf check`` every .conf/.meta file, and require them sorted the way ``ksconf sort`` sorts."""
    ksconf = _tool(VENV, "ksconf")
    files = sorted(
        os.path.join(folder, name)
        for folder in (os.path.join(app_dir, "default"), os.path.join(app_dir, "metadata"))
        if os.path.isdir(folder)
        for name in os.listdir(folder)
        if name.endswith((".conf", ".meta"))
    )
    result = subprocess.run([ksconf, "check", "--quiet", *files], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(EXIT_CONF, f"ksconf check failed:\n{result.stdout}{result.stderr}")
    unsorted = []
    for path in files:
        if not path.endswith(".conf"):
            continue
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if "KSCONF-NO-SORT" in text:
            continue  # ksconf's own marker for a file whose order is deliberate
        result = subprocess.run([ksconf, "sort", path], capture_output=True, text=True, check=False)
        if result.returncode != 0 or result.stdout != text:
            unsorted.append(os.path.relpath(path, app_dir))
    if unsorted:
        raise BuildError(EXIT_CONF, f"not sorted as `ksconf sort` sorts them: {', '.join(unsorted)} "
                                    "(fix with `.venv/bin/ksconf sort -i FILE`)")  # fmt: skip
    return {"files": len(files), "ksconf_check": "passed", "ksconf_sort": "passed"}


# --- 6. AppInspect ---------------------------------------------------------------------------------------
def appinspect(spl: str, cloud: bool, out_dir: str = BUILD) -> Dict[str, Any]:
    """Run AppInspect in precert mode; fail on any failure, error or future failure."""
    tool = _tool(VENV_TOOLS, "splunk-appinspect")
    label = "precert-cloud" if cloud else "precert"
    report = os.path.join(out_dir, f"appinspect-{label}.json")
    cmd = [tool, "inspect", spl, "--mode", "precert", "--skip-trusted-libraries-update", "--data-format", "json",
           "--output-file", report]  # fmt: skip
    if cloud:
        cmd += ["--included-tags", "cloud"]
    if os.path.exists(report):
        os.remove(report)
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if not os.path.exists(report):
        hint = " (AppInspect needs libmagic: apt-get install libmagic1)" if "magic" in result.stderr else ""
        raise BuildError(EXIT_APPINSPECT, f"AppInspect ({label}) wrote no report{hint}:\n{result.stderr[-2000:]}")
    with open(report, encoding="utf-8") as handle:
        data = json.load(handle)
    summary = {k: int(v) for k, v in data.get("summary", {}).items()}
    bad = []
    warnings = []
    for rep in data.get("reports", []):
        for group in rep.get("groups", []):
            for check in group.get("checks", []):
                messages = "; ".join(m.get("message", "") for m in check.get("messages", []))[:400]
                if check.get("result") in ("failure", "error", "future_failure"):
                    bad.append(f"{check['result']}: {check['name']}: {messages}")
                elif check.get("result") == "warning":
                    warnings.append(check["name"])
    if bad or any(summary.get(k, 0) for k in ("failure", "error", "future_failure")):
        raise BuildError(EXIT_APPINSPECT, f"AppInspect ({label}) found problems:\n  " + "\n  ".join(bad))
    return {"summary": summary, "warnings": sorted(warnings), "report": os.path.relpath(report, ROOT)}


# --- main ------------------------------------------------------------------------------------------
def build(run_appinspect: bool = True) -> Dict[str, Any]:
    """Every step; returns what dist/validation.json records."""
    version = check_versions()
    say(f"version {version}")
    app_dir = assemble()
    say(f"assembled {os.path.relpath(app_dir, ROOT)}")
    spl = package(app_dir)
    say(f"packaged {os.path.relpath(spl, ROOT)} ({os.path.getsize(spl)} bytes, sha256 {_sha256(spl)[:16]}...)")
    samples = validate_samples(app_dir)
    say(f"samples: {samples['events']} events in {samples['files']} files match the pipeline, the schema, "
        f"{samples['cim_fields']} expected fields and {samples['models']} data model expectations")  # fmt: skip
    conf = check_confs(app_dir)
    say(f"conf: {conf['files']} files pass ksconf check and are sorted")
    report: Dict[str, Any] = {
        "app": APP_ID, "version": version, "spl": os.path.relpath(spl, ROOT), "sha256": _sha256(spl),
        "samples": samples, "conf": conf, "appinspect": {},
    }  # fmt: skip
    if run_appinspect:
        for cloud in (False, True):
            result = appinspect(spl, cloud)
            label = "precert-cloud" if cloud else "precert"
            report["appinspect"][label] = result
            s = result["summary"]
            say(f"AppInspect {label}: {s.get('success', 0)} passed, {s.get('failure', 0)} failures, "
                f"{s.get('error', 0)} errors, {s.get('future_failure', 0)} future failures, "
                f"{s.get('warning', 0)} warnings")  # fmt: skip
    else:
        say("AppInspect skipped (--no-appinspect)")
    with open(os.path.join(DIST, "validation.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, sort_keys=True)
        handle.write("\n")
    say(f"ok: {os.path.relpath(spl, ROOT)} (report: dist/validation.json)")
    return report


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="build.py", description="Build and validate the TA-cisco-esa-auth app.")
    parser.add_argument("--setup", action="store_true", help="create or refresh .venv and .venv-tools first")
    parser.add_argument("--no-appinspect", action="store_true", help="skip AppInspect (faster local builds)")
    parser.add_argument(
        "--stamp-version",
        action="store_true",
        help="write package/esa_auth/_version.py's version into app.conf and app.manifest, then stop",
    )
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(args_list)
    try:
        if args.stamp_version:
            say(f"version {stamp_version()} written to default/app.conf and app.manifest")
            return EXIT_OK
        if args.setup:
            setup()
            _reexec([a for a in args_list if a != "--setup"])
        if not _in_venv():
            _reexec(args_list)
        build(run_appinspect=not args.no_appinspect)
    except BuildError as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return exc.code
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
