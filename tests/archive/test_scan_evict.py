"""Index, incremental scan and journaled eviction on a real tree, with crashes injected at every step."""

import os

import pytest

from tunasync.archive import evict
from tunasync.archive.crash import CrashAt, CrashInjected
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import scan
from tunasync.archive.states import FileState


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "mirror"
    (root / "pool" / "a").mkdir(parents=True)
    (root / ".~tmp~").mkdir()
    for i in range(5):
        (root / "pool" / "a" / f"f{i}.deb").write_bytes(os.urandom(100 + i))
    (root / "README").write_text("hello\n")
    (root / ".~tmp~" / "partial").write_text("x")
    os.symlink("README", root / "link")
    return root


def store_all(ix):
    for rec in list(ix.files()):
        assert ix.set_hashed(rec.path, (rec.size, rec.mtime_ns, rec.inode), "ipfs-car", "bafk" + rec.path)
        ix.set_state(rec.path, FileState.STORING)
        ix.set_state(rec.path, FileState.STORED)


def test_first_scan_finds_regular_files_only(tree, tmp_path):
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    r = scan(str(tree), ix)
    assert sorted(p for p, *_ in r.changed) == ["README"] + [f"pool/a/f{i}.deb" for i in range(5)]
    assert r.files == 6


def test_rescan_only_reports_changes_and_keeps_deleted_files_known(tree, tmp_path):
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    assert scan(str(tree), ix).changed == []
    (tree / "pool/a/f1.deb").write_bytes(b"changed upstream")
    (tree / "pool/a/f2.deb").unlink()
    r = scan(str(tree), ix)
    assert [p for p, *_ in r.changed] == ["pool/a/f1.deb"]
    assert r.deleted == ["pool/a/f2.deb"]
    gone = ix.get("pool/a/f2.deb")
    assert gone is not None and gone.deleted


def test_cid_not_recorded_when_file_changed_during_hashing(tree, tmp_path):
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    rec = ix.get("README")
    (tree / "README").write_text("new content, new size\n")  # upstream rewrote it while we hashed
    scan(str(tree), ix)
    assert not ix.set_hashed("README", (rec.size, rec.mtime_ns, rec.inode), "ipfs-car", "bafk-wrong")
    assert ix.get("README").cid is None


def test_evict_removes_file_and_records_state(tree, tmp_path):
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    store_all(ix)
    out = evict.evict_one(ix, str(tree), ix.get("README"))
    assert out.evicted and not (tree / "README").exists()
    assert ix.get("README").state is FileState.EVICTED
    assert scan(str(tree), ix).deleted == []  # evicted is not "deleted upstream"


def test_evict_refuses_a_file_changed_since_it_was_stored(tree, tmp_path):
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    store_all(ix)
    (tree / "README").write_text("rewritten\n")
    out = evict.evict_one(ix, str(tree), ix.get("README"))
    assert not out.evicted and (tree / "README").exists()


@pytest.mark.parametrize("step", ["intent", "unlinking", "unlinked"])
@pytest.mark.parametrize("victim", range(6))
def test_crash_at_every_step_loses_nothing(tree, tmp_path, step, victim):
    """18 crash points: after recovery each file is on disk, or evicted (its copies were verified)."""
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    store_all(ix)
    rec = sorted(ix.files(), key=lambda r: r.path)[victim]
    with pytest.raises(CrashInjected):
        evict.evict_one(ix, str(tree), rec, crash=CrashAt(f"evict.{step}"))
    ix.close()
    ix = ArchiveIndex(tmp_path / "ix.sqlite")  # "restart"
    evict.recover(ix, str(tree))
    assert ix.journal_open() == []
    for r in ix.files():
        on_disk = (tree / r.path).exists()
        assert on_disk or r.state is FileState.EVICTED, r.path
        assert not (on_disk and r.state is FileState.EVICTED), r.path
    after = ix.get(rec.path)
    assert after.state is (FileState.EVICTED if step == "unlinked" else FileState.STORED)
