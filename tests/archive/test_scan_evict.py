"""Index, incremental scan and journaled eviction on a real tree, with crashes injected at every step."""

import os

import pytest

from tunasync.archive import evict
from tunasync.archive.crash import CrashAt, CrashInjected
from tunasync.archive.gate import MirrorGate
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


# every point the batched eviction of the six files reaches: the batch journaled, each unlink, the end
BATCH_POINTS = [("evict.journaled", 1)] + [("evict.unlinked", n) for n in range(1, 7)] + [("evict.recorded", 1)]


@pytest.mark.parametrize(("point", "nth"), BATCH_POINTS, ids=[f"{p}#{n}" for p, n in BATCH_POINTS])
def test_crash_at_every_step_of_a_batch_loses_nothing(tree, tmp_path, point, nth):
    """After recovery each file is on disk and stored, or off disk and evicted: never both, never neither."""
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    store_all(ix)
    files = [evict.Leaving.of(r) for r in sorted(ix.files(), key=lambda r: r.path)]
    crash = CrashAt(point, nth)
    with pytest.raises(CrashInjected):
        evict.evict_batch(ix, str(tree), files, MirrorGate(tmp_path / "gate"), crash=crash)
    ix.close()
    ix = ArchiveIndex(tmp_path / "ix.sqlite")  # "restart"
    assert sorted(evict.pending_paths(ix)) == ([] if point == "evict.recorded" else [f.path for f in files])
    evict.recover(ix, str(tree))
    assert ix.journal_open() == []
    gone = 0 if point == "evict.journaled" else (len(files) if point == "evict.recorded" else nth)
    for i, f in enumerate(files):
        r = ix.get(f.path)
        on_disk = (tree / f.path).exists()
        assert on_disk == (i >= gone), f.path
        assert r.state is (FileState.STORED if on_disk else FileState.EVICTED), f.path


def test_an_old_single_file_journal_entry_still_recovers(tree, tmp_path):
    """An index written before batches may hold a per-file entry: `unlinking` with the file gone."""
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    store_all(ix)
    ix.journal_begin("evict", "unlinking", path="README", detail="{}")
    ix.journal_begin("evict", "intent", path="pool/a/f0.deb", detail="{}")
    (tree / "README").unlink()
    evict.recover(ix, str(tree))
    assert ix.journal_open() == []
    assert ix.get("README").state is FileState.EVICTED
    assert ix.get("pool/a/f0.deb").state is FileState.STORED and (tree / "pool/a/f0.deb").exists()


def test_a_batch_waits_for_nothing_and_touches_nothing_while_a_sync_holds_the_gate(tree, tmp_path):
    ix = ArchiveIndex(tmp_path / "ix.sqlite")
    scan(str(tree), ix)
    store_all(ix)
    gate = MirrorGate(tmp_path / "gate")
    hold = gate.hold_for_sync()
    try:
        res = evict.evict_batch(ix, str(tree), [evict.Leaving.of(ix.get("README"))], gate)
        assert res.busy and res.evicted == [] and (tree / "README").exists() and ix.journal_open() == []
    finally:
        hold.release()
    res = evict.evict_batch(ix, str(tree), [evict.Leaving.of(ix.get("README"))], gate)
    assert [f.path for f in res.evicted] == ["README"] and not (tree / "README").exists()


def test_files_of_an_eviction_a_crash_left_open_get_placeholders(tree, tmp_path):
    """rsync must not fetch back files a crashed batch may have unlinked already: until recovery records
    them, the shadow tree holds placeholders for them too (archive/shadow.py), at their size and mtime."""
    from tunasync.archive import pipeline
    from tunasync.archive.context import ArchiveCtx
    from tunasync.archive.policy import Policy
    from tunasync.archive.settings import MirrorArchive

    ms = MirrorArchive(name="m", root=str(tree), dir=tmp_path / "archive", policy=Policy())
    ms.ensure_dirs()
    ix = ArchiveIndex(ms.index_path)
    scan(str(tree), ix)
    store_all(ix)
    files = [evict.Leaving.of(r) for r in sorted(ix.files(), key=lambda r: r.path)]
    with pytest.raises(CrashInjected):
        evict.evict_batch(ix, str(tree), files, MirrorGate(tmp_path / "gate"), crash=CrashAt("evict.unlinked", 2))
    assert pipeline.write_exclude(ArchiveCtx(ms, ix)) == len(files)
    for f in files:
        rec, st = ix.get(f.path), (ms.shadow_dir / f.path).stat()
        assert (st.st_size, st.st_mtime_ns) == (rec.size, rec.mtime_ns)
    evict.recover(ix, str(tree))  # two went, the rest is back: only the evicted keep placeholders
    assert pipeline.write_exclude(ArchiveCtx(ms, ix)) == 2
    assert sorted(p.relative_to(ms.shadow_dir).as_posix() for p in ms.shadow_dir.rglob("*") if p.is_file()) \
        == [files[0].path, files[1].path]
