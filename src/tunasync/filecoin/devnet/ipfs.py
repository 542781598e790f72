"""A devnet provider's trustless gateway: `GET|HEAD /ipfs/{cid}[/{path}]` (rules in `trustless.py`).

    ?format=raw | Accept: application/vnd.ipld.raw     one block (Range: one byte range)
    ?format=car | Accept: application/vnd.ipld.car     a CARv1: dag-scope=block|entity|all (default all),
                                                       entity-bytes=from:to, order=dfs, dups=y|n (n unless asked)

A DFS CAR of blocks the provider holds goes out as byte ranges of its stored CARs (`carplan`, sendfile).
Faults change what goes out: corrupt (one flipped byte), truncate (half the blocks), unordered (the
blocks shuffled, Content-Type without `order` or `dups`: a client must reorder), no_ipfs (404).
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web

from ...content.car import encode_header
from ...content.cid import CID, encode_varint
from . import carplan, trustless
from .context import Devnet, ProviderInfo
from .providers import ProviderRuntime
from .trustless import CACHE_CONTROL, CAR_TYPE, SCOPES, Choice, Refused


class IpfsHandler:
    def __init__(self, net: Devnet, runtime: ProviderRuntime, info: ProviderInfo,
                 faults_first: Callable[[], Awaitable[None]]):
        self.net = net
        self.runtime = runtime
        self.info = info
        self.faults_first = faults_first

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/ipfs/{cid}", self.handle)  # HEAD too
        app.router.add_get("/ipfs/{cid}/{path:.*}", self.handle)

    def _fault(self, kind: str) -> bool:
        return self.net.faults.has(self.info.actor, kind)

    def get_block(self, cid: CID) -> bytes:
        """The block's bytes from the provider's stored CARs; KeyError when it holds none."""
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

    async def handle(self, request: web.Request) -> web.StreamResponse:
        await self.faults_first()
        try:
            return await self._answer(request)
        except Refused as exc:
            return web.Response(status=exc.status, text=f"{exc.reason}\n")

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        try:
            root = CID.decode(request.match_info["cid"])
        except ValueError as exc:
            raise Refused(400, f"bad CID: {exc}") from None
        if self._fault("no_ipfs"):
            raise Refused(404, "no CID index on this provider")
        choice = trustless.negotiate(q, request.headers.get("Accept"))
        path = [p for p in request.match_info.get("path", "").split("/") if p]
        scope = q.get("dag-scope", "all")
        if choice.format == "raw" and (path or "dag-scope" in q or "entity-bytes" in q):
            raise Refused(400, "a block request is /ipfs/{cid} alone: no path, dag-scope or entity-bytes")
        if scope not in SCOPES:
            raise Refused(400, f"dag-scope={scope}: block, entity or all")
        try:
            root_block = await asyncio.to_thread(self.get_block, root)
        except KeyError:
            if "only-if-cached" in request.headers.get("Cache-Control", ""):
                raise Refused(412, "root block not held here (only-if-cached)") from None
            raise Refused(404, f"root block {root} not held by this provider") from None
        proof, target, roots = await asyncio.to_thread(trustless.resolve, self.get_block, root, path)
        target_block = root_block
        if target != root:
            target_block = await asyncio.to_thread(trustless.fetch_block, self.get_block, target)
        byte_range = None
        entity_bytes = q.get("entity-bytes")
        if choice.format == "car" and entity_bytes is not None:
            scope = "entity"
            size = trustless.file_size(target, target_block)
            if size is not None:
                byte_range = trustless.entity_range(entity_bytes, size)
                if byte_range is None:
                    scope = "block"  # an empty range: the root alone tells the client why
        unordered = choice.format == "car" and self._fault("unordered")
        headers = self._headers(request, choice, target, roots)
        headers["Etag"] = trustless.etag(request.path.removeprefix("/ipfs/"), choice, scope, entity_bytes, unordered)
        if unordered:
            headers["Content-Type"] = f"{CAR_TYPE}; version=1"  # a legacy gateway: order and dups unknown
        if trustless.etag_matches(request.headers.get("If-None-Match", ""), headers["Etag"]):
            return web.Response(status=304, headers={k: headers[k] for k in ("Etag", "Cache-Control")})
        if choice.format == "raw":
            return await self._raw(request, headers, target_block)
        resp = web.StreamResponse(headers=headers)
        if request.method == "HEAD":
            await resp.prepare(request)
            return resp

        def walk(get: Callable[[CID], bytes]) -> Iterator[tuple[CID, bytes]]:
            return trustless.walk(get, proof, target, scope, byte_range, "y" if unordered else choice.dups)

        if not (unordered or self._fault("corrupt") or self._fault("truncate")):
            try:
                parts = await asyncio.to_thread(carplan.plan, lambda c: self.runtime.locate(self.info.actor, c), walk)
            except KeyError:
                parts = None  # a block is missing: stream what we have, the CAR just ends
            if parts is not None:
                return await self._send_plan(request, resp, root, parts)
        await resp.prepare(request)
        await resp.write(encode_header([root]))
        async for section in self._sections(walk, str(target)):
            await resp.write(section)
        await resp.write_eof()
        return resp

    def _headers(self, request: web.Request, choice: Choice, target: CID, roots: list[CID]) -> dict[str, str]:
        ext = "bin" if choice.format == "raw" else "car"
        headers = {
            "Content-Type": choice.content_type,
            "Content-Disposition": trustless.content_disposition(request.query.get("filename") or f"{target}.{ext}"),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": CACHE_CONTROL,
            "X-Ipfs-Path": request.path,
            "X-Ipfs-Roots": ",".join(str(c) for c in roots),
            "Vary": "Accept",
        }
        if choice.format == "car":
            headers["Accept-Ranges"] = "none"  # a CAR has no byte ranges here: entity-bytes is the way
        if choice.negotiated:
            qs = request.query_string
            headers["Content-Location"] = f"{request.path}?format={choice.format}" + (f"&{qs}" if qs else "")
        return headers

    async def _raw(self, request: web.Request, headers: dict[str, str], block: bytes) -> web.StreamResponse:
        if self._fault("corrupt") and block:
            block = bytes([block[0] ^ 0xFF]) + block[1:]
        status, body = 200, block
        headers["Accept-Ranges"] = "bytes"
        if "Range" in request.headers:
            try:
                rng = request.http_range
            except ValueError:
                rng = None  # several ranges or nonsense: the whole block (path-gateway.md allows it)
            if rng is not None and (rng.start is not None or rng.stop is not None):
                size = len(block)
                start = rng.start or 0
                first = max(0, size + start) if start < 0 else start
                stop = size if rng.stop is None or start < 0 else min(rng.stop, size)
                if first >= stop:
                    return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
                status, body = 206, block[first:stop]
                headers["Content-Range"] = f"bytes {first}-{stop - 1}/{size}"
        if request.method == "HEAD":
            resp = web.Response(status=status, headers=headers)
            resp.content_length = len(body)
            return resp
        return web.Response(status=status, body=body, headers=headers)

    async def _send_plan(self, request: web.Request, resp: web.StreamResponse, root: CID,
                         parts: list[carplan.Part]) -> web.StreamResponse:
        """Known length, file ranges with sendfile (what FileResponse does), bytes for the rest."""
        header = encode_header([root])
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

    async def _sections(self, walk: carplan.Walk, seed: str) -> Any:
        """CAR sections of the walk, produced in a thread (block reads are disk IO); faults applied."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=8)
        stop = threading.Event()
        corrupt, truncate, unordered = self._fault("corrupt"), self._fault("truncate"), self._fault("unordered")

        def produce() -> None:
            try:
                blocks: Iterator[tuple[CID, bytes]] = walk(self.get_block)
                items = list(blocks) if (corrupt or truncate or unordered) else None
                if unordered and items is not None:
                    random.Random(seed).shuffle(items)
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
            except BaseException as exc:
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
