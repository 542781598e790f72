"""Lotus JSON-RPC client and chain observer against the devnet's `/rpc/v1`."""

from __future__ import annotations

import pytest

from tunasync.errors import NetworkError
from tunasync.filecoin.http import Http
from tunasync.filecoin.interfaces import ClaimRef
from tunasync.filecoin.lotus import LotusChainObserver, LotusClient, RpcError

from .conftest import make_file


async def test_head_advances_and_miner_info(devnet, fast_http):
    c = LotusClient(f"{devnet.url}/rpc/v1", http=Http(fast_http))
    try:
        h1 = await c.chain_head()
        devnet.post("/admin/tick", {"epochs": 3})
        assert await c.chain_head() >= h1 + 3
        info = await c.miner_info(devnet.actor(1))
        assert info.peer_id == devnet.providers[1]["peerId"] and info.peer_id.startswith("12D3KooW")
        assert info.multiaddrs == [devnet.providers[1]["multiaddr"]]  # decoded from Lotus' base64 binary form
        assert info.http_urls() == [devnet.providers[1]["url"]]
        assert await c.list_miners() == [p["actor"] for p in devnet.providers]
        with pytest.raises(RpcError) as exc:
            await c.market_deal(424242)
        assert exc.value.not_found and "rpc/v1" in str(exc.value)
    finally:
        await c.http.close()


async def test_foreign_copies_deals_and_claims(devnet, tmp_path, fast_http):
    f = make_file(tmp_path, "f.bin", 2000)
    deals = devnet.seed(f.car, [devnet.actor(0), devnet.actor(1)])["deals"]
    slashed = devnet.seed(f.car, [devnet.actor(2)], state="slashed")["deals"]
    obs = LotusChainObserver(LotusClient(f"{devnet.url}/rpc/v1", http=Http(fast_http)))
    try:
        found = await obs.discover_deals(f.piece)
        assert set(found) == set(deals + slashed) and set(found.values()) == {f.padded_size}
        r = await obs.verified_copies(f.piece, f.padded_size, deal_ids=list(found))
        assert r.providers == [devnet.actor(0), devnet.actor(1)]
        # the same deals twice, or a wrong size, never add copies
        r2 = await obs.verified_copies(f.piece, f.padded_size * 2, deal_ids=list(found) * 2)
        assert r2.count == 0 and all("size" in d.reason for d in r2.details)
        # DDO claims: found by provider, checked with the sector
        g = make_file(tmp_path, "g.bin", 3000)
        claims = devnet.seed(g.car, [devnet.actor(2)], kind="ddo")["claims"]
        r3 = await obs.verified_copies(g.piece, g.padded_size, providers=[devnet.actor(2)])
        assert r3.providers == [devnet.actor(2)] and r3.details[0].kind == "claim"
        r4 = await obs.verified_copies(g.piece, g.padded_size,
                                       claims=[ClaimRef(devnet.actor(2), claims[0]["claimId"])])
        assert r4.count == 1
        assert await obs.actor_for_peer(devnet.providers[2]["peerId"]) == devnet.actor(2)
    finally:
        await obs.close()


async def test_malformed_rpc_answer_names_the_endpoint(devnet, fast_http):
    c = LotusClient(f"{devnet.url}/rpc/v1", http=Http(fast_http))
    devnet.fault("rpc", "malformed")
    try:
        with pytest.raises(NetworkError) as exc:
            await c.chain_head()
        assert exc.value.endpoint == f"{devnet.url}/rpc/v1"
        assert "malformed" in str(exc.value)
    finally:
        await c.http.close()


async def test_bearer_token(devnet_factory, fast_http):
    dn = devnet_factory("--token", "s3cret", name="tok")
    bad = LotusClient(f"{dn.url}/rpc/v1", token="wrong", http=Http(fast_http))
    good = LotusClient(f"{dn.url}/rpc/v1", token="s3cret", http=Http(fast_http))
    try:
        with pytest.raises(NetworkError, match="401"):
            await bad.chain_head()
        assert await good.chain_head() >= 100
    finally:
        await bad.http.close()
        await good.http.close()


async def test_dead_endpoint_is_a_clear_error(fast_http, port):
    url = f"http://127.0.0.1:{port}/rpc/v1"
    c = LotusClient(url, http=Http(fast_http))
    try:
        with pytest.raises(NetworkError) as exc:
            await c.chain_head()
        assert exc.value.endpoint == url and "cannot connect" in exc.value.reason
    finally:
        await c.http.close()


async def test_transient_503_is_retried_with_backoff(devnet):
    from tunasync.filecoin.http import HttpSettings

    c = LotusClient(f"{devnet.url}/rpc/v1", http=Http(HttpSettings(retries=3, backoff=0.05)))
    try:
        devnet.fault("rpc", "flaky", 2)
        assert await c.chain_head() > 0  # two 503s, then an answer
        devnet.fault("rpc", "flaky", 10)
        with pytest.raises(NetworkError, match="HTTP 503"):
            await c.chain_head()
    finally:
        await c.http.close()
