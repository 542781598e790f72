"""The client reads the CAR layout a gateway declares (ipfs/specs `src/http-gateways/trustless-gateway.md`,
"CAR `order`", "CAR `dups`", "CAR format signaling in Response") and verifies CARs in any block order:
blocks wait in a bounded reorder buffer, duplicates and unrequested blocks are ignored, nothing is
released before its block verified."""

from __future__ import annotations

import random

import pytest

from tunasync.content.car import write_file_car
from tunasync.content.carread import CarIndex
from tunasync.content.cid import CID, RAW
from tunasync.content.verify import dfs_blocks
from tunasync.errors import CarError, NetworkError, ReorderLimitError, TruncatedCar, VerifyError
from tunasync.filecoin.gateway import TrustlessGateway, car_layout
from tunasync.filecoin.http import Http
from tunasync.filecoin.interfaces import Candidate
from tunasync.filecoin.retriever import VerifiedRetriever

from .conftest import make_file
from .test_gateway import MIB, CarServer, car_blocks, car_bytes

LEGACY = "application/vnd.ipld.car"


@pytest.mark.parametrize("ctype, layout", [
    # "CAR format signaling in Response": the example, parameters without spaces
    ("application/vnd.ipld.car;version=1;order=dfs;dups=n", ("dfs", "n")),
    ("application/vnd.ipld.car; version=1; order=dfs; dups=y", ("dfs", "y")),
    # "A Client MUST verify Content-Type ... the legacy gateway may ... return plain application/vnd.ipld.car"
    ("application/vnd.ipld.car", ("unk", None)),
    # "CAR order": "A Client MUST assume implicit order=unk when order is missing, unknown, or empty"
    ("application/vnd.ipld.car; version=1; order=unk; dups=y", ("unk", "y")),
    ("application/vnd.ipld.car; version=1; order=", ("unk", None)),
    ("application/vnd.ipld.car; version=1; order=foo; dups=n", ("unk", "n")),
    # "CAR dups": "A Client MUST not assume any implicit behavior when dups is missing"
    ("application/vnd.ipld.car; version=1; order=dfs", ("dfs", None)),
    ('Application/VND.IPLD.CAR; Version="1"; ORDER=DFS; dups=Y', ("dfs", "y")),
])
def test_content_type_parameters(ctype, layout):
    assert car_layout(ctype) == layout


@pytest.mark.parametrize("ctype", ["text/plain", "application/vnd.ipld.raw", "application/vnd.ipld.car; version=2"])
def test_not_a_carv1_response(ctype):
    with pytest.raises(ValueError):
        car_layout(ctype)


async def collect(base: str, root: CID, rng=None, limit: int = 256 << 20) -> tuple[bytes, BaseException | None]:
    gw = TrustlessGateway(Http(), reorder_limit=limit)
    got = bytearray()
    try:
        async for off, part in gw.verified(base, root, rng):
            assert off == len(got) + (rng[0] if rng else 0)  # in file order, no gaps
            got += part
    except (VerifyError, CarError, NetworkError) as exc:
        return bytes(got), exc
    finally:
        await gw.http.close()
    return bytes(got), None


async def test_a_legacy_gateway_sending_blocks_in_any_order(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 9 * MIB + 12345)
    shuffled = blocks[:]
    random.Random(5).shuffle(shuffled)
    assert shuffled != blocks
    for ctype in (LEGACY, f"{LEGACY}; version=1; order=unk"):
        async with CarServer(car_bytes(root, shuffled), 65_537, ctype=ctype) as base:
            got, err = await collect(base, root)
        assert err is None and got == data
    rng = (MIB - 10, 3 * MIB + 10)
    part = list(reversed(list(dfs_blocks(dict(blocks).__getitem__, root, rng))))
    async with CarServer(car_bytes(root, part), ctype=LEGACY) as base:
        got, err = await collect(base, root, rng)
    assert err is None and got == data[rng[0] : rng[1] + 1]


async def test_the_reorder_buffer_is_bounded(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 6 * MIB)
    last_first = list(reversed(blocks))  # the root comes last: every leaf has to wait
    async with CarServer(car_bytes(root, last_first), ctype=LEGACY) as base:
        got, err = await collect(base, root, limit=3 * MIB)
        assert isinstance(err, ReorderLimitError) and "reorder buffer of 3145728 bytes" in str(err)
        assert got == b""
        got, err = await collect(base, root, limit=7 * MIB)
    assert err is None and got == data


async def test_unknown_dups_duplicates_and_stray_blocks_are_ignored(tmp_path):
    zeros = bytes(3 * MIB)
    (tmp_path / "z").write_bytes(zeros)
    root = write_file_car(str(tmp_path / "z"), str(tmp_path / "z.car")).root
    with CarIndex.open(str(tmp_path / "z.car")) as ix:
        walk = list(dfs_blocks(ix.get, root))  # root + the same leaf three times
    leaf = walk[1]
    stray = (CID.of_block(b"not part of the file", RAW), b"not part of the file")
    # "CAR dups": without dups, "the client MUST assume duplicates are not sent, but also MUST ignore
    # duplicates and other unexpected blocks if they are present"
    for sent in ([walk[0], leaf], walk, [leaf, stray, walk[0], leaf, stray]):
        for ctype in (f"{LEGACY}; version=1; order=dfs", LEGACY):
            async with CarServer(car_bytes(root, sent), ctype=ctype) as base:
                got, err = await collect(base, root)
            assert err is None and got == zeros, (ctype, len(sent))


async def test_a_bad_or_missing_block_out_of_order_is_an_error(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 5 * MIB)
    cid, leaf = blocks[3]  # file bytes [2 MiB, 3 MiB)
    bad = blocks[:3] + [(cid, leaf[:-1] + bytes([leaf[-1] ^ 1]))] + blocks[4:]
    async with CarServer(car_bytes(root, list(reversed(bad))), ctype=LEGACY) as base:
        got, err = await collect(base, root)
    assert isinstance(err, VerifyError) and err.cid == cid and got == b""
    async with CarServer(car_bytes(root, bad[:3] + bad[4:]), ctype=LEGACY) as base:
        got, err = await collect(base, root)
    assert isinstance(err, TruncatedCar) and "incomplete" in str(err) and got == data[: 2 * MIB]


async def test_devnet_unordered_provider_is_read_or_skipped_by_the_buffer(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "u.bin", 4 * MIB + 3)
    devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])
    devnet.fault(devnet.actor(0), "unordered")
    p0, p1 = (Candidate(url=devnet.providers[i]["url"], name=devnet.actor(i)) for i in (0, 1))
    r = VerifiedRetriever(http=Http(fast_http))
    try:
        res = await r.fetch(f.root, tmp_path / "u.out", candidates=[p0, p1])
        assert (tmp_path / "u.out").read_bytes() == f.data and res.source == p0.url and res.failures == []
    finally:
        await r.close()
    r = VerifiedRetriever(http=Http(fast_http), reorder_limit=MIB)  # too small for a shuffled 4 MiB file
    try:
        res = await r.fetch(f.root, tmp_path / "u2.out", candidates=[p0, p1])
        assert (tmp_path / "u2.out").read_bytes() == f.data and res.source == p1.url
        assert "reorder buffer" in res.failures[0]
    finally:
        await r.close()
