"""The checkpoint on disk: snapshot and journal (esa_auth.checkpoint).

What a load gives back is exactly what the last complete save was given,
whatever the table did in between (sessions opened, touched, closed, evicted,
in any order), whether the save went to the journal or to a new snapshot; a
save cut short anywhere gives back the save before; damage is refused; and a
small change to a large table writes a small record, not the table.
"""

from __future__ import annotations

import copy
import json
import os
import random
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
from esa_auth import checkpoint
from esa_auth.checkpoint import CHECKPOINT_VERSION, CheckpointStore, load_checkpoint
from esa_auth.entries import FileEntry
from esa_auth.errors import StateError
from esa_auth.follow import Follower
from esa_auth.pipeline import Settings, Stream
from hypothesis import given, settings
from hypothesis import strategies as st

FIELDS = ["opened", "seen", "client_ip", "mid"]


class Model:
    """A session table and file list as a follower would save them, changed at random."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.sessions: Dict[Tuple[str, str, int], List[Any]] = {}
        self.files: List[Dict[str, Any]] = [self._file(0)]
        self.clock = 0.0
        self.counter = 0

    def _file(self, n: int) -> Dict[str, Any]:
        return {"key": f"f{n}", "path": f"/logs/mail.{n}", "stream": {"offset": 0, "partial": ""}}

    def step(self, changes: int) -> None:
        rng = self.rng
        for _ in range(changes):
            what = rng.random()
            self.clock += rng.choice((0.0, 1.0))
            if what < 0.4 or not self.sessions:  # open (a reused key replaces the session, at the end)
                self.counter += 1
                key = ("esa01", rng.choice("id"), rng.randrange(self.counter + 5))
                self.sessions.pop(key, None)
                self.sessions[key] = [key[0], key[1], key[2], self.clock, self.clock, "198.51.100.7", None]
            elif what < 0.7:  # touch: moved to the end, a field may change (or not)
                key = rng.choice(list(self.sessions))
                row = self.sessions.pop(key)
                row[4] = self.clock
                if rng.random() < 0.5:
                    row[6] = rng.randrange(10**6)
                self.sessions[key] = row
            elif what < 0.85:  # close, or evicted from the front
                key = rng.choice(list(self.sessions)) if rng.random() < 0.5 else next(iter(self.sessions))
                del self.sessions[key]
            elif what < 0.93:  # a file read on
                entry = rng.choice(self.files)
                entry["stream"]["offset"] += rng.randrange(1, 5000)
            elif what < 0.97:  # a new file
                self.files.append(self._file(len(self.files)))
            else:  # files rotated away, or reordered
                rng.shuffle(self.files)
                if len(self.files) > 1 and rng.random() < 0.5:
                    self.files.pop(0)

    def state(self) -> Dict[str, Any]:
        """A fresh JSON-able state, as Follower._save builds one each time."""
        rows = [list(row) for row in self.sessions.values()]
        return copy.deepcopy({
            "version": CHECKPOINT_VERSION, "path": "/logs",
            "files": self.files,
            "normalizer": {"version": 1, "sessions": {
                "version": 1, "fields": FIELDS, "clock": self.clock, "evicted_full": self.counter,
                "evicted_idle": 0, "sessions": rows}},
        })  # fmt: skip


def plain(state: Dict[str, Any]) -> Dict[str, Any]:
    """A state as JSON gives it back (lists, no generation)."""
    data: Dict[str, Any] = json.loads(json.dumps(state))
    data.pop("generation", None)
    return data


@pytest.mark.parametrize("seed", range(6))
def test_a_load_gives_back_the_last_save_journal_or_snapshot(tmp_path: Path, seed: int) -> None:
    path = str(tmp_path / "ck.json")
    model = Model(seed)
    store = CheckpointStore(path, compact_bytes=4096)
    for _ in range(60):
        model.step(model.rng.choice((0, 1, 3, 20, 200)))
        saved = model.state()
        store.save(saved)
        assert plain(load_checkpoint(path)) == plain(saved)  # type: ignore[arg-type]
        # A new store (the next run) loads it and saves on from there.
        store = CheckpointStore(path, compact_bytes=4096)
        assert plain(store.load()) == plain(saved)  # type: ignore[arg-type]
    assert store.snapshots == 0  # this last store only appended


def test_the_session_rows_come_back_in_table_order_whatever_the_order(tmp_path: Path) -> None:
    """The table's order decides which session is evicted first: it is kept exactly, even a shuffled one."""
    path = str(tmp_path / "ck.json")
    model = Model(1)
    model.step(300)
    store = CheckpointStore(path)
    store.save(model.state())
    rng = random.Random(5)
    for _ in range(20):
        items = list(model.sessions.items())
        rng.shuffle(items)
        model.sessions = dict(items[: len(items) - rng.randrange(3)])
        saved = model.state()
        store.save(saved)
        assert plain(load_checkpoint(path)) == plain(saved)  # type: ignore[arg-type]


