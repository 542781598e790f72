"""The cache budget: least recently used cached files go back to `evicted` (journaled, re-checked),
never a file being streamed, never a file that is not stored."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.serve.servekit import MTIME, Mirror, build_mirror, client, rand, serving, wait_until, write_conf
from tunasync.archive.cache import AccessLog, CachedFile, enforce_budget, over_budget
from tunasync.archive.context import ArchiveCtx
from tunasync.archive.db import BundleState
from tunasync.archive.runtime import open_network
from tunasync.archive.states import FileState
from tunasync.worker.config import load_worker_config

MIB = 1 << 20


def test_over_budget_is_lru_and_skips_pinned():
    files = [CachedFile("a", 10, 3.0), CachedFile("b", 10, 1.0), CachedFile("c", 10, 2.0)]
    assert over_budget(files, 30) == []
    assert over_budget(files, 20) == ["b"]
    assert over_budget(files, 5) == ["b", "c", "a"]
    assert over_budget(files, 15, pinned={"b"}) == ["c", "a"]
    assert over_budget(files, 0, pinned={"a", "b", "c"}) == []


@asynccontextmanager
async def budget_ctx(conf: Path, m: Mirror) -> AsyncIterator[ArchiveCtx]:
    """What serve hands the cache budget: the mirror's settings and index, and the real network."""
    net = await open_network(load_worker_config(conf).archive, file=str(conf))
    try:
        yield ArchiveCtx(m.ms, m.index, net=net)
    finally:
        await net.close()


async def test_enforce_budget_never_touches_files_that_are_not_cached(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"a": rand(1000, 41), "b": rand(1000, 42)}, [])
    async with budget_ctx(conf, m) as ctx:
        assert await enforce_budget(ctx, 0) == []  # both `stored`: not the cache's to remove
        assert (m.root / "a").exists() and m.state("a") == "stored"
        m.index.set_state("a", FileState.EVICTED)
        m.index.mark_cached("a", (m.root / "a").stat().st_ino, when=1)
        (out,) = await enforce_budget(ctx, 0)
    assert out.evicted and m.state("a") == "evicted" and not (m.root / "a").exists() and m.state("b") == "stored"


def test_access_log_records_only_cached_files(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"a": rand(10, 43), "b": rand(10, 44)}, [])
    m.index.set_state("a", FileState.EVICTED)
    m.index.mark_cached("a", (m.root / "a").stat().st_ino, when=1)
    log = AccessLog()
    log.record("a", 1000.0)
    log.record("b", 1000.0)
    assert AccessLog.write(m.index, log.take()) == 1 and len(log) == 0
    assert m.index.get("a").last_access == 1000.0 and m.index.get("b").last_access is None


async def test_budget_returns_the_least_recently_used(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True}, cache_budget=3 * MIB)
    files = {f"pool/{n}.deb": rand(3 * MIB // 2, 45 + i) for i, n in enumerate("abc")}
    m = build_mirror(devnet, conf, "deb", files, list(files))
    async with serving(conf) as s, client() as c:
        for name in ("a", "b", "a", "c"):  # a is used again after b: b is the least recently used
            async with c.get(f"{s.url}/deb/pool/{name}.deb") as r:
                assert await r.read() == files[f"pool/{name}.deb"]
            await wait_until(lambda n=name: m.state(f"pool/{n}.deb") == "cached")
            await asyncio.sleep(0.02)  # distinct access times
        await wait_until(lambda: m.state("pool/b.deb") == "evicted", what="b back to evicted")
        assert m.state("pool/a.deb") == m.state("pool/c.deb") == "cached"
        assert not (m.root / "pool/b.deb").exists()
        async with c.get(s.url + "/metrics") as r:
            assert "tunasync_serve_cache_evictions_total 1.0" in await r.text()
        async with c.get(f"{s.url}/deb/pool/b.deb") as r:  # and it can be retrieved again
            assert await r.read() == files["pool/b.deb"]


async def test_a_file_being_streamed_is_not_evicted_until_its_client_is_done(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True}, cache_budget=0)
    data = rand(16 * MIB, 48)  # more than loopback socket buffers hold
    m = build_mirror(devnet, conf, "deb", {"pool/x.deb": data}, ["pool/x.deb"])
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/x.deb") as r:
            got = await r.content.readexactly(64 << 10)
            await wait_until(lambda: s.server.flights.get(("deb", "pool/x.deb")) is None, what="retrieval done")
            await asyncio.sleep(0.2)  # a budget run happened when the retrieval finished...
            assert m.state("pool/x.deb") == "cached" and (m.root / "pool/x.deb").exists()  # ...and spared it
            got += await r.content.read()
        assert got == data
        await wait_until(lambda: m.index.get("pool/x.deb").state is FileState.EVICTED, what="evicted after use")
        assert not (m.root / "pool/x.deb").exists()



def cache_back(m, rel: str) -> None:
    """Put an evicted file back as serve does after a verified retrieval: same bytes and mtime, `cached`."""
    p = m.root / rel
    p.write_bytes(m.files[rel])
    os.utime(p, ns=(MTIME, MTIME))
    assert m.index.mark_cached(rel, p.stat().st_ino)


async def test_the_budget_keeps_a_cached_file_whose_bundle_is_degraded(tmp_path, devnet):
    """Repair rebuilds a degraded bundle's CAR from the files on disk: the cache must not drop one."""
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"a": rand(1000, 51), "b": rand(1000, 52)}, ["a"])
    cache_back(m, "a")
    (b,) = m.index.bundles()
    m.index.set_bundle_state(b.id, BundleState.DEGRADED)
    async with budget_ctx(conf, m) as ctx:
        out = await enforce_budget(ctx, 0)
    assert not any(o.evicted for o in out)
    assert m.state("a") == "cached" and (m.root / "a").read_bytes() == m.files["a"]


async def test_the_budget_rechecks_copies_on_chain_before_dropping_a_cached_file(tmp_path, devnet):
    """The index still says `stored`, but a deal was slashed since: 1 of 2 copies. The file stays."""
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"a": rand(1000, 53), "b": rand(1000, 54)}, ["a"])
    cache_back(m, "a")
    async with budget_ctx(conf, m) as ctx:
        devnet.post(f"/admin/deals/{m.deals[0]}/slash", {})
        out = await enforce_budget(ctx, 0)
        assert not any(o.evicted for o in out)
        assert m.state("a") == "cached" and (m.root / "a").exists()


async def test_the_budget_drops_a_cached_file_whose_copies_are_verified(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"a": rand(1000, 55), "b": rand(1000, 56)}, ["a"])
    cache_back(m, "a")
    async with budget_ctx(conf, m) as ctx:
        (out,) = await enforce_budget(ctx, 0)
    assert out.evicted and m.state("a") == "evicted" and not (m.root / "a").exists()
    assert m.state("b") == "stored" and (m.root / "b").exists()
