"""ReorderVerifier: a CAR of one file in any block order (ipfs/specs trustless-gateway.md, CAR `order`:
`unk` or missing means "no assumptions"), verified block by block and released in file order."""

from __future__ import annotations

import random

import pytest

from tests.content.content_helpers import pattern_bytes
from tunasync.content.car import encode_header, write_file_car
from tunasync.content.carread import CarIndex
from tunasync.content.cid import CID, DAG_CBOR, RAW, encode_varint
from tunasync.content.reorder import ReorderVerifier
from tunasync.content.verify import dfs_blocks
from tunasync.errors import BadBlock, CarError, ReorderLimitError, TruncatedCar

MIB = 1 << 20


@pytest.fixture(scope="module")
def kubo_file(tmp_path_factory):
    base = tmp_path_factory.mktemp("reorder")
    data = pattern_bytes(7 * MIB + 333)
    (base / "f").write_bytes(data)
    root = write_file_car(str(base / "f"), str(base / "f.car"), "kubo-v1").root  # 256 KiB leaves, 2 levels
    with CarIndex.open(str(base / "f.car")) as ix:
        yield root, list(dfs_blocks(ix.get, root)), data


def car(root: CID, blocks) -> bytes:
    return encode_header([root]) + b"".join(encode_varint(len(c.bytes) + len(b)) + c.bytes + b for c, b in blocks)


def run(v: ReorderVerifier, data: bytes, rng: random.Random) -> bytes:
    out, pos, expect = [], 0, None
    while pos < len(data):
        n = rng.randint(1, 200_000)
        for off, chunk in v.feed(data[pos : pos + n]):
            assert expect is None or off == expect  # file order, whatever the block order
            expect = off + len(chunk)
            out.append(chunk)
        pos += n
    v.finish()
    return b"".join(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_order_gives_the_file(kubo_file, seed):
    root, blocks, data = kubo_file
    rng = random.Random(seed)
    shuffled = blocks[:]
    rng.shuffle(shuffled)
    v = ReorderVerifier(root)
    assert run(v, car(root, shuffled), rng) == data
    assert v.held == 0 and v.blocks == len(blocks)


def test_dfs_order_holds_nothing_back(kubo_file):
    root, blocks, data = kubo_file
    v = ReorderVerifier(root, limit=300 << 10)  # one leaf's worth is enough when the order is DFS
    assert run(v, car(root, blocks), random.Random(4)) == data


def test_ranges_in_any_order(kubo_file):
    root, blocks, data = kubo_file
    get = dict(blocks).__getitem__
    for rng in [(0, 0), (MIB - 1, 3 * MIB), (len(data) - 5, None), (-10, None)]:
        sent = list(reversed(list(dfs_blocks(get, root, rng))))
        v = ReorderVerifier(root, rng)
        lo = rng[0] if rng[0] >= 0 else len(data) + rng[0]
        hi = len(data) if rng[1] is None else rng[1] + 1
        assert run(v, car(root, sent), random.Random(5)) == data[lo:hi]


def test_limit_counts_blocks_that_wait(kubo_file):
    root, blocks, _ = kubo_file
    v = ReorderVerifier(root, limit=2 * MIB)
    with pytest.raises(ReorderLimitError, match="reorder buffer of 2097152 bytes") as info:
        v.feed(car(root, list(reversed(blocks))))
    assert isinstance(info.value, CarError) and f"next needed: {root}" in str(info.value)


def test_strays_duplicates_and_unusable_blocks_are_ignored(kubo_file):
    root, blocks, data = kubo_file
    junk = [(CID.of_block(b"stray", RAW), b"stray"), (CID.of_block(b"\xa0", DAG_CBOR), b"\xa0"),
            (CID(1, RAW, 0xB220, bytes(32)), b"blake2b: cannot be checked, cannot be needed")]
    sent = junk + blocks[5:] + blocks[:5] + blocks[3:9]
    v = ReorderVerifier(root)
    assert run(v, car(root, sent), random.Random(6)) == data
    assert v.ignored == 1  # the block we cannot hash; the others were checked and waited, unused
    assert v.held == 5 + 1 + sum(len(b) for _, b in blocks[3:9])
    # blocks nobody needs count against the limit: a flood of them is refused, not kept
    flood = [(CID.of_block(bytes([i]) * 100_000, RAW), bytes([i]) * 100_000) for i in range(30)]
    with pytest.raises(ReorderLimitError):
        ReorderVerifier(root, limit=MIB).feed(car(root, flood + blocks))


def test_bad_blocks_and_missing_ones(kubo_file):
    root, blocks, data = kubo_file
    cid, leaf = blocks[2]
    bad = [(cid, leaf[:-1] + b"\0")] + blocks[:2] + blocks[3:]
    with pytest.raises(BadBlock) as info:
        ReorderVerifier(root).feed(car(root, bad))
    assert info.value.cid == cid
    v = ReorderVerifier(root)
    got = v.feed(car(root, blocks[:2] + blocks[3:]))
    assert b"".join(c for _, c in got) == data[: 256 << 10]  # the first leaf, then the gap
    with pytest.raises(TruncatedCar, match=f"block\\(s\\) missing, next {cid}"):
        v.finish()
    with pytest.raises(CarError, match="no CAR header"):
        ReorderVerifier(root).finish()
