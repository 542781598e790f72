"""Count verified copies of a file CID or a piece CID, from chain facts (what `tunasync filecoin copies` prints).

A piece CID: deals found on chain (StateMarketDeals where offered) and the backend's own deal list.
A file CID: IPNI names the providers and (graphsync metadata / Curio ContextID) the pieces holding it;
each piece is then checked on chain, deals and claims alike. IPNI alone never counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..content.cid import CID, FIL_COMMITMENT_UNSEALED, RAW
from ..content.piece import PieceInfo, v2_to_v1
from .copies import actor_id
from .interfaces import CopyReport, FilecoinNetwork


@dataclass(frozen=True)
class PieceCopies:
    piece_cid: CID
    padded_size: int
    report: CopyReport


def is_piece_cid(cid: CID) -> bool:
    return cid.codec == FIL_COMMITMENT_UNSEALED or (cid.codec == RAW and cid.mh_code == 0x1011)


async def piece_copies(net: FilecoinNetwork, piece: CID, padded_size: int | None = None,
                       providers: list[str] | None = None) -> list[PieceCopies]:
    if piece.codec == RAW:  # v2 carries its size
        padded_size = PieceInfo.from_v2(piece).padded_size
        piece = v2_to_v1(piece)
    sizes = await net.chain.discover_deals(piece)
    for d in await net.storage.deals(piece):
        if d.deal_id is not None:
            sizes.setdefault(d.deal_id, padded_size or 0)
    wanted = {padded_size} if padded_size else {s for s in sizes.values() if s}
    out = []
    for size in sorted(wanted):
        deal_ids = [i for i, s in sizes.items() if s in (size, 0)]
        report = await net.chain.verified_copies(piece, size, deal_ids=deal_ids, providers=providers or [])
        out.append(PieceCopies(piece, size, report))
    return out


async def file_copies(net: FilecoinNetwork, cid: CID) -> list[PieceCopies]:
    """Per piece that IPNI says holds `cid`: the chain-verified providers."""
    records = await net.router.providers(cid)
    pieces: dict[CID, set[int | None]] = {}
    actors: dict[CID, set[str]] = {}
    for rec in records:
        if rec.piece_cid is None:
            continue
        pc = rec.piece_cid.to_v1() if rec.piece_cid.codec != RAW else v2_to_v1(rec.piece_cid)
        pieces.setdefault(pc, set()).add(rec.padded_size)
        actor = await net.chain.actor_for_peer(rec.peer_id)
        if actor:
            actors.setdefault(pc, set()).add(actor_id(actor))
    out: list[PieceCopies] = []
    for pc, size_set in pieces.items():
        sizes: set[int | None] = {s for s in size_set if s} or {None}
        for size in sizes:
            out += await piece_copies(net, pc, size, sorted(actors.get(pc, set())))
    return out


def total_providers(results: list[PieceCopies]) -> list[str]:
    return sorted({p for r in results for p in r.report.providers})
