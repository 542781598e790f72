"""Trustless-gateway client (spec §6.1, §6.3): fetch one UnixFS file (or byte range) as a DFS CAR and
yield only bytes that verified against the root CID.

    GET {base}/ipfs/{cid}?format=car&dag-scope=entity&car-order=dfs&car-dups=y[&entity-bytes=a:b]

Reading the socket and verifying overlap: a reader task fills a small queue with ~1 MiB batches while
`DfsVerifier.feed` (sha256 releases the GIL) runs in a worker thread. A response that ends early is an
error (`finish()`), never a short file.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from ..content.cid import CID
from ..content.verify import DfsVerifier
from ..errors import NetworkError
from .http import Http, describe

BATCH = 2 << 20
ACCEPT = "application/vnd.ipld.car; version=1; order=dfs; dups=y"


def car_url(base: str, cid: CID, byte_range: tuple[int, int | None] | None) -> str:
    url = f"{base.rstrip('/')}/ipfs/{cid}?format=car&dag-scope=entity&car-order=dfs&car-dups=y"
    if byte_range is not None:
        first, last = byte_range
        url += f"&entity-bytes={first}:{'*' if last is None else last}"
    return url


def _content_type_params(value: str) -> dict[str, str]:
    parts = [p.strip() for p in value.split(";")]
    out = {"type": parts[0].lower()}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        out[k.strip().lower()] = v.strip().lower()
    return out


class TrustlessGateway:
    def __init__(self, http: Http | None = None):
        self.http = http or Http()

    async def verified(self, base: str, cid: CID, byte_range: tuple[int, int | None] | None = None,
                       progress: dict[str, Any] | None = None) -> AsyncIterator[tuple[int, bytes]]:
        """Yield (file offset, bytes), in order, each verified; raise NetworkError / VerifyError / CarError.

        `progress["size"]` is set to the file size as soon as the root block verified.
        """
        url = car_url(base, cid, byte_range)
        async with self.http.open("GET", url, headers={"Accept": ACCEPT}, endpoint=url, retries=0) as resp:
            ct = _content_type_params(resp.headers.get("Content-Type", ""))
            if ct["type"] != "application/vnd.ipld.car":
                raise NetworkError(url, f"not a CAR response (Content-Type {resp.headers.get('Content-Type')!r})")
            if ct.get("order", "dfs") not in ("dfs",):
                raise NetworkError(url, f"gateway sent order={ct.get('order')}, cannot verify while streaming")
            verifier = DfsVerifier(cid, byte_range, dups=ct.get("dups", "y") != "n")
            queue: asyncio.Queue[bytearray | BaseException | None] = asyncio.Queue(maxsize=4)
            reader = asyncio.create_task(_read_batches(resp, queue, url))
            try:
                while True:
                    item = await queue.get()
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    out = await asyncio.to_thread(verifier.feed, item) if len(item) > 65536 else verifier.feed(item)
                    if progress is not None and verifier.size is not None:
                        progress["size"] = verifier.size
                    for off, data in out:
                        yield off, data
                verifier.finish()
                if progress is not None and verifier.size is not None:
                    progress["size"] = verifier.size
            finally:
                reader.cancel()
                try:
                    await reader
                except (asyncio.CancelledError, Exception):  # noqa: BLE001 - already reported through the queue
                    pass


async def _read_batches(resp: aiohttp.ClientResponse, queue: asyncio.Queue, url: str) -> None:
    buf = bytearray()
    try:
        while True:
            chunk = await resp.content.readany()
            if not chunk:
                break
            buf += chunk
            if len(buf) >= BATCH:
                await queue.put(buf)  # handed over whole: no copy
                buf = bytearray()
        if buf:
            await queue.put(buf)
        await queue.put(None)
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        await queue.put(NetworkError(url, describe(exc)))
