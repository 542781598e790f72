"""Extracting files, byte ranges and directory trees from CARs in any block order, verified, atomically."""

from __future__ import annotations

import os
import random

import pytest

from tests.content.content_helpers import ipfs_car
from tunasync.content.car import encode_header, write_bundle_car, write_file_car
from tunasync.content.carread import CarIndex, iter_car
from tunasync.content.cid import CID, DAG_PB, encode_varint
from tunasync.content.dagpb import PBLink, encode_node
from tunasync.content.directory import DIRECTORY_DATA
from tunasync.content.extract import extract, list_dir
from tunasync.content.unixfs import bytes_cid
from tunasync.errors import VerifyError


def reorder(src, dst, shuffle_seed=None):
    """Rewrite a CAR with its blocks reversed (leaves before parents, like ipfs-car) or shuffled."""
    c = iter_car(open(src, "rb"))
    blocks = list(c)
    if shuffle_seed is None:
        blocks.reverse()
    else:
        random.Random(shuffle_seed).shuffle(blocks)
    with open(dst, "wb") as f:
        f.write(encode_header(c.roots))
        for cid, b in blocks:
            f.write(encode_varint(len(cid.bytes) + len(b)) + cid.bytes + b)


def _get(ix):
    return lambda c: ix.get(c, verify=False)


@pytest.mark.parametrize("profile", ["ipfs-car", "kubo"])
def test_file_and_ranges_from_a_shuffled_car(tmp_path, profile):
    data = random.Random(3).randbytes((3 << 20) + 999)
    (tmp_path / "src").write_bytes(data)
    info = write_file_car(str(tmp_path / "src"), str(tmp_path / "dfs.car"), profile)
    reorder(tmp_path / "dfs.car", tmp_path / "any.car", shuffle_seed=1)
    with CarIndex.open(str(tmp_path / "any.car")) as ix:
        assert extract(_get(ix), info.root, str(tmp_path / "out")) == len(data)
        assert (tmp_path / "out").read_bytes() == data
        for first, last in [(0, 0), (262143, 262144), (1 << 20, (2 << 20) + 5), (len(data) - 1, None)]:
            extract(_get(ix), str(info.root), str(tmp_path / "part"), (first, last))
            assert (tmp_path / "part").read_bytes() == data[first : None if last is None else last + 1]


def _make_tree(base, rng, n):
    rels = []
    for i in range(n):
        rel = rng.choice(["", "sub/", "sub/deeper/", "other/"]) + f"file-{i}"
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.choice([0, 3, 70000, (1 << 20) + 1])))
        rels.append(rel)
    return rels


def _same_tree(a, b):
    def listing(root):
        out = {}
        for dp, _, fns in os.walk(root):
            for fn in fns:
                p = os.path.join(dp, fn)
                out[os.path.relpath(p, root)] = open(p, "rb").read()
        return out

    assert listing(a) == listing(b)


def test_directory_tree_with_a_hamt_from_a_reversed_car(tmp_path):
    base = tmp_path / "tree"
    rels = _make_tree(base, random.Random(9), 30)
    for i in range(1005):  # > 1000 entries: a sharded directory
        (base / "many").mkdir(exist_ok=True)
        (base / "many" / f"e{i}").write_bytes(b"%d" % i)
        rels.append(f"many/e{i}")
    info = write_bundle_car(str(base), rels, str(tmp_path / "b.car"))
    reorder(tmp_path / "b.car", tmp_path / "rev.car")
    with CarIndex.open(str(tmp_path / "rev.car")) as ix:
        extract(_get(ix), info.root, str(tmp_path / "out"))
        top = dict(list_dir(_get(ix), info.root))
        assert {"many", "sub", "other"} <= set(top)
        assert len(list_dir(_get(ix), top["many"])) == 1005
    _same_tree(base, tmp_path / "out")
    assert not (tmp_path / "out.tmp").exists()


@pytest.mark.node
def test_extract_from_ipfs_car_output(oracle_dir, tmp_path):
    base = tmp_path / "tree"
    _make_tree(base, random.Random(4), 12)
    root = ipfs_car(oracle_dir, "pack", str(base), "--output", str(tmp_path / "theirs.car")).strip()
    with CarIndex.open(str(tmp_path / "theirs.car")) as ix:
        extract(_get(ix), root, str(tmp_path / "out"))
    _same_tree(base, tmp_path / "out")


