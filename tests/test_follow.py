"""The file follower of the modular input (esa_auth.follow): positions, rotation, checkpoints, crashes."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest
from esa_auth import checkpoint, listing
from esa_auth.errors import ConfigError, StateError
from esa_auth.follow import Follower, check_path, list_files, load_checkpoint, looks_like_esa
from esa_auth.pipeline import Normalizer, Settings, Stream
from splunkd import mail_file, mail_sessions, stamp

#: The appliance's zone of the test files: +01:00 in January, as their header says (the zone reads the lines, #20).
SETTINGS = Settings(tz="Europe/Paris")


class Crash(Exception):
    """Stands for the process dying right after an event was written."""


class Sink:
    """Collects what a run emits and logs."""

    def __init__(self, crash_after: Optional[int] = None) -> None:
        self.events: List[Dict[str, Any]] = []
        self.sources: List[str] = []
        self.logs: List[Tuple[str, str]] = []
        self.crash_after = crash_after

    def emit(self, events: List[Any], source: str) -> None:
        assert events, "a block without events is not handed to the sink"
        for event in events:
            self.events.append(event.to_dict())
            self.sources.append(source)
            if self.crash_after is not None and len(self.events) >= self.crash_after:
                raise Crash()

    def log(self, level: str, message: str) -> None:
        self.logs.append((level, message))

    def messages(self, level: str) -> List[str]:
        return [m for lvl, m in self.logs if lvl == level]


def run(spec: Path, ck: Path, crash_after: Optional[int] = None, **kwargs: Any) -> Sink:
    sink = Sink(crash_after)
    follower = Follower(str(spec), kwargs.pop("settings", SETTINGS), str(ck), **kwargs)
    with contextlib.suppress(Crash):
        follower.run(sink.emit, sink.log)
    return sink


def keys(ck: Path) -> Dict[str, str]:
    """path -> stream key, from the checkpoint."""
    data = load_checkpoint(str(ck))
    assert data is not None
    return {entry["path"]: entry["key"] for entry in data["files"]}


def library(parts: Sequence[Tuple[str, str, bytes]], settings: Settings = SETTINGS) -> List[Dict[str, Any]]:
    """What the library makes of (path, key, content) read in order, each file flushed at its end."""
    normalizer = Normalizer(settings)
    out: List[Dict[str, Any]] = []
    for path, key, data in parts:
        stream = Stream(path, key=key)
        out += [e.to_dict() for e in normalizer.feed(stream, data) + normalizer.flush(stream)]
    return out


def write(path: Path, text: str, mtime: Optional[int] = None, mode: str = "w") -> None:
    with open(path, mode, encoding="utf-8", newline="") as handle:
        handle.write(text)
    if mtime is not None:
        os.utime(path, ns=(mtime * 10**9, mtime * 10**9))


@pytest.fixture
def ck(tmp_path: Path) -> Path:
    return tmp_path / "ck" / "esa1.json"


@pytest.fixture(autouse=True)
def _ck_dir(ck: Path) -> None:
    ck.parent.mkdir()


def test_first_run_reads_everything_and_a_second_run_nothing(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    write(path, mail_file(100, 20))
    first = run(logs, ck)
    assert len(first.events) == 20
    expected = library([(str(path), keys(ck)[str(path)], path.read_bytes())])
    assert first.events == expected
    assert set(first.sources) == {str(path)}
    assert run(logs, ck).events == []


def test_appended_lines_come_once_with_their_session_context(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    text = mail_file(100, 10)
    # The second run starts in the middle of a session: its open line is in the first part.
    cut = text.index("SMTP Auth: (ICID 105)")
    cut = text.rindex("\n", 0, cut) + 1
    write(path, text[:cut])
    first = run(logs, ck)
    write(path, text[cut:], mode="a")
    second = run(logs, ck)
    expected = library([(str(path), keys(ck)[str(path)], text.encode())])
    assert first.events + second.events == expected
    assert second.events[0]["src"] == "198.51.100.106"  # from the C1 line read by the first run


def test_a_line_without_its_newline_waits_for_it(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    text = mail_file(100, 3)
    last = text.rindex("SMTP Auth")
    write(path, text[: last + 20])
    first = run(logs, ck)
    assert [e["icid"] for e in first.events] == [100, 101]
    write(path, text[last + 20 :], mode="a")
    second = run(logs, ck)
    assert [e["icid"] for e in second.events] == [102]
    assert first.events + second.events == library([(str(path), keys(ck)[str(path)], text.encode())])


def test_rotation_keeps_the_renamed_file_and_reads_the_new_one(logs: Path, ck: Path) -> None:
    current = logs / "mail.current"
    old_text = mail_file(100, 10)
    write(current, old_text[: len(old_text) // 2].rsplit("\n", 1)[0] + "\n", mtime=1_700_000_000)
    first = run(logs, ck)
    old_key = keys(ck)[str(current)]
    # The appliance writes the rest, renames the file and starts a new one.
    write(current, old_text[len(old_text[: len(old_text) // 2].rsplit("\n", 1)[0]) + 1 :], mode="a")
    os.utime(current, ns=(1_700_000_010 * 10**9,) * 2)
    rolled = logs / "mail.@20250106T101010.s"
    os.rename(current, rolled)
    new_text = mail_file(200, 5, start=3600)
    write(current, new_text, mtime=1_700_000_020)
    second = run(logs, ck)
    after = keys(ck)
    assert after[str(rolled)] == old_key, "the rolled file keeps its key, so its event ids"
    expected = library(
        [(str(rolled), old_key, old_text.encode()), (str(current), after[str(current)], new_text.encode())]
    )
    assert first.events + second.events == expected
    assert len({e["event_id"] for e in expected}) == 15
    assert run(logs, ck).events == []


def _session_across_rotation(logs: Path) -> Tuple[Path, Path, str, str]:
    """mail.current holding sessions and, at its end, ICID 300 opened; its successor authenticates ICID 300."""
    current, rolled = logs / "mail.current", logs / "mail.@20250106T101010.s"
    old_text = mail_file(100, 4) + (
        f"{stamp(10)} Info: New SMTP ICID 300 interface IncomingMail (192.0.2.1) address 198.51.100.30 "
        "reverse dns host mx.example.net verified yes\n"
    )
    new_text = mail_file(400, 1, start=20) + (
        f"{stamp(21)} Info: SMTP Auth: (ICID 300) failed for user: bob using AUTH mechanism: PLAIN with profile: P\n"
    )
    return current, rolled, old_text, new_text


def _rotate(current: Path, rolled: Path, rest: str, new_text: str) -> None:
    """What the appliance does: the rest of the file, the rename, the new file (later mtimes)."""
    write(current, rest, mode="a")
    os.utime(current, ns=(1_700_000_010 * 10**9,) * 2)
    os.rename(current, rolled)
    write(current, new_text, mtime=1_700_000_020)


def _read_across_rotation(logs: Path, ck: Path, rotate_during: Any) -> None:
    """A first run reads half of mail.current; the rotation happens within the second run (``rotate_during``);
    whatever the runs emit must be what reading the rolled file, then its successor, gives."""
    current, rolled, old_text, new_text = _session_across_rotation(logs)
    half = old_text.index("\n", len(old_text) // 2) + 1
    more = old_text.index("\n", half + (len(old_text) - half) // 2) + 1
    write(current, old_text[:half], mtime=1_700_000_000)
    first = run(logs, ck)
    old_key = keys(ck)[str(current)]
    write(current, old_text[half:more], mode="a")  # the second run has lines to read in it
    os.utime(current, ns=(1_700_000_005 * 10**9,) * 2)
    with rotate_during(lambda: _rotate(current, rolled, old_text[more:], new_text)):
        second = run(logs, ck)
    third = run(logs, ck)
    after = keys(ck)
    expected = library(
        [(str(rolled), old_key, old_text.encode()), (str(current), after[str(current)], new_text.encode())]
    )
    assert first.events + second.events + third.events == expected
    assert expected[-1]["src"] == "198.51.100.30", "the session opened in the rolled file is known"
    assert run(logs, ck).events == []


def test_a_file_rotated_after_the_listing_is_still_read_before_its_successor(
    logs: Path, ck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """mail.current is listed, then rotated before it is opened: the file opened must be the one listed (found
    under its new name), not its successor that now bears the name."""

    @contextlib.contextmanager
    def after_listing(rotate: Any) -> Any:
        original = Follower._match

        def match(self: Follower, *args: Any) -> Any:
            rotate()  # listed and stat'ed, not opened yet
            return original(self, *args)

        with monkeypatch.context() as patch:
            patch.setattr(Follower, "_match", match)
            yield

    _read_across_rotation(logs, ck, after_listing)


def test_a_file_rotated_between_the_listing_and_its_stat_is_not_missed(
    logs: Path, ck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is listed, then mail.current is rotated before it is stat'ed: the listing is taken again,
    so that the rolled file (not listed under its new name) is read before its successor."""

    @contextlib.contextmanager
    def after_first_listing(rotate: Any) -> Any:
        original = listing.list_files
        calls = []

        def listing_of(spec: str) -> List[str]:
            paths = original(spec)
            calls.append(spec)
            if len(calls) == 1:
                rotate()
            return paths

        with monkeypatch.context() as patch:
            patch.setattr(listing, "list_files", listing_of)
            yield

    _read_across_rotation(logs, ck, after_first_listing)


