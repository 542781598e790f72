"""The devnet process itself: endpoints, restart keeps the chain, fault switches."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from tunasync.filecoin.http import Http
from tunasync.filecoin.lotus import LotusClient
from tunasync.filecoin.network import open_devnet

from .conftest import make_file


def test_prints_its_endpoints(devnet):
    out = devnet.log.read_text()
    assert f"{devnet.url}/rpc/v1" in out and "/cid/{cid}" in out
    for p in devnet.providers:
        assert p["actor"] in out and p["multiaddr"] in out
    assert [p["actor"] for p in devnet.providers] == ["f01000", "f01001", "f01002"]


async def test_restart_keeps_deals_and_the_epoch_continues(devnet_factory, tmp_path, fast_http):
    dn = devnet_factory(name="persist")
    f = make_file(tmp_path, "r.bin", 1_500_000)
    deals = dn.seed(f.car, [dn.actor(0), dn.actor(1)])["deals"]
    before = dn.epoch()
    dn.stop()
    dn.start()
    assert dn.epoch() >= before
    net = await open_devnet(dn.url, fast_http)
    try:
        assert (await net.chain.verified_copies(f.piece, f.padded_size, deal_ids=deals)).count == 2
        res = await net.retriever.fetch(f.root, tmp_path / "r.out")
        assert (tmp_path / "r.out").read_bytes() == f.data and res.source  # new ports, same data
        c = LotusClient(f"{dn.url}/rpc/v1", http=Http(fast_http))
        assert (await c.market_deal(deals[0])).sector_start_epoch > 0
        await c.http.close()
    finally:
        await net.close()


def test_fault_admin_and_start_flags(devnet_factory):
    dn = devnet_factory("--fault", "f01001:corrupt", "--fault", "f01002:slow=0.25", name="flags")
    assert dn.get("/admin/faults") == {"f01001": {"corrupt": 1.0}, "f01002": {"slow": 0.25}}
    with pytest.raises(AssertionError, match="400"):
        dn.fault("f01000", "explode")
    with pytest.raises(AssertionError, match="400"):
        dn.fault("f09999", "corrupt")
    dn.post("/admin/faults", {"clear": True})
    assert dn.get("/admin/faults") == {}


def test_offline_provider_refuses_then_comes_back(devnet):
    url = devnet.providers[0]["url"] + "/info"
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
    devnet.fault(devnet.actor(0), "offline")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=10)
    devnet.fault(devnet.actor(0), "offline", on=False)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
