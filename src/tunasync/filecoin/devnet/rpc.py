"""Lotus-compatible JSON-RPC 2.0 at `POST /rpc/v1` (and `/rpc/v0`): the read methods the archive uses.

Answers have Lotus' JSON shapes (spec §4.2): CIDs as `{"/": …}`, FIL amounts as decimal strings,
`StateMinerInfo.Multiaddrs` as base64 of binary multiaddrs, missing deals as a JSON-RPC error.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

from aiohttp import web

from .. import multiaddr
from .context import Devnet

GENESIS_UNIX = 1598306400  # mainnet genesis; the devnet's epochs are nominally 30 s


class RpcFault(Exception):
    def __init__(self, code: int, message: str):
        self.code = code
        self.message = message


def _cid(text: str) -> dict[str, str]:
    return {"/": text}


def market_deal_json(d: dict[str, Any]) -> dict[str, Any]:
    state: dict[str, Any] = {"SectorStartEpoch": d["sector_start_epoch"], "LastUpdatedEpoch": d["last_updated"],
                             "SlashEpoch": d["slash_epoch"]}
    if d["sector_number"] is not None:
        state["SectorNumber"] = d["sector_number"]
    return {
        "Proposal": {"PieceCID": _cid(d["piece_cid"]), "PieceSize": d["piece_size"], "VerifiedDeal": bool(d["verified"]),
                     "Client": d["client"], "Provider": d["provider"], "Label": d["label"],
                     "StartEpoch": d["start_epoch"], "EndEpoch": d["end_epoch"], "StoragePricePerEpoch": "0",
                     "ProviderCollateral": "0", "ClientCollateral": "0"},
        "State": state,
    }


def claim_json(c: dict[str, Any]) -> dict[str, Any]:
    return {"Provider": int(c["provider"][2:]), "Client": int(c["client"][2:]), "Data": _cid(c["piece_cid"]),
            "Size": c["size"], "TermMin": c["term_min"], "TermMax": c["term_max"], "TermStart": c["term_start"],
            "Sector": c["sector"]}


def _actor(params: list[Any], i: int) -> str:
    if len(params) <= i or not isinstance(params[i], str):
        raise RpcFault(1, f"parameter {i} must be an actor address")
    a = params[i]
    return "f0" + a[2:] if a.startswith("t0") else a


def _uint(params: list[Any], i: int) -> int:
    if len(params) <= i or isinstance(params[i], bool) or not isinstance(params[i], int) or params[i] < 0:
        raise RpcFault(1, f"parameter {i} must be an unsigned integer")
    return params[i]


def odd_addrs(host: str, port: int) -> list[str]:
    """`StateMinerInfo.Multiaddrs` as found on real nodes (fault `odd_addrs`): the Lotus API docs' placeholder
    (base64 of the text "byte array", no multiaddr), a p2p value whose multihash is one byte short
    (go-multiaddr TestInvalidP2PAddrBytes), a QUIC address, and the provider's HTTP port written as `/ws`."""
    bad = bytes.fromhex("a503221221c05877cbae039d70a5e600ea02c6f9f2942439285c9e344e26f8d280c850fad6")
    raw = [bad, multiaddr.to_bytes(f"/ip4/{host}/udp/{port}/quic-v1"), multiaddr.to_bytes(f"/ip4/{host}/tcp/{port}/ws")]
    return ["Ynl0ZSBhcnJheQ==", *(base64.b64encode(r).decode() for r in raw)]


async def call(net: Devnet, method: str, params: list[Any]) -> Any:
    head = net.chain.epoch
    if method == "Filecoin.ChainHead":
        block_cid = "bafy2bzace" + hashlib.sha256(str(head).encode()).hexdigest()[:50]
        return {"Cids": [_cid(block_cid)], "Blocks": [{"Height": head, "Timestamp": GENESIS_UNIX + 30 * head}],
                "Height": head}
    if method == "Filecoin.StateMarketStorageDeal":
        deal_id = _uint(params, 0)
        rows = await net.db(net.store.deals, "deal_id = ?", (deal_id,))
        if not rows:
            raise RpcFault(1, f"deal {deal_id} not found")
        return market_deal_json(rows[0])
    if method == "Filecoin.StateMarketDeals":
        rows = await net.db(net.store.deals, "deal_id IS NOT NULL")
        return {str(r["deal_id"]): market_deal_json(r) for r in rows}
    if method == "Filecoin.StateGetClaim":
        prov, claim_id = _actor(params, 0), _uint(params, 1)
        rows = await net.db(net.store.query, "SELECT * FROM claims WHERE provider = ? AND claim_id = ?", (prov, claim_id))
        return claim_json(rows[0]) if rows else None
    if method == "Filecoin.StateGetClaims":
        prov = _actor(params, 0)
        rows = await net.db(net.store.query, "SELECT * FROM claims WHERE provider = ? ORDER BY claim_id", (prov,))
        return {str(r["claim_id"]): claim_json(r) for r in rows}
    if method == "Filecoin.StateMinerInfo":
        p = net.provider(_actor(params, 0))
        if p is None:
            raise RpcFault(1, f"actor not found: {params[0]}")
        addrs, peer = [base64.b64encode(multiaddr.to_bytes(p.multiaddr)).decode()], p.peer_id
        if net.faults.has(p.actor, "odd_addrs"):
            addrs, peer = odd_addrs(p.host, p.port), None
        return {"Owner": p.actor, "Worker": p.actor, "NewWorker": "<empty>", "ControlAddresses": None,
                "PeerId": peer, "Multiaddrs": addrs, "SectorSize": 34359738368, "WindowPoStPartitionSectors": 2349}
    if method == "Filecoin.StateSectorGetInfo":
        prov, sector = _actor(params, 0), _uint(params, 1)
        rows = await net.db(net.store.query, "SELECT * FROM sectors WHERE provider = ? AND sector = ? AND live = 1",
                            (prov, sector))
        if not rows:
            return None
        return {"SectorNumber": sector, "Activation": rows[0]["activation"], "Expiration": rows[0]["activation"] + 1555200,
                "DealWeight": "0", "VerifiedDealWeight": "0", "SealProof": 8}
    if method == "Filecoin.StateListMiners":
        return [p.actor for p in net.providers]
    raise RpcFault(-32601, f"method '{method}' not found")


async def handle(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    if net.token and request.headers.get("Authorization") != f"Bearer {net.token}":
        return web.Response(status=401, text="missing or wrong bearer token\n")
    if net.faults.take_flaky("rpc"):
        return web.Response(status=503, text="busy, try again\n")
    if net.faults.has("rpc", "malformed"):
        return web.Response(body=b'{"jsonrpc": "2.0", "id": ', content_type="application/json")
    try:
        req = json.loads(await request.read())
    except ValueError:
        return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
    if not isinstance(req, dict) or not isinstance(req.get("method"), str):
        return web.json_response({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "invalid request"}})
    rid = req.get("id")
    params = req.get("params") or []
    started = time.monotonic()
    try:
        result = await call(net, req["method"], params if isinstance(params, list) else [])
    except RpcFault as f:
        return web.json_response({"jsonrpc": "2.0", "id": rid, "error": {"code": f.code, "message": f.message}})
    request.app.logger.debug("rpc %s %.1f ms", req["method"], (time.monotonic() - started) * 1000)
    return web.json_response({"jsonrpc": "2.0", "id": rid, "result": result})


def routes(app: web.Application) -> None:
    app.router.add_post("/rpc/v1", handle)
    app.router.add_post("/rpc/v0", handle)
