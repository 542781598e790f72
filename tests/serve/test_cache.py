"""The cache budget: least recently used cached files go back to `evicted` (journaled, re-checked),
never a file being streamed, never a file that is not stored."""

from __future__ import annotations

import asyncio

from tests.serve.servekit import build_mirror, client, rand, serving, wait_until, write_conf
from tunasync.archive.cache import AccessLog, CachedFile, enforce_budget, over_budget
from tunasync.archive.states import FileState

MIB = 1 << 20


def test_over_budget_is_lru_and_skips_pinned():
    files = [CachedFile("a", 10, 3.0), CachedFile("b", 10, 1.0), CachedFile("c", 10, 2.0)]
    assert over_budget(files, 30) == []
    assert over_budget(files, 20) == ["b"]
    assert over_budget(files, 5) == ["b", "c", "a"]
    assert over_budget(files, 15, pinned={"b"}) == ["c", "a"]
    assert over_budget(files, 0, pinned={"a", "b", "c"}) == []


def test_enforce_budget_never_touches_files_that_are_not_cached(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    m = build_mirror(devnet, conf, "deb", {"a": rand(1000, 41), "b": rand(1000, 42)}, [])
    assert enforce_budget(m.index, m.ms.root, 0) == []  # both `stored`: not the cache's to remove
    assert (m.root / "a").exists() and m.state("a") == "stored"
    m.index.set_state("a", FileState.EVICTED)
    m.index.mark_cached("a", (m.root / "a").stat().st_ino, when=1)
    (out,) = enforce_budget(m.index, m.ms.root, 0)
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
