"""Evicted files leave the mirror tree by moving into the shadow tree as their own placeholders
(archive/shadow.py `Mover`): no new inode per file, the data freed, the placeholder exact; a file with
another hard link, or a shadow tree on another filesystem, is unlinked instead."""

import os
import subprocess
import time
from pathlib import Path

import pytest

from tunasync.archive import evict, shadow
from tunasync.archive.crash import CrashAt, CrashInjected
from tunasync.archive.gate import MirrorGate
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import scan
from tunasync.archive.states import FileState

SIZES = {"pool/a/f0.deb": 70_000, "pool/a/f1.deb": 150_001, "pool/b/f2.deb": 9_000, "README": 12}


def setup(tmp: Path, shadow_at: Path | None = None) -> tuple[Path, ArchiveIndex, str]:
    root = tmp / "mirror"
    for i, (p, n) in enumerate(SIZES.items()):
        f = root / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(n))
        os.utime(f, ns=(1_500_000_000_000_000_000 + i, 1_500_000_000_000_000_000 + i))
    ix = ArchiveIndex(tmp / "archive" / "m" / "index.sqlite")
    scan(str(root), ix)
    for rec in list(ix.files()):
        assert ix.set_hashed(rec.path, (rec.size, rec.mtime_ns, rec.inode), "ipfs-car", "bafk" + rec.path)
        ix.set_state(rec.path, FileState.STORING)
        ix.set_state(rec.path, FileState.STORED)
    sh = str(shadow_at) if shadow_at is not None else shadow.shadow_beside(ix.path)
    return root, ix, sh


def leaving(ix: ArchiveIndex) -> list[evict.Leaving]:
    return [evict.Leaving.of(r) for r in sorted(ix.files(), key=lambda r: r.path)]


def test_evicted_files_become_their_own_sparse_placeholders(tmp_path):
    root, ix, sh = setup(tmp_path)
    os.makedirs(f"{sh}/pool/a")
    os.utime(f"{sh}/pool/a", ns=(123_456, 123_456))  # a directory already confirmed upstream at that mtime
    files = leaving(ix)
    inodes = {f.path: f.inode for f in files}
    res = evict.evict_batch(ix, str(root), files, MirrorGate(tmp_path / "gate"), shadow=sh)
    assert sorted(f[0] for f in res.evicted) == sorted(SIZES) and res.kept == {}
    for f in files:
        assert not (root / f.path).exists()
        st = os.lstat(f"{sh}/{f.path}")
        assert (st.st_size, st.st_mtime_ns, st.st_blocks) == (f.size, f.mtime_ns, 0), f.path
        assert st.st_ino == inodes[f.path]  # moved, not made anew
        assert ix.get(f.path).state is FileState.EVICTED
    assert os.lstat(f"{sh}/pool/a").st_mtime_ns == 123_456  # the record of the directory is kept
    assert os.lstat(f"{sh}/pool/b").st_mtime_ns == shadow.UNVERIFIED  # made now: never confirmed
    # the shadow pass that follows an eviction finds every placeholder in place
    rep = shadow.reconcile(sh, ix.evicted_by_path())
    assert (rep.placeholders, rep.created, rep.removed) == (len(SIZES), 0, 0)


def test_a_file_with_another_hard_link_is_unlinked_and_the_link_keeps_its_bytes(tmp_path):
    root, ix, sh = setup(tmp_path)
    body = (root / "pool/a/f1.deb").read_bytes()
    os.link(root / "pool/a/f1.deb", tmp_path / "other-link")
    res = evict.evict_batch(ix, str(root), leaving(ix), MirrorGate(tmp_path / "gate"), shadow=sh)
    assert len(res.evicted) == len(SIZES)
    assert (tmp_path / "other-link").read_bytes() == body
    assert not os.path.lexists(f"{sh}/pool/a/f1.deb")  # not moved: the shadow pass places it
    rep = shadow.reconcile(sh, ix.evicted_by_path())
    assert rep.created == 1 and os.lstat(f"{sh}/pool/a/f1.deb").st_size == len(body)


