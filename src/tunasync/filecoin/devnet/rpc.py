"""Lotus-compatible JSON-RPC 2.0 at `POST /rpc/v1` (and `/rpc/v0`): the read methods the archive uses.

Answers have Lotus' JSON shapes (docs/filecoin.md §4.2): CIDs as `{"/": …}`, FIL amounts as decimal strings,
`StateMinerInfo.Multiaddrs` as base64 of binary multiaddrs, `ChainHead` a full tipset. Errors follow
go-jsonrpc, the library Lotus serves its API with (filecoin-project/go-jsonrpc, handler.go and server.go):

    request errors        HTTP 500 (400 for an empty request), `error` with a standard code:
      -32700  "Parse error" (body not JSON), "unmarshaling param array: …" (params not an array),
              "unmarshaling params for 'M' (param: *abi.DealID): …" (a parameter of the wrong type)
      -32601  "method 'M' not found" (also what a Lotus gateway answers for a method it does not proxy)
      -32602  "wrong param count (method 'M'): 1 != 2" (parameter count checked per method)
    method errors         HTTP 200, `error` code 1 (e.g. "deal 5 not found - …"), as Lotus returns them

Parameter lists are those of Lotus' OpenRPC document (build/openrpc/full.json). Every call is counted per
method (calls, response bytes); `GET /admin/rpc` shows the counters.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from ...errors import TunasyncError
from .. import multiaddr
from .chain import peer_id_for
from .context import Devnet

PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602

# Go parameter types per method, in order (Lotus api/api_full.go; counts as in build/openrpc/full.json)
METHODS: dict[str, tuple[str, ...]] = {
    "Filecoin.ChainHead": (),
    "Filecoin.StateMarketStorageDeal": ("abi.DealID", "types.TipSetKey"),
    "Filecoin.StateMarketDeals": ("types.TipSetKey",),
    "Filecoin.StateGetClaim": ("address.Address", "verifreg.ClaimId", "types.TipSetKey"),
    "Filecoin.StateGetClaims": ("address.Address", "types.TipSetKey"),
    "Filecoin.StateMinerInfo": ("address.Address", "types.TipSetKey"),
    "Filecoin.StateSectorGetInfo": ("address.Address", "abi.SectorNumber", "types.TipSetKey"),
    "Filecoin.StateListMiners": ("types.TipSetKey",),
    "Filecoin.StateNetworkName": (),
    "Filecoin.StateGetNetworkParams": (),
}
NETWORK_NAME = "localnet"  # the devnet's name for itself (real nodes answer "mainnet", "calibrationnet")
GATEWAY_REFUSES = frozenset({"Filecoin.StateMarketDeals"})  # not in Lotus' api/api_gateway.go


class RpcFault(TunasyncError):
    """An error answer; `status` is the HTTP status go-jsonrpc uses for it."""

    def __init__(self, code: int, message: str, status: int = 200):
        self.code = code
        self.message = message
        self.status = status


class Stream:
    """A big result sent as JSON text pieces (built lazily, never held whole)."""

    def __init__(self, parts: Iterator[str]):
        self.parts = parts


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


# -- parameters, decoded the way Go's encoding/json would --------------------------------------------------
def _json_kind(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(v), "value")


def _decode_param(method: str, go_type: str, v: Any) -> Any:
    def bad(reason: str) -> RpcFault:
        return RpcFault(PARSE_ERROR, f"unmarshaling params for '{method}' (param: *{go_type}): {reason}", 500)

    if go_type in ("abi.DealID", "verifreg.ClaimId", "abi.SectorNumber"):  # uint64
        if v is None:
            return 0  # JSON null leaves a Go value at zero
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise bad(f"json: cannot unmarshal {_json_kind(v)} into Go value of type {go_type}")
        if not isinstance(v, int) or not 0 <= v < 1 << 64:
            raise bad(f"json: cannot unmarshal number {json.dumps(v)} into Go value of type {go_type}")
        return v
    if go_type == "address.Address":
        if not isinstance(v, str):
            raise bad(f"json: cannot unmarshal {_json_kind(v)} into Go value of type string")
        if len(v) < 3 or v[0] not in "ft" or v[1] not in "01234":
            raise bad(f"invalid address {v!r}")
        return "f0" + v[2:] if v.startswith("t0") else v
    if go_type == "types.TipSetKey":  # null / [] = the head; else a list of CIDs (the devnet answers at its head)
        if v is None:
            return None
        if not isinstance(v, list) or not all(isinstance(c, dict) and isinstance(c.get("/"), str) for c in v):
            raise bad(f"json: cannot unmarshal {_json_kind(v)} into Go value of type []cid.Cid")
        return v
    raise AssertionError(go_type)


def _decode_params(method: str, raw: Any) -> list[Any]:
    types = METHODS[method]
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        raise RpcFault(PARSE_ERROR, "unmarshaling param array: json: cannot unmarshal "
                                    f"{_json_kind(raw)} into Go value of type []jsonrpc.param", 500)
    if len(raw) != len(types):
        raise RpcFault(INVALID_PARAMS, f"wrong param count (method '{method}'): {len(raw)} != {len(types)}", 500)
    return [_decode_param(method, t, v) for t, v in zip(types, raw, strict=True)]


# -- the methods -------------------------------------------------------------------------------------------
def odd_addrs(host: str, port: int) -> list[str]:
    """`StateMinerInfo.Multiaddrs` as found on real nodes (fault `odd_addrs`): the Lotus API docs' placeholder
    (base64 of the text "byte array", no multiaddr), a p2p value whose multihash is one byte short
    (go-multiaddr TestInvalidP2PAddrBytes), a QUIC address, and the provider's HTTP port written as `/ws`."""
    bad = bytes.fromhex("a503221221c05877cbae039d70a5e600ea02c6f9f2942439285c9e344e26f8d280c850fad6")
    raw = [bad, multiaddr.to_bytes(f"/ip4/{host}/udp/{port}/quic-v1"), multiaddr.to_bytes(f"/ip4/{host}/tcp/{port}/ws")]
    return ["Ynl0ZSBhcnJheQ==", *(base64.b64encode(r).decode() for r in raw)]


