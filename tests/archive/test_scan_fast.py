"""Rescans through the snapshot find exactly what a full comparison finds, on real trees: every scan
runs natively (snapshot, listing diff, scan log) and with TUNASYNC_NO_NATIVE_WALK=1 (pure Python, full
comparison) on two indexes of the same tree, and both must report the same and leave the same rows."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.archive.test_scan_walk import needs_native, odd_tree, without_dac_override, write
from tunasync.archive import scan as scanmod
from tunasync.archive.crash import CrashAt, CrashInjected
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import NO_NATIVE_ENV, ScanResult, invalidate_snapshot, scan, snapshot_path
from tunasync.archive.states import FileState

pytestmark = needs_native


def sql(ix: ArchiveIndex, query: str, args: tuple = ()) -> list[tuple]:
    """Another connection to the index file: what another process (or an old tunasync) would see and do."""
    with contextlib.closing(sqlite3.connect(ix.path, isolation_level=None, timeout=30)) as db:
        return [tuple(r) for r in db.execute(query, args)]


def rows(ix: ArchiveIndex) -> list[tuple]:
    return sql(ix, "SELECT path, size, mtime_ns, inode, state, deleted, cid FROM files ORDER BY path")


class Lockstep:
    """One tree, two indexes: one scanned natively, one by the fallback; every scan on both."""

    def __init__(self, root: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch):
        self.root, self.mp = root, monkeypatch
        self.native = ArchiveIndex(tmp / "native" / "index.sqlite")
        self.python = ArchiveIndex(tmp / "python" / "index.sqlite")
        self.full = 0  # full comparisons (every file against its row) of the native index
        real_full, real_map = scanmod._stream_full, self.native.stat_map

        def counting_full(native, root, listing, index, *rest):  # the streamed full comparison
            self.full += index is self.native
            return real_full(native, root, listing, index, *rest)

        def counting_map() -> dict:  # a diff with too many candidates reads all rows: as costly
            self.full += 1
            return real_map()

        self.counter = pytest.MonkeyPatch()  # its own: a test's monkeypatch.undo() must not drop it
        self.counter.setattr(scanmod, "_stream_full", counting_full)
        self.native.stat_map = counting_map  # type: ignore[method-assign]

    def scan(self, apply: bool = True) -> ScanResult:
        self.mp.delenv(NO_NATIVE_ENV, raising=False)
        a = scan(str(self.root), self.native, apply)
        self.mp.setenv(NO_NATIVE_ENV, "1")
        b = scan(str(self.root), self.python, apply)
        self.mp.delenv(NO_NATIVE_ENV)
        assert a == b
        assert rows(self.native) == rows(self.python)
        return a

    def indexes(self) -> tuple[ArchiveIndex, ArchiveIndex]:
        return self.native, self.python


@pytest.fixture
def ls(tmp_path, monkeypatch):
    root = tmp_path / "mirror"
    (root / "pool" / "a").mkdir(parents=True)
    for i in range(6):
        write(root / "pool" / "a" / f"f{i}.deb", os.urandom(100 + i))
    write(root / "README", b"hello\n")
    step = Lockstep(root, tmp_path, monkeypatch)
    first = step.scan()
    assert len(first.changed) == 7 and step.full == 1
    yield step
    step.counter.undo()


def changed(r: ScanResult) -> list[str]:
    return [p for p, *_ in r.changed]


def evict(ix: ArchiveIndex, rel: str) -> None:
    rec = ix.get(rel)
    assert rec is not None
    if rec.state is FileState.LOCAL:
        assert ix.set_hashed(rel, (rec.size, rec.mtime_ns, rec.inode), "ipfs-car", "bafk" + rel)
        ix.set_state(rel, FileState.STORING)
        ix.set_state(rel, FileState.STORED)
    ix.set_state(rel, FileState.EVICTED)


def test_nothing_changed_reads_no_rows_and_reports_nothing(ls):
    for _ in range(3):
        r = ls.scan()
        assert (r.changed, r.deleted, r.errors, r.files) == ([], [], [], 7)
    assert ls.full == 1  # the first scan only
    assert os.path.exists(snapshot_path(ls.native)) and not os.path.exists(snapshot_path(ls.python))


def test_every_kind_of_change_is_found_and_only_it(ls):
    f = ls.root / "pool" / "a"
    st = os.stat(f / "f0.deb")
    write(f / "f0.deb", os.urandom(100))  # same size, new content and mtime
    os.utime(f / "f1.deb", ns=(st.st_atime_ns, st.st_mtime_ns + 1))  # mtime only
    st2 = os.stat(f / "f2.deb")
    write(f / "f2.new", (f / "f2.deb").read_bytes())
    os.utime(f / "f2.new", ns=(st2.st_atime_ns, st2.st_mtime_ns))
    os.replace(f / "f2.new", f / "f2.deb")  # rename over: only the inode differs
    (f / "f3.deb").unlink()
    write(f / "new.deb", b"added")
    r = ls.scan()
    assert changed(r) == ["pool/a/f0.deb", "pool/a/f1.deb", "pool/a/f2.deb", "pool/a/new.deb"]
    assert r.deleted == ["pool/a/f3.deb"] and ls.full == 1
    r = ls.scan()
    assert (r.changed, r.deleted) == ([], [])


def test_evicted_file_leaving_the_disk_is_not_deleted_and_its_return_is_not_a_change(ls):
    for ix in ls.indexes():
        evict(ix, "pool/a/f4.deb")
    data = (ls.root / "pool/a/f4.deb").read_bytes()
    st = os.stat(ls.root / "pool/a/f4.deb")
    (ls.root / "pool/a/f4.deb").unlink()
    assert ls.scan().deleted == []
    write(ls.root / "pool/a/.tunasync-f4", data)  # a retrieval in progress is not seen
    assert ls.scan().changed == []
    os.utime(ls.root / "pool/a/.tunasync-f4", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(ls.root / "pool/a/.tunasync-f4", ls.root / "pool/a/f4.deb")
    ino = os.stat(ls.root / "pool/a/f4.deb").st_ino
    for ix in ls.indexes():
        assert ix.mark_cached("pool/a/f4.deb", ino)
    r = ls.scan()
    assert (r.changed, r.deleted) == ([], [])
    assert ls.native.get("pool/a/f4.deb").state is FileState.CACHED and ls.full == 1


def test_deleted_file_that_reappears_unchanged_is_taken_back(ls):
    os.rename(ls.root / "README", ls.root.parent / "README.away")
    assert ls.scan().deleted == ["README"]
    os.rename(ls.root.parent / "README.away", ls.root / "README")  # same size, mtime and inode
    r = ls.scan()
    assert changed(r) == ["README"] and not ls.native.get("README").deleted


def test_index_rows_changed_by_others_are_rechecked(ls):
    for ix in ls.indexes():  # what bundles.py does to force a re-hash: the file itself is unchanged
        ix.back_to_local("README")
    r = ls.scan()
    assert changed(r) == ["README"] and ls.full == 1
    assert sql(ls.native, "SELECT COUNT(*) FROM scan_log") == [(0,)]
    for ix in ls.indexes():
        ix.mark_deleted(["pool/a/f5.deb"])  # marked deleted although on disk: comes back next scan
    assert changed(ls.scan()) == ["pool/a/f5.deb"]
    assert ls.scan().changed == []


def test_stale_snapshot_after_a_crash_still_finds_every_change(ls, monkeypatch):
    (ls.root / "pool/a/f0.deb").unlink()
    os.rename(ls.root / "README", ls.root.parent / "README.away")

    monkeypatch.delenv(NO_NATIVE_ENV, raising=False)
    with pytest.raises(CrashInjected):  # between the index commit and the snapshot write
        scan(str(ls.root), ls.native, crash=CrashAt("scan.recorded"))
    assert ls.native.get("README").deleted  # committed; the old snapshot still says it is there
    monkeypatch.setenv(NO_NATIVE_ENV, "1")
    scan(str(ls.root), ls.python)  # the other index catches up
    monkeypatch.delenv(NO_NATIVE_ENV)
    os.rename(ls.root.parent / "README.away", ls.root / "README")  # back exactly as the old snapshot had it
    write(ls.root / "pool/a/f1.deb", b"changed after the crash")
    r = ls.scan()
    assert changed(r) == ["README", "pool/a/f1.deb"] and r.deleted == []
    assert ls.full == 2  # the crash left no snapshot the index accepts


def test_invalidate_corrupt_foreign_or_missing_snapshot_means_a_full_comparison(ls, tmp_path):
    path = snapshot_path(ls.native)
    good = Path(path).read_bytes()
    invalidate_snapshot(ls.native)
    assert ls.scan().changed == [] and ls.full == 2
    for bad in (b"", b"garbage\n", good[:-5], good.replace(b"tunasync-scan-snapshot 1", b"tunasync-scan-snapshot 9")):
        Path(path).write_bytes(bad)
        write(ls.root / "pool/a/f2.deb", os.urandom(50))
        assert changed(ls.scan()) == ["pool/a/f2.deb"]
    assert ls.full == 6
    other = ArchiveIndex(tmp_path / "other.sqlite")  # same tree, another index: its snapshot is not ours
    scan(str(ls.root), other)
    shutil.copy(snapshot_path(other), path)
    write(ls.root / "pool/a/f2.deb", os.urandom(51))
    assert changed(ls.scan()) == ["pool/a/f2.deb"] and ls.full == 7
    assert ls.scan().changed == [] and ls.full == 7


def test_snapshot_of_another_root_is_refused(ls, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ls.root, copy)  # same names, new inodes
    ls.root = copy
    r = ls.scan()
    assert len(r.changed) == 7 and ls.full == 2


def test_dry_run_writes_nothing(ls):
    write(ls.root / "pool/a/f0.deb", b"x")
    before = [rows(ix) for ix in ls.indexes()], Path(snapshot_path(ls.native)).read_bytes()
    assert changed(ls.scan(apply=False)) == ["pool/a/f0.deb"]
    assert ([rows(ix) for ix in ls.indexes()], Path(snapshot_path(ls.native)).read_bytes()) == before
    assert changed(ls.scan()) == ["pool/a/f0.deb"]


def test_unreadable_directory_marks_nothing_deleted_below_it(ls):
    os.chmod(ls.root / "pool" / "a", 0)
    try:
        with without_dac_override():
            r = ls.scan()
    finally:
        os.chmod(ls.root / "pool" / "a", 0o755)
    assert r.errors == [("pool/a", "Permission denied")] and r.deleted == [] and r.files == 1
    write(ls.root / "pool/a/f0.deb", b"changed while unreadable")
    r = ls.scan()
    assert changed(r) == ["pool/a/f0.deb"] and r.errors == []


def test_odd_tree_names_that_are_not_utf8_are_reported_every_scan(tmp_path, monkeypatch, request):
    root = tmp_path / "odd"
    root.mkdir()
    odd_tree(root)
    step = Lockstep(root, tmp_path, monkeypatch)
    request.addfinalizer(step.counter.undo)
    first = step.scan()
    bad = sorted(p for p, why in first.errors)
    assert bad and all(why == scanmod._NOT_UTF8 for _, why in first.errors)
    assert all(not p.isascii() for p in bad) and len(first.changed) + len(bad) == first.files
    for _ in range(2):
        again = step.scan()
        assert again.changed == [] and sorted(p for p, _ in again.errors) == bad
    assert step.full == 1
    os.unlink(os.path.join(os.fsencode(root), b"\xff"))
    (root / "a" / "b" / "c" / "leaf").unlink()
    r = step.scan()
    assert r.deleted == ["a/b/c/leaf"] and len(r.errors) == len(bad) - 1


def test_many_changes_at_once(ls):
    for i in range(300):  # more than fit a small transaction: the triggers are dropped meanwhile
        write(ls.root / "pool" / f"n{i:03d}", b"%d" % i)
    r = ls.scan()
    assert len(r.changed) == 300 and ls.full == 1
    names = {r[0] for r in sql(ls.native, "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    assert {"scan_log_insert", "scan_log_update", "scan_log_delete"} <= names
    shutil.rmtree(ls.root / "pool")
    assert len(ls.scan().deleted) == 306
