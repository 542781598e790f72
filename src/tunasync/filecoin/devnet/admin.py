"""Admin routes (`/admin/...`, devnet only): faults, seeding foreign copies, slashing a deal, ticking.

    GET  /admin/info                       epoch, providers (actor, kind, peer IDs, URL, multiaddr), faults
    GET  /admin/faults                     current faults
    POST /admin/faults                     {"provider": "f01001", "kind": "corrupt", "value": 1, "on": true}
                                           or {"clear": true[, "provider": …]}
    POST /admin/seed                       {"car_path", "providers": [...] | "count": n, "kind": "deal"|"ddo",
                                            "state": "active"|"published"|"slashed", "piece_cid"?, "padded_size"?,
                                            "client"?} → {"pieceCid", "paddedSize", "deals", "claims"}
    POST /admin/deals/{deal_id}/slash      slash one chain deal now
    POST /admin/tick                       {"epochs": n}: advance the chain now (tests with slow epochs)
    GET  /admin/rpc                        JSON-RPC counters: {"calls", "bytes", "methods": {M: {"calls", "bytes"}}}
                                           (bytes = response bodies); POST /admin/rpc/reset zeroes them
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from ...content.cid import CID
from ...content.piece import piece_of_file
from ..interfaces import DealState
from .chain import FOREIGN_CLIENT
from .context import Devnet
from .faults import parse_flag
from .rpc import stats_json


def _err(status: int, reason: str) -> web.Response:
    return web.json_response({"err": reason}, status=status)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"err": "body must be a JSON object"}', content_type="application/json")
    return body


def info(net: Devnet) -> dict[str, Any]:
    return {"epoch": net.chain.epoch, "epochSeconds": net.chain.epoch_seconds, "url": net.url,
            "rpc": f"{net.url}/rpc/v1", "ipni": net.url, "scale": net.scale.name,
            "miners": max(net.scale.miners, len(net.providers)), "singularity": f"{net.url}/api",
            "providers": [{"actor": p.actor, "peerId": p.peer_id, "port": p.port, "url": p.url,
                           "multiaddr": p.multiaddr, "kind": p.kind, "ipniPeerId": p.announce_peer_id}
                          for p in net.providers],
            "faults": net.faults.as_json()}


async def get_info(request: web.Request) -> web.Response:
    return web.json_response(info(request.app["devnet"]))


async def get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app["devnet"].faults.as_json())


async def post_faults(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    body = await _json(request)
    if body.get("clear"):
        before = set(net.faults.as_json())
        net.faults.clear(body.get("provider"))
        for actor in before:
            await request.app["on_fault_change"](actor)
        return web.json_response(net.faults.as_json())
    try:
        if "fault" in body:
            provider, kind, value = parse_flag(str(body["fault"]))
        else:
            provider, kind, value = str(body.get("provider", "")), str(body.get("kind", "")), float(body.get("value", 1))
        if provider not in ("rpc", "ipni") and net.provider(provider) is None:
            raise ValueError(f"no provider {provider!r} (known: {', '.join(p.actor for p in net.providers)}, rpc, ipni)")
        net.faults.set(provider, kind, value, on=bool(body.get("on", True)))
    except ValueError as exc:
        return _err(400, str(exc))
    await request.app["on_fault_change"](provider)
    return web.json_response(net.faults.as_json())


async def seed(request: web.Request) -> web.Response:
    """Store a local CAR at some providers with deals (or claims) of someone else, already on chain."""
    net: Devnet = request.app["devnet"]
    runtime = request.app["providers"]
    body = await _json(request)
    car = Path(str(body.get("car_path", "")))
    if not await asyncio.to_thread(car.is_file):
        return _err(400, f"car_path {str(car)!r} is not a file")
    actors = body.get("providers") or [p.actor for p in net.providers[: int(body.get("count", 1))]]
    for a in actors:
        if net.provider(a) is None:
            return _err(400, f"no provider {a!r}")
    kind = body.get("kind", "deal")
    state = body.get("state", DealState.ACTIVE.value)
    if kind not in ("deal", "ddo") or state not in (DealState.ACTIVE, DealState.PUBLISHED, DealState.SLASHED):
        return _err(400, "kind must be deal|ddo and state active|published|slashed")
    try:
        if body.get("piece_cid"):
            piece, padded = CID.decode(str(body["piece_cid"])), int(body["padded_size"])
        else:
            pi = await asyncio.to_thread(piece_of_file, str(car))
            piece, padded = pi.v1, pi.padded_size
    except (ValueError, KeyError) as exc:
        return _err(400, f"piece_cid needs padded_size: {exc}")
    deals, claims = [], []
    head = net.chain.epoch
    for actor in actors:
        final = await asyncio.to_thread(runtime.ingest, actor, car, piece, padded, kind == "ddo", True)
        root = await net.db(net.store.query, "SELECT root_cid FROM pieces WHERE provider = ? AND piece_cid = ?",
                            (actor, str(piece)))
        row_id = await net.db(
            net.store.insert_deal, piece_cid=str(piece), piece_size=padded, payload_size=final.stat().st_size,
            root_cid=root[0]["root_cid"], client=str(body.get("client") or FOREIGN_CLIENT), provider=actor,
            label=root[0]["root_cid"], verified=int(kind == "ddo"), deal_type="ddo" if kind == "ddo" else "market",
            start_epoch=head + net.params.start_delay, end_epoch=head + int(body.get("duration", net.params.duration)),
            proposed_epoch=head,
            state=DealState.PROPOSED.value, stored=1, foreign_copy=1)
        deal = (await net.db(net.store.deals, "id = ?", (row_id,)))[0]
        await net.db(net.chain.apply, deal, {"state": DealState.PUBLISHED.value, "published_epoch": head, "last_updated": head,
                                             "publish": True}, head)
        if state in (DealState.ACTIVE, DealState.SLASHED):
            deal = (await net.db(net.store.deals, "id = ?", (row_id,)))[0]
            await net.db(net.chain.apply, deal, {"state": DealState.ACTIVE.value, "sector_start_epoch": head, "last_updated": head,
                                                 "seal": True}, head)
        if state == DealState.SLASHED:
            deal = (await net.db(net.store.deals, "id = ?", (row_id,)))[0]
            await net.db(net.chain.apply, deal, {"state": DealState.SLASHED.value, "slash_epoch": head, "last_updated": head}, head)
        deal = (await net.db(net.store.deals, "id = ?", (row_id,)))[0]
        if deal["deal_id"] is not None:
            deals.append(deal["deal_id"])
        if deal["claim_id"] is not None:
            claims.append({"provider": actor, "claimId": deal["claim_id"]})
    return web.json_response({"pieceCid": str(piece), "paddedSize": padded, "deals": deals, "claims": claims})


async def slash_deal(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    rows = await net.db(net.store.deals, "deal_id = ?", (int(request.match_info["deal_id"]),))
    if not rows:
        return _err(404, "deal not found")
    head = net.chain.epoch
    await net.db(net.chain.apply, rows[0], {"state": DealState.SLASHED.value, "slash_epoch": head, "last_updated": head}, head)
    return web.json_response({"dealId": rows[0]["deal_id"], "slashEpoch": head})


async def tick(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    body = await _json(request)
    for _ in range(max(1, int(body.get("epochs", 1)))):
        await asyncio.to_thread(net.chain.tick)
    return web.json_response({"epoch": net.chain.epoch})


async def get_rpc(request: web.Request) -> web.Response:
    return web.json_response(stats_json(request.app["devnet"]))


async def reset_rpc(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    net.rpc_stats.clear()
    return web.json_response(stats_json(net))


def routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/admin/info", get_info)
    r.add_get("/admin/faults", get_faults)
    r.add_post("/admin/faults", post_faults)
    r.add_post("/admin/seed", seed)
    r.add_post("/admin/deals/{deal_id:\\d+}/slash", slash_deal)
    r.add_post("/admin/tick", tick)
    r.add_get("/admin/rpc", get_rpc)
    r.add_post("/admin/rpc/reset", reset_rpc)