def _deal_not_found(deal_id: int) -> RpcFault:
    # the wording of Lotus' chain/stmgr GetStorageDeal, so clients can tell "ended" from other failures
    return RpcFault(1, f"deal {deal_id} not found - deal may not have completed sealing before deal proposal "
                       "start epoch, or deal may have been slashed")


def _listening_idx(net: Devnet, actor: str) -> int | None:
    p = net.provider(actor)
    return p.idx if p is not None else None


async def call(net: Devnet, method: str, args: list[Any]) -> Any:
    syn = net.synthetic
    if method == "Filecoin.ChainHead":
        return net.chain.tipsets.json()
    if method == "Filecoin.StateNetworkName":
        return NETWORK_NAME
    if method == "Filecoin.StateGetNetworkParams":  # Lotus api.NetworkParams; no upgrade heights (none happen here)
        delay = max(1, round(net.chain.epoch_seconds))
        head = net.chain.tipsets.header
        # the devnet starts at a late height and may tick faster than a second: the genesis a client would
        # compute back from the head (genesis + height x delay = the head's timestamp, as on a real chain)
        return {"NetworkName": NETWORK_NAME, "BlockDelaySecs": delay,
                "ConsensusMinerMinPower": "0", "PreCommitChallengeDelay": 10, "ForkUpgradeParams": {},
                "Eip155ChainID": 31415926, "GenesisTimestamp": head["Timestamp"] - head["Height"] * delay}
    if method == "Filecoin.StateMarketStorageDeal":
        deal_id = args[0]
        rows = await net.db(net.store.deals, "deal_id = ?", (deal_id,))
        if rows:
            return market_deal_json(rows[0])
        if syn is not None and syn.has_deal(deal_id):
            return market_deal_json(syn.deal(deal_id))
        raise _deal_not_found(deal_id)
    if method == "Filecoin.StateMarketDeals":
        rows = await net.db(net.store.deals, "deal_id IS NOT NULL")
        return {str(r["deal_id"]): market_deal_json(r) for r in rows}
    if method == "Filecoin.StateGetClaim":
        prov, claim_id = args[0], args[1]
        rows = await net.db(net.store.query, "SELECT * FROM claims WHERE provider = ? AND claim_id = ?", (prov, claim_id))
        if rows:
            return claim_json(rows[0])
        if syn is not None:
            owner = syn.claim_owner(claim_id)
            if owner is not None and owner == _listening_idx(net, prov):
                return claim_json(syn.claim(owner, claim_id))
        return None
    if method == "Filecoin.StateGetClaims":
        prov = args[0]
        rows = await net.db(net.store.query, "SELECT * FROM claims WHERE provider = ? ORDER BY claim_id", (prov,))
        idx = _listening_idx(net, prov)
        if syn is None or idx is None or not syn.claim_range(idx):
            return {str(r["claim_id"]): claim_json(r) for r in rows}
        own = [f"{json.dumps(str(r['claim_id']))}:{json.dumps(claim_json(r), separators=(',', ':'))}" for r in rows]
        return Stream(_object_parts(syn.claims_json(idx), own))
    if method == "Filecoin.StateMinerInfo":
        actor = args[0]
        p = net.provider(actor)
        if p is not None:
            if net.faults.has(p.actor, "odd_addrs"):
                return _miner_info(p.actor, None, odd_addrs(p.host, p.port))
            addr = base64.b64encode(multiaddr.to_bytes(p.multiaddr)).decode()
            return _miner_info(p.actor, p.peer_id, [addr])
        if syn is not None and syn.is_chain_only(actor):
            return _miner_info(actor, peer_id_for(actor), None)
        raise RpcFault(1, f"failed to load miner actor: actor not found: {actor}")
    if method == "Filecoin.StateSectorGetInfo":
        prov, sector = args[0], args[1]
        rows = await net.db(net.store.query, "SELECT * FROM sectors WHERE provider = ? AND sector = ? AND live = 1",
                            (prov, sector))
        if rows:
            return _sector_info(sector, rows[0]["activation"])
        if syn is not None and syn.has_sector(prov, sector):
            return _sector_info(sector, 60)
        return None
    if method == "Filecoin.StateListMiners":
        if syn is None:
            return [p.actor for p in net.providers]
        return Stream(_array_parts(syn.miners()))
    raise AssertionError(method)


