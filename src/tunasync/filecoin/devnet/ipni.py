"""IPNI-compatible `GET /cid/{cid}` (JSON, or ndjson when asked): who announced this multihash.

A provider announces every block multihash of a piece it stores, with metadata graphsync (naming the
piece) + trustless HTTP gateway + piece HTTP, and a Curio-style ContextID `[PaddedSize, PieceCID]`.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from ...content.cid import CID
from .context import Devnet


async def records(net: Devnet, cid: CID) -> list[dict[str, Any]]:
    rows = await net.db(net.store.query,
                        "SELECT DISTINCT a.provider, a.context_id, a.metadata FROM blocks b JOIN announcements a "
                        "ON a.provider = b.provider AND a.piece_cid = b.piece_cid WHERE b.mh = ? "
                        "ORDER BY a.provider, a.piece_cid", (cid.multihash,))
    out = []
    for r in rows:
        p = net.provider(r["provider"])
        if p is None:
            continue
        out.append({"ContextID": base64.b64encode(r["context_id"]).decode(),
                    "Metadata": base64.b64encode(r["metadata"]).decode(),
                    "Provider": {"ID": p.peer_id, "Addrs": [p.multiaddr]}})
    return out


async def handle(request: web.Request) -> web.StreamResponse:
    net: Devnet = request.app["devnet"]
    if net.faults.take_flaky("ipni"):
        return web.Response(status=503, text="busy, try again\n")
    try:
        cid = CID.decode(request.match_info["cid"])
    except ValueError as exc:
        return web.Response(status=400, text=f"bad CID: {exc}\n")
    recs = await records(net, cid)
    if net.faults.has("ipni", "malformed"):
        recs = [{"ContextID": "!!not base64!!", "Metadata": 7, "Provider": {"ID": 12}}]
    if not recs:
        return web.Response(status=404, text="no providers\n")
    if "application/x-ndjson" in request.headers.get("Accept", ""):
        body = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
        return web.Response(body=body, content_type="application/x-ndjson")
    mh = base64.b64encode(cid.multihash).decode()
    return web.json_response({"MultihashResults": [{"Multihash": mh, "ProviderResults": recs}]})


def routes(app: web.Application) -> None:
    app.router.add_get("/cid/{cid}", handle)
