"""Directory CIDs: plain directories, HAMT sharding by each profile's rule, kubo's own vectors, ipfs-car."""

from __future__ import annotations

import os
import random

import pytest

from tests.content.content_helpers import ipfs_car, run_node
from tunasync.content.chunker import hash_file
from tunasync.content.cid import CID, DAG_PB
from tunasync.content.dagpb import decode_node
from tunasync.content.directory import build_tree, dir_node
from tunasync.content.hamt import bucket, murmur3_x64_64, murmur3_x64_128
from tunasync.content.tree import walk_tree
from tunasync.content.unixfs import HAMT_SHARD, PROFILES, Profile, bytes_cid, decode_data

X_RAW = bytes_cid(b"x", "ipfs-car")
X_V0 = bytes_cid(b"x", "kubo")
X_V0_TSIZE = 9  # a kubo leaf block `0a 07 08 02 12 01 78 18 01`: Tsize counts block bytes
ALPHABET = "abcdefghijklmnopqrstuvwxyz01234567890-_"
CHACHA = """
import { createCipheriv, createHash } from 'node:crypto'
const [seed, n] = process.argv.slice(1)
const key = createHash('sha256').update(seed, 'utf8').digest()
process.stdout.write(createCipheriv('chacha20', key, Buffer.alloc(16)).update(Buffer.alloc(Number(n))).toString('hex'))
"""


def kubo_names(oracle_dir, seed: str, lengths: list[int]) -> list[str]:
    """kubo's createDeterministicFiles names: ChaCha20 bytes of sha256(seed), byte -> ALPHABET[b % 39]."""
    stream = bytes.fromhex(run_node(oracle_dir, CHACHA, seed, str(sum(lengths))))
    names, pos = [], 0
    for n in lengths:
        names.append("".join(ALPHABET[b % len(ALPHABET)] for b in stream[pos : pos + n]))
        pos += n
    return names


def test_murmur3_matches_the_reference():
    assert murmur3_x64_64(b"hello").hex() == "cbd8a7b341bd9b02"
    assert murmur3_x64_128(b"").hex() == "00" * 16
    # 16-byte block plus a tail longer than 8 bytes (both tail lanes)
    assert murmur3_x64_128(b"The quick brown fox jumps over the lazy dog").hex() == \
        "e34bbc7bbc071b6c7a433ca9c49a9347"
    assert bucket(b"hello", 0) == 0xCB and bucket(b"hello", 7) == 0x02


def test_empty_and_small_plain_directories():
    cid, tsize, blocks = dir_node([], "kubo")
    assert str(cid) == "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn" and tsize == 4
    assert str(dir_node([], "ipfs-car")[0]) == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"
    hello = bytes_cid(b"hello world\n")
    cid, tsize, _ = dir_node([("hello.txt", hello, 12)])
    assert str(cid) == "bafybeidhkumeonuwkebh2i4fc7o7lguehauradvlk57gzake6ggjsy372a"  # ipfs-car pack hello.txt


def test_links_are_sorted_by_name_bytes():
    entries = [("b", X_RAW, 1), ("a", X_RAW, 1), ("B", X_RAW, 1), ("é", X_RAW, 1)]
    cid, _, blocks = dir_node(entries)
    assert [link.name for link in decode_node(blocks[cid]).links] == ["B", "a", "b", "é"]
    assert dir_node(list(reversed(entries)))[0] == cid


def test_ipfs_car_shards_above_1000_entries():
    entries = [(f"f{i}", X_RAW, 1) for i in range(1000)]
    cid, _, blocks = dir_node(entries)
    assert len(blocks) == 1 and len(decode_node(blocks[cid]).links) == 1000
    cid, tsize, blocks = dir_node(entries + [("f1000", X_RAW, 1)])
    root = decode_node(blocks[cid])
    data = decode_data(root.data)
    assert (data.type, data.hash_type, data.fanout) == (HAMT_SHARD, 0x22, 256)
    assert tsize == sum(len(b) for b in blocks.values()) + 1001


def test_build_tree_nests_directories_and_rejects_conflicts():
    tree = build_tree({"a/b/c": (X_RAW, 1), "a/d": (X_RAW, 1), "e": (X_RAW, 1)})
    assert set(tree.dirs) == {"", "a", "a/b"}
    assert tree.dirs[""] == tree.root
    with pytest.raises(ValueError, match="both a file and a directory"):
        build_tree({"a": (X_RAW, 1), "a/b": (X_RAW, 1)})
    with pytest.raises(ValueError, match="invalid relative path"):
        build_tree({"../x": (X_RAW, 1)})


@pytest.mark.node
def test_kubo_v0_directory_vectors_at_and_over_the_links_threshold(oracle_dir):
    """kubo test/cli/cid_profiles_test.go: 4096 × 30-char names = 262144 (plain), 4033 × 31 (+1: HAMT)."""
    names = kubo_names(oracle_dir, "hamt-unixfs-v0-2015", [30] * 4096)
    cid, _, _ = dir_node([(n, X_V0, X_V0_TSIZE) for n in names], "kubo")
    assert str(cid) == "QmX5GtRk3TSSEHtdrykgqm4eqMEn3n2XhfkFAis5fjyZmN"
    names = kubo_names(oracle_dir, "hamt-unixfs-v0-2015", [31] * 4033)
    cid, _, blocks = dir_node([(n, X_V0, X_V0_TSIZE) for n in names], "kubo")
    assert decode_data(decode_node(blocks[cid]).data).type == HAMT_SHARD
    assert str(cid) == "QmeMiJzmhpJAUgynAcxTQYek5PPKgdv3qEvFsdV3XpVnvP"