def _miner_info(actor: str, peer_id: str | None, addrs: list[str] | None) -> dict[str, Any]:
    return {"Owner": actor, "Worker": actor, "NewWorker": "<empty>", "ControlAddresses": None, "WorkerChangeEpoch": -1,
            "PeerId": peer_id, "Multiaddrs": addrs, "WindowPoStProofType": 8, "SectorSize": 34359738368,
            "WindowPoStPartitionSectors": 2349, "ConsensusFaultElapsed": -1, "PendingOwnerAddress": None,
            "Beneficiary": actor, "BeneficiaryTerm": {"Quota": "0", "UsedQuota": "0", "Expiration": 0},
            "PendingBeneficiaryTerm": None}


def _sector_info(sector: int, activation: int) -> dict[str, Any]:
    return {"SectorNumber": sector, "SealProof": 8, "Activation": activation, "Expiration": activation + 1555200,
            "DealWeight": "0", "VerifiedDealWeight": "0", "InitialPledge": "0", "ExpectedDayReward": "0",
            "ExpectedStoragePledge": "0", "PowerBaseEpoch": activation, "ReplacedDayReward": "0", "Flags": 0}


def _object_parts(synthetic: Iterator[str], own: list[str]) -> Iterator[str]:
    yield "{"
    first = True
    for part in synthetic:
        yield part if first else "," + part
        first = False
    for member in own:
        yield member if first else "," + member
        first = False
    yield "}"


def _array_parts(items: Iterator[str]) -> Iterator[str]:
    yield "["
    batch: list[str] = []
    first = True
    for it in items:
        batch.append(json.dumps(it))
        if len(batch) == 4096:
            yield ("" if first else ",") + ",".join(batch)
            first, batch = False, []
    if batch:
        yield ("" if first else ",") + ",".join(batch)
    yield "]"


# -- HTTP --------------------------------------------------------------------------------------------------
def _dump(obj: dict[str, Any]) -> bytes:
    # go-jsonrpc's json.Encoder: keys sorted (the response is a Go map), one trailing newline
    return (json.dumps(obj, sort_keys=True, separators=(",", ":")) + "\n").encode()


def _count(net: Devnet, method: str, nbytes: int) -> None:
    key = method if method in METHODS else "(other)"  # arbitrary names must not grow the table
    s = net.rpc_stats.setdefault(key, [0, 0])
    s[0] += 1
    s[1] += nbytes


