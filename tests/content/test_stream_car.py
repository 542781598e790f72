"""The streamed bundle CAR writer (content.car `_BundleWriter`, content.directory `StreamingTree`): the same
directory blocks, root and CAR bytes as the in-memory builders, for every profile, from paths that come
one at a time in sorted order."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from tunasync.content.car import write_bundle_car
from tunasync.content.cid import CID
from tunasync.content.directory import StreamingTree, build_tree
from tunasync.content.unixfs import PROFILES, FileChangedError
from tunasync.errors import ContentError


def _files() -> dict[str, bytes]:
    rnd = random.Random(3)
    files = {f"flat/{i:05d}": rnd.randbytes(rnd.randint(0, 64)) for i in range(1100)}  # ipfs-car shards > 1000
    files.update({f"kubo/{i:05d}-{'n' * 48}": rnd.randbytes(4) for i in range(3000)})  # kubo shards > 256 KiB of links
    big = rnd.randbytes(600_000)
    files.update({"big/1": big, "big/2": big, "big/leaf": big[1 << 18 : 2 << 18], "e1": b"", "e2": b"",
                  "a-b": b"1", "a.b": b"2", "a/b": b"3", "a/c/d": b"4", "a0": b"5", "t/x/f": b"6", "u/x/f": b"6"})
    return files


def test_streaming_tree_makes_the_blocks_build_tree_makes():
    files = {rel: (CID.v1(0x55, hashlib.sha256(d).digest()), len(d)) for rel, d in _files().items()}
    for prof in PROFILES:
        want = build_tree(files, prof)
        got: dict[CID, bytes] = {}
        tree = StreamingTree(got.__setitem__, prof)
        for rel in sorted(files):
            tree.add(rel, *files[rel])
        assert tree.finish() == (want.root, want.dag_size)
        assert got == want.blocks


@pytest.mark.parametrize("prof", list(PROFILES))
def test_a_streamed_bundle_car_is_byte_identical_to_one_from_a_list(tmp_path: Path, prof: str):
    files = _files()
    for rel, data in files.items():
        (tmp_path / "m" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "m" / rel).write_bytes(data)
    listed = write_bundle_car(str(tmp_path / "m"), list(files), str(tmp_path / "a.car"), prof)
    streamed = write_bundle_car(str(tmp_path / "m"), ((r, str(listed.files[r])) for r in sorted(files)),
                                str(tmp_path / "b.car"), prof, expected_files=len(files))
    assert (streamed.root, streamed.size) == (listed.root, listed.size)
    assert (tmp_path / "a.car").read_bytes() == (tmp_path / "b.car").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.car", "b.car", "m"]  # no spill file left


def test_streamed_paths_out_of_order_or_with_another_cid_are_refused(tmp_path: Path):
    for rel in ("a", "b"):
        (tmp_path / rel).write_bytes(rel.encode())
    with pytest.raises(ContentError, match="sorted order"):
        write_bundle_car(str(tmp_path), iter(["b", "a"]), str(tmp_path / "x.car"))
    other = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    with pytest.raises(FileChangedError, match="differs from the CID recorded"):
        write_bundle_car(str(tmp_path), iter([("a", other)]), str(tmp_path / "x.car"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]