def test_corrupt_or_incomplete_car_leaves_nothing_behind(tmp_path):
    data = random.Random(2).randbytes(3 << 20)
    (tmp_path / "src").write_bytes(data)
    info = write_file_car(str(tmp_path / "src"), str(tmp_path / "f.car"))
    raw = bytearray((tmp_path / "f.car").read_bytes())
    raw[-100] ^= 0xFF  # inside the last leaf
    (tmp_path / "bad.car").write_bytes(raw)
    ix = CarIndex.open(str(tmp_path / "bad.car"), verify=False)
    with pytest.raises(VerifyError):
        extract(_get(ix), info.root, str(tmp_path / "out"))
    ix.close()
    assert sorted(os.listdir(tmp_path)) == ["bad.car", "f.car", "src"]
    # a CAR missing its last block
    c = iter_car(open(tmp_path / "f.car", "rb"))
    blocks = list(c)[:-1]
    with open(tmp_path / "short.car", "wb") as f:
        f.write(encode_header(c.roots))
        for cid, b in blocks:
            f.write(encode_varint(len(cid.bytes) + len(b)) + cid.bytes + b)
    with CarIndex.open(str(tmp_path / "short.car")) as ix, pytest.raises(KeyError):
        extract(_get(ix), info.root, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()


def test_unsafe_entry_names_are_refused(tmp_path):
    x = bytes_cid(b"x")
    block = encode_node([PBLink(x, "../escape", 1)], DIRECTORY_DATA)
    root = CID.of_block(block, DAG_PB)
    blocks = {root: block, x: b"x"}
    with pytest.raises(VerifyError, match="unsafe directory entry name"):
        extract(blocks.__getitem__, root, str(tmp_path / "out"))
    assert os.listdir(tmp_path) == []
    with pytest.raises(VerifyError, match="needs a file"):
        extract(blocks.__getitem__, root, str(tmp_path / "out"), (0, 1))


TRICKLE = """
import { createReadStream, createWriteStream } from 'node:fs'
import { Readable } from 'node:stream'
import * as UnixFS from '@ipld/unixfs'
import * as Trickle from '@ipld/unixfs/file/layout/trickle'
import { withMaxChunkSize } from '@ipld/unixfs/file/chunker/fixed'
import * as raw from 'multiformats/codecs/raw'
import { CarWriter } from '@ipld/car/writer'
const [src, out, rawLeaves] = process.argv.slice(1)
const settings = UnixFS.configure({
  chunker: withMaxChunkSize(1024), fileLayout: Trickle.configure({ maxDirectLeaves: 3, maxSiblingSubgroups: 2 }),
  ...(rawLeaves === 'raw' ? { fileChunkEncoder: raw, smallFileEncoder: raw } : {}),
})
const { readable, writable } = new TransformStream({}, UnixFS.withCapacity(1 << 30))
const blocks = []
const drain = (async () => { const r = readable.getReader(); for (;;) { const x = await r.read(); if (x.done) break; blocks.push(x.value) } })()
const writer = UnixFS.createWriter({ writable, settings })
const file = UnixFS.createFileWriter(writer)
for await (const chunk of createReadStream(src)) await file.write(new Uint8Array(chunk))
const link = await file.close()
await writer.close()
await drain
const { writer: car, out: bytes } = CarWriter.create([link.cid])
const done = Readable.from(bytes).pipe(createWriteStream(out))
for (const b of blocks) await car.put(b)
await car.close()
await new Promise(resolve => done.on('finish', resolve))
console.log(link.cid.toString())
"""


@pytest.mark.node
@pytest.mark.parametrize("leaves", ["raw", "dag-pb"])
def test_trickle_dags_are_read_too(oracle_dir, tmp_path, leaves):
    """No profile writes trickle DAGs, but readers must take them (docs/cid.md §1.5): whole file and ranges."""
    from tests.content.content_helpers import run_node

    data = random.Random(8).randbytes(40 * 1024 + 77)
    (tmp_path / "src").write_bytes(data)
    root = run_node(oracle_dir, TRICKLE, str(tmp_path / "src"), str(tmp_path / "t.car"), leaves).strip()
    with CarIndex.open(str(tmp_path / "t.car")) as ix:
        assert len(ix.offsets) > 45  # a real multi-level trickle tree
        extract(_get(ix), root, str(tmp_path / "out"))
        assert (tmp_path / "out").read_bytes() == data
        for first, last in [(0, 10), (5000, 20000), (len(data) - 5, None)]:
            extract(_get(ix), root, str(tmp_path / "part"), (first, last))
            assert (tmp_path / "part").read_bytes() == data[first : None if last is None else last + 1]
