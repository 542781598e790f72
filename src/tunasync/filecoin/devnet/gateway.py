"""One storage provider's HTTP retrieval endpoints (its own port), serving what it stores:

    GET|HEAD /piece/{pieceCid}          FRC-0066: the piece payload (our CAR; kind curio: then zeros up to the
                                        unpadded piece size, as Curio serves it), Range supported
    GET|HEAD /ipfs/{cid}[/{path}]       trustless gateway (ipfs.py): format=raw|car, dag-scope, entity-bytes
Faults (see faults.py) change what goes out: slow, hang, corrupt (one flipped byte), truncate (half).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ...content.cid import CID, RAW
from ...content.fr32 import sizes as fr32_sizes
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

    def _padded_size(self, piece: CID, size: int) -> int:
        rows = self.net.store.query("SELECT MAX(piece_size) AS p FROM deals WHERE provider = ? AND piece_cid = ?",
                                    (self.info.actor, str(piece)))
        return rows[0]["p"] if rows and rows[0]["p"] else fr32_sizes(size)[0]

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
        if self.info.kind != "curio" and (not (corrupt or truncate) or request.method == "HEAD"):
            return web.FileResponse(path, headers=headers)
        size = (await asyncio.to_thread(path.stat)).st_size
        total = size
        if self.info.kind == "curio":
            # Curio (lib/cachedreader) serves a v1 piece of a deal without a recorded raw size at the
            # unpadded piece size: the payload, then zeros up to padded * 127/128. Its Content-Type is
            # what Go's sniffer says of the first bytes, and the ETag is the piece CID.
            total = await asyncio.to_thread(self._padded_size, piece, size) // 128 * 127
            headers = {"Cache-Control": "public, max-age=29030400, immutable", "Vary": "Accept-Encoding",
                       "Content-Type": "application/octet-stream", "ETag": f'"{request.match_info["cid"]}"',
                       "Accept-Ranges": "bytes", "Last-Modified": "Thu, 01 Jan 1970 00:00:00 GMT"}
        first, stop, status = 0, total, 200
        if self.info.kind == "curio" and "Range" in request.headers:
            try:
                rng = request.http_range
            except ValueError:
                rng = None
            if rng is None or (rng.start is None and rng.stop is None):
                return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
            if rng.start is not None and rng.start < 0:  # bytes=-N
                first, stop = max(0, total + rng.start), total
            else:
                first = rng.start or 0
                stop = total if rng.stop is None else min(rng.stop, total)
            if first >= stop:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{total}"})
            status = 206
            headers["Content-Range"] = f"bytes {first}-{stop - 1}/{total}"
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = stop - first
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        limit = first + (stop - first) // 2 if truncate else stop
        flip = total // 2 if corrupt else -1
        f = await asyncio.to_thread(open, path, "rb")
        with f:
            pos = first
            while pos < limit:
                n = min(SEND_CHUNK, limit - pos)
                if pos >= size:
                    chunk = bytearray(n)
                else:
                    await asyncio.to_thread(f.seek, pos)
                    chunk = bytearray(await asyncio.to_thread(f.read, min(n, size - pos)))
                    if not chunk:
                        break
                if pos <= flip < pos + len(chunk):
                    chunk[flip - pos] ^= 0xFF
                await resp.write(bytes(chunk))
                pos += len(chunk)
        if truncate:
            if request.transport is not None:
                request.transport.close()  # cut the connection: a short body
            return resp
        await resp.write_eof()
        return resp
