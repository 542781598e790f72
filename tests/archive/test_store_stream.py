"""Packing streams (issue 14): bundles are planned from the index a page at a time and their CARs are
written without the list of files in memory, yet the bundles, CARs and piece CIDs are exactly those of
the in-memory packer they replace.

PIECES below was computed by the previous packer (the whole file list in memory, `plan` over
`hashed_members`, every file's DAG kept until the CAR was written) on `mirror_files()`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tunasync.archive import bundles
from tunasync.archive.hashing import hash_pending
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.policy import Policy
from tunasync.archive.scan import scan
from tunasync.archive.settings import MirrorArchive
from tunasync.archive.states import FileState
from tunasync.content.unixfs import FileChangedError

from .archkit import rand

BUNDLE_SIZE = 4 << 20  # the first bundle holds both big files and their shared leaf, the next the 1,200
PLAN_SIZE = 256 << 10  # cuts into about 20 bundles
MTIME = 1_600_000_000 * 10**9

# (root CID, piece CID v1, CAR bytes) of each bundle, in order, as the previous packer made them
PIECES: list[tuple[str, str, int]] = [
    ("bafybeihosoqgkq6gteb2owsuipc4mz5le5iw3oswuyfbuzxr2bg77x2rmy",
     "baga6ea4seaqjf6hjks6p4i67rm5pmmo3dnaowe7h5n2774hf23rzpbd6m2ifabi", 2304984),
    ("bafybeieldw5vq2hny4xp6anjo4gncnmiwl4d7irepfazyjj4geb7e3wvhq",
     "baga6ea4seaqp24n5b3rhkqgewbnpyqio5bxnvgsj6y6iqsrmiznkf2hf4bbuqcq", 3250733),
]


def mirror_files() -> dict[str, bytes]:
    """A few thousand files: a directory of 1,200 (sharded by ipfs-car's rule), the same bytes under many
    names, empty files, a file of several chunks and a file equal to one of its chunks, names that sort
    around a directory's name ('-' and '.' before '/', '0' after), deep and twin directories."""
    files: dict[str, bytes] = {}
    for i in range(1200):
        files[f"pool/many/pkg-{i:05d}.deb"] = rand(i * 7 % 2900, i)
    for i in range(1800):
        files[f"pool/d{i // 150:02d}/f{i:04d}_{i % 7}.txt"] = rand(300 + i * 13 % 1700, 10_000 + i)
    for i in range(40):
        files[f"dup/{i:02d}/same.bin"] = b"the same bytes under many names\n"
    files["dup/empty"] = b""
    files["zz/empty"] = b""
    big = rand(1_500_000, 7)
    files["big/a.iso"] = big
    files["big/b.iso"] = big
    files["big/tail.bin"] = big[1 << 20 :]  # = the last leaf of big/*.iso
    files["a-x"] = b"dash"
    files["a.c"] = b"dot"
    files["a/b"] = b"in a"
    files["a/c/d"] = b"deeper"
    files["a0"] = b"zero"
    files["x/y/z/deep"] = b"twin"
    files["x2/y/z/deep"] = b"twin"
    files["uni/caf\u00e9"] = b"e"
    files["uni/\u4e2d\u6587"] = b"zh"
    return files


def make_mirror(tmp: Path) -> tuple[MirrorArchive, ArchiveIndex]:
    root = tmp / "mirror"
    for rel, data in mirror_files().items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, ns=(MTIME, MTIME))
    ms = MirrorArchive(name="m", root=str(root), dir=tmp / "archive" / "m", policy=Policy(copies=2),
                       bundle_size=BUNDLE_SIZE)
    ms.ensure_dirs()
    index = ArchiveIndex(ms.index_path)
    scan(ms.root, index)
    hash_pending(index, ms.root, ms.profile)
    return ms, index


def test_spans_read_a_page_at_a_time_cut_where_the_whole_list_did(tmp_path):
    ms, index = make_mirror(tmp_path)
    try:
        old = bundles.plan(bundles.hashed_members(index), PLAN_SIZE)
        spans = list(bundles.plan_spans(index.iter_hashed_unbundled(page=97), PLAN_SIZE))
        assert len(old) > 10  # the tree spans several bundles
        assert [(g[0].path, g[-1].path, len(g), sum(m.size for m in g)) for g in old] == \
               [(s.first, s.last, s.files, s.bytes) for s in spans]
        assert bundles.planned_spans(index, PLAN_SIZE) == spans
    finally:
        index.close()


def test_unsorted_input_is_refused():
    with pytest.raises(ValueError, match="sorted by path"):
        list(bundles.plan_spans([bundles.Member("b", "x", 1, 0), bundles.Member("a", "y", 1, 0)], 10))


def test_streamed_bundles_have_the_pieces_the_in_memory_packer_made(tmp_path):
    ms, index = make_mirror(tmp_path)
    try:
        got = []
        for span in bundles.planned_spans(index, BUNDLE_SIZE):
            bid = bundles.pack(ms, index, span)
            b = index.bundle(bid)
            assert b is not None and b.state == "staged"
            assert len(index.bundle_members(bid)) == span.files
            got.append((b.root_cid, b.piece_cid, b.car_size))
        assert got == PIECES
        assert index.counts()[FileState.STORING.value][0] == len(mirror_files())
        assert sorted(p.name for p in ms.cars_dir.iterdir()) == sorted(f"{i}.car" for i in range(1, len(got) + 1))
        # a CAR lost before the providers fetched it is rebuilt byte-identically from the files, streamed too
        car = ms.car_path(1)
        first = car.read_bytes()
        car.unlink()
        assert bundles.rebuild_car(ms, index, 1)
        assert car.read_bytes() == first
    finally:
        index.close()


def test_a_file_changed_since_hashing_rolls_its_bundle_back_and_leaves_no_temp_file(tmp_path):
    ms, index = make_mirror(tmp_path)
    try:
        span = bundles.planned_spans(index, BUNDLE_SIZE)[1]  # the bundle of pool/
        rel = "pool/many/pkg-00007.deb"  # in the sharded directory
        assert span.first <= rel <= span.last
        victim = Path(ms.root) / rel
        victim.write_bytes(b"new bytes, same name")
        with pytest.raises(FileChangedError) as exc:
            bundles.pack(ms, index, span)
        assert exc.value.path == str(victim)
        assert index.bundles() == []
        rec = index.get(rel)
        assert rec is not None and rec.state is FileState.LOCAL
        assert index.counts()[FileState.HASHED.value][0] == len(mirror_files()) - 1
        assert list(ms.cars_dir.iterdir()) == []  # no CAR, no .tmp, no spill file of directory blocks
    finally:
        index.close()
