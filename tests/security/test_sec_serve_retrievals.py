"""Item 7 of the security review: one byte cost a whole file. A 1-byte Range on an evicted file started
a whole-file retrieval (the background fill, on by default) and nothing capped how many ran at once,
so anyone could make the server pull every evicted file.

Now: no fill (nor whole-file retrieval for a Range) of files over `--range-fill-max`; at most
`--max-range-fills` fills and `--max-retrievals` network retrievals at once; a request that needs one
more gets 503 with Retry-After (a global cap: serve does not tell clients apart). Real devnet, real
retriever (counted and paced by tests/serve's kit), real serve on loopback.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.devnetkit import DevnetProc
from tunasync.serve.policy import ServePolicy

from .servekit_sec import build_mirror, client, rand, serving, wait_until, write_conf

MIB = 1 << 20


@pytest.fixture(scope="module")
def devnet(tmp_path_factory):
    d = DevnetProc(tmp_path_factory.mktemp("sec-devnet") / "devnet", ["--providers", "2", "--epoch-seconds", "0.05"])
    d.start()
    yield d
    d.stop()


def full_retrievals(s, m, rel: str) -> int:
    cid = m.index.get(rel).cid
    return sum(1 for c, r in s.counter.streams if c == cid and r is None)


async def test_one_byte_of_a_big_file_costs_one_range_not_the_file(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    files = {"big.iso": rand(5 * MIB, 71), "small.txt": rand(5000, 72)}
    m = build_mirror(devnet, conf, "deb", files, list(files))
    policy = ServePolicy(retrieve_timeout=10, range_fill_max=1 * MIB)
    async with serving(conf, policy) as s, client() as c:
        async with c.get(s.url + "/deb/big.iso", headers={"Range": "bytes=0-0"}) as r:
            assert r.status == 206 and await r.read() == files["big.iso"][:1]
        async with c.get(s.url + "/deb/big.iso", headers={"Range": f"bytes={3 * MIB}-{3 * MIB}"}) as r:
            assert r.status == 206 and await r.read() == files["big.iso"][3 * MIB:3 * MIB + 1]
        # the small file is still filled in the background, as --range-fill asks
        async with c.get(s.url + "/deb/small.txt", headers={"Range": "bytes=10-10"}) as r:
            assert r.status == 206 and await r.read() == files["small.txt"][10:11]
        await wait_until(lambda: m.state("small.txt") == "cached", what="small file filled")
        assert full_retrievals(s, m, "big.iso") == 0
        assert m.state("big.iso") == "evicted" and m.partials() == []


async def test_retrievals_and_fills_are_capped(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    files = {f"f{i}.bin": rand(2 * MIB, 80 + i) for i in range(5)}
    m = build_mirror(devnet, conf, "deb", files, list(files))
    policy = ServePolicy(retrieve_timeout=10, max_retrievals=2, max_range_fills=1, join_ahead=0)
    async with serving(conf, policy, pace=0.2) as s, client() as c:
        async def fetch(name: str) -> tuple[int, bytes]:
            async with c.get(f"{s.url}/deb/{name}") as r:
                return r.status, await r.read()

        first = [asyncio.create_task(fetch(n)) for n in ("f0.bin", "f1.bin")]
        await wait_until(lambda: len(s.counter.streams) == 2, what="two retrievals running")
        async with c.get(s.url + "/deb/f2.bin") as r:  # a third file: every slot is taken
            assert r.status == 503 and r.headers["Retry-After"].isdigit()
            assert "--max-retrievals" in await r.text()
        async with c.get(s.url + "/deb/f0.bin", headers={"Range": "bytes=0-9"}) as r:  # joining is free
            assert r.status == 206 and await r.read() == files["f0.bin"][:10]
        assert [await t for t in first] == [(200, files["f0.bin"]), (200, files["f1.bin"])]
        # a slot is given back when its retrieval has placed the file (just after the last byte left)
        await wait_until(lambda: s.server.evicted.running == 0, what="retrievals finished")
        assert await fetch("f2.bin") == (200, files["f2.bin"])
        await wait_until(lambda: s.server.evicted.running == 0, what="retrievals finished")
        # fills: the first Range starts one, the second finds the fill slot taken and gets its range only
        for name in ("f3.bin", "f4.bin"):
            async with c.get(f"{s.url}/deb/{name}", headers={"Range": "bytes=100-100"}) as r:
                assert r.status == 206 and await r.read() == files[name][100:101]
        await wait_until(lambda: m.state("f3.bin") == "cached", what="f3 filled")
        assert full_retrievals(s, m, "f3.bin") == 1 and full_retrievals(s, m, "f4.bin") == 0
        assert m.state("f4.bin") == "evicted"