async def _one(net: Devnet, req: Any) -> tuple[int, Any, str]:
    """(HTTP status, answer object or Stream, method) for one request object."""
    if not isinstance(req, dict) or not isinstance(req.get("method", ""), str):
        return 500, {"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}}, "(other)"
    method = req.get("method", "")
    rid = req.get("id")
    try:
        if method not in METHODS or (net.scale.mainnet and method in GATEWAY_REFUSES):
            raise RpcFault(METHOD_NOT_FOUND, f"method '{method}' not found", 500)
        args = _decode_params(method, req.get("params"))
        result = await call(net, method, args)
    except RpcFault as f:
        return f.status, {"jsonrpc": "2.0", "id": rid, "error": {"code": f.code, "message": f.message}}, method
    return 200, {"jsonrpc": "2.0", "id": rid, "result": result}, method


async def _write(request: web.Request, status: int, answer: dict[str, Any]) -> tuple[web.StreamResponse, int]:
    result = answer.get("result")
    if not isinstance(result, Stream):
        body = _dump(answer)
        return web.Response(status=status, body=body, content_type="application/json"), len(body)
    resp = web.StreamResponse(status=status)
    resp.content_type = "application/json"
    await resp.prepare(request)
    head = _dump({k: v for k, v in answer.items() if k != "result"})[:-2] + b',"result":'
    n = len(head)
    await resp.write(head)
    parts = result.parts
    while (piece := await asyncio.to_thread(next, parts, None)) is not None:
        data = piece.encode()
        n += len(data)
        await resp.write(data)
    await resp.write(b"}\n")
    await resp.write_eof()
    return resp, n + 2


async def handle(request: web.Request) -> web.StreamResponse:
    net: Devnet = request.app["devnet"]
    if net.token and request.headers.get("Authorization") != f"Bearer {net.token}":
        return web.Response(status=401, text="missing or wrong bearer token\n")
    if net.faults.take_flaky("rpc"):
        return web.Response(status=503, text="busy, try again\n")
    if net.faults.has("rpc", "malformed"):
        return web.Response(body=b'{"jsonrpc": "2.0", "id": ', content_type="application/json")
    raw = (await request.read()).strip()
    started = time.monotonic()
    if not raw:
        body = _dump({"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "Invalid request"}})
        _count(net, "(other)", len(body))
        return web.Response(status=400, body=body, content_type="application/json")
    try:
        req = json.loads(raw)
    except ValueError:
        body = _dump({"jsonrpc": "2.0", "id": None, "error": {"code": PARSE_ERROR, "message": "Parse error"}})
        _count(net, "(other)", len(body))
        return web.Response(status=500, body=body, content_type="application/json")
    if isinstance(req, list):  # a batch: one answer per request, HTTP 200 (go-jsonrpc's batch writer)
        if not req:
            body = _dump({"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": "Invalid request"}})
            return web.Response(status=400, body=body, content_type="application/json")
        parts = []
        for r in req:
            _, answer, method = await _one(net, r)
            if isinstance(answer.get("result"), Stream):
                answer["result"] = json.loads("".join(answer["result"].parts))
            one = _dump(answer)[:-1]
            _count(net, method, len(one))
            parts.append(one)
        return web.Response(body=b"[" + b",".join(parts) + b"]\n", content_type="application/json")
    status, answer, method = await _one(net, req)
    if isinstance(req, dict) and req.get("id") is None and "result" in answer:
        _count(net, method, 0)  # a notification: go-jsonrpc runs it and answers nothing
        return web.Response(status=200)
    resp, n = await _write(request, status, answer)
    _count(net, method, n)
    request.app.logger.debug("rpc %s %d B %.1f ms", method, n, (time.monotonic() - started) * 1000)
    return resp


def stats_json(net: Devnet) -> dict[str, Any]:
    methods = {m: {"calls": c, "bytes": b} for m, (c, b) in sorted(net.rpc_stats.items())}
    return {"calls": sum(v["calls"] for v in methods.values()), "bytes": sum(v["bytes"] for v in methods.values()),
            "methods": methods}


def routes(app: web.Application) -> None:
    app.router.add_post("/rpc/v1", handle)
    app.router.add_post("/rpc/v0", handle)
