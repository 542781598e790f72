"""A Singularity-compatible REST subset under `/api` (docs/filecoin.md §5): preparations, externally prepared pieces,
schedules (one deal per allowed piece and provider) and the deal list.

Shapes follow Singularity v2's swagger (camelCase, errors as `{"err": …}`); durations are Go duration
strings ("12840h") turned into 30 s epochs. A new deal starts `proposed`; the provider runtime fetches
the CAR from the schedule's `urlTemplate` with `{PIECE_CID}` filled in.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ...content.cid import CID
from ..interfaces import DealState
from .chain import OUR_CLIENT
from .context import Devnet
from .market import LIVE, duration_epochs


def _err(status: int, reason: str) -> web.Response:
    return web.json_response({"err": reason}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise web.HTTPBadRequest(text=json.dumps({"err": f"invalid JSON: {exc}"}), content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"err": "body must be an object"}), content_type="application/json")
    return body


def _prep_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], **json.loads(row["body"])}


def deal_json(d: dict[str, Any]) -> dict[str, Any]:
    return {"id": d["id"], "dealId": d["deal_id"], "pieceCid": d["piece_cid"], "pieceSize": d["piece_size"],
            "provider": d["provider"], "clientId": d["client"], "label": d["label"], "state": d["state"],
            "sectorStartEpoch": d["sector_start_epoch"], "startEpoch": d["start_epoch"], "endEpoch": d["end_epoch"],
            "verified": bool(d["verified"]), "scheduleId": d["schedule_id"], "dealType": d["deal_type"],
            "errorMessage": d["error"], "claimId": d["claim_id"]}


async def _find_prep(net: Devnet, ident: str) -> dict[str, Any] | None:
    col = "id" if ident.isdigit() else "name"
    rows = await net.db(net.store.query, f"SELECT * FROM preparations WHERE {col} = ?", (ident,))
    return rows[0] if rows else None


async def create_preparation(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    body = await _body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        return _err(400, "name is required")
    if await _find_prep(net, name) is not None:
        return _err(400, f"preparation {name!r} already exists")
    rest = {k: v for k, v in body.items() if k != "name"}
    rest.setdefault("sourceStorages", [])
    rest.setdefault("outputStorages", [])
    rid = await net.db(net.store.execute, "INSERT INTO preparations(name, body) VALUES(?, ?)", (name, json.dumps(rest)))
    return web.json_response({"id": rid, "name": name, **rest})


async def list_preparations(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    rows = await net.db(net.store.query, "SELECT * FROM preparations ORDER BY id")
    return web.json_response([_prep_json(r) for r in rows])


async def get_preparation(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    prep = await _find_prep(net, request.match_info["id"])
    return web.json_response(_prep_json(prep)) if prep else _err(404, "preparation not found")


def _car_json(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": r["id"], "pieceCid": r["piece_cid"], "pieceSize": r["piece_size"], "fileSize": r["file_size"],
            "rootCid": r["root_cid"], "preparationId": r["prep_id"], "pieceType": "data"}


async def add_piece(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    prep = await _find_prep(net, request.match_info["id"])
    if prep is None:
        return _err(404, "preparation not found")
    body = await _body(request)
    try:
        piece = CID.decode(str(body.get("pieceCid", "")))
        size = int(body.get("pieceSize", 0))
        file_size = int(body.get("fileSize", 0))
        root = CID.decode(str(body.get("rootCid", ""))) if body.get("rootCid") else None
    except ValueError as exc:
        return _err(400, f"invalid piece: {exc}")
    if size < 128 or size & (size - 1):
        return _err(400, f"pieceSize {size} is not a power of two >= 128")
    await net.db(net.store.execute, "INSERT OR IGNORE INTO prep_pieces(prep_id, piece_cid, piece_size, file_size, root_cid)"
                 " VALUES(?,?,?,?,?)", (prep["id"], str(piece), size, file_size, str(root or "")))
    rows = await net.db(net.store.query, "SELECT * FROM prep_pieces WHERE prep_id = ? AND piece_cid = ?",
                        (prep["id"], str(piece)))
    return web.json_response(_car_json(rows[0]))


async def list_pieces(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    prep = await _find_prep(net, request.match_info["id"])
    if prep is None:
        return _err(404, "preparation not found")
    rows = await net.db(net.store.query, "SELECT * FROM prep_pieces WHERE prep_id = ? ORDER BY id", (prep["id"],))
    return web.json_response([{"attachmentId": None, "pieces": [_car_json(r) for r in rows]}])


async def create_schedule(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    body = await _body(request)
    prep = await _find_prep(net, str(body.get("preparation", "")))
    if prep is None:
        return _err(400, "preparation not found")
    provider = str(body.get("provider", ""))
    if net.provider(provider) is None:
        return _err(400, f"provider {provider!r} is not a storage provider on this network")
    template = str(body.get("urlTemplate", ""))
    if "{PIECE_CID}" not in template:
        return _err(400, "urlTemplate must contain {PIECE_CID} (the devnet has no other way to fetch CARs)")
    deal_type = str(body.get("dealType") or "market")
    if deal_type not in ("market", "ddo"):
        return _err(400, f"dealType {deal_type!r} is not supported by the devnet (market, ddo)")
    try:
        start_delay = duration_epochs(body.get("startDelay"), net.params.start_delay, net.params)
        duration = duration_epochs(body.get("duration"), net.params.duration, net.params)
    except ValueError as exc:
        return _err(400, str(exc))
    allowed = [str(c) for c in body.get("allowedPieceCids") or []]
    total = int(body.get("totalDealNumber") or 0)
    stored = {**body, "dealType": deal_type, "preparationId": prep["id"]}
    sid = await net.db(net.store.execute, "INSERT INTO schedules(prep_id, provider, state, body) VALUES(?,?,?,?)",
                       (prep["id"], provider, "active", json.dumps(stored)))
    pieces = await net.db(net.store.query, "SELECT * FROM prep_pieces WHERE prep_id = ? ORDER BY id", (prep["id"],))
    head = net.chain.epoch
    made: list[int] = []
    for pc in pieces:
        if allowed and pc["piece_cid"] not in allowed:
            continue
        if total and len(made) >= total:
            break
        live = await net.db(net.store.deals, f"provider = ? AND piece_cid = ? AND state IN ({','.join('?' * len(LIVE))})",
                            (provider, pc["piece_cid"], *sorted(LIVE)))
        if live:
            continue
        made.append(await net.db(
            net.store.insert_deal, piece_cid=pc["piece_cid"], piece_size=pc["piece_size"],
            payload_size=pc["file_size"], root_cid=pc["root_cid"], client=OUR_CLIENT, provider=provider,
            label=pc["root_cid"], verified=int(bool(body.get("verified", False))), deal_type=deal_type,
            start_epoch=head + start_delay, end_epoch=head + start_delay + duration, proposed_epoch=head,
            state=DealState.PROPOSED.value, car_url=template.replace("{PIECE_CID}", pc["piece_cid"]), schedule_id=sid))
    if net.on_deal_proposed is not None:
        for row_id in made:
            await net.on_deal_proposed(row_id)
    return web.json_response({"id": sid, "provider": provider, "state": "active", **stored, "dealsMade": len(made)})


async def list_schedules(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    rows = await net.db(net.store.query, "SELECT * FROM schedules ORDER BY id")
    return web.json_response([{"id": r["id"], "provider": r["provider"], "state": r["state"], **json.loads(r["body"])}
                              for r in rows])


async def set_schedule_state(request: web.Request) -> web.Response:
    net: Devnet = request.app["devnet"]
    state = "paused" if request.match_info["action"] == "pause" else "active"
    await net.db(net.store.execute, "UPDATE schedules SET state = ? WHERE id = ?", (state, int(request.match_info["id"])))
    return web.json_response({"id": int(request.match_info["id"]), "state": state})


async def list_deals(request: web.Request) -> web.Response:
    """`POST /api/deal` with filters {preparations, schedules, providers, states, dealTypes}."""
    net: Devnet = request.app["devnet"]
    body = await _body(request)
    where, args = ["1"], []
    for key, col in (("providers", "provider"), ("states", "state"), ("dealTypes", "deal_type"), ("schedules", "schedule_id")):
        vals = body.get(key) or []
        if vals:
            where.append(f"{col} IN ({','.join('?' * len(vals))})")
            args += list(vals)
    preps = body.get("preparations") or []
    if preps:
        ids = []
        for p in preps:
            row = await _find_prep(net, str(p))
            ids.append(row["id"] if row else -1)
        where.append(f"schedule_id IN (SELECT id FROM schedules WHERE prep_id IN ({','.join('?' * len(ids))}))")
        args += ids
    rows = await net.db(net.store.deals, " AND ".join(where), args)
    return web.json_response([deal_json(r) for r in rows])


def _wallet() -> dict[str, Any]:
    """The devnet's one client wallet, as Singularity's model.Wallet lists it (no key material)."""
    return {"id": 1, "actorId": OUR_CLIENT, "address": OUR_CLIENT}


async def list_wallets(_request: web.Request) -> web.Response:
    """`GET /api/wallet`: every imported wallet."""
    return web.json_response([_wallet()])


async def prep_wallets(request: web.Request) -> web.Response:
    """`GET /api/preparation/{id}/wallet`: the wallets attached to a preparation (deals are made from them)."""
    net: Devnet = request.app["devnet"]
    row = await _find_prep(net, request.match_info["id"])
    if row is None:
        return web.json_response({"err": f"preparation {request.match_info['id']} not found"}, status=404)
    return web.json_response([_wallet()])


def routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/preparation", create_preparation)
    r.add_get("/api/preparation", list_preparations)
    r.add_get("/api/preparation/{id}", get_preparation)
    r.add_post("/api/preparation/{id}/piece", add_piece)
    r.add_get("/api/preparation/{id}/piece", list_pieces)
    r.add_post("/api/schedule", create_schedule)
    r.add_get("/api/schedule", list_schedules)
    r.add_post("/api/schedule/{id}/{action:pause|resume}", set_schedule_state)
    r.add_post("/api/deal", list_deals)
    r.add_get("/api/wallet", list_wallets)
    r.add_get("/api/preparation/{id}/wallet", prep_wallets)
