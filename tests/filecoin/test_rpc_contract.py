"""The Lotus JSON-RPC contract: the devnet answers like Lotus (go-jsonrpc error shapes, parameter counts,
a full ChainHead tipset), our client parses the Lotus docs' example results, and a method a node does
not offer is an error naming method and endpoint, never a silent "0 copies".

Sources of the facts checked here:
  * filecoin-project/go-jsonrpc @ 50fb72743444d47129abaf2081521828d3276af0, server.go `rpcError`
    (HTTP 500 for every request error, 400 for -32600) and handler.go `handle` (messages
    "method '%s' not found" -32601, "wrong param count (method '%s'): %d != %d" -32602,
    "unmarshaling params for '%s' (param: %T): …" -32700; a method's own error: code 1, HTTP 200)
  * filecoin-project/lotus @ b835fab702ebce57abd7e6d0c3326bbd1e18c008: documentation/en/api-methods-v1-stable.md
    (example results, tests/data/lotus/), build/openrpc/full.json (parameter lists), chain/stmgr/actors.go
    `GetStorageDeal` ("deal %d not found - deal may not have completed sealing …")
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from aiohttp import web

from tunasync.content.cid import CID, DAG_CBOR
from tunasync.errors import NetworkError, UnsupportedMethod
from tunasync.filecoin.devnet.rpc import METHODS
from tunasync.filecoin.devnet.tipset import BLAKE2B_256, header_cid
from tunasync.filecoin.http import Http
from tunasync.filecoin.lotus import LotusChainObserver, LotusClient

from .conftest import REPO

DATA = REPO / "tests" / "data" / "lotus"
DOC = "bafy2bzacea3wsdh6y3a36tb3skempjoxqpuyompjbmfeyf34fi3uy6uue42v4"  # the docs' example CID


def fixture(method: str) -> dict[str, Any]:
    return json.loads((DATA / f"{method}.json").read_text())


def client_methods() -> set[str]:
    src = (REPO / "src" / "tunasync" / "filecoin" / "lotus.py").read_text()
    return set(re.findall(r'"Filecoin\.(\w+)"', src))


def rpc_raw(url: str, body: bytes) -> tuple[int, Any]:
    req = urllib.request.Request(f"{url}/rpc/v1", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def rpc(url: str, method: str, params: Any, rid: Any = 1) -> tuple[int, Any]:
    return rpc_raw(url, json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": params}).encode())


# -- a Lotus-like node on loopback that answers with the docs' examples -----------------------------------
@pytest.fixture
async def lotus_node():
    """Serves each method's documented example result; `refuse` lists methods it answers like a Lotus
    gateway that does not have them (go-jsonrpc: HTTP 500, -32601)."""
    state: dict[str, Any] = {"refuse": set(), "results": {}}

    async def handle(request: web.Request) -> web.Response:
        req = await request.json()
        name = req["method"]
        short = name.removeprefix("Filecoin.")
        if name in state["refuse"] or not (DATA / f"{short}.json").exists():
            return web.json_response({"jsonrpc": "2.0", "id": req["id"],
                                      "error": {"code": -32601, "message": f"method '{name}' not found"}}, status=500)
        result = state["results"].get(name, fixture(short)["result"])
        return web.json_response({"jsonrpc": "2.0", "id": req["id"], "result": result})

    app = web.Application()
    app.router.add_post("/rpc/v1", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    state["url"] = f"http://127.0.0.1:{runner.addresses[0][1]}/rpc/v1"
    yield state
    await runner.cleanup()


def test_every_method_the_client_calls_has_a_docs_fixture():
    called = client_methods()
    assert {"ChainHead", "StateMarketStorageDeal", "StateGetClaim", "StateGetClaims"} <= called
    for m in called:
        doc = fixture(m)
        assert doc["method"] == f"Filecoin.{m}" and "result" in doc, m
        assert doc["source"].startswith("filecoin-project/lotus@") and f"section {m} " in doc["source"]


async def test_docs_examples_parse_through_our_client(lotus_node):
    c = LotusClient(lotus_node["url"], http=Http())
    try:
        assert await c.chain_head() == 4863283
        d = await c.market_deal(5432)
        assert (d.piece_cid, d.piece_size, d.verified, d.provider, d.client) == (CID.decode(DOC), 1032, True,
                                                                                 "f01234", "f01234")
        assert (d.start_epoch, d.end_epoch, d.sector_start_epoch, d.slash_epoch, d.sector_number) == (
            10101, 10101, 10101, 10101, 9)
        cl = await c.claim("f01234", 0)
        assert cl is not None and (cl.provider, cl.client, cl.data, cl.size, cl.sector) == (
            "f01000", "f01000", CID.decode(DOC), 1032, 9)
        assert (cl.term_min, cl.term_max, cl.term_start) == (10101, 10101, 10101)
        assert await c.claims("f01234") == []
        index, nbytes = await c.claim_index("f01234")
        assert index.size == 0 and nbytes > 0
        assert (await c.sector_info("f01234", 9))["SectorNumber"] == 9
        assert await c.list_miners() == ["f01234"]
        assert await c.network_name() == "lotus" and await c.block_delay() == 42
        # the docs key StateMarketDeals by a placeholder; a real node keys by decimal deal ID
        with pytest.raises(NetworkError, match="malformed deal ID 't026363'"):
            await c.market_deals()
        lotus_node["results"]["Filecoin.StateMarketDeals"] = {"5432": fixture("StateMarketDeals")["result"]["t026363"]}
        assert (await c.market_deals())[5432].piece_cid == CID.decode(DOC)
        # StateMinerInfo: PeerId read; the docs' Multiaddrs entry is base64 of "byte array", not a multiaddr
        try:
            info = await c.miner_info("f01234")
        except NetworkError as exc:
            assert "Multiaddrs" in str(exc)
        else:
            assert info.peer_id == "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf" and info.multiaddrs == []
        assert set(c.stats) == {f"Filecoin.{m}" for m in client_methods()}
    finally:
        await c.http.close()


async def test_a_refused_method_is_an_error_naming_it_never_a_silent_zero(lotus_node):
    """Fails on the old client: "method … not found" counted as "deal not on chain", so 0 copies."""
    lotus_node["refuse"] |= {"Filecoin.StateMarketStorageDeal", "Filecoin.StateMarketDeals"}
    obs = LotusChainObserver(LotusClient(lotus_node["url"], http=Http()))
    try:
        with pytest.raises(UnsupportedMethod) as exc:
            await obs.verified_copies(CID.decode(DOC), 1032, deal_ids=[5432])
        assert exc.value.endpoint == lotus_node["url"]
        assert "Filecoin.StateMarketStorageDeal" in str(exc.value) and "-32601" in str(exc.value)
        with pytest.raises(UnsupportedMethod, match="Filecoin.StateMarketDeals"):
            await obs.discover_deals(CID.decode(DOC))
        calls = dict(obs.client.stats)
        with pytest.raises(UnsupportedMethod):  # a refusal is remembered: not asked again
            await obs.discover_deals(CID.decode(DOC))
        assert obs.client.stats == calls
    finally:
        await obs.close()


# -- the devnet speaks like go-jsonrpc ----------------------------------------------------------------------
def test_devnet_errors_have_go_jsonrpc_status_code_and_message(devnet):
    """Fails on the old devnet: HTTP 200 for everything, any parameters accepted."""
    status, body = rpc(devnet.url, "Filecoin.NoSuchMethod", [], rid=7)
    assert status == 500 and body == {"jsonrpc": "2.0", "id": 7, "error": {
        "code": -32601, "message": "method 'Filecoin.NoSuchMethod' not found"}}
    status, body = rpc(devnet.url, "Filecoin.StateMarketStorageDeal", [5])
    assert status == 500 and body["error"] == {
        "code": -32602, "message": "wrong param count (method 'Filecoin.StateMarketStorageDeal'): 1 != 2"}
    status, body = rpc(devnet.url, "Filecoin.ChainHead", [None])
    assert status == 500 and body["error"]["message"] == "wrong param count (method 'Filecoin.ChainHead'): 1 != 0"
    status, body = rpc(devnet.url, "Filecoin.StateMarketStorageDeal", ["5", None])
    assert status == 500 and body["error"]["code"] == -32700
    assert body["error"]["message"].startswith(
        "unmarshaling params for 'Filecoin.StateMarketStorageDeal' (param: *abi.DealID): json: cannot unmarshal string")
    status, body = rpc(devnet.url, "Filecoin.StateMinerInfo", [1000, None])
    assert status == 500 and "(param: *address.Address)" in body["error"]["message"]
    status, body = rpc(devnet.url, "Filecoin.StateListMiners", {"tsk": None})
    assert status == 500 and body["error"]["code"] == -32700
    assert body["error"]["message"].startswith("unmarshaling param array:")
    status, body = rpc_raw(devnet.url, b"{not json")
    assert status == 500 and body == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}
    status, body = rpc_raw(devnet.url, b"  ")
    assert status == 400 and body["error"] == {"code": -32600, "message": "Invalid request"}
    # a notification (no id) that succeeds gets no answer; one that fails gets the error, id null
    req = urllib.request.Request(f"{devnet.url}/rpc/v1", method="POST", data=json.dumps(
        {"jsonrpc": "2.0", "method": "Filecoin.ChainHead", "params": []}).encode())
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200 and resp.read() == b""
    status, body = rpc(devnet.url, "Filecoin.Nope", [], rid=None)
    assert status == 500 and body["id"] is None and body["error"]["code"] == -32601
    # a method's own failure: HTTP 200, code 1, Lotus' wording
    status, body = rpc(devnet.url, "Filecoin.StateMarketStorageDeal", [987654, None])
    assert status == 200 and body["error"]["code"] == 1
    assert body["error"]["message"].startswith("deal 987654 not found - deal may not have completed sealing")
    # the counters saw every call
    stats = devnet.get("/admin/rpc")
    assert stats["methods"]["Filecoin.StateMarketStorageDeal"]["calls"] >= 3
    assert stats["methods"]["(other)"]["calls"] >= 3 and stats["bytes"] > 0


def test_devnet_parameter_counts_are_lotus_openrpc(devnet):
    spec = json.loads((DATA / "openrpc-params.json").read_text())
    counts = {m["name"]: len(m["params"]) for m in spec["methods"]}
    assert set(counts) == set(METHODS) == {f"Filecoin.{m}" for m in client_methods()}
    for name, n in counts.items():
        assert len(METHODS[name]) == n, name
        status, body = rpc(devnet.url, name, [None] * (n + 1))
        assert status == 500 and body["error"]["code"] == -32602, name
        params = fixture(name.removeprefix("Filecoin."))["params"] or []
        params = ["f01000" if isinstance(p, str) else p for p in params]  # the docs' example miner is not ours
        status, body = rpc(devnet.url, name, params)
        assert status == 200 and body.get("error", {}).get("code") != -32602, (name, body)


def test_devnet_network_params_have_the_fields_lotus_documents(devnet):
    """Lotus api.NetworkParams as in the docs' example: a client decoding it (Go, strict) finds every field."""
    _, body = rpc(devnet.url, "Filecoin.StateGetNetworkParams", [])
    ours, docs = body["result"], fixture("StateGetNetworkParams")["result"]
    assert set(ours) == set(docs)
    assert all(type(ours[k]) is type(docs[k]) for k in docs), {k: (ours[k], docs[k]) for k in docs}
    _, head = rpc(devnet.url, "Filecoin.ChainHead", [])
    # genesis + height x block delay lands on the head's timestamp (a tick may fall between the two calls)
    expect = ours["GenesisTimestamp"] + head["result"]["Height"] * ours["BlockDelaySecs"]
    assert abs(head["result"]["Blocks"][0]["Timestamp"] - expect) <= 2 * ours["BlockDelaySecs"] + 1