def test_a_small_change_to_a_large_table_appends_a_small_record(tmp_path: Path) -> None:
    path = tmp_path / "ck.json"
    journal = tmp_path / "ck.json.journal"
    model = Model(2)
    model.step(20000)
    model.files = model.files[:3]
    store = CheckpointStore(str(path))
    store.save(model.state())
    assert store.snapshots == 1
    snapshot = path.read_bytes()
    for _ in range(10):
        model.step(2)
        before = journal.stat().st_size if journal.exists() else 0
        store.save(model.state())
        assert journal.stat().st_size - before < 1500  # a few rows, not the table
    assert path.read_bytes() == snapshot  # the snapshot was not rewritten
    assert (store.snapshots, store.records) == (1, 10)
    before = journal.stat().st_size
    store.save(model.state())  # nothing changed: nothing written
    assert journal.stat().st_size == before
    assert store.records == 10


def test_the_journal_is_folded_into_a_snapshot_when_it_outgrows_it(tmp_path: Path) -> None:
    path = str(tmp_path / "ck.json")
    model = Model(3)
    store = CheckpointStore(path, compact_bytes=0)
    model.step(50)
    store.save(model.state())
    for _ in range(40):
        model.step(30)
        saved = model.state()
        store.save(saved)
        assert (
            os.path.getsize(store.journal if os.path.exists(store.journal) else path)
            <= 2 * max(os.path.getsize(path), 1) + 20000
        )
    assert store.snapshots > 1
    assert plain(load_checkpoint(path)) == plain(saved)  # type: ignore[arg-type]


def test_a_growing_table_is_not_written_again_at_every_fold(tmp_path: Path) -> None:
    """Every save adds sessions (a first run, a flood): the journal is mostly the state itself, not a history of
    it, so no snapshot follows the first, where a fold at each journal as large as the snapshot would write the
    table again and again as it grows. A load gives back the last save; a store that reads that journal back
    (not knowing what in it is spent) folds it at its first save."""
    path = str(tmp_path / "ck.json")
    model = Model(5)
    store = CheckpointStore(path, compact_bytes=4096)
    store.save(model.state())
    for n in range(1, 801):
        key = ("esa01", "i", n)
        model.sessions[key] = [*key, float(n), float(n), "198.51.100.7", None]
        if n % 80 == 0:
            model.files[0]["stream"]["offset"] += 80
            store.save(model.state())
    saved = model.state()
    assert (store.snapshots, store.records) == (1, 10)
    assert os.path.getsize(store.journal) > 10 * max(os.path.getsize(path), 4096)
    assert plain(load_checkpoint(path)) == plain(saved)  # type: ignore[arg-type]
    again = CheckpointStore(path, compact_bytes=4096)
    again.load()
    model.files[0]["stream"]["offset"] += 1
    again.save(model.state())
    assert (again.snapshots, again.records) == (1, 0)
    assert not os.path.exists(again.journal)
    assert plain(load_checkpoint(path)) == plain(model.state())


def test_a_journal_of_rewrites_is_folded_as_soon_as_it_outgrows_the_snapshot(tmp_path: Path) -> None:
    """The same sessions touched again and again: all but the last record of each is spent, and the journal is
    folded once that is larger than the snapshot."""
    path = str(tmp_path / "ck.json")
    model = Model(6)
    for n in range(200):
        key = ("esa01", "i", n)
        model.sessions[key] = [*key, float(n), float(n), "198.51.100.7", None]
    store = CheckpointStore(path, compact_bytes=0)
    store.save(model.state())
    snapshot = os.path.getsize(path)
    folds = 0
    for n in range(60):
        for row in list(model.sessions.values())[:100]:
            row[6] = n
        store.save(model.state())
        if not os.path.exists(store.journal):
            folds += 1
        else:
            assert os.path.getsize(store.journal) <= 2 * snapshot
    assert folds >= 2
    assert plain(load_checkpoint(path)) == plain(model.state())


