"""UnixFS file CIDs: every row of tests/data/vectors/unixfs.tsv, the 1 GiB + 1 two-level tree, streaming."""

from __future__ import annotations

import csv
import os
import random
import time
import tracemalloc

import pytest

from tests.content.content_helpers import pattern_bytes
from tunasync.content import unixfs
from tunasync.content.chunker import hash_file
from tunasync.content.cid import CID
from tunasync.content.dagpb import decode_node
from tunasync.content.unixfs import FileBuilder, FileChangedError, PathError, bytes_cid, file_cid

GIB = 1 << 30


def _rows(data_dir):
    with open(data_dir / "vectors" / "unixfs.tsv", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def test_every_unixfs_vector_row(data_dir, pattern_file, tmp_path):
    rows = _rows(data_dir)
    assert len(rows) >= 40
    for row in rows:
        size = int(row["size"])
        if row["input"] == "pattern":
            path = pattern_file(size)
        else:
            assert row["input"] == "hello"
            path = tmp_path / "hello"
            path.write_bytes(b"hello world\n")
        got = file_cid(str(path), row["profile"])
        assert (str(got.cid), got.size) == (row["cid"], size), row


def test_one_gib_plus_one_is_a_two_level_tree(pattern_file):
    """docs/cid.md §1.5: 1 GiB + 1 byte = 1025 leaves; the root has two links (1024 leaves, then 1)."""
    start = time.monotonic()
    path = pattern_file(GIB + 1)
    dag = hash_file(str(path), "ipfs-car", keep_blocks=True)
    os.unlink(path)  # 1 GiB of tmp space: give it back now
    assert str(dag.root) == "bafybeicvbrlogmtthu7pz4o64c7yzm4v6dtshggbqsldxcm4fi2ftbxazu"
    root = decode_node(dag.blocks[dag.root])
    data = unixfs.decode_data(root.data)
    assert data.blocksizes == [GIB, 1]
    assert len(root.links) == 2 and len(dag.blocks) == 3  # root + 2 interior nodes
    assert time.monotonic() - start < 60


def test_spec_hello_world_vectors():
    assert str(bytes_cid(b"hello world", "kubo")) == "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    assert str(bytes_cid(b"hello world", "ipfs-car")) == "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
    assert str(bytes_cid(bytes(1 << 20), "kubo-v1")) == "bafybeiggzq4ryi7hscq5hzvzcnk4urnxt3asp37dhgvnjilf7exskximla"
    assert str(bytes_cid(bytes(1 << 20), "kubo")) == "QmVkbauSDEaMP4Tkq6Epm9uW75mWm136n81YH8fGtfwdHU"


def test_kubo_leaf_and_root_bytes_match_the_spec():
    b = FileBuilder("kubo")
    b.update(b"hello world\n")
    assert str(b.finish().root) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    dag = FileBuilder("ipfs-car")
    dag.update(pattern_bytes(1048577))
    d = dag.finish()
    root_block = d.blocks[d.root]
    assert len(root_block) == 104
    assert root_block.endswith(bytes.fromhex("0a0c08021881804020808040" "2001"))
    assert root_block[40:42] == b"\x12\x00"  # the empty Name is present in file links


@pytest.mark.parametrize("profile", list(unixfs.PROFILES))
def test_streaming_updates_of_any_size_give_the_same_cid(profile):
    rng = random.Random(profile)
    data = rng.randbytes(3 * unixfs.PROFILES[profile].chunk_size + 12345)
    b = FileBuilder(profile)
    pos = 0
    while pos < len(data):
        n = rng.choice([1, 7, 4096, 65536, 300000, 1 << 20])
        b.update(data[pos : pos + n])
        pos += n
    assert b.finish().root == bytes_cid(data, profile)


def test_memory_stays_flat_while_hashing(pattern_file):
    path = pattern_file(100_000_000)
    tracemalloc.start()
    try:
        got = file_cid(str(path), "kubo")  # the profile with the most interior nodes
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert str(got.cid) == "QmSB2k7rfXZpQCHGHmqANoR2m2KVgCEKSohmG3n725FwRU"
    assert peak < 12 << 20, f"peak {peak} bytes while hashing 100 MB"


def test_a_file_that_grows_while_hashed_gets_no_cid(tmp_path):
    path = tmp_path / "growing"
    path.write_bytes(os.urandom(5 << 20))
    grown = []

    def progress(n):
        if not grown:
            with open(path, "ab") as f:
                f.write(b"more")
            grown.append(True)

    with pytest.raises(FileChangedError) as info:
        hash_file(str(path), "ipfs-car", progress=progress)
    assert str(path) in str(info.value) and "changed" in str(info.value)


def test_special_files_are_refused_with_their_path(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(PathError, match="not a regular file"):
        file_cid(str(fifo))  # must not block on the FIFO
    with pytest.raises(PathError, match="not a regular file"):
        file_cid(str(tmp_path))


def test_unixfs_data_round_trip_and_rejects_garbage():
    d = unixfs.UnixFSData(unixfs.FILE, data=b"abc", filesize=3, blocksizes=[1, 2])
    raw = unixfs.encode_data(d)
    assert raw == bytes.fromhex("0802" "1203616263" "1803" "2001" "2002")
    back = unixfs.decode_data(raw)
    assert (back.type, back.data, back.filesize, back.blocksizes) == (2, b"abc", 3, [1, 2])
    assert unixfs.decode_data(bytes.fromhex("0802" "22020102")).blocksizes == [1, 2]  # packed form accepted
    for bad in (b"", bytes.fromhex("0863"), bytes.fromhex("0802" "5801"), bytes.fromhex("0802" "1205ab")):
        with pytest.raises(unixfs.UnixFSError):
            unixfs.decode_data(bad)


def test_unknown_profile_is_named():
    with pytest.raises(ValueError, match="unknown profile 'ipfs'"):
        bytes_cid(b"x", "ipfs")


def test_v0_and_v1_text_of_the_same_node():
    v0 = CID.decode("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    assert str(v0.to_v1()) == "bafybeicg2rebjoofv4kbyovkw7af3rpiitvnl6i7ckcywaq6xjcxnc2mby"
