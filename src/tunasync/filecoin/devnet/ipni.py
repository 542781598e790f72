"""IPNI-compatible `GET /cid/{cid}` (JSON, or ndjson when asked): who announced this multihash.

A provider announces every block multihash of a piece it stores, the way its kind does it
(docs/filecoin.md "IPNI records"), with the bytes go-libipni writes:

    curio         ContextID `[PaddedSize, PieceCID]`, metadata trustless gateway (`a0 12 00`), its own IPNI
                  peer ID (not the on-chain one), Addrs `/dns/localhost/tcp/<port>/http`
    boost         ContextID = the deal proposal's CID bytes, graphsync metadata (naming the piece) under the
                  on-chain peer ID with a libp2p address, plus its HTTP extended provider: the same ContextID,
                  trustless gateway metadata, Addrs `/ip4/127.0.0.1/tcp/<port>/http`
    bitswap-only  ContextID = the proposal CID bytes, bitswap metadata (`80 12`), a libp2p websocket address
"""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from ...content import dagcbor as cbor
from ...content.cid import CID
from ..ipni import BITSWAP, GRAPHSYNC, HTTP_GATEWAY, curio_context_id, encode_metadata
from .context import Devnet, ProviderInfo

DAG_CBOR = 0x71


def proposal_cid(actor: str, piece: CID, padded_size: int, verified: bool) -> CID:
    """A stand-in for the CID of the signed deal proposal (what Boost uses as ContextID)."""
    node = cbor.encode({"Provider": actor, "PieceCID": piece, "PieceSize": padded_size, "VerifiedDeal": verified})
    return CID.of_block(node, DAG_CBOR)


def announcement(p: ProviderInfo | None, piece: CID, padded_size: int, verified: bool) -> tuple[bytes, bytes]:
    """(ContextID, Metadata) of the provider's main record for a piece it stores."""
    kind = p.kind if p is not None else "curio"
    if kind == "curio":
        return curio_context_id(piece, padded_size), encode_metadata([HTTP_GATEWAY])
    ctx = proposal_cid(p.actor if p else "", piece, padded_size, verified).bytes
    if kind == "boost":
        return ctx, encode_metadata([GRAPHSYNC], piece_cid=piece, verified_deal=verified, fast_retrieval=True)
    return ctx, encode_metadata([BITSWAP])


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def provider_results(p: ProviderInfo, context_id: bytes, metadata: bytes) -> list[dict[str, Any]]:
    if p.kind == "curio":
        return [{"ContextID": _b64(context_id), "Metadata": _b64(metadata),
                 "Provider": {"ID": p.announce_peer_id, "Addrs": [p.multiaddr]}}]
    # a libp2p address: Boost's plain TCP one; a bitswap node's websocket one (which reads as an HTTP URL:
    # only the protocol in the metadata keeps a retriever away from it)
    addr = p.libp2p_multiaddr + ("/ws" if p.kind == "bitswap-only" else "")
    out = [{"ContextID": _b64(context_id), "Metadata": _b64(metadata), "Provider": {"ID": p.peer_id, "Addrs": [addr]}}]
    if p.kind == "boost":  # booster-http, announced as an extended provider of every ad
        out.append({"ContextID": _b64(context_id), "Metadata": _b64(encode_metadata([HTTP_GATEWAY])),
                    "Provider": {"ID": p.peer_id, "Addrs": [p.multiaddr]}})
    return out


async def records(net: Devnet, cid: CID) -> list[dict[str, Any]]:
    rows = await net.db(net.store.query,
                        "SELECT DISTINCT a.provider, a.context_id, a.metadata FROM blocks b JOIN announcements a "
                        "ON a.provider = b.provider AND a.piece_cid = b.piece_cid WHERE b.mh = ? "
                        "ORDER BY a.provider, a.piece_cid", (cid.multihash,))
    out = []
    for r in rows:
        p = net.provider(r["provider"])
        if p is not None:
            out += provider_results(p, r["context_id"], r["metadata"])
    return out


# the `bad_record` fault: records a reader must step over (an old devnet's gateway code without its
# length byte, no Provider, no Metadata at all)
BAD_RECORDS: list[dict[str, Any]] = [{"ContextID": "", "Metadata": _b64(bytes.fromhex("a012")), "Provider": {"ID": "12D3KooWBadRecord"}},
               {"ContextID": _b64(b"x"), "Metadata": _b64(bytes.fromhex("8012"))},
               {"Provider": {"ID": "12D3KooWAddressOnly", "Addrs": ["/ip4/127.0.0.1/tcp/9/http"]}}]


async def handle(request: web.Request) -> web.StreamResponse:
    net: Devnet = request.app["devnet"]
    if net.faults.take_flaky("ipni"):
        return web.Response(status=503, text="busy, try again\n")
    try:
        cid = CID.decode(request.match_info["cid"])
    except ValueError as exc:
        return web.Response(status=400, text=f"bad CID: {exc}\n")
    recs = await records(net, cid)
    ndjson = "application/x-ndjson" in request.headers.get("Accept", "")
    if net.faults.has("ipni", "malformed"):
        return web.Response(body=b'{"MultihashResults": [{"Multihash": ', content_type="application/json")
    if recs and net.faults.has("ipni", "bad_record"):
        recs = BAD_RECORDS + recs
    if not recs:
        return web.Response(status=404, text="no providers\n")
    if ndjson:
        body = b"".join(json.dumps(r).encode() + b"\n" for r in recs)
        return web.Response(body=body, content_type="application/x-ndjson")
    mh = base64.b64encode(cid.multihash).decode()
    return web.json_response({"MultihashResults": [{"Multihash": mh, "ProviderResults": recs}]})


def routes(app: web.Application) -> None:
    app.router.add_get("/cid/{cid}", handle)