def _two_saves(tmp_path: Path) -> Tuple[str, Dict[str, Any], Dict[str, Any], bytes]:
    """A snapshot, one record, then a second record: the states after each and the journal before the last."""
    path = str(tmp_path / "ck.json")
    model = Model(4)
    model.step(100)
    store = CheckpointStore(path)
    store.save(model.state())
    model.step(10)
    first = model.state()
    store.save(first)
    journal_before = Path(store.journal).read_bytes()
    model.step(10)
    second = model.state()
    store.save(second)
    return path, first, second, journal_before


def test_a_save_cut_short_anywhere_gives_back_the_save_before(tmp_path: Path) -> None:
    path, first, second, before = _two_saves(tmp_path)
    journal = Path(path + ".journal")
    whole = journal.read_bytes()
    assert len(whole) > len(before)
    for cut in range(len(before), len(whole)):
        journal.write_bytes(whole[:cut])
        assert plain(load_checkpoint(path)) == plain(first), cut  # type: ignore[arg-type]
        assert journal.read_bytes() == whole[:cut]  # only read: a run may be writing it
        store = CheckpointStore(path)
        assert plain(store.load()) == plain(first), cut  # type: ignore[arg-type]
        assert journal.read_bytes() == before  # the torn tail is cut off ...
        store.save(second)  # ... so that the next record follows whole ones
        assert plain(load_checkpoint(path)) == plain(second)  # type: ignore[arg-type]
    journal.write_bytes(whole[:-1] + b"\x00" * 40)  # a crash that left zeros where the record was
    assert plain(load_checkpoint(path)) == plain(first)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[:12] + bytes([b[12] ^ 1]) + b[13:], id="a flipped bit in the first record"),
        pytest.param(lambda b: b.split(b"\n", 1)[1], id="the first record missing"),
        pytest.param(lambda b: b"garbage\n" + b, id="garbage before the records"),
    ],
)
def test_damage_before_the_last_record_is_refused(tmp_path: Path, damage: Any) -> None:
    path, _, _, _ = _two_saves(tmp_path)
    journal = Path(path + ".journal")
    journal.write_bytes(damage(journal.read_bytes()))
    with pytest.raises(StateError):
        load_checkpoint(path)


def test_a_journal_of_an_older_snapshot_is_dropped(tmp_path: Path) -> None:
    """A run killed after writing a new snapshot, before removing the journal it replaces."""
    path, _, second, _ = _two_saves(tmp_path)
    journal = Path(path + ".journal")
    old = journal.read_bytes()
    store = CheckpointStore(path)
    store.load()
    store._snapshot(second)  # what a compaction does
    assert not journal.exists()
    journal.write_bytes(old)
    assert plain(load_checkpoint(path)) == plain(second)
    assert journal.exists()  # only read
    assert plain(CheckpointStore(path).load()) == plain(second)
    assert not journal.exists()


def test_a_journal_without_its_snapshot_is_removed(tmp_path: Path) -> None:
    """Deleting the checkpoint (to read everything again) leaves no journal to be applied later."""
    path, _, _, _ = _two_saves(tmp_path)
    os.remove(path)
    assert load_checkpoint(path) is None
    assert CheckpointStore(path).load() is None
    assert not os.path.exists(path + ".journal")


def test_a_snapshot_written_by_0_1_0_is_read_whole(tmp_path: Path) -> None:
    path, _, second, _ = _two_saves(tmp_path)
    older = plain(second)  # 0.1.0's form: no generation
    Path(path).write_text(json.dumps(older), encoding="utf-8")
    assert load_checkpoint(path) == older
    assert CheckpointStore(path).load() == older
    assert not os.path.exists(path + ".journal")


