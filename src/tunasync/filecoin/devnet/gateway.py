"""One storage provider's HTTP retrieval endpoints (its own port), serving what it stores:

    GET|HEAD /piece/{pieceCid}          FRC-0066: the piece payload (our CAR), Range supported
    GET|HEAD /ipfs/{cid}[/{path}]       trustless gateway (ipfs.py): format=raw|car, dag-scope, entity-bytes
Faults (see faults.py) change what goes out: slow, hang, corrupt (one flipped byte), truncate (half).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ...content.cid import CID, RAW
from ...content.piece import v2_to_v1
from .context import Devnet, ProviderInfo
from .ipfs import IpfsHandler
from .providers import ProviderRuntime

SEND_CHUNK = 1 << 20


class ProviderGateway:
    def __init__(self, net: Devnet, runtime: ProviderRuntime, info: ProviderInfo):
        self.net = net
        self.runtime = runtime
        self.info = info
        self.ipfs = IpfsHandler(net, runtime, info, self._faults_first)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", "/piece/{cid}", self.piece)
        app.router.add_route("HEAD", "/piece/{cid}", self.piece)
        self.ipfs.routes(app)
        app.router.add_get("/info", self.about)
        return app

    async def _faults_first(self) -> None:
        actor = self.info.actor
        if self.net.faults.has(actor, "hang"):
            await self.net.pause(3600)
            raise web.HTTPServiceUnavailable(text="shutting down\n")
        slow = self.net.faults.value(actor, "slow")
        if slow:
            await self.net.pause(slow)

    async def about(self, request: web.Request) -> web.Response:
        return web.json_response({"Version": "devnet", "actor": self.info.actor, "peerId": self.info.peer_id})

    async def piece(self, request: web.Request) -> web.StreamResponse:
        await self._faults_first()
        try:
            piece = CID.decode(request.match_info["cid"])
            if piece.codec == RAW:
                piece = v2_to_v1(piece)
        except ValueError as exc:
            return web.Response(status=400, text=f"bad piece CID: {exc}\n")
        path = await asyncio.to_thread(self.runtime.piece_path, self.info.actor, piece)
        if path is None or not path.is_file():
            return web.Response(status=404, text="piece not found\n")
        actor = self.info.actor
        corrupt, truncate = self.net.faults.has(actor, "corrupt"), self.net.faults.has(actor, "truncate")
        headers = {"Cache-Control": "public, max-age=29030400, immutable", "Content-Type": "application/vnd.ipld.car; version=1"}
        if not (corrupt or truncate) or request.method == "HEAD":
            return web.FileResponse(path, headers=headers)
        size = path.stat().st_size
        resp = web.StreamResponse(headers=headers)
        resp.content_length = size
        await resp.prepare(request)
        limit = size // 2 if truncate else size
        f = await asyncio.to_thread(open, path, "rb")
        with f:
            sent = 0
            while sent < limit:
                chunk = bytearray(await asyncio.to_thread(f.read, min(SEND_CHUNK, limit - sent)))
                if not chunk:
                    break
                if corrupt and sent <= size // 2 < sent + len(chunk):
                    chunk[size // 2 - sent] ^= 0xFF
                await resp.write(bytes(chunk))
                sent += len(chunk)
        if truncate:
            if request.transport is not None:
                request.transport.close()  # cut the connection: a short body
            return resp
        await resp.write_eof()
        return resp
