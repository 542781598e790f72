"""Deterministic CAR writing: header bytes, DFS pre-order, no duplicates, byte-identical rebuilds."""

from __future__ import annotations

import os

import pytest

from tests.content.content_helpers import pattern_bytes
from tunasync.content.car import CarWriter, encode_header, write_bundle_car, write_file_car
from tunasync.content.carread import iter_car
from tunasync.content.cid import CID, DAG_PB
from tunasync.content.dagpb import decode_node
from tunasync.content.unixfs import FileChangedError, bytes_cid


def test_header_bytes_match_the_spec():
    root = CID.decode("bafybeidjogjfwuhbzwopgd4bn3skcf5m6oz72xshywcndzxgqb623nfclu")
    h = encode_header([root])
    assert h == b"\x3a\xa2\x65roots\x81\xd8\x2a\x58\x25\x00" + root.bytes + b"\x67version\x01"
    v0 = CID.decode("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    assert encode_header([v0])[:1] == b"\x38" and b"\x58\x23\x00\x12\x20" in encode_header([v0])


def _blocks(path):
    car = iter_car(open(path, "rb"))
    return car.roots, list(car)


def _assert_dfs_preorder(root, blocks):
    """Each block appears once, right where a depth-first walk from the root first meets it."""
    by_cid = dict(blocks)
    order, seen = [], set()

    def walk(cid):
        if cid in seen:
            return
        seen.add(cid)
        order.append(cid)
        if cid.codec == DAG_PB:
            for link in decode_node(by_cid[cid]).links:
                walk(link.cid)

    walk(root)
    assert [c for c, _ in blocks] == order


@pytest.mark.parametrize("profile, size", [("ipfs-car", 0), ("ipfs-car", 5 << 20), ("kubo", 3 << 20),
                                           ("kubo-v1", 45613057)])
def test_file_car_is_dfs_ordered_and_rebuilt_byte_identically(tmp_path, pattern_file, profile, size):
    src = pattern_file(size)
    info = write_file_car(str(src), str(tmp_path / "a.car"), profile)
    again = write_file_car(str(src), str(tmp_path / "b.car"), profile)
    assert (tmp_path / "a.car").read_bytes() == (tmp_path / "b.car").read_bytes()
    assert info == again and info.size == os.path.getsize(tmp_path / "a.car")
    roots, blocks = _blocks(tmp_path / "a.car")
    assert roots == [info.root]
    _assert_dfs_preorder(info.root, blocks)
    assert not (tmp_path / "a.car.tmp").exists()


def test_repeated_content_is_written_once(tmp_path):
    path = tmp_path / "zeros"
    path.write_bytes(bytes(5 << 20))  # five identical 1 MiB leaves
    info = write_file_car(str(path), str(tmp_path / "z.car"))
    roots, blocks = _blocks(tmp_path / "z.car")
    assert len(blocks) == 2  # the root and one leaf
    assert info.size < (1 << 20) + 400


def _tree(base):
    files = {
        "README": b"hello world\n",
        "pool/main/a.deb": pattern_bytes(3 << 20),
        "pool/main/b.deb": pattern_bytes(1000),
        "pool/main/copy-of-a.deb": pattern_bytes(3 << 20),
        "dists/stable/Release": b"Release\n",
        "a-b": b"",
    }
    for rel, data in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return sorted(files)


def test_bundle_car_is_independent_of_input_order_and_rebuildable(tmp_path):
    base = tmp_path / "mirror"
    rels = _tree(base)
    one = write_bundle_car(str(base), rels, str(tmp_path / "one.car"))
    two = write_bundle_car(str(base), list(reversed(rels)), str(tmp_path / "two.car"))
    assert (tmp_path / "one.car").read_bytes() == (tmp_path / "two.car").read_bytes()
    assert one == two and set(one.files) == set(rels)
    assert one.files["README"] == bytes_cid(b"hello world\n")
    assert one.files["pool/main/a.deb"] == one.files["pool/main/copy-of-a.deb"]
    roots, blocks = _blocks(tmp_path / "one.car")
    assert roots == [one.root]
    _assert_dfs_preorder(one.root, blocks)
    assert len({c for c, _ in blocks}) == len(blocks)


def test_bundle_holding_part_of_a_tree_only_has_those_files(tmp_path):
    base = tmp_path / "mirror"
    _tree(base)
    info = write_bundle_car(str(base), ["pool/main/b.deb"], str(tmp_path / "part.car"))
    _, blocks = _blocks(tmp_path / "part.car")
    names = [link.name for c, b in blocks if c.codec == DAG_PB for link in decode_node(b).links]
    assert names == ["pool", "main", "b.deb"]
    assert info.files == {"pool/main/b.deb": bytes_cid(pattern_bytes(1000))}


def test_a_file_changed_after_hashing_leaves_no_car(tmp_path, monkeypatch):
    base = tmp_path / "mirror"
    rels = _tree(base)
    from tunasync.content import car as car_mod

    real = car_mod._hash_for_car

    def hash_then_touch(path, profile):
        got = real(path, profile)
        if path.endswith("b.deb"):
            with open(path, "ab") as f:
                f.write(b"!")
        return got

    monkeypatch.setattr(car_mod, "_hash_for_car", hash_then_touch)
    with pytest.raises(FileChangedError, match="b.deb"):
        write_bundle_car(str(base), rels, str(tmp_path / "x.car"))
    assert not (tmp_path / "x.car").exists() and not (tmp_path / "x.car.tmp").exists()


def test_car_writer_removes_its_temporary_file_on_error(tmp_path):
    out = tmp_path / "w.car"
    cid = bytes_cid(b"x")
    with pytest.raises(RuntimeError), CarWriter(str(out), [cid]) as w:
        assert w.add(cid, b"x") and not w.add(cid, b"x")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bundle_paths_must_be_relative_and_clean(tmp_path):
    from tunasync.errors import ContentError

    for bad in ("/etc/passwd", "../x", "a//b", "./a", ""):
        with pytest.raises(ContentError, match="invalid relative path"):
            write_bundle_car(str(tmp_path), [bad], str(tmp_path / "x.car"))
    assert list(tmp_path.iterdir()) == []
