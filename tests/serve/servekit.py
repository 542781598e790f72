"""Serve test kit: mirrors with evicted files on a real devnet, a real serve on a loopback port, and
retrievers that count or pace what the real one does (a swapped part, not a patch)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tunasync.archive import bundles, evict
from tunasync.archive.hashing import hash_pending
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.runtime import open_archive
from tunasync.archive.scan import scan
from tunasync.archive.settings import MirrorArchive
from tunasync.content.cid import CID
from tunasync.filecoin.interfaces import Candidate, FetchResult, FilecoinNetwork, Retriever
from tunasync.serve.app import Server, start
from tunasync.serve.policy import ServePolicy
from tunasync.serve.retrieval import NetworkHandle
from tunasync.serve.trees import trees_from_mirrors
from tunasync.worker.archive_setup import archive_setup, find_mirror, mirror_roots
from tunasync.worker.config import load_worker_config as load

MTIME = 1_500_000_000_123_456_789  # 2017-07-14: an old file, as evicted ones are


def rand(n: int, seed: int) -> bytes:
    """Deterministic bytes that do not repeat (so every 1 MiB block of a file is its own)."""
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest() * 64  # 2 KiB per hash: fast enough
        counter += 1
    return bytes(out[:n])


def write_conf(tmp: Path, devnet_url: str, mirrors: dict[str, bool], *, cache_budget: int | None = None) -> Path:
    """A worker config whose mirrors (name -> archived?) live in tmp/mirrors/<name>."""
    conf = tmp / "worker.conf"
    budget = f"cache_budget = {cache_budget}" if cache_budget is not None else ""
    parts = [f"""
[global]
name = "w1"
log_dir = "{tmp}/log/{{{{.Name}}}}"
mirror_dir = "{tmp}/mirrors"
concurrent = 2
interval = 60

[manager]
api_base = "http://127.0.0.1:1"

[archive]
network = "devnet"
devnet_url = "{devnet_url}"
index_dir = "{tmp}/archive"
copies = 2
bundle_size = "256MiB"
{budget}
"""]
    for name, archived in mirrors.items():
        (tmp / "mirrors" / name).mkdir(parents=True, exist_ok=True)
        parts.append(f"""
[[mirrors]]
name = "{name}"
provider = "command"
command = "true"
upstream = ""
archive = {"true" if archived else "false"}
""")
    conf.write_text("".join(parts))
    return conf


@dataclass
class Mirror:
    ms: MirrorArchive
    index: ArchiveIndex
    files: dict[str, bytes]
    evicted: list[str]
    piece: str = ""
    providers: list[str] = field(default_factory=list)
    deals: list[int] = field(default_factory=list)  # the seeded deal of each provider, in order

    @property
    def root(self) -> Path:
        return Path(self.ms.root)

    def state(self, rel: str) -> str:
        rec = self.index.get(rel)
        return rec.state.value if rec else "absent"

    def partials(self) -> list[Path]:
        return sorted(p for p in self.root.rglob(".tunasync-*"))


def build_mirror(devnet: Any, conf: Path, name: str, files: dict[str, bytes], evicted: Sequence[str],
                 providers: Sequence[int] = (0, 1)) -> Mirror:
    """Write `files`, archive them as one bundle stored at `providers` (by index), evict `evicted`."""
    cfg = load(conf)
    ms = find_mirror(cfg, name)
    ms.ensure_dirs()
    for rel, data in files.items():
        p = Path(ms.root) / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        os.utime(p, ns=(MTIME, MTIME))
    index = ArchiveIndex(ms.index_path)
    scan(ms.root, index)
    hash_pending(index, ms.root, ms.profile)
    members = bundles.hashed_members(index)
    bid = bundles.pack(ms, index, members)
    b = index.bundle(bid)
    assert b is not None and b.piece_cid
    actors = [devnet.actor(i) for i in providers]
    seeded = devnet.seed(ms.car_path(bid), actors, piece_cid=b.piece_cid, padded_size=b.padded_size)
    index.record_copies(b.piece_cid, devnet.epoch(), [(a, d, True) for a, d in zip(actors, seeded["deals"], strict=True)])
    index.set_bundle_stored(bid)
    for rel in evicted:
        rec = index.get(rel)
        assert rec is not None
        out = evict.evict_one(index, ms.root, rec)
        assert out.evicted, out.reason
    return Mirror(ms, index, dict(files), list(evicted), b.piece_cid, actors, list(seeded["deals"]))


class CountingRetriever(Retriever):
    """The real retriever, counting the retrievals asked of it and optionally pausing between chunks."""

    def __init__(self, inner: Any, pace: float = 0.0):
        self.inner = inner
        self.pace = pace
        self.streams: list[tuple[str, tuple[int, int] | None]] = []

    async def candidates(self, cid: CID) -> list[Candidate]:
        return await self.inner.candidates(cid)

    def stream(self, cid: CID, byte_range: tuple[int, int] | None = None,
               candidates: Sequence[Candidate] | None = None) -> AsyncIterator[bytes]:
        self.streams.append((str(cid), byte_range))
        return self._paced(self.inner.stream(cid, byte_range, candidates))

    async def _paced(self, it: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in it:
            if self.pace:
                for i in range(0, len(chunk), 256 << 10):  # pace per 256 KiB
                    await asyncio.sleep(self.pace)
                    yield chunk[i:i + (256 << 10)]
            else:
                yield chunk

    async def fetch(self, cid: CID, out_path: Path, byte_range: tuple[int, int] | None = None,
                    candidates: Sequence[Candidate] | None = None) -> FetchResult:
        return await self.inner.fetch(cid, out_path, byte_range, candidates)

    def full(self) -> int:
        return sum(1 for _, r in self.streams if r is None)


@dataclass
class Running:
    url: str
    server: Server
    net: FilecoinNetwork | None
    counter: CountingRetriever | None


@asynccontextmanager
async def serving(conf: Path, policy: ServePolicy | None = None, pace: float = 0.0) -> AsyncIterator[Running]:
    """`serve -c conf` in this process on a free loopback port, its retriever counted (and paced)."""
    policy = policy or ServePolicy(retrieve_timeout=10)
    cfg = load(conf)
    setup = archive_setup(cfg)
    async with open_archive(setup, http_settings=policy.http_settings()) as rt:
        net = counter = None
        if setup.mirrors:  # as `serve -c` opens it: the runtime's network, its retriever counted
            net = await rt.network()
            counter = CountingRetriever(net.retriever, pace)
            net.retriever = counter
        trees = trees_from_mirrors(mirror_roots(cfg), rt if setup.mirrors else None)
        server = Server(trees, mirrors=True, policy=policy,
                        network=NetworkHandle.from_runtime(rt) if setup.mirrors else None)
        runner, port = await start(server, "127.0.0.1", 0)
        try:
            yield Running(f"http://127.0.0.1:{port}", server, net, counter)
        finally:
            await runner.cleanup()


def client(**kw: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60), auto_decompress=False,
                                 connector=aiohttp.TCPConnector(limit=0), **kw)


async def wait_until(cond: Any, within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
