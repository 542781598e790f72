"""Streaming verification of DFS CARs as trustless gateways send them (docs/filecoin.md §6.3), and the gateway walk."""

from __future__ import annotations

import hashlib
import random

import pytest

from tests.content.content_helpers import pattern_bytes
from tunasync.content.car import encode_header, write_bundle_car, write_file_car
from tunasync.content.carread import CarIndex
from tunasync.content.cid import CID, DAG_PB, RAW, encode_varint
from tunasync.content.dagpb import PBLink, encode_node
from tunasync.content.unixfs import file_data
from tunasync.content.verify import DEFER_MIN, DfsVerifier, Release, dfs_blocks, first_bad, resolve_range
from tunasync.errors import BadBlock, CarError, TruncatedCar, VerifyError

SIZE = 45613057  # 174 × 256 KiB + 1: three levels in the kubo-v1 profile


@pytest.fixture(scope="module")
def kubo_v1_car(tmp_path_factory):
    from tests.content.content_helpers import write_pattern

    base = tmp_path_factory.mktemp("verify")
    src = write_pattern(base / "src", SIZE)
    info = write_file_car(str(src), str(base / "f.car"), "kubo-v1")
    index = CarIndex.open(str(base / "f.car"))
    yield info.root, index, src.read_bytes()
    index.close()


def sections(blocks) -> list[bytes]:
    return [encode_varint(len(c.bytes) + len(b)) + c.bytes + b for c, b in blocks]


def stream(root, blocks) -> bytes:
    return encode_header([root]) + b"".join(sections(blocks))


def feed_all(v: DfsVerifier, data: bytes, rng: random.Random | None = None) -> bytes:
    out, pos, expect = [], 0, None
    while pos < len(data):
        n = rng.randint(1, 300_000) if rng else len(data)
        for off, chunk in v.feed(data[pos : pos + n]):
            assert expect is None or off == expect  # bytes come out in file order
            expect = off + len(chunk)
            out.append(chunk)
        pos += n
    v.finish()
    return b"".join(out)


def test_whole_file_in_random_pieces(kubo_v1_car):
    root, ix, src = kubo_v1_car
    data = stream(root, dfs_blocks(ix.get, root))
    v = DfsVerifier(root)
    got = feed_all(v, data, random.Random(1))
    assert hashlib.sha256(got).digest() == hashlib.sha256(src).digest()
    assert v.blocks == 178 and v.size == SIZE


@pytest.mark.parametrize("rng, blocks", [((45613000, 45613056), 5), ((0, 0), 3), ((SIZE - 1, None), 3)])
def test_ranges_need_only_the_path_to_their_leaves(kubo_v1_car, rng, blocks):
    root, ix, src = kubo_v1_car
    sent = list(dfs_blocks(ix.get, root, rng))
    assert len(sent) == blocks
    v = DfsVerifier(root, rng)
    first, last = rng
    assert feed_all(v, stream(root, sent)) == src[first : (last + 1 if last is not None else None)]


def test_random_ranges_around_chunk_boundaries(kubo_v1_car):
    root, ix, src = kubo_v1_car
    r = random.Random(5)
    for _ in range(25):
        edge = r.choice([262144, 262144 * 174, 262144 * 3, SIZE - 1])
        first = max(0, edge + r.randint(-3, 3))
        last = min(SIZE - 1, first + r.choice([0, 1, 5, 262144, 600000]))
        v = DfsVerifier(root, (first, last))
        assert feed_all(v, stream(root, dfs_blocks(ix.get, root, (first, last)))) == src[first : last + 1]


def push_all(v: DfsVerifier, data: bytes, rng: random.Random) -> list[Release]:
    out: list[Release] = []
    pos = 0
    while pos < len(data):
        n = rng.randint(1, 300_000)
        v.push(data[pos : pos + n], out, defer=True)
        pos += n
    v.finish()
    return out


