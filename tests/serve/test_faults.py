"""Failure answers on a real devnet with injected faults: a corrupt provider costs a failover, never a
byte; when no provider delivers, a 502/504 page arrives within the timeout and nothing is cached; a
client that disconnects leaves the cache filled (continue) or untouched (cancel), never a partial file
under the final name."""

from __future__ import annotations

import time

from tests.serve.servekit import build_mirror, client, rand, serving, wait_until, write_conf
from tunasync.archive.runtime import open_archive
from tunasync.serve.app import Server, start
from tunasync.serve.policy import ServePolicy
from tunasync.serve.retrieval import NetworkHandle
from tunasync.serve.trees import trees_from_mirrors
from tunasync.worker.archive_setup import archive_setup, mirror_roots
from tunasync.worker.config import load_worker_config as load

MIB = 1 << 20


def mirror(tmp_path, devnet, files, providers=(0, 1)):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    return conf, build_mirror(devnet, conf, "deb", files, list(files), providers=providers)


async def test_a_corrupt_provider_fails_over_to_the_next(tmp_path, devnet):
    conf, m = mirror(tmp_path, devnet, {"pool/a.deb": rand(6 * MIB, 31)})
    devnet.fault(devnet.actor(0), "corrupt")
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            assert r.status == 200 and await r.read() == m.files["pool/a.deb"]
        await wait_until(lambda: m.state("pool/a.deb") == "cached")
    assert (m.root / "pool/a.deb").read_bytes() == m.files["pool/a.deb"]


async def test_every_provider_bad_is_a_502_and_nothing_is_cached(tmp_path, devnet):
    conf, m = mirror(tmp_path, devnet, {"pool/a.deb": rand(300_000, 32)})
    devnet.fault(devnet.actor(0), "corrupt")
    devnet.fault(devnet.actor(1), "truncate")
    async with serving(conf) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            page = await r.text()
            assert r.status == 502 and r.content_type == "text/html"
            assert "do not match the CID" in page and devnet.actor(0) in page  # the reason, per provider
        async with c.get(s.url + "/metrics") as r:
            assert 'tunasync_serve_retrievals_total{result="verify_failed"} 1.0' in await r.text()
    assert m.state("pool/a.deb") == "evicted" and not (m.root / "pool/a.deb").exists() and m.partials() == []


async def test_offline_providers_answer_502_at_once(tmp_path, devnet):
    conf, m = mirror(tmp_path, devnet, {"pool/a.deb": rand(300_000, 33)})
    for i in (0, 1):
        devnet.fault(devnet.actor(i), "offline")
    async with serving(conf) as s, client() as c:
        t = time.monotonic()
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            assert r.status == 502 and "cannot connect" in await r.text()
        assert time.monotonic() - t < 5
        async with c.head(s.url + "/deb/pool/a.deb") as r:  # HEAD needs no provider
            assert r.status == 200
    assert m.partials() == []


async def test_a_hanging_provider_is_a_504_within_the_timeout(tmp_path, devnet):
    conf, m = mirror(tmp_path, devnet, {"pool/a.deb": rand(300_000, 34)}, providers=(2,))
    devnet.fault(devnet.actor(2), "hang")
    async with serving(conf, ServePolicy(retrieve_timeout=1.5)) as s, client() as c:
        t = time.monotonic()
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            text = await r.text()
            assert r.status == 504 and "no verified bytes for 1.5 s" in text
        assert 1.4 < time.monotonic() - t < 4
        async with c.get(s.url + "/deb/pool/a.deb", headers={"Range": "bytes=5-9"}) as r:
            assert r.status in (502, 504)  # a ranged retrieval has the same deadline
    assert m.state("pool/a.deb") == "evicted" and m.partials() == []


async def test_client_disconnect_with_continue_fills_the_cache(tmp_path, devnet):
    conf, m = mirror(tmp_path, devnet, {"pool/a.deb": rand(8 * MIB, 35)})
    policy = ServePolicy(retrieve_timeout=10, on_disconnect="continue")
    async with serving(conf, policy, pace=0.01) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            await r.content.readexactly(100_000)
            r.close()  # the client goes away mid-stream
        flight = s.server.flights.get(("deb", "pool/a.deb"))
        assert flight is not None and flight.running
        await wait_until(lambda: m.state("pool/a.deb") == "cached", what="cache filled")
    assert (m.root / "pool/a.deb").read_bytes() == m.files["pool/a.deb"] and m.partials() == []


async def test_client_disconnect_with_cancel_stops_and_caches_nothing(tmp_path, devnet):
    conf, m = mirror(tmp_path, devnet, {"pool/a.deb": rand(8 * MIB, 36)})
    policy = ServePolicy(retrieve_timeout=10, on_disconnect="cancel")
    async with serving(conf, policy, pace=0.01) as s, client() as c:
        async with c.get(s.url + "/deb/pool/a.deb") as r:
            await r.content.readexactly(100_000)
            r.close()
        await wait_until(lambda: s.server.flights.get(("deb", "pool/a.deb")) is None, what="cancelled")
        async with c.get(s.url + "/metrics") as r:
            assert 'tunasync_serve_retrievals_total{result="cancelled"} 1.0' in await r.text()
    assert m.state("pool/a.deb") == "evicted" and not (m.root / "pool/a.deb").exists() and m.partials() == []


async def test_network_down_is_a_502_and_local_files_still_serve(tmp_path, devnet):
    conf = write_conf(tmp_path, devnet.url, {"deb": True})
    build_mirror(devnet, conf, "deb", {"pool/a.deb": rand(1000, 37), "pool/b.deb": b"local"}, ["pool/a.deb"])
    cfg = load(conf)
    cfg.archive = cfg.archive.model_copy(update={"devnet_url": "http://127.0.0.1:9"})  # nothing listens there
    policy = ServePolicy(retrieve_timeout=3)
    async with open_archive(archive_setup(cfg), http_settings=policy.http_settings()) as rt:
        server = Server(trees_from_mirrors(mirror_roots(cfg), rt), mirrors=True, policy=policy,
                        network=NetworkHandle.from_runtime(rt))
        runner, port = await start(server, "127.0.0.1", 0)
        try:
            async with client() as c:
                async with c.get(f"http://127.0.0.1:{port}/deb/pool/a.deb") as r:
                    assert r.status == 502 and "network unavailable" in await r.text()
                async with c.get(f"http://127.0.0.1:{port}/deb/pool/b.deb") as r:
                    assert r.status == 200 and await r.read() == b"local"
        finally:
            await runner.cleanup()