def test_copy_truncate_reads_the_tail_from_the_copy(logs: Path, ck: Path) -> None:
    current = logs / "mail.log"
    text = mail_file(100, 40)  # more than HEAD_BYTES, so the copy can be recognised by content
    half = text.rindex("\n", 0, len(text) // 2) + 1
    write(current, text[:half], mtime=1_700_000_000)
    first = run(logs, ck)
    key = keys(ck)[str(current)]
    write(current, text[half:], mode="a")
    copy = logs / "mail.log.1"
    shutil.copyfile(current, copy)
    os.utime(copy, ns=(1_700_000_010 * 10**9,) * 2)
    new_text = mail_file(300, 4, start=7200)
    write(current, new_text, mtime=1_700_000_020)  # truncate and write anew
    second = run(logs, ck)
    after = keys(ck)
    assert after[str(copy)] == key
    expected = library([(str(copy), key, text.encode()), (str(current), after[str(current)], new_text.encode())])
    assert first.events + second.events == expected
    assert any("same content, new inode" in m for m in second.messages("INFO"))


def test_a_replaced_file_is_read_anew_and_a_deleted_one_forgotten(logs: Path, ck: Path) -> None:
    path = logs / "auth.current"
    write(path, mail_file(100, 3))
    assert len(run(logs, ck).events) == 3
    replacement = logs / "tmp"
    write(replacement, mail_file(500, 2, start=999))
    os.replace(replacement, path)
    second = run(logs, ck)
    assert [e["icid"] for e in second.events] == [500, 501]
    # Another file stays: a directory that holds no file at all may be a share not mounted (#17).
    write(logs / "other.current", mail_file(900, 1))
    path.unlink()
    third = run(logs, ck)
    assert [e["icid"] for e in third.events] == [900]
    assert any("no longer found" in m for m in third.messages("INFO"))
    assert [f["path"] for f in load_checkpoint(str(ck))["files"]] == [str(logs / "other.current")]  # type: ignore[index]


def test_truncation_in_place_is_reported_and_the_file_read_again(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    text = mail_file(100, 30)
    write(path, text)
    run(logs, ck)
    with open(path, "r+b") as handle:  # same inode, same first bytes, shorter
        handle.truncate(len(text) // 3)
    second = run(logs, ck)
    assert any("truncated" in m for m in second.messages("WARN"))
    assert second.events == library([(str(path), keys(ck)[str(path)], path.read_bytes())])


@pytest.mark.parametrize("crash_after", [1, 7, 25, 49])
def test_a_crash_loses_nothing_and_replays_with_the_same_ids(logs: Path, ck: Path, crash_after: int) -> None:
    # Small reads and frequent checkpoints put checkpoints between the crash points;
    # the Cisco example's wrapped lines check that a held-back line is replayed whole.
    for n in range(3):
        write(logs / f"mail.@2025010{n}T000000.s", mail_file(100 * (n + 1), 17, start=n * 100), mtime=1_700_000_000 + n)
    wrapped = (Path(__file__).parent / "golden" / "mission" / "tac-118570-wrapped.log").read_bytes()
    (logs / "mail.current").write_bytes(wrapped)
    os.utime(logs / "mail.current", ns=(1_700_000_100 * 10**9,) * 2)
    crashed = run(logs, ck, crash_after=crash_after, chunk_size=97, checkpoint_bytes=200, bytes_per_session=0)
    assert len(crashed.events) == crash_after
    restarted = run(logs, ck, chunk_size=97, checkpoint_bytes=200, bytes_per_session=0)
    order = sorted(logs.iterdir(), key=lambda p: p.stat().st_mtime_ns)
    found = keys(ck)
    expected = library([(str(p), found[str(p)], p.read_bytes()) for p in order])
    assert len(expected) == 3 * 17 + 4
    # The restart replays a suffix of what the crashed run wrote, then goes on: nothing lost.
    start = len(expected) - len(restarted.events)
    assert 0 <= start <= crash_after
    assert restarted.events == expected[start:]
    assert crashed.events == expected[:crash_after]


def test_a_failed_checkpoint_write_leaves_the_previous_one(
    logs: Path, ck: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = logs / "mail.current"
    write(path, mail_file(100, 5))
    run(logs, ck)
    before = load_checkpoint(str(ck))
    write(path, mail_sessions(105, 5, start=50), mode="a")

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    # A save appends to the journal (fsync) or replaces the snapshot (os.replace): both fail.
    monkeypatch.setattr(checkpoint.os, "fsync", full)
    monkeypatch.setattr(checkpoint.os, "replace", full)
    # The message names the file that could not be written (#17).
    with pytest.raises(StateError, match=r"cannot write the checkpoint .*esa1\.json\.journal: No space left"):
        run(logs, ck)
    monkeypatch.undo()
    assert load_checkpoint(str(ck)) == before
    again = run(logs, ck)
    assert [e["icid"] for e in again.events] == [105, 106, 107, 108, 109]


def test_a_damaged_checkpoint_is_moved_aside_and_the_files_read_again(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    write(path, mail_file(100, 4))
    first = run(logs, ck)
    ck.write_text('{"version": 1, "files": [{"key": 3}]', encoding="utf-8")
    second = run(logs, ck)
    assert any("moved to" in m for m in second.messages("ERROR"))
    assert (ck.parent / "esa1.json.damaged").exists()
    assert second.events == first.events  # same ids: a replay that can be de-duplicated


def test_start_from_end_skips_old_lines_but_keeps_the_header(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    write(path, mail_file(100, 5))
    first = run(logs, ck, start="end")
    assert first.events == []
    write(path, mail_sessions(105, 2, start=3600), mode="a")
    second = run(logs, ck, start="end")
    assert [e["icid"] for e in second.events] == [105, 106]
    # Europe/Paris (+01:00, as the header says) applies: 01:00 local is 00:00 UTC.
    assert second.events[0]["time"] == "2025-01-06T00:00:00Z"
    assert second.events[0]["product_version"] == "15.0.0-104"
    # A file that appears after the first run is read from its beginning.
    write(logs / "mail.@20250107T000000.s", mail_file(900, 2, start=90000))
    assert [e["icid"] for e in run(logs, ck, start="end").events] == [900, 901]


def test_files_that_are_not_esa_logs_are_skipped_with_one_warning(logs: Path, ck: Path) -> None:
    (logs / "notes.txt").write_text("hello\nworld\n", encoding="utf-8")
    (logs / "archive.gz").write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 8)
    (logs / ".mail.current.partial").write_text(mail_file(1, 1), encoding="utf-8")
    write(logs / "mail.current", mail_file(100, 2))
    first = run(logs, ck)
    assert [e["icid"] for e in first.events] == [100, 101]
    skipped = [m for m in first.messages("WARN") if "does not look like an ESA log" in m]
    assert len(skipped) == 1
    # Recognised as gzip by its first bytes; what follows is not a gzip stream.
    damaged = [m for m in first.messages("WARN") if "archive.gz: the archive is damaged" in m]
    assert len(damaged) == 1
    second = run(logs, ck)
    assert second.events == []
    assert second.messages("WARN") == []


def test_bad_bytes_give_warnings_and_the_good_lines_still_come(logs: Path, ck: Path) -> None:
    path = logs / "mail.current"
    good = mail_file(100, 2)
    bad = f"{stamp(5)} Info: SMTP Auth: (ICID 7) failed for user: \xff\x00\x1b[31m using AUTH mechanism: PLAIN"
    bad += " with profile: P\n"
    huge = ("x" * 200_000).encode() + b"\n"
    path.write_bytes(good.encode() + bad.encode("latin-1") + b"\x00\x01\x02 binary\n" + huge)
    sink = run(logs, ck)
    assert [e["icid"] for e in sink.events] == [100, 101, 7]
    assert "\x00" not in json.dumps(sink.events)
    assert "\x1b" not in sink.events[-1]["user"]
    assert len(sink.messages("WARN")) >= 2


def test_a_second_run_while_one_is_reading_does_nothing(logs: Path, ck: Path) -> None:
    pytest.importorskip("fcntl", reason="the run lock is POSIX-only")
    write(logs / "mail.current", mail_file(100, 2))
    holder = Follower(str(logs), SETTINGS, str(ck))
    lock = holder._lock(lambda level, message: None)
    assert lock is not None
    try:
        sink = run(logs, ck)
    finally:
        lock.close()
    assert sink.events == []
    assert any("still reading" in m for m in sink.messages("WARN"))
    assert len(run(logs, ck).events) == 2


def test_looks_like_esa() -> None:
    assert looks_like_esa(b"Mon Jan  6 09:00:00 2025 Info: Begin Logfile\n") is True
    assert looks_like_esa(b"<22>Nov 24 14:22:57 esa01 mail_logs: Info: ICID 1 close\n") is True
    assert looks_like_esa(b"Jun 26 10:42:23 esa01 authentication: Info: User admin") is True  # first line coming
    assert looks_like_esa(b"Sun") is True
    assert looks_like_esa(b"<2") is True
    assert looks_like_esa(b"hello world\n") is False
    assert looks_like_esa(b"Mon is the day\nMon Jan  6 09:00:00 2025 Info: x\n") is False  # complete, no level
    assert looks_like_esa(b"Sx") is False  # no envelope starts so
    assert looks_like_esa(b"x") is False
    # Not yet known: no non-blank line, or a first line whose few bytes may still open an envelope.
    for head in (b"\n\n", b"  ", b"S", b"Su", b"<", b"\xef", b"\xef\xbb\xbf", b"\xef\xbb\xbfSu", b"\n\nJu"):
        assert looks_like_esa(head) is None, head


@pytest.mark.parametrize("first", [b"Su", b"S", b"\n"])
def test_a_file_seen_before_its_first_line_is_written_is_read_when_it_is(logs: Path, ck: Path, first: bytes) -> None:
    """A writer flushes buffers, not lines: a run that finds a new file holding "Su" must not skip it for ever."""
    path = logs / "mail.current"
    content = mail_file(100, 3).encode()
    whole = (b"\n" if first == b"\n" else b"") + content
    path.write_bytes(whole[: len(first)])
    early = run(logs, ck)
    assert early.events == []
    assert early.messages("WARN") == []
    with open(path, "ab") as handle:
        handle.write(whole[len(first) :])
    later = run(logs, ck)
    assert [e["icid"] for e in later.events] == [100, 101, 102]
    assert later.messages("WARN") == []


def test_list_files_and_check_path(tmp_path: Path) -> None:
    tmp_path = tmp_path / "files"
    tmp_path.mkdir()
    (tmp_path / "a.current").write_text("x", encoding="utf-8")
    (tmp_path / ".hidden").write_text("x", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    assert list_files(str(tmp_path)) == [str(tmp_path / "a.current"), str(tmp_path / "sub")]
    assert list_files(str(tmp_path / "*.current")) == [str(tmp_path / "a.current")]
    check_path(str(tmp_path))
    check_path(str(tmp_path / "a.current"))
    check_path(str(tmp_path) + "/*.s")
    for bad, words in [("", "empty"), ("relative/path", "absolute"), (str(tmp_path / "missing"), "does not exist"),
                       (str(tmp_path / "nodir" / "*.s"), "does not exist")]:  # fmt: skip
        with pytest.raises(ConfigError, match=words):
            check_path(bad)


def test_links_inside_are_read_once_and_links_out_are_skipped(logs: Path, ck: Path, tmp_path: Path) -> None:
    write(logs / "mail.current", mail_file(100, 2))
    os.symlink(logs / "mail.current", logs / "alias.current")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(elsewhere / "secret.log", mail_file(900, 1))
    os.symlink(elsewhere / "secret.log", logs / "outside.current")
    sink = run(logs, ck)
    assert [e["icid"] for e in sink.events] == [100, 101]
    assert any("outside.current" in m and "symbolic link out" in m for m in sink.messages("WARN"))


def test_a_non_esa_file_is_named_but_never_quoted(logs: Path, ck: Path) -> None:
    (logs / "shadow").write_text("root:$6$SECRETHASH$abc:19000:0:99999:7:::\n", encoding="utf-8")
    sink = run(logs, ck)
    assert any("shadow" in m for m in sink.messages("WARN"))
    assert not any("SECRETHASH" in m for _, m in sink.logs)


def test_stale_temporary_checkpoints_and_impossible_positions(logs: Path, ck: Path) -> None:
    write(logs / "mail.current", mail_file(100, 2))
    first = run(logs, ck)
    stale = ck.with_name(ck.name + ".4242.tmp")
    stale.write_text("{}", encoding="utf-8")
    # The whole state, written back as one snapshot (as 0.1.0 wrote it: without a journal).
    state = load_checkpoint(str(ck))
    assert state is not None
    del state["generation"]
    state["files"][0]["stream"]["offset"] = -50
    ck.write_text(json.dumps(state), encoding="utf-8")
    second = run(logs, ck)
    assert not stale.exists()
    assert any("negative position" in m for m in second.messages("ERROR"))
    assert second.events == first.events  # read again from the start, same ids
    assert run(logs, ck).events == []


def record_files(record: Dict[str, Any]) -> List[Any]:
    """The file entries a journal record writes (by index or by key)."""
    return list(record.get("file_changes", [])) + list(record.get("file_entries", {}).values())


def test_a_run_over_many_files_saves_a_bounded_number_of_times(logs: Path, ck: Path) -> None:
    """A save after every file wrote every file's entry: a run over many files cost their number squared (#17)."""
    for n in range(40):
        write(logs / f"mail.@2025010{n % 9}T0000{n:02d}.s", mail_file(1000 * n, 2), mtime=1_700_000_000 + n)
    follower = Follower(str(logs), SETTINGS, str(ck))
    sink = Sink()
    stats = follower.run(sink.emit, sink.log)
    # Once, at the end (a few megabytes read between saves, and more as files and sessions grow).
    assert (stats.files_read, len(sink.events), stats.checkpoints) == (40, 80, 1)
    assert (follower.store.snapshots, follower.store.records) == (1, 0)
    assert len(load_checkpoint(str(ck))["files"]) == 40  # type: ignore[index]
    for n in range(3):  # later runs: one journal record each, of the files that changed
        with open(logs / f"mail.@2025010{n % 9}T0000{n:02d}.s", "a", encoding="utf-8") as handle:
            handle.write(mail_sessions(90000 + n, 1, start=500))
    follower = Follower(str(logs), SETTINGS, str(ck))
    assert follower.run(Sink().emit, Sink().log).checkpoints == 1
    records = [json.loads(line.split(" ", 1)[1]) for line in Path(f"{ck}.journal").read_text().splitlines()]
    assert len(records) == 1
    changed = record_files(records[0])
    assert len(changed) == 3
    assert run(logs, ck).events == []  # and it holds everything


def test_saves_while_reading_come_further_apart_as_the_session_table_grows(logs: Path, ck: Path) -> None:
    text = mail_file(100, 200)
    write(logs / "mail.current", text)
    saves = {}
    for per_session in (0, 10**9):
        follower = Follower(str(logs), SETTINGS, str(ck), chunk_size=500, checkpoint_bytes=2000,
                            bytes_per_session=per_session, bytes_per_file=0)  # fmt: skip
        sink = Sink()
        saves[per_session] = follower.run(sink.emit, sink.log).checkpoints
        assert len(sink.events) == 200
        ck.unlink()
        Path(f"{ck}.journal").unlink(missing_ok=True)
    # Every 2,000 bytes, or (a session open at the first save) never while reading.
    assert saves[0] >= len(text) // 2000
    assert saves[10**9] == 2  # the first interval (no session open before), the file's end