def test_deferred_leaves_come_out_as_views_of_the_pushed_chunks(kubo_v1_car):
    root, ix, src = kubo_v1_car
    data = stream(root, dfs_blocks(ix.get, root))
    v = DfsVerifier(root)
    out = push_all(v, data, random.Random(2))
    assert first_bad(out) is None
    assert [r.offset for r in out] == sorted(r.offset for r in out)
    assert b"".join(p for r in out for p in r.parts) == src
    deferred = [r for r in out if r.block is not None]
    assert len(deferred) == 174  # every 256 KiB leaf; the one-byte last leaf is hashed at once
    assert all(p.readonly for r in deferred for p in r.parts)


def test_a_corrupt_deferred_leaf_is_found_and_nothing_after_it_counts(kubo_v1_car):
    root, ix, src = kubo_v1_car
    blocks = list(dfs_blocks(ix.get, root))
    cid, leaf = blocks[5]
    blocks[5] = (cid, leaf[:-1] + bytes([leaf[-1] ^ 1]))
    v = DfsVerifier(root)
    out = push_all(v, stream(root, blocks), random.Random(3))  # the walk itself is fine
    bad = first_bad(out)
    assert bad is not None and out[bad].cid == cid
    assert sum(len(p) for r in out[:bad] for p in r.parts) == 3 * 262144
    with pytest.raises(BadBlock, match="do not match"):  # without defer the same stream fails at once
        feed_all(DfsVerifier(root), stream(root, blocks))


def test_deferred_ranges_and_dups_n_replays(kubo_v1_car, tmp_path):
    root, ix, src = kubo_v1_car
    first, last = 262144 - 7, 3 * 262144 + 5
    out = push_all(DfsVerifier(root, (first, last)), stream(root, dfs_blocks(ix.get, root, (first, last))),
                   random.Random(4))
    assert first_bad(out) is None and b"".join(p for r in out for p in r.parts) == src[first : last + 1]
    (tmp_path / "ones").write_bytes(b"\1" * (3 << 20))
    info = write_file_car(str(tmp_path / "ones"), str(tmp_path / "o.car"))
    with CarIndex.open(str(tmp_path / "o.car")) as oix:
        once = list(dfs_blocks(oix.get, info.root))[:2]  # root + the one distinct leaf (dups=n)
    out = push_all(DfsVerifier(info.root, dups=False), stream(info.root, once), random.Random(5))
    assert first_bad(out) is None and b"".join(p for r in out for p in r.parts) == b"\1" * (3 << 20)
    assert [r.block is not None for r in out] == [True, False, False]  # replays ride on the first check


def test_small_leaves_are_hashed_during_push(tmp_path):
    leaf = bytes(DEFER_MIN - 1)
    leaf_cid = CID.of_block(leaf, RAW)
    out: list[Release] = []
    v = DfsVerifier(leaf_cid)
    v.push(stream(leaf_cid, [(leaf_cid, leaf)]), out, defer=True)
    v.finish()
    assert [r.block for r in out] == [None]
    with pytest.raises(BadBlock, match="do not match"):
        DfsVerifier(leaf_cid).push(stream(leaf_cid, [(leaf_cid, leaf[:-1] + b"x")]), [], defer=True)


def test_resolve_range_clips_and_counts_from_the_end():
    assert resolve_range(None, 10) == (0, 10)
    assert resolve_range((2, 4), 10) == (2, 5)
    assert resolve_range((8, 100), 10) == (8, 10)
    assert resolve_range((-3, None), 10) == (7, 10)
    assert resolve_range((20, 30), 10) == (10, 10)


def test_corrupt_block_stops_before_its_bytes_are_released(kubo_v1_car):
    root, ix, src = kubo_v1_car
    blocks = list(dfs_blocks(ix.get, root))
    cid, leaf = blocks[5]
    blocks[5] = (cid, leaf[:-1] + bytes([leaf[-1] ^ 1]))
    v = DfsVerifier(root)
    released = []
    with pytest.raises(VerifyError) as info:
        for s in [encode_header([root])] + sections(blocks):
            released += v.feed(s)
    assert info.value.cid == cid
    assert sum(len(c) for _, c in released) == 3 * 262144  # the three leaves before it, nothing more


