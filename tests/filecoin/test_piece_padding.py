"""`/piece/` bodies zero-filled to the piece's unpadded size (as Curio serves them): the CommP check
passes and the CAR inside is read up to its zero section, for v1 and v2 piece CIDs alike; a tail that is
not all zeros is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tunasync.content.cid import CID
from tunasync.content.piece import piece_of_file
from tunasync.errors import NetworkError
from tunasync.filecoin.http import Http
from tunasync.filecoin.interfaces import Candidate
from tunasync.filecoin.retriever import VerifiedRetriever

from .conftest import make_file


class PieceOnly:
    """A provider with no CID index: `/ipfs/` is 404, `/piece/{cid}` sends `body` for any piece CID."""

    def __init__(self, body: bytes):
        self.body = body

    async def ipfs(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="no CID index\n")

    async def piece(self, request: web.Request) -> web.Response:
        return web.Response(body=self.body, content_type="application/octet-stream")

    async def __aenter__(self) -> str:
        app = web.Application()
        app.router.add_get("/ipfs/{cid}", self.ipfs)
        app.router.add_get("/piece/{cid}", self.piece)
        self.server = TestServer(app, host="127.0.0.1")
        await self.server.start_server()
        return str(self.server.make_url("")).rstrip("/")

    async def __aexit__(self, *exc: object) -> None:
        await self.server.close()


def unpadded(padded_size: int) -> int:
    return padded_size // 128 * 127  # FRC-0069: the payload capacity of a piece


async def fetch(base: str, piece: CID, root: CID, out: Path, rng=None):
    r = VerifiedRetriever(http=Http(), scratch_dir=out.parent)
    try:
        return await r.fetch(root, out, rng, candidates=[Candidate(url=base, piece_cid=piece)])
    finally:
        await r.close()


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_a_zero_filled_piece_is_read_up_to_its_zero_section(tmp_path, version):
    f = make_file(tmp_path, "z.bin", 3 * 1048576 + 99)
    body = f.car.read_bytes()
    body += bytes(unpadded(f.padded_size) - len(body))
    info = piece_of_file(str(f.car))
    assert piece_of_file_bytes(tmp_path, body).v1 == info.v1  # zeros change neither the root nor the size
    piece = info.v1 if version == "v1" else info.v2
    async with PieceOnly(body) as base:
        res = await fetch(base, piece, f.root, tmp_path / "z.out")
        assert (tmp_path / "z.out").read_bytes() == f.data and res.source == f"{base}/piece/{piece}"
        await fetch(base, piece, f.root, tmp_path / "z2.out", (1048570, 2 * 1048576))
        assert (tmp_path / "z2.out").read_bytes() == f.data[1048570 : 2 * 1048576 + 1]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".piece-")]


async def test_a_tail_that_is_not_all_zeros_is_refused(tmp_path):
    f = make_file(tmp_path, "t.bin", 100_000)
    body = f.car.read_bytes() + b"\0" * 1000 + b"\1"
    info = piece_of_file(str(f.car))
    async with PieceOnly(body) as base:
        with pytest.raises(NetworkError) as exc:
            await fetch(base, info.v1, f.root, tmp_path / "t.out")
    assert "CommP" in str(exc.value)  # the CommP already differs
    assert not (tmp_path / "t.out").exists()


def piece_of_file_bytes(tmp: Path, data: bytes):
    p = tmp / "padded.body"
    p.write_bytes(data)
    try:
        return piece_of_file(str(p))
    finally:
        p.unlink()
