"""hash_pending on real files: the CIDs it records are exactly `file_cid`'s, for every profile and size
(one-leaf files take the fast path, larger ones the chunked one), and a file that changes before, while
or after it is read is never recorded with a wrong CID: it stays `local` and is listed as changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.archive.test_scan_walk import without_dac_override, write
from tunasync.archive import hashing
from tunasync.archive.hashing import hash_pending
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.scan import NO_NATIVE_ENV, scan
from tunasync.archive.states import FileState
from tunasync.content.unixfs import PROFILES, file_cid


def data(n: int, seed: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 2))[seed % 256:][:n]


@pytest.fixture(params=["native", "python"])
def core(request, monkeypatch):
    """Both hashing cores: one-leaf files natively in batches, or in Python file by file."""
    if request.param == "python":
        monkeypatch.setenv(NO_NATIVE_ENV, "1")
    elif scan_native() is None:
        pytest.skip("native core not built")
    return request.param


def scan_native():
    from tunasync.archive import scan as scanmod

    return scanmod._native()


@pytest.fixture
def mirror(tmp_path):
    root = tmp_path / "m"
    root.mkdir()
    return root, ArchiveIndex(tmp_path / "ix.sqlite")


def expected(root: Path, rel: str, profile: str) -> str:
    return str(file_cid(str(root / rel), profile).cid)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_recorded_cids_are_file_cid_for_every_size(mirror, profile, core):
    root, ix = mirror
    cs = PROFILES[profile].chunk_size
    sizes = [0, 1, 2047, 2048, 65536, cs - 1, cs, cs + 1, 2 * cs, 3 * cs + 5]
    for i, n in enumerate(sizes):
        (root / f"d{i % 3}").mkdir(exist_ok=True)
        write(root / f"d{i % 3}" / f"f{i}.bin", data(n, i))
    scan(str(root), ix)
    seen: list[tuple[int, int]] = []
    r = hash_pending(ix, str(root), profile, progress=lambda f, b: seen.append((f, b)), threads=2)
    assert (r.hashed, r.changed, r.errors) == (len(sizes), [], [])
    assert r.bytes == sum(sizes) == sum(b for _, b in seen) and sum(f for f, _ in seen) == len(sizes)
    for rec in ix.files():
        assert rec.state is FileState.HASHED and rec.profile == profile
        assert rec.cid == expected(root, rec.path, profile), rec.path


def test_files_changed_replaced_or_gone_since_the_scan_are_not_recorded(mirror, core):
    root, ix = mirror
    for name in ("same-size", "symlinked", "fifo", "gone", "dir", "ok"):
        write(root / name, data(5000, len(name)))
    write(root / "big", data(3 << 20, 7))
    write(root / "other", b"never hashed under another name")
    scan(str(root), ix)
    st = os.stat(root / "same-size")
    write(root / "same-size", data(5000, 99))  # same size, new content: the mtime tells
    os.utime(root / "same-size", ns=(st.st_atime_ns, st.st_mtime_ns + 1000))
    (root / "symlinked").unlink()
    os.symlink("other", root / "symlinked")
    (root / "fifo").unlink()
    os.mkfifo(root / "fifo")  # must neither block nor be read
    (root / "gone").unlink()
    (root / "dir").unlink()
    (root / "dir").mkdir()
    with open(root / "big", "ab") as f:
        f.write(b"grown")
    r = hash_pending(ix, str(root), "ipfs-car")
    assert r.changed == ["big", "dir", "fifo", "gone", "same-size", "symlinked"] and r.errors == []
    assert r.hashed == 2  # "ok" and "other"
    for name in r.changed:
        rec = ix.get(name)
        assert rec.state is FileState.LOCAL and rec.cid is None
    scan(str(root), ix)
    r = hash_pending(ix, str(root), "ipfs-car")
    assert r.changed == [] and ix.get("same-size").cid == expected(root, "same-size", "ipfs-car")
    assert ix.get("big").cid == expected(root, "big", "ipfs-car")


@pytest.mark.parametrize("size", [3000, 3 << 20])
def test_file_written_while_it_is_read_is_not_recorded(mirror, monkeypatch, size):
    """(In Python, where a write can be slipped in between the read and the checks after it.)"""
    monkeypatch.setenv(NO_NATIVE_ENV, "1")
    root, ix = mirror
    write(root / "victim", data(size, 1))
    scan(str(root), ix)
    real_read, real_cid = os.read, hashing.file_cid

    def read_then_append(fd, n):
        out = real_read(fd, n)
        with open(root / "victim", "ab") as f:
            f.write(b"!")
        return out

    def cid_then_append(path, prof):
        node = real_cid(path, prof)
        with open(root / "victim", "ab") as f:
            f.write(b"!")
        return node

    monkeypatch.setattr(hashing.os, "read", read_then_append)
    monkeypatch.setattr(hashing, "file_cid", cid_then_append)
    r = hash_pending(ix, str(root), "ipfs-car", threads=1)
    monkeypatch.undo()
    assert (r.hashed, r.changed) == (0, ["victim"])
    assert ix.get("victim").cid is None


def test_row_that_moved_on_while_hashing_is_refused(mirror, core):
    root, ix = mirror
    write(root / "a", b"first version")
    scan(str(root), ix)

    def upstream_rewrites(_files: int, _nbytes: int) -> None:  # after hashing, before recording
        write(root / "a", b"second version, longer")
        scan(str(root), ix)

    r = hash_pending(ix, str(root), "ipfs-car", progress=upstream_rewrites)
    assert (r.hashed, r.bytes, r.changed) == (0, 0, ["a"]) and ix.get("a").cid is None
    r = hash_pending(ix, str(root), "ipfs-car")
    assert r.hashed == 1 and ix.get("a").cid == expected(root, "a", "ipfs-car")


def test_unreadable_file_is_an_error_and_others_are_hashed(mirror, core):
    root, ix = mirror
    write(root / "locked", b"secret")
    write(root / "open", b"public")
    scan(str(root), ix)
    os.chmod(root / "locked", 0)
    try:
        with without_dac_override():  # the pool's threads start here and inherit it
            r = hash_pending(ix, str(root), "ipfs-car", threads=1)
    finally:
        os.chmod(root / "locked", 0o644)
    assert r.hashed == 1 and [p for p, _ in r.errors] == ["locked"] and "Permission denied" in r.errors[0][1]
    assert ix.get("locked").state is FileState.LOCAL


def test_limit_and_many_small_files(mirror, core):
    root, ix = mirror
    for i in range(1500):  # several batches
        write(root / f"f{i:04d}", data(i * 7, i))
    scan(str(root), ix)
    assert hash_pending(ix, str(root), "kubo-v1", limit=100).hashed == 100
    r = hash_pending(ix, str(root), "kubo-v1")
    assert r.hashed == 1400 and ix.counts()["hashed"][0] == 1500
    for rel in ("f0000", "f0777", "f1499"):
        assert ix.get(rel).cid == expected(root, rel, "kubo-v1")
