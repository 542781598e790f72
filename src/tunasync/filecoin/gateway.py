"""Trustless-gateway client (docs/filecoin.md §6.1, §6.3): fetch one UnixFS file (or byte range) as a CAR and
yield only bytes that verified against the root CID.

    GET {base}/ipfs/{cid}?format=car&dag-scope=entity&car-order=dfs&car-dups=y[&entity-bytes=a:b]

What came back is read from the response's Content-Type (ipfs/specs trustless-gateway.md, CAR `order`
and `dups`): `order=dfs` with `dups=y` or `dups=n` streams through `DfsVerifier`; anything else (no
`order`, `order=unk` or an unknown one; `order=dfs` without `dups`) goes through `ReorderVerifier`,
which holds early blocks up to `reorder_limit` bytes and ignores duplicates and blocks not needed.

Three things overlap. A reader task takes the body as it comes off the socket (no joins, no copies) and
walks it through `DfsVerifier.push`, which checks everything but the hashes of big raw leaves; those go
to a few hashing threads (hashlib releases the GIL), one job per network read. The generator hands a
batch out only after its hashes and every earlier batch's passed, so bytes leave in order and never
before their block verified. At most QUEUE batches wait: memory stays flat. A response that ends early
is an error (`finish()`), never a short file.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import aiohttp

from ..content.cid import CID
from ..content.reorder import DEFAULT_LIMIT, ReorderVerifier
from ..content.verify import DfsVerifier, Release, first_bad
from ..errors import BadBlock, ContentError, NetworkError
from .http import Http, network_error

ACCEPT = "application/vnd.ipld.car; version=1; order=dfs; dups=y"
QUEUE = 8  # batches (about one network read each) between the reader and the consumer
READ_BUFSIZE = 4 << 20  # aiohttp's default (64 KiB) pauses the socket after every 128 KiB
RECV_SIZE = 1 << 20  # asyncio reads 256 KiB per recv(); bigger reads mean fewer loop wakeups per MiB

Batch = tuple[list[Release], "asyncio.Future[int | None] | None"]
_pool: ThreadPoolExecutor | None = None


def hash_pool() -> ThreadPoolExecutor:
    """The process's hashing threads, shared by all retrievals: more threads than cores only contend."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max(2, min(4, os.cpu_count() or 2)), thread_name_prefix="tunasync-sha256")
    return _pool


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
        out[k.strip().lower()] = v.strip().strip('"').lower()
    return out


def car_layout(content_type: str) -> tuple[str, str | None]:
    """(order, dups) a CAR response declares: order `dfs` or `unk` (missing, empty or unknown values
    are `unk`), dups `y`, `n` or None (unknown: duplicates may come or not). ValueError when it is not
    a CARv1 response."""
    ct = _content_type_params(content_type)
    if ct["type"] != "application/vnd.ipld.car":
        raise ValueError(f"not a CAR response (Content-Type {content_type!r})")
    if ct.get("version", "1") != "1":
        raise ValueError(f"CAR version {ct['version']} in Content-Type {content_type!r}; only version 1 is read")
    order = "dfs" if ct.get("order") == "dfs" else "unk"
    dups = ct.get("dups") if ct.get("dups") in ("y", "n") else None
    return order, dups


class TrustlessGateway:
    def __init__(self, http: Http | None = None, reorder_limit: int = DEFAULT_LIMIT):
        self.http = http or Http()
        self.reorder_limit = reorder_limit

    async def verified(self, base: str, cid: CID, byte_range: tuple[int, int | None] | None = None,
                       progress: dict[str, Any] | None = None) -> AsyncIterator[tuple[int, memoryview]]:
        """Yield (file offset, bytes), in order, each verified; raise NetworkError / ContentError (BadBlock,
        TruncatedCar, CarError, ...).

        The bytes are read-only views of what came off the network (keeping them is safe; copy them to
        hand out `bytes`). `progress["size"]` is set to the file size once the root block verified.
        """
        url = car_url(base, cid, byte_range)
        async with self.http.open("GET", url, headers={"Accept": ACCEPT}, endpoint=url, retries=0,
                                  read_bufsize=READ_BUFSIZE) as resp:
            try:
                order, dups = car_layout(resp.headers.get("Content-Type", ""))
            except ValueError as exc:
                raise NetworkError(url, str(exc)) from None
            verifier: DfsVerifier | ReorderVerifier
            if order == "dfs" and dups is not None:
                verifier = DfsVerifier(cid, byte_range, dups=dups == "y")
            else:
                verifier = ReorderVerifier(cid, byte_range, self.reorder_limit)
            _bigger_reads(resp)
            queue: asyncio.Queue[Batch | BaseException | None] = asyncio.Queue(QUEUE)
            reader = asyncio.create_task(_parse(resp, verifier, queue, url))
            try:
                while True:
                    item = await queue.get()
                    if item is None:
                        break
                    if isinstance(item, BaseException):
                        raise item
                    releases, check = item
                    bad = None if check is None else await check
                    if progress is not None and verifier.size is not None:
                        progress["size"] = verifier.size
                    for r in releases[:bad]:
                        off = r.offset
                        for part in r.parts:
                            yield off, part
                            off += len(part)
                    if bad is not None:
                        raise BadBlock(releases[bad].cid, "block bytes do not match the CID")
            finally:
                if progress is not None and verifier.size is not None:
                    progress["size"] = verifier.size
                reader.cancel()
                try:
                    await reader
                except (asyncio.CancelledError, Exception):
                    pass


def _bigger_reads(resp: aiohttp.ClientResponse) -> None:
    # Only asyncio's plain-socket transport has `max_size`; TLS transports keep their own reads.
    transport = resp.connection.transport if resp.connection is not None else None
    if transport is not None and isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = max(transport.max_size, RECV_SIZE)  # type: ignore[attr-defined]


async def _parse(resp: aiohttp.ClientResponse, verifier: DfsVerifier | ReorderVerifier,
                 queue: asyncio.Queue[Batch | BaseException | None],
                 url: str) -> None:
    """Walk the body through the verifier as it arrives; batches (and at last None or an error) to `queue`."""
    loop = asyncio.get_running_loop()
    pool = hash_pool()
    out: list[Release] = []
    try:
        async for chunk, _ in resp.content.iter_chunks():
            if not chunk:
                continue
            out = []
            verifier.push(chunk if type(chunk) is bytes else bytes(chunk), out, defer=True)
            if out:
                await queue.put(_batch(loop, pool, out))
                out = []
        verifier.finish()
        await queue.put(None)
    except ContentError as exc:
        if out:  # what verified before the error still goes out: the next candidate resumes after it
            await queue.put(_batch(loop, pool, out))
        await queue.put(exc)
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        await queue.put(network_error(url, exc))
    except Exception as exc:
        await queue.put(exc)


def _batch(loop: asyncio.AbstractEventLoop, pool: ThreadPoolExecutor, out: list[Release]) -> Batch:
    if any(r.block is not None for r in out):
        return out, loop.run_in_executor(pool, first_bad, out)
    return out, None
