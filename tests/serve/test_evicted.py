"""Evicted files: answered from the index without a retrieval where that is enough (HEAD, 304, 416),
retrieved, verified and cached on GET (mtime restored, `cached`, served from disk next time), and
ranges answered from a ranged retrieval at once, with the background fill the policy asks for."""

from __future__ import annotations

import os

from tests.serve.servekit import MTIME, build_mirror, client, rand, serving, wait_until, write_conf
from tunasync.archive.states import FileState
from tunasync.serve.policy import ServePolicy

MIB = 1 << 20
ETAG = f'"{MTIME // 10**9:x}-{5 * MIB:x}"'


def setup(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    files = {"pool/big.deb": rand(5 * MIB, 11), "pool/small.iso": rand(5000, 12)}
    return conf, build_mirror(devnet, conf, "deb", files, list(files))


async def test_head_304_416_come_from_the_index(tmp_path, devnet):
    conf, m = setup(tmp_path, devnet)
    async with serving(conf) as s, client() as c:
        url = s.url + "/deb/pool/big.deb"
        async with c.head(url) as r:
            assert r.status == 200 and r.headers["Content-Length"] == str(5 * MIB)
            assert r.headers["ETag"] == ETAG and r.headers["Last-Modified"] == "Fri, 14 Jul 2017 02:40:00 GMT"
            assert r.headers["Content-Type"] == "application/vnd.debian.binary-package"
            assert r.headers["X-Tunasync-Source"] == "archive"
        async with c.head(url, headers={"Range": "bytes=10-19"}) as r:
            assert r.status == 206 and r.headers["Content-Range"] == f"bytes 10-19/{5 * MIB}"
        async with c.get(url, headers={"If-None-Match": ETAG}) as r:
            assert r.status == 304
        async with c.get(url, headers={"Range": f"bytes={5 * MIB}-"}) as r:
            assert r.status == 416 and r.headers["Content-Range"] == f"bytes */{5 * MIB}"
        assert s.counter.streams == []  # not one byte asked of the network
        assert m.state("pool/big.deb") == "evicted"


async def test_get_retrieves_verifies_and_caches_in_place(tmp_path, devnet):
    conf, m = setup(tmp_path, devnet)
    async with serving(conf) as s, client() as c:
        url = s.url + "/deb/pool/big.deb"
        async with c.get(url) as r:
            assert r.status == 200 and r.headers["ETag"] == ETAG
            assert await r.read() == m.files["pool/big.deb"]
        await wait_until(lambda: m.state("pool/big.deb") == "cached", what="cached")
        st = os.stat(m.root / "pool/big.deb")
        rec = m.index.get("pool/big.deb")
        assert st.st_mtime_ns == MTIME and rec.inode == st.st_ino and rec.state is FileState.CACHED
        assert m.partials() == []
        async with c.get(url) as r:  # from disk now, same validators
            assert r.status == 200 and "X-Tunasync-Source" not in r.headers and r.headers["ETag"] == ETAG
            assert await r.read() == m.files["pool/big.deb"]
        assert s.counter.full() == 1


async def test_range_miss_answers_at_once_and_fills_in_background(tmp_path, devnet):
    conf, m = setup(tmp_path, devnet)
    data = m.files["pool/big.deb"]
    async with serving(conf, ServePolicy(retrieve_timeout=10, range_fill=True)) as s, client() as c:
        async with c.get(s.url + "/deb/pool/big.deb", headers={"Range": "bytes=4718592-4718600"}) as r:
            assert r.status == 206 and await r.read() == data[4718592:4718601]
            assert r.headers["Content-Range"] == f"bytes 4718592-4718600/{5 * MIB}"
        assert (m.index.get("pool/big.deb").cid, (4718592, 4718600)) in s.counter.streams  # only those blocks
        await wait_until(lambda: m.state("pool/big.deb") == "cached", what="background fill")
        assert (m.root / "pool/big.deb").read_bytes() == data and s.counter.full() == 1


async def test_range_miss_without_fill_caches_nothing(tmp_path, devnet):
    conf, m = setup(tmp_path, devnet)
    data = m.files["pool/big.deb"]
    async with serving(conf, ServePolicy(retrieve_timeout=10, range_fill=False)) as s, client() as c:
        for rng, want in (("bytes=-100", data[-100:]), ("bytes=0-9", data[:10]), ("bytes=3000000-3000001",
                                                                                   data[3000000:3000002])):
            async with c.get(s.url + "/deb/pool/big.deb", headers={"Range": rng}) as r:
                assert r.status == 206 and await r.read() == want
        async with c.get(s.url + "/deb/pool/big.deb", headers={"Range": "bytes=0-9", "If-Range": ETAG}) as r:
            assert r.status == 206 and await r.read() == data[:10]
        assert s.counter.full() == 0 and len(s.counter.streams) == 4
    assert m.state("pool/big.deb") == "evicted" and not (m.root / "pool/big.deb").exists() and m.partials() == []


async def test_range_near_the_start_joins_the_whole_file_retrieval(tmp_path, devnet):
    conf, m = setup(tmp_path, devnet)
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/small.iso", headers={"Range": "bytes=100-199"}) as r:
            assert r.status == 206 and await r.read() == m.files["pool/small.iso"][100:200]
            assert r.headers["Content-Type"] == "application/x-iso9660-image"
        await wait_until(lambda: m.state("pool/small.iso") == "cached")
        assert [r for _, r in s.counter.streams] == [None]  # one whole-file retrieval served both


async def test_a_file_that_changed_during_retrieval_is_not_kept(tmp_path, devnet):
    conf, m = setup(tmp_path, devnet)
    async with serving(conf, pace=0.01) as s, client() as c:
        async with c.get(s.url + "/deb/pool/big.deb") as r:
            await r.content.readexactly(1024)
            rec = m.index.get("pool/big.deb")  # upstream changed it meanwhile: the scan saw a new version
            m.index.upsert_seen([(rec.path, rec.size + 1, rec.mtime_ns + 1, 0)])
            assert await r.content.read() == m.files["pool/big.deb"][1024:]  # what was asked for, verified
        await wait_until(lambda: s.server.flights.get(("deb", "pool/big.deb")) is None)
    assert not (m.root / "pool/big.deb").exists() and m.partials() == []
    assert m.state("pool/big.deb") == "local"