def test_chain_head_is_a_full_tipset_with_real_cids(devnet):
    """Fails on the old devnet: "bafy2bzace" + hex is no CID, and the header had 2 fields."""
    _, first = rpc(devnet.url, "Filecoin.ChainHead", [])
    head = first["result"]
    docs = fixture("ChainHead")["result"]
    assert set(head) == set(docs) and set(head["Blocks"][0]) == set(docs["Blocks"][0])
    cid = CID.decode(head["Cids"][0]["/"])
    assert (cid.codec, cid.mh_code, len(cid.digest)) == (DAG_CBOR, BLAKE2B_256, 32)
    assert str(cid).startswith("bafy2bzace")  # as every Filecoin block CID, e.g. the docs' example
    assert docs["Cids"][0]["/"].startswith("bafy2bzace")
    block = head["Blocks"][0]
    assert header_cid(block) == cid  # the CID is the hash of this very header
    assert block["Height"] == head["Height"] and abs(block["Timestamp"] - time.time()) < 600
    for field in ("ParentStateRoot", "ParentMessageReceipts", "Messages"):
        assert CID.decode(block[field]["/"]).codec == DAG_CBOR
    devnet.post("/admin/tick", {"epochs": 1})
    _, later = rpc(devnet.url, "Filecoin.ChainHead", [])
    nxt = later["result"]
    assert nxt["Height"] > head["Height"]
    if nxt["Height"] == head["Height"] + 1:
        assert nxt["Blocks"][0]["Parents"] == head["Cids"]


def test_docs_fixture_sources_are_named():
    text = (DATA / "README.md").read_text()
    assert "filecoin-project/lotus" in text and "api-methods-v1-stable.md" in text and "full.json" in text