def test_a_failed_snapshot_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, _, second, _ = _two_saves(tmp_path)
    store = CheckpointStore(path)
    store.load()

    def full(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        store._snapshot(Model(9).state())
    monkeypatch.undo()
    assert plain(load_checkpoint(path)) == plain(second)


def test_a_follower_with_a_large_table_restores_it_exactly(tmp_path: Path) -> None:
    """Through the real state: a normalizer's sessions saved by journal records come back the same."""
    settings = Settings(tz="UTC", max_sessions=5000)
    ck = str(tmp_path / "ck.json")
    follower = Follower(str(tmp_path), settings, ck)
    table = follower.normalizer.sessions
    for n in range(3000):
        table.open(("esa01", "i", n), 1_700_000_000.0 + n)
    follower._save()
    for n in range(0, 3000, 97):
        session = table.get(("esa01", "i", n), 1_700_003_000.0)
        assert session is not None
        session.mid = n
    table.close(("esa01", "i", 5))
    follower._save()
    assert follower.store.records == 1
    restored = Follower(str(tmp_path), settings, ck)
    assert restored._load(lambda level, message: None)
    assert restored.normalizer.state() == follower.normalizer.state()
    assert list(restored.normalizer.sessions) == list(table)


# --- file entries (format 3: what defaults say is left out) ----------------------------------------------

_STREAM_VALUES = st.fixed_dictionaries({
    "source": st.sampled_from(["/logs/mail.current", "/logs/mail.@20250106T101010.s"]),
    "key": st.sampled_from(["f1", "f2"]),
    "appliance": st.sampled_from([None, "esa01.example.com"]),
    "offset": st.integers(0, 10**12), "line": st.integers(0, 10**9),
    "partial": st.sampled_from(["", "Mon Jan  6 10:10:10 2025 Info: half a li", "\xff\x00"]),
    "overflow": st.integers(0, 10**6), "started": st.booleans(), "utc_offset": st.sampled_from([None, 0, 3600, -18000]),
    "version": st.sampled_from([None, "", "15.0.0-104"]), "serial": st.sampled_from([None, "", "4229A1B2C3D4"]),
    "zone_warned": st.booleans(), "year_warned": st.booleans(), "flushed": st.booleans(),
    "clock": st.one_of(st.none(), st.fixed_dictionaries({
        "hands": st.dictionaries(st.sampled_from(["", "esa01"]), st.tuples(
            st.one_of(st.none(), st.integers(0, 2**40)), st.one_of(st.none(), st.integers(0, 2**40)),
            st.sampled_from([0, -3600])).map(list)),
        "check": st.sampled_from([None, 0, 3600]), "gap_warned": st.booleans(), "change_warned": st.booleans(),
    })),
})  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(stream=_STREAM_VALUES, ignored=st.booleans(), compression=st.sampled_from([None, "gzip"]))
def test_a_file_entry_comes_back_the_same_from_its_state(
    stream: Dict[str, Any], ignored: bool, compression: Any
) -> None:
    """Written in format 3 (defaults left out) or as formats 1 and 2 wrote it (every field), an entry is read
    back the same: position, partial line, what its header said, its clock and its warnings."""
    full = {
        "key": "f1", "path": "/logs/mail.current", "dev": 2049, "ino": 77, "head_len": 1024, "head_hash": "ab" * 32,
        "size": 4096, "mtime_ns": 1_700_000_000 * 10**9, "ignored": ignored, "stream": stream,
        "compression": compression,
    }  # fmt: skip
    entry = FileEntry.from_state(full)  # as format 2 wrote it
    compact = json.loads(json.dumps(entry.to_state()))
    again = FileEntry.from_state(compact)
    assert again.to_state() == compact
    assert again.stream.to_state() == entry.stream.to_state()
    assert (again.key, again.path, again.dev, again.ino, again.ignored, again.compression) == (
        "f1", "/logs/mail.current", 2049, 77, ignored, compression)  # fmt: skip
    assert len(json.dumps(compact)) <= len(json.dumps(full))


def test_an_ordinary_entry_holds_its_position_and_identity_only() -> None:
    stream = Stream("/logs/mail.@20250106T101010.s", key="f9")
    stream.offset, stream.line, stream.started = 1638, 20, True
    entry = FileEntry("f9", stream.source, 2049, 77, 1024, "ab" * 32, 1638, 1, False, stream)
    state = entry.to_state()
    assert state["stream"] == {"offset": 1638, "line": 20, "started": True}
    assert "compression" not in state
    assert "ignored" not in state
    assert FileEntry.from_state(json.loads(json.dumps(state))).stream.to_state() == stream.to_state()