def test_a_crash_between_move_and_emptying_is_emptied_by_recovery(tmp_path):
    root, ix, sh = setup(tmp_path)
    files = leaving(ix)
    with pytest.raises(CrashInjected):
        evict.evict_batch(ix, str(root), files, MirrorGate(tmp_path / "gate"), shadow=sh,
                          crash=CrashAt("evict.moved", 2))
    second = files[1]
    assert os.lstat(f"{sh}/{second.path}").st_blocks > 0  # moved with its data
    ix.close()
    ix = ArchiveIndex(tmp_path / "archive" / "m" / "index.sqlite")
    actions = evict.recover(ix, str(root))
    assert any(f"emptied the placeholder of {second.path}" in a for a in actions)
    for i, f in enumerate(files):
        gone = i < 2
        assert (root / f.path).exists() is not gone
        assert ix.get(f.path).state is (FileState.EVICTED if gone else FileState.STORED)
    st = os.lstat(f"{sh}/{second.path}")
    assert (st.st_size, st.st_mtime_ns, st.st_blocks) == (second.size, second.mtime_ns, 0)
    assert ix.journal_open() == []


def test_a_shadow_tree_on_another_filesystem_means_unlink(tmp_path):
    other = Path("/dev/shm")
    if not other.is_dir() or os.lstat(other).st_dev == os.lstat(tmp_path).st_dev:
        pytest.skip("no second filesystem here")
    sh = other / f"tunasync-test-shadow-{os.getpid()}"
    try:
        root, ix, _ = setup(tmp_path)
        res = evict.evict_batch(ix, str(root), leaving(ix), MirrorGate(tmp_path / "gate"), shadow=str(sh))
        assert len(res.evicted) == len(SIZES) and not any((root / p).exists() for p in SIZES)
        assert [p for p in sh.rglob("*") if p.is_file()] == []
        assert all(ix.get(p).state is FileState.EVICTED for p in SIZES)
    finally:
        import shutil
        shutil.rmtree(sh, ignore_errors=True)


def test_a_download_in_flight_keeps_reading_the_original_bytes(tmp_path):
    """A reader (nginx sending the file, a user's `cp`) that opened a file before it is evicted reads its
    bytes to the end, as after a plain unlink: a file open elsewhere is never emptied in place (fails on
    the move-and-truncate eviction without the lease check: the reader got zeros)."""
    root, ix, sh = setup(tmp_path)
    body = (root / "pool/a/f1.deb").read_bytes()
    out = tmp_path / "downloaded"
    # opens the file, reads one byte, waits for a line on stdin, then copies the rest
    reader = subprocess.Popen(["sh", "-c", f'exec 3<"{root}/pool/a/f1.deb"; head -c 1 <&3 > "{out}"; '
                               f'read go; cat <&3 >> "{out}"'], stdin=subprocess.PIPE)
    try:
        for _ in range(500):
            if out.exists() and out.stat().st_size == 1:
                break
            time.sleep(0.01)
        res = evict.evict_batch(ix, str(root), leaving(ix), MirrorGate(tmp_path / "gate"), shadow=sh)
    finally:
        reader.communicate(b"go\n", timeout=30)
    assert len(res.evicted) == len(SIZES) and not (root / "pool/a/f1.deb").exists()
    assert out.read_bytes() == body  # every byte, none zeroed under the reader
    # the others were moved and emptied; the open one was unlinked and the shadow pass places it
    assert os.lstat(f"{sh}/pool/a/f0.deb").st_blocks == 0
    rep = shadow.reconcile(sh, ix.evicted_by_path())
    st = os.lstat(f"{sh}/pool/a/f1.deb")
    assert rep.placeholders == len(SIZES) and (st.st_size, st.st_blocks) == (len(body), 0)
