"""The trustless-gateway client on a loopback server that sends crafted CARs in odd-sized writes:
bytes come out in order and only after their block verified (hashing runs on threads), a bad block
stops the stream exactly before it, and a stalled consumer stalls the download (memory stays flat)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tunasync.content.car import encode_header, write_file_car
from tunasync.content.carread import CarIndex
from tunasync.content.cid import CID, encode_varint
from tunasync.content.verify import dfs_blocks
from tunasync.errors import CarError, NetworkError, VerifyError
from tunasync.filecoin.gateway import TrustlessGateway
from tunasync.filecoin.http import Http

from .conftest import pattern

MIB = 1 << 20


def car_blocks(tmp: Path, size: int) -> tuple[CID, bytes, list[tuple[CID, bytes]]]:
    data = pattern(size, 7)
    (tmp / "f").write_bytes(data)
    info = write_file_car(str(tmp / "f"), str(tmp / "f.car"))  # 1 MiB raw leaves
    with CarIndex.open(str(tmp / "f.car")) as ix:
        return info.root, data, list(dfs_blocks(ix.get, info.root))


def car_bytes(root: CID, blocks: list[tuple[CID, bytes]]) -> bytes:
    return encode_header([root]) + b"".join(encode_varint(len(c.bytes) + len(b)) + c.bytes + b for c, b in blocks)


class CarServer:
    """Serves `body` for any /ipfs/ request in writes of `piece` bytes; counts what it got out. Given
    `blocks` instead, answers each request with the walk its `entity-bytes` asks for."""

    def __init__(self, body: bytes = b"", piece: int = 100_003, blocks: dict[CID, bytes] | None = None,
                 ctype: str = "application/vnd.ipld.car; version=1; order=dfs; dups=y"):
        self.ctype = ctype
        self.body = body
        self.piece = piece
        self.blocks = blocks
        self.sent = 0
        self.queries: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(request.query_string)
        body = self.body
        if self.blocks is not None:
            root = CID.decode(request.match_info["cid"])
            rng = None
            if "entity-bytes" in request.query:
                a, b = request.query["entity-bytes"].split(":")
                rng = (int(a), None if b == "*" else int(b))
            body = car_bytes(root, list(dfs_blocks(self.blocks.__getitem__, root, rng)))
        resp = web.StreamResponse(headers={"Content-Type": self.ctype})
        await resp.prepare(request)
        for i in range(0, len(body), self.piece):
            await resp.write(body[i : i + self.piece])
            self.sent = i + self.piece
        return resp

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_get("/ipfs/{cid}", self.handle)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


async def collect(base: str, root: CID, rng=None) -> tuple[bytes, BaseException | None]:
    gw = TrustlessGateway(Http())
    got = bytearray()
    try:
        async for off, part in gw.verified(base, root, rng):
            assert isinstance(part, memoryview) and part.readonly
            assert off == len(got) + (rng[0] if rng else 0)  # in file order, no gaps
            got += part
    except (VerifyError, CarError, NetworkError) as exc:
        return bytes(got), exc
    finally:
        await gw.http.close()
    return bytes(got), None


async def test_whole_file_and_a_range_in_odd_pieces(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 9 * MIB + 12345)
    for piece in (997, 3 * MIB):
        async with CarServer(car_bytes(root, blocks), piece) as base:
            got, err = await collect(base, root)
        assert err is None and got == data
    rng = (MIB - 10, 3 * MIB + 10)
    sent = list(dfs_blocks(lambda c: dict(blocks)[c], root, rng))
    async with CarServer(car_bytes(root, sent)) as base:
        got, err = await collect(base, root, rng)
    assert err is None and got == data[rng[0] : rng[1] + 1]


async def test_a_bad_block_stops_the_stream_exactly_before_it(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 8 * MIB)
    cid, leaf = blocks[4]  # the 4th leaf: file bytes [3 MiB, 4 MiB)
    blocks[4] = (cid, leaf[:-1] + bytes([leaf[-1] ^ 1]))
    body = car_bytes(root, blocks)
    async with CarServer(body) as base:
        got, err = await collect(base, root)
    assert isinstance(err, VerifyError) and err.cid == cid and "do not match" in str(err)
    assert got == data[: 3 * MIB]
    # a later malformed section does not hide the earlier bad block: errors come in stream order
    async with CarServer(body[:-5] + b"\xff" * 12) as base:
        got, err = await collect(base, root)
    assert isinstance(err, VerifyError) and err.cid == cid and got == data[: 3 * MIB]


async def test_a_truncated_car_releases_what_verified_then_fails(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 5 * MIB)
    body = car_bytes(root, blocks)
    cut = body.index(blocks[3][1]) + 1000  # inside the third leaf
    async with CarServer(body[:cut]) as base:
        got, err = await collect(base, root)
    assert isinstance(err, CarError) and "truncated" in str(err)
    assert got == data[: 2 * MIB]


async def test_a_stalled_consumer_stalls_the_download(tmp_path):
    root, data, blocks = car_blocks(tmp_path, 96 * MIB)
    server = CarServer(car_bytes(root, blocks), 1 * MIB)
    gw = TrustlessGateway(Http())
    try:
        async with server as base:
            it = gw.verified(base, root)
            off, part = await anext(it)
            assert off == 0 and part == data[: len(part)]
            await asyncio.sleep(1.0)  # the consumer holds still; reads and hashes stop at the bound
            assert server.sent < 48 * MIB
            got = bytearray(part)
            async for _, part in it:
                got += part
            assert got == data and server.sent >= len(server.body)
    finally:
        await gw.http.close()


@pytest.mark.parametrize("ctype", ["text/plain", "application/vnd.ipld.car; version=2"])
async def test_not_a_carv1_is_refused(tmp_path, ctype):  # CARs in other orders: test_gateway_order.py
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=b"x", headers={"Content-Type": ctype})

    app = web.Application()
    app.router.add_get("/ipfs/{cid}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        got, err = await collect(str(server.make_url("")).rstrip("/"), CID.of_block(b"x", 0x55))
        assert isinstance(err, NetworkError) and got == b""
    finally:
        await server.close()


async def test_an_unexpected_reader_failure_reaches_the_consumer(tmp_path, monkeypatch):
    root, data, blocks = car_blocks(tmp_path, 2 * MIB)

    def broken(self, data, out, defer=False):
        raise RuntimeError("bug in the walk")

    monkeypatch.setattr("tunasync.content.verify.DfsVerifier.push", broken)
    async with CarServer(car_bytes(root, blocks)) as base:
        with pytest.raises(RuntimeError, match="bug in the walk"):
            await asyncio.wait_for(collect(base, root), 10)