@pytest.mark.node
def test_v1_2025_directory_vectors_and_ipfs_car_divergence(oracle_dir):
    """4765 × 11 + 1 × 21 chars: kubo unixfs-v1-2025 keeps it plain (block = 262144), ipfs-car shards it."""
    block_rule = Profile("v1-2025", 1, 1 << 20, 1024, True, "block-bytes")
    names = kubo_names(oracle_dir, "hamt-unixfs-v1-2025", [11] * 4765 + [21])
    entries = [(n, X_RAW, 1) for n in names]
    assert str(dir_node(entries, block_rule)[0]) == "bafybeic3h7rwruealwxkacabdy45jivq2crwz6bufb5ljwupn36gicplx4"
    assert str(dir_node(entries, "ipfs-car")[0]) == "bafybeidlpmwgbl2owcq3suim5qrdx3t5wdrvbjpnq6xqydoc663egkhl2u"
    names = kubo_names(oracle_dir, "hamt-unixfs-v1-2025", [11] * 4765 + [22])
    cid, _, blocks = dir_node([(n, X_RAW, 1) for n in names], block_rule)
    assert len(blocks) > 1
    assert str(cid) == "bafybeiegvuterwurhdtkikfhbxcldohmxp566vpjdofhzmnhv6o4freidu"


def _random_tree(root, rng: random.Random, files: int) -> None:
    for i in range(files):
        depth = rng.choice([0, 0, 1, 2])
        parts = [rng.choice(["src", "docs", "a b", "ünï"]) for _ in range(depth)]
        name = f"{i:04d}-" + "".join(rng.choice("abcxyz._-") for _ in range(rng.randint(1, 12)))
        path = os.path.join(root, *parts, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(rng.randbytes(rng.choice([0, 1, 100, 5000, (1 << 20) + 7])))


def _our_dir_cid(root) -> CID:
    tree = walk_tree(str(root))
    files = {}
    for f in tree.files:
        d = hash_file(f.path, keep_blocks=False)
        files[f.rel] = (d.root, d.dag_size)
    return build_tree(files).root


@pytest.mark.node
def test_directory_cids_equal_ipfs_car_pack_including_a_hamt(oracle_dir, tmp_path):
    """`ipfs-car pack DIR` (it wraps nothing for a directory): plain nested dirs and a 1200-entry HAMT."""
    rng = random.Random(7)
    small = tmp_path / "small"
    _random_tree(small, rng, 40)
    big = tmp_path / "big"
    (big / "many").mkdir(parents=True)
    for i in range(1200):
        (big / "many" / f"n{rng.getrandbits(40):x}-{i}").write_bytes(rng.randbytes(rng.randint(0, 64)))
    (big / "top.txt").write_bytes(b"top")
    for d in (small, big):
        theirs = ipfs_car(oracle_dir, "pack", str(d), "--output", str(tmp_path / "x.car")).strip()
        assert str(_our_dir_cid(d)) == theirs, d
    hamt_dir = build_tree({"k": (X_RAW, 1)}).root  # sanity: the helper builds v1 dag-pb roots
    assert hamt_dir.codec == DAG_PB and PROFILES["ipfs-car"].shard_rule == "entries"


SHARDED = """
import * as UnixFS from '@ipld/unixfs'
import * as raw from 'multiformats/codecs/raw'
const [n] = process.argv.slice(1)
const settings = UnixFS.configure({ fileChunkEncoder: raw, smallFileEncoder: raw })
const { readable, writable } = new TransformStream({}, UnixFS.withCapacity(1 << 30))
const drain = (async () => { const r = readable.getReader(); while (!(await r.read()).done); })()
const writer = UnixFS.createWriter({ writable, settings })
const f = UnixFS.createFileWriter(writer)
await f.write(new TextEncoder().encode('x'))
const link = await f.close()
const dir = UnixFS.createShardedDirectoryWriter(writer)
for (let i = 0; i < Number(n); i++) dir.set(`file-${String(i).padStart(7, '0')}.deb`, link)
const root = await dir.close()
await writer.close(); await drain
console.log(root.cid.toString())
"""


@pytest.mark.node
def test_a_deep_hamt_matches_ipld_unixfs(oracle_dir):
    """20 000 entries: shards nested three levels deep (names colliding in their first 16 hash bits)."""
    n = 20000
    theirs = run_node(oracle_dir, SHARDED, str(n)).strip()
    cid, _, blocks = dir_node([(f"file-{i:07d}.deb", X_RAW, 1) for i in range(n)])
    assert str(cid) == theirs
    depth2 = [b for b in blocks.values() if any(len(link.name or "") == 2 for link in decode_node(b).links)]
    assert len(depth2) > 256  # sub-shards that themselves hold sub-shards
