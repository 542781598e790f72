"""One storage provider's HTTP retrieval endpoints (its own port), serving what it stores:

    GET|HEAD /piece/{pieceCid}          FRC-0066: the piece payload (our CAR), Range supported
    GET      /ipfs/{cid}?format=car     trustless gateway: dag-scope=entity (+ entity-bytes=a:b), order=dfs, dups=y
    GET      /ipfs/{cid}?format=raw     one block
Faults (see faults.py) change what goes out: slow, hang, corrupt (one flipped byte), truncate (half).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from ...content.car import encode_header
from ...content.cid import CID, RAW, encode_varint
from ...content.piece import v2_to_v1
from . import carplan
from .context import Devnet, ProviderInfo
from .providers import ProviderRuntime

CAR_TYPE = "application/vnd.ipld.car; version=1; order=dfs; dups=y"
SEND_CHUNK = 1 << 20


def parse_entity_bytes(text: str, size: int) -> tuple[int, int] | None:
    """`from:to` (inclusive, `*` = end, negatives from the end) → clamped (a, b), or None when empty."""
    a_s, sep, b_s = text.partition(":")
    if not sep:
        raise ValueError(f"entity-bytes {text!r} must be from:to")
    a = int(a_s)
    b = size - 1 if b_s == "*" else int(b_s)
    if a < 0:
        a = max(0, size + a)
    if b < 0:
        b = size + b
    b = min(b, size - 1)
    if a > b:
        return None
    return a, b


class ProviderGateway:
    def __init__(self, net: Devnet, runtime: ProviderRuntime, info: ProviderInfo):
        self.net = net
        self.runtime = runtime
        self.info = info

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("GET", "/piece/{cid}", self.piece)
        app.router.add_route("HEAD", "/piece/{cid}", self.piece)
        app.router.add_get("/ipfs/{cid}", self.ipfs)
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

    def _get_block(self, cid: CID) -> bytes:
        if cid.mh_code == 0x00:
            return cid.digest
        where = self.runtime.locate(self.info.actor, cid)
        if where is None:
            raise KeyError(cid)
        path, offset, length = where
        fd = os.open(path, os.O_RDONLY)
        try:
            return os.pread(fd, length, offset)
        finally:
            os.close(fd)

    async def ipfs(self, request: web.Request) -> web.StreamResponse:
        await self._faults_first()
        q = request.query
        try:
            cid = CID.decode(request.match_info["cid"])
        except ValueError as exc:
            return web.Response(status=400, text=f"bad CID: {exc}\n")
        if self.net.faults.has(self.info.actor, "no_ipfs"):
            return web.Response(status=404, text="no CID index on this provider\n")
        accept = request.headers.get("Accept", "")
        fmt = q.get("format") or ("raw" if "vnd.ipld.raw" in accept else "car" if "vnd.ipld.car" in accept else "")
        if fmt == "raw":
            try:
                block = await asyncio.to_thread(self._get_block, cid)
            except KeyError:
                return web.Response(status=404, text="block not found\n")
            if self.net.faults.has(self.info.actor, "corrupt") and block:
                block = bytes([block[0] ^ 0xFF]) + block[1:]
            return web.Response(body=block, content_type="application/vnd.ipld.raw")
        if fmt != "car":
            return web.Response(status=406, text="only format=car and format=raw are served\n")
        if q.get("dag-scope", "all") not in ("entity", "all") or q.get("car-order", "dfs") not in ("dfs", "unk"):
            return web.Response(status=400, text="supported: dag-scope=entity|all, car-order=dfs\n")
        try:
            root = await asyncio.to_thread(self._get_block, cid)
        except KeyError:
            return web.Response(status=404, text="root block not found\n")
        byte_range = None
        if "entity-bytes" in q:
            try:
                size = _file_size(cid, root)
                byte_range = parse_entity_bytes(q["entity-bytes"], size)
            except ValueError as exc:
                return web.Response(status=400, text=f"{exc}\n")
            if byte_range is None:
                return web.Response(status=400, text="entity-bytes range is empty\n")
        resp = web.StreamResponse(headers={"Content-Type": CAR_TYPE, "X-Content-Type-Options": "nosniff",
                                           "Content-Disposition": f'attachment; filename="{cid}.car"'})
        actor = self.info.actor
        if not (self.net.faults.has(actor, "corrupt") or self.net.faults.has(actor, "truncate")):
            try:
                parts = await asyncio.to_thread(carplan.plan, lambda c: self.runtime.locate(actor, c), cid,
                                                byte_range)
            except KeyError:
                parts = None  # a block is missing: stream what we have, the CAR just ends
            if parts is not None:
                return await self._send_plan(request, resp, cid, parts)
        await resp.prepare(request)
        await resp.write(encode_header([cid]))
        async for section in self._sections(cid, byte_range):
            await resp.write(section)
        await resp.write_eof()
        return resp

    async def _send_plan(self, request: web.Request, resp: web.StreamResponse, cid: CID,
                         parts: list[carplan.Part]) -> web.StreamResponse:
        """Known length, file ranges with sendfile (what FileResponse does), bytes for the rest."""
        header = encode_header([cid])
        resp.content_length = len(header) + sum(p.size for p in parts)
        await resp.prepare(request)
        await resp.write(header)
        loop = asyncio.get_running_loop()
        files: dict[str, Any] = {}
        try:
            for part in parts:
                if part.path is None:
                    await resp.write(part.data)
                    continue
                if part.path not in files:
                    files[part.path] = await asyncio.to_thread(open, part.path, "rb")
                transport = request.transport
                if transport is None:
                    break
                await resp.drain()
                await loop.sendfile(transport, files[part.path], part.start, part.end - part.start)
        finally:
            for f in files.values():
                f.close()
        await resp.write_eof()
        return resp

    async def _sections(self, root: CID, byte_range: tuple[int, int] | None) -> Any:
        """CAR sections of the DFS walk, produced in a thread (block reads are disk IO)."""
        from ...content.verify import dfs_blocks

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)
        stop = threading.Event()
        actor = self.info.actor
        corrupt, truncate = self.net.faults.has(actor, "corrupt"), self.net.faults.has(actor, "truncate")

        def produce() -> None:
            try:
                blocks: Iterator[tuple[CID, bytes]] = dfs_blocks(self._get_block, root, byte_range)
                items = list(blocks) if (corrupt or truncate) else None
                seq = items if items is not None else blocks
                bad = len(items) // 2 if items else -1
                cut = len(items) // 2 if truncate and items is not None else None
                for i, (c, data) in enumerate(seq):
                    if stop.is_set() or (cut is not None and i >= cut):
                        break
                    if i == bad and corrupt and data:
                        data = bytes([data[0] ^ 0xFF]) + data[1:]
                    cb = c.bytes
                    asyncio.run_coroutine_threadsafe(queue.put(encode_varint(len(cb) + len(data)) + cb + data),
                                                     loop).result()
            except BaseException as exc:  # noqa: BLE001 - handed to the loop
                asyncio.run_coroutine_threadsafe(queue.put(exc), loop).result()
                return
            asyncio.run_coroutine_threadsafe(queue.put(None), loop).result()

        worker = loop.run_in_executor(None, produce)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    break  # a missing block mid-walk: the CAR just ends (clients must notice)
                yield item
        finally:
            stop.set()
            while not worker.done():
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    await asyncio.sleep(0.01)
            await worker


def _file_size(cid: CID, root: bytes) -> int:
    if cid.codec == RAW:
        return len(root)
    from ...content.dagpb import decode_node
    from ...content.unixfs import decode_data

    node = decode_node(root)
    data = decode_data(node.data or b"")
    return data.filesize or 0