def test_out_of_order_missing_and_extra_blocks(kubo_v1_car):
    root, ix, _ = kubo_v1_car
    blocks = list(dfs_blocks(ix.get, root))
    swapped = blocks[:]
    swapped[3], swapped[4] = swapped[4], swapped[3]
    with pytest.raises(VerifyError, match="expected this block next"):
        feed_all(DfsVerifier(root), stream(root, swapped))
    with pytest.raises(TruncatedCar, match="incomplete CAR: 1 block"):
        feed_all(DfsVerifier(root), stream(root, blocks[:-1]))
    with pytest.raises(VerifyError, match="unexpected extra block"):
        feed_all(DfsVerifier(root), stream(root, blocks + blocks[-1:]))
    with pytest.raises(TruncatedCar, match="truncated CAR"):
        feed_all(DfsVerifier(root), stream(root, blocks)[:-10])
    with pytest.raises(CarError, match="no CAR header"):
        DfsVerifier(root).finish()


def test_dups_y_and_dups_n_streams_of_repeated_leaves(tmp_path):
    path = tmp_path / "zeros"
    path.write_bytes(bytes(5 << 20))
    info = write_file_car(str(path), str(tmp_path / "z.car"))
    with CarIndex.open(str(tmp_path / "z.car")) as ix:
        dups_y = list(dfs_blocks(ix.get, info.root))
        assert len(dups_y) == 6
        assert feed_all(DfsVerifier(info.root), stream(info.root, dups_y)) == bytes(5 << 20)
        dups_n = dups_y[:2]  # each block once: a dups=n gateway stops here
        assert feed_all(DfsVerifier(info.root, dups=False), stream(info.root, dups_n)) == bytes(5 << 20)
        with pytest.raises(TruncatedCar, match="incomplete"):
            feed_all(DfsVerifier(info.root), stream(info.root, dups_n))
        ranged = DfsVerifier(info.root, (3 << 20, (3 << 20) + 9), dups=False)
        assert feed_all(ranged, stream(info.root, dups_n)) == bytes(10)


def test_a_node_whose_blocksizes_lie_is_rejected():
    leaf = b"0123456789"
    leaf_cid = CID.of_block(leaf, RAW)
    root_block = encode_node([PBLink(leaf_cid, "", 10), PBLink(leaf_cid, "", 10)], file_data(21, [10, 11]))
    root = CID.of_block(root_block, DAG_PB)
    blocks = [(root, root_block), (leaf_cid, leaf), (leaf_cid, leaf)]
    with pytest.raises(VerifyError, match="parent says 11"):
        feed_all(DfsVerifier(root), stream(root, blocks))


def test_identity_root_needs_no_blocks():
    ident = CID(1, RAW, 0x00, b"inline bytes")
    assert feed_all(DfsVerifier(ident), encode_header([ident])) == b"inline bytes"
    assert list(dfs_blocks(lambda c: pytest.fail("no fetch"), ident)) == []


def test_feed_block_checks_like_the_stream(kubo_v1_car):
    root, ix, src = kubo_v1_car
    v = DfsVerifier(root, (100, 199))
    out = b"".join(c for cid, b in dfs_blocks(ix.get, root, (100, 199)) for _, c in v.feed_block(cid, b))
    v.finish()
    assert out == src[100:200]


def test_gateway_walk_of_a_directory_is_the_node_only(tmp_path):
    base = tmp_path / "m"
    for i in range(3):
        (base / "d").mkdir(parents=True, exist_ok=True)
        (base / "d" / f"f{i}").write_bytes(pattern_bytes(10 + i))
    info = write_bundle_car(str(base), [f"d/f{i}" for i in range(3)], str(tmp_path / "b.car"))
    with CarIndex.open(str(tmp_path / "b.car")) as ix:
        assert [c for c, _ in dfs_blocks(ix.get, info.root)] == [info.root]
    many = tmp_path / "many"
    many.mkdir()
    rels = []
    for i in range(1100):
        (many / f"{i}").write_bytes(b"%d" % i)
        rels.append(f"{i}")
    info = write_bundle_car(str(many), rels, str(tmp_path / "h.car"))
    with CarIndex.open(str(tmp_path / "h.car")) as ix:
        walked = [c for c, _ in dfs_blocks(ix.get, info.root)]
        shards = [c for c in ix.offsets if c.codec == DAG_PB]
        assert walked[0] == info.root and set(walked) == set(shards) and len(walked) > 1
