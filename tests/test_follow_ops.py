"""The follower as operators run it (#17): ids that survive every re-read, directories out of reach,
many files and few descriptors, last lines without a newline, compressed logs, old checkpoints."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import pytest
from esa_auth import follow, listing
from esa_auth.cli.reading import read_sources
from esa_auth.follow import Follower, load_checkpoint
from esa_auth.pipeline import Normalizer, Settings
from splunkd import HEADER, mail_file, mail_sessions, stamp

SETTINGS = Settings(tz="Europe/Paris")  # the headers of tests/splunkd.py say +01:00 (January)
DATA = Path(__file__).parent / "data"
COMPRESSORS: Dict[str, Callable[[bytes], bytes]] = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
}


class Sink:
    """What a run emitted and logged."""

    def __init__(self) -> None:
        self.events: List[Dict[str, Any]] = []
        self.logs: List[tuple] = []

    def emit(self, events: List[Any], source: str) -> None:
        self.events += [event.to_dict() for event in events]

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def messages(self, level: str) -> List[str]:
        return [m for lvl, m in self.logs if lvl == level]

    @property
    def ids(self) -> List[str]:
        return [e["event_id"] for e in self.events]


def run(spec: Path, ck: Path, now: Optional[float] = None, **kwargs: Any) -> Sink:
    sink = Sink()
    Follower(str(spec), SETTINGS, str(ck), **kwargs).run(sink.emit, sink.log, now=now)
    return sink


def cli_ids(*paths: Path) -> List[str]:
    """The event ids ``esa-auth normalize`` gives for files (its reading loop, in process)."""
    err = io.StringIO()
    events, failures = read_sources(Normalizer(SETTINGS), [str(p) for p in paths], io.BytesIO(), err)
    ids = [event.event_id for event in events]
    assert failures == [], err.getvalue()
    return ids


@pytest.fixture
def ck(tmp_path: Path) -> Path:
    path = tmp_path / "ck"
    path.mkdir()
    return path / "esa1.json"


def forget(ck: Path) -> None:
    """Delete a checkpoint, as the documentation says to read everything again."""
    for path in ck.parent.iterdir():
        path.unlink()


# --- 1. event ids ----------------------------------------------------------------------------------


def test_a_small_file_gives_the_same_ids_after_the_checkpoint_is_deleted(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    path.write_text(mail_file(1, 1), encoding="utf-8")
    assert path.stat().st_size < follow.HEAD_BYTES
    first = run(logs, ck)
    path.write_text(mail_file(1, 1) + mail_sessions(2, 6, start=1), encoding="utf-8")
    second = run(logs, ck)
    assert path.stat().st_size > follow.HEAD_BYTES
    forget(ck)
    again = run(logs, ck)
    assert len(again.ids) == 7
    assert again.ids == first.ids + second.ids
    assert again.ids == cli_ids(path)


@pytest.mark.parametrize(
    "damage",
    [
        lambda ck: ck.write_bytes(ck.read_bytes()[:40]),
        lambda ck: ck.write_bytes(b"\x00garbage\xff"),
        lambda ck: ck.write_bytes(b""),
        lambda ck: (ck.unlink(), ck.mkdir()),
        lambda ck: (ck.unlink(), ck.symlink_to(ck.parent / "nowhere")),
    ],
    ids=["truncated", "garbage", "empty", "a directory", "a dangling link"],
)
def test_a_damaged_checkpoint_replays_a_small_file_under_the_same_ids(
    logs: Path, ck: Path, damage: Callable[[Path], Any]
) -> None:
    path = logs / "mail.current"
    path.write_text(mail_file(1, 1), encoding="utf-8")
    first = run(logs, ck)
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(2, 1, start=1))
    second = run(logs, ck)
    Path(f"{ck}.journal").unlink(missing_ok=True)
    damage(ck)
    with contextlib.suppress(Exception):
        replay = run(logs, ck)
        assert set(replay.ids) <= set(first.ids + second.ids)
    if ck.is_dir():
        ck.rmdir()
        replay = run(logs, ck)
    assert set(replay.ids) <= set(first.ids + second.ids)
    assert len(first.ids + second.ids) == 2


def test_a_small_file_replaced_by_a_copy_is_not_read_again(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    path.write_text(mail_file(1, 2), encoding="utf-8")
    first = run(logs, ck)
    copy = logs / ".incoming"
    shutil.copy2(path, copy)
    with open(copy, "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(3, 1, start=2))
    os.replace(copy, path)  # rsync's way: a new inode under the old name
    second = run(logs, ck)
    assert [e["icid"] for e in second.events] == [3]
    assert set(first.ids).isdisjoint(second.ids)
    assert first.ids + second.ids == cli_ids(path)


def test_a_small_file_copied_and_truncated_gives_nothing_twice(logs: Path, ck: Path) -> None:
    live = logs / "mail.log"
    live.write_text(mail_file(1, 1), encoding="utf-8")
    first = run(logs, ck)
    shutil.copy2(live, logs / "mail.log.1")  # logrotate copytruncate: copy, then truncate in place
    with open(live, "r+", encoding="utf-8") as handle:
        handle.truncate(0)
    with open(live, "a", encoding="utf-8") as handle:
        handle.write(mail_file(50, 1, start=60))
    second = run(logs, ck)
    assert [e["icid"] for e in second.events] == [50]
    assert sorted(first.ids + second.ids) == sorted(cli_ids(logs / "mail.log.1") + cli_ids(live))


def test_ids_are_the_same_live_rotated_copied_and_compressed(logs: Path, ck: Path, tmp_path: Path) -> None:
    path = logs / "mail.current"
    path.write_text(mail_file(1, 2), encoding="utf-8")
    live = run(logs, ck).ids
    rolled = logs / "mail.@20250106T000000.s"
    os.rename(path, rolled)
    assert run(logs, ck).ids == []
    elsewhere = tmp_path / "copies"
    elsewhere.mkdir()
    shutil.copy(rolled, elsewhere / "copy.log")
    for suffix, compress in COMPRESSORS.items():
        (elsewhere / f"mail.@20250106T000000.s.{suffix}").write_bytes(compress(rolled.read_bytes()))
    for name in sorted(os.listdir(elsewhere)):
        assert cli_ids(elsewhere / name) == live, name
        alone = tmp_path / f"alone-{name}"
        alone.mkdir()
        shutil.copy(elsewhere / name, alone / name)
        other = tmp_path / f"ck-{name}" / "esa1.json"
        other.parent.mkdir()
        assert run(alone, other).ids == live, name
    # All four together, new: the archives are those of the copy, which is there: its lines once.
    together = run(elsewhere, tmp_path / "ck-copy.log" / "esa2.json")
    assert together.ids == live
    assert sum("an archive of" in m for m in together.messages("INFO")) == 3


# --- 2. directories out of reach -------------------------------------------------------------------


def test_an_unmounted_share_keeps_its_positions_and_nothing_is_repeated(logs: Path, ck: Path, tmp_path: Path) -> None:
    for n in range(3):
        (logs / f"mail.@2025010{n}T000000.s").write_text(mail_file(100 * n, 2), encoding="utf-8")
    assert len(run(logs, ck).events) == 6
    mounted = tmp_path / "mounted"
    os.rename(logs, mounted)
    logs.mkdir()  # the empty mount point
    gone = run(logs, ck)
    assert gone.events == []
    warnings = gone.messages("WARN")
    assert len(warnings) == 1
    assert "3 known files are in directories out of reach" in warnings[0]
    assert "empty" in warnings[0]
    assert len(load_checkpoint(str(ck))["files"]) == 3  # type: ignore[index]
    # Mounted again: other device and inode numbers, as after a remount of another share.
    logs.rmdir()
    shutil.copytree(mounted, logs)
    with open(logs / "mail.@20250102T000000.s", "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(900, 1, start=10))
    back = run(logs, ck)
    assert [e["icid"] for e in back.events] == [900]


def test_an_unreadable_directory_keeps_its_positions(logs: Path, ck: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (logs / "mail.current").write_text(mail_file(1, 2), encoding="utf-8")
    assert len(run(logs, ck).events) == 2
    listdir = os.listdir

    def denied(path: Any = ".") -> List[str]:
        if os.fspath(path) == str(logs):
            raise PermissionError(13, "Permission denied", str(logs))
        return listdir(path)

    # Mode 000 does not stop root, who runs the tests: the refusal is made where the follower meets it.
    monkeypatch.setattr(os, "listdir", denied)
    refused = run(logs, ck)
    assert refused.events == []
    assert len(refused.messages("WARN")) == 1
    assert "Permission denied" in refused.messages("WARN")[0]
    assert "no longer found" not in " ".join(refused.messages("INFO"))
    monkeypatch.undo()
    assert run(logs, ck).events == []


# --- 3. many files, few descriptors ----------------------------------------------------------------


def test_more_files_than_descriptors_are_all_read(logs: Path, ck: Path) -> None:
    for n in range(300):
        path = logs / f"mail.@20250106T{n:06d}.s"
        path.write_text(mail_file(n * 10, 1, start=n), encoding="utf-8")
        os.utime(path, (1_700_000_000 + n, 1_700_000_000 + n))
    # A child with a limit of 64 descriptors: 0.1.0 kept every file open and failed at the limit.
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "from esa_auth.follow import Follower\n"
        "from esa_auth.pipeline import Settings\n"
        "out = []\n"
        "logs = []\n"
        "stats = Follower(sys.argv[1], Settings(tz='Europe/Paris'), sys.argv[2]).run(\n"
        "    lambda events, source: out.extend(events), lambda level, message: logs.append(message))\n"
        "print(len(out), stats.checkpoints, len(logs))\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(logs), str(ck)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    events, saves, messages = map(int, done.stdout.split())
    assert (events, messages) == (300, 0)
    # After a file, once 64 KiB were read since the last save (and at the end): not once a file.
    total = sum(path.stat().st_size for path in logs.iterdir())
    assert 1 < saves <= total // follow.AFTER_FILE_BYTES + 1 < 300


class Counted:
    """A file handle that counts the log files open at once."""

    def __init__(self, handle: Any, held: List[int]) -> None:
        self._handle, self._held = handle, held
        held[0] += 1
        held[1] = max(held)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def close(self) -> None:
        if not self._handle.closed:
            self._held[0] -= 1
        self._handle.close()


def test_a_run_holds_one_log_file_open_at_a_time(logs: Path, ck: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(50):
        (logs / f"mail.@20250106T{n:06d}.s").write_text(mail_file(n * 10, 1), encoding="utf-8")
    held = [0, 0]  # now, most
    real_open = open

    def counting_open(path: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(path, mode, *args, **kwargs)
        return Counted(handle, held) if str(path).startswith(str(logs)) else handle

    monkeypatch.setattr(listing, "open", counting_open, raising=False)
    assert len(run(logs, ck).events) == 50
    assert held == [0, 1]


# --- 4. a last line without a newline --------------------------------------------------------------


def unterminated(first_icid: int) -> str:
    """A file whose last line, the SMTP AUTH line of its second session, has no newline."""
    second = mail_sessions(first_icid + 1, 1, start=1).splitlines(keepends=True)[:4]
    return mail_file(first_icid, 1) + "".join(second).rstrip("\n")


def test_the_last_line_of_a_rotated_file_is_read_once_with_a_warning(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    path.write_text(unterminated(1), encoding="utf-8")
    first = run(logs, ck)
    assert [e["icid"] for e in first.events] == [1]
    assert run(logs, ck).events == []  # still mail.current: it may grow
    os.rename(path, logs / "mail.@20250106T000000.s")
    finished = run(logs, ck)
    assert [e["icid"] for e in finished.events] == [2]
    assert any("has no newline" in m and "renamed away" in m for m in finished.messages("WARN"))
    assert run(logs, ck).events == []


def test_the_last_line_of_an_idle_file_is_read_after_the_timeout(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    path.write_text(unterminated(1), encoding="utf-8")
    mtime = path.stat().st_mtime
    assert len(run(logs, ck, now=mtime + 1).events) == 1
    assert run(logs, ck, now=mtime + follow.FINISH_AFTER - 1).events == []
    late = run(logs, ck, now=mtime + follow.FINISH_AFTER + 1)
    assert [e["icid"] for e in late.events] == [2]
    assert any("has no newline" in m for m in late.messages("WARN"))
    assert run(logs, ck, now=mtime + 10 * follow.FINISH_AFTER).events == []


# --- 6. compressed logs ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_the_cli_reads_compressed_files_by_their_content(tmp_path: Path, suffix: str) -> None:
    data = mail_file(1, 3).encode()
    plain = tmp_path / "mail.current"
    plain.write_bytes(data)
    misnamed = tmp_path / "mail.log"  # compressed, with no suffix to say so
    misnamed.write_bytes(COMPRESSORS[suffix](data))
    named = tmp_path / f"mail.@20250106T000000.s.{suffix}"
    named.write_bytes(COMPRESSORS[suffix](data))
    expected = cli_ids(plain)
    assert len(expected) == 3
    assert cli_ids(misnamed) == expected
    assert cli_ids(named) == expected


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_a_cut_archive_keeps_the_events_before_the_damage(tmp_path: Path, suffix: str) -> None:
    data = mail_file(1, 400).encode()
    # bzip2 compresses by blocks (100 kB of input at level 1): the first ones are whole before the cut.
    whole = bz2.compress(data, 1) if suffix == "bz2" else COMPRESSORS[suffix](data)
    path = tmp_path / f"mail.s.{suffix}"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    err = io.StringIO()
    events, failures = read_sources(Normalizer(SETTINGS), [str(path)], io.BytesIO(), err)
    got = [event.to_dict()["icid"] for event in events]
    assert failures == [str(path)]
    assert 0 < len(got) < 400
    assert got == list(range(1, len(got) + 1))
    lines = err.getvalue().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert "cut short" in lines[0] or "damaged" in lines[0]


def test_a_rotated_then_compressed_file_is_read_on_from_where_it_was_left(logs: Path, ck: Path) -> None:
    live = logs / "mail.log"
    live.write_text(mail_file(1, 3), encoding="utf-8")
    first = run(logs, ck)
    with open(live, "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(4, 2, start=3))  # written before the rotation, not read yet
    os.rename(live, logs / "mail.log.1")
    with open(logs / "mail.log.1", "rb") as source:
        (logs / "mail.log.1.gz").write_bytes(gzip.compress(source.read()))
    # gzip at work: both the file and its archive are there.
    both = run(logs, ck)
    assert [e["icid"] for e in both.events] == [4, 5]
    assert any("an archive of" in m for m in both.messages("INFO"))
    (logs / "mail.log.1").unlink()
    live.write_text(mail_file(10, 1, start=10), encoding="utf-8")
    after = run(logs, ck)
    assert [e["icid"] for e in after.events] == [10]
    assert run(logs, ck).events == []
    assert sorted(first.ids + both.ids + after.ids) == sorted(cli_ids(logs / "mail.log.1.gz") + cli_ids(live))


def test_a_new_file_and_its_archive_listed_together_are_read_once(logs: Path, ck: Path) -> None:
    # A rotated file never read yet, and its archive being made beside it (gzip at work, logrotate's
    # compress) in the same listing: its lines once, and the archive read on from there once the file is gone.
    # The sessions run past the end of the first file: read twice, the archive's AUTH lines would come after
    # the close lines of mail.log and lose their sessions.
    rolled = logs / "mail.log.1"
    sessions = mail_sessions(1, 12).splitlines(keepends=True)
    rolled.write_text(HEADER.format(t=stamp(0)) + "".join(sessions[:-3]), encoding="utf-8")
    assert rolled.stat().st_size > follow.HEAD_BYTES
    os.utime(rolled, (1_700_000_000, 1_700_000_000))
    (logs / "mail.log.1.gz").write_bytes(gzip.compress(rolled.read_bytes()))
    os.utime(logs / "mail.log.1.gz", (1_700_000_100, 1_700_000_100))
    live = logs / "mail.log"
    live.write_text(HEADER.format(t=stamp(12)) + "".join(sessions[-3:]), encoding="utf-8")
    os.utime(live, (1_700_000_200, 1_700_000_200))
    first = run(logs, ck)
    assert len(first.ids) == len(set(first.ids)) == 12
    assert all(e.get("src") for e in first.events if "icid" in e)
    assert any("an archive of" in m for m in first.messages("INFO"))
    rolled.unlink()
    assert run(logs, ck).events == []


def test_a_file_compressed_between_two_runs_gives_its_unread_rest(logs: Path, ck: Path) -> None:
    live = logs / "mail.log"
    live.write_text(mail_file(1, 2), encoding="utf-8")
    assert len(run(logs, ck).events) == 2
    with open(live, "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(3, 2, start=2))
    (logs / "mail.log.1.xz").write_bytes(lzma.compress(live.read_bytes()))
    live.unlink()  # logrotate compress without delaycompress: rename, compress, remove
    rest = run(logs, ck)
    assert [e["icid"] for e in rest.events] == [3, 4]
    assert run(logs, ck).events == []


def test_an_archive_never_seen_is_read_whole_once(logs: Path, ck: Path) -> None:
    (logs / "mail.current").write_text(mail_file(1, 1), encoding="utf-8")
    assert len(run(logs, ck, start="end").events) == 0
    (logs / "backfill.bz2").write_bytes(bz2.compress(mail_file(100, 3).encode()))
    assert [e["icid"] for e in run(logs, ck).events] == [100, 101, 102]
    assert run(logs, ck).events == []


def test_a_damaged_archive_in_the_directory_gives_one_warning(logs: Path, ck: Path) -> None:
    whole = gzip.compress(mail_file(1, 300).encode())
    (logs / "old.gz").write_bytes(whole[: len(whole) // 2])
    first = run(logs, ck)
    assert 0 < len(first.events) < 300
    warnings = first.messages("WARN")
    assert len(warnings) == 1
    assert "old.gz" in warnings[0]
    assert "cut short" in warnings[0]
    second = run(logs, ck)
    assert (second.events, second.messages("WARN")) == ([], [])


def test_a_zstd_file_is_named_and_skipped(logs: Path, ck: Path) -> None:
    (logs / "mail.zst").write_bytes(b"\x28\xb5\x2f\xfd" + bytes(64))
    sink = run(logs, ck)
    assert sink.events == []
    assert any("compressed with zstd" in m for m in sink.messages("WARN"))
    assert run(logs, ck).messages("WARN") == []


# --- 8. checkpoints of 0.1.0 and format 2 ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "version", "appended"),
    [
        # 0.1.0's (format 1); format 2 was saved before format 3 left out what defaults say (checkpoint.py).
        ("checkpoint-0.1.0", 1, 110),
        ("checkpoint-format-2", 2, 111),
    ],
)
def test_a_checkpoint_of_an_earlier_format_is_read_on_without_repeating(
    tmp_path: Path, fixture: str, version: int, appended: int
) -> None:
    source = DATA / fixture  # its README says how it was written
    logs = tmp_path / "logs"
    shutil.copytree(source / "logs", logs)  # other inodes than when the checkpoint was written
    ck = tmp_path / "ck" / "esa1.json"
    ck.parent.mkdir()
    shutil.copy(source / "esa1.json", ck)
    shutil.copy(source / "esa1.json.journal", f"{ck}.journal")
    assert json.loads(ck.read_text(encoding="utf-8"))["version"] == version
    rolled, small = logs / "mail.@20250106T000000.s", logs / "mail.current"
    assert small.stat().st_size < follow.HEAD_BYTES
    with open(rolled, "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(appended, 1, start=10))
    with open(small, "a", encoding="utf-8") as handle:
        handle.write(mail_sessions(201, 1, start=101))
    sink = run(logs, ck)
    assert [e["icid"] for e in sink.events] == [appended, 201]
    assert any(f"of format {version} read" in m for m in sink.messages("INFO"))
    assert sink.messages("WARN") == []
    assert json.loads(ck.read_text(encoding="utf-8"))["version"] == follow.CHECKPOINT_VERSION == 3
    assert run(logs, ck).events == []


def test_a_file_compressed_away_while_listed_holds_back_the_files_after_it(
    logs: Path, ck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rolled = logs / "mail.log"
    rolled.write_text(mail_file(1, 1), encoding="utf-8")
    os.utime(rolled, (1_700_000_000, 1_700_000_000))
    assert len(run(logs, ck).events) == 1
    # Its rest opens ICID 7; the next file holds ICID 7's SMTP AUTH line.
    session = mail_sessions(7, 1, start=5).splitlines(keepends=True)
    with open(rolled, "a", encoding="utf-8") as handle:
        handle.write("".join(session[:2]))
    os.utime(rolled, (1_700_000_100, 1_700_000_100))
    (logs / "mail.current").write_text(HEADER.format(t=stamp(6)) + "".join(session[2:]), encoding="utf-8")
    os.utime(logs / "mail.current", (1_700_000_200, 1_700_000_200))
    real_open = listing.Candidate.open
    opened: List[str] = []

    def compressed_meanwhile(self: Any) -> Any:
        opened.append(self.path)
        # logrotate's compress, between its head's check and the reading of its rest
        if self.path == str(rolled) and opened.count(self.path) == 2:
            archive = logs / "mail.log.1.gz"
            archive.write_bytes(gzip.compress(rolled.read_bytes()))
            os.utime(archive, (1_700_000_100, 1_700_000_100))
            rolled.unlink()
        return real_open(self)

    monkeypatch.setattr(listing.Candidate, "open", compressed_meanwhile)
    held = run(logs, ck)
    assert held.events == []
    assert any("gone since the directory was listed" in m for m in held.messages("INFO"))
    after = run(logs, ck)
    assert [(e["icid"], e["src_ip"]) for e in after.events] == [(7, "198.51.100.8")]
