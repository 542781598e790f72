"""Count verified copies of a file CID or a piece CID, from chain facts (what `tunasync filecoin copies` prints).

A piece CID: deals found on chain (StateMarketDeals where offered) and the backend's own deal list.
A file CID: IPNI names the providers and (graphsync metadata / Curio ContextID) the pieces holding it;
each piece is then checked on chain, deals and claims alike. IPNI alone never counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..content.cid import CID, FIL_COMMITMENT_UNSEALED, RAW
from ..content.piece import PieceInfo, v2_to_v1
from ..errors import NetworkError, TunasyncError, UnsupportedMethod
from .copies import actor_id
from .interfaces import ClaimRef, CopyReport, FilecoinNetwork


@dataclass(frozen=True)
class PieceCopies:
    piece_cid: CID
    padded_size: int
    report: CopyReport
    notes: list[str] = field(default_factory=list)  # what the node refused and what was done instead


def is_piece_cid(cid: CID) -> bool:
    return cid.codec == FIL_COMMITMENT_UNSEALED or (cid.codec == RAW and cid.mh_code == 0x1011)


async def piece_copies(net: FilecoinNetwork, piece: CID, padded_size: int | None = None,
                       providers: list[str] | None = None) -> list[PieceCopies]:
    """Chain-verified copies of a piece: deals found on chain where the node lists them, the deal and claim
    IDs the storage backend knows, and the claims of `providers` (their claim lists, fetched once per run).
    A node that cannot answer is an error naming the method and the endpoint, never a silent 0."""
    if piece.codec == RAW:  # v2 carries its size
        padded_size = PieceInfo.from_v2(piece).padded_size
        piece = v2_to_v1(piece)
    notes: list[str] = []
    refused: UnsupportedMethod | None = None
    try:
        sizes = await net.chain.discover_deals(piece)
    except UnsupportedMethod as exc:
        refused, sizes = exc, {}
        notes.append(f"{exc}; deal IDs come from the storage backend only")
    claims: list[ClaimRef] = []
    for d in await net.storage.deals(piece):
        if d.deal_id is not None:
            sizes.setdefault(d.deal_id, padded_size or 0)
        if d.claim_id is not None:
            claims.append(ClaimRef(actor_id(d.provider), d.claim_id))
    provs = sorted({actor_id(p) for p in providers or []})
    if refused is not None and not sizes and not claims and not provs:
        raise NetworkError(refused.endpoint, f"cannot count copies of {piece}: {refused.reason}; the storage "
                                             "backend knows no deal of it and no providers are configured whose "
                                             "claims could be checked ([archive] providers)")
    wanted = {padded_size} if padded_size else {s for s in sizes.values() if s}
    if not wanted and provs:
        wanted = await net.chain.claimed_sizes(piece, provs)
    if not wanted and (sizes or claims):
        raise TunasyncError(f"padded size of piece {piece} unknown (the chain names none): give it (--size) or "
                            "use the v2 piece CID")
    out = []
    for size in sorted(wanted):
        deal_ids = [i for i, s in sizes.items() if s in (size, 0)]
        report = await net.chain.verified_copies(piece, size, deal_ids=deal_ids, claims=claims, providers=provs)
        out.append(PieceCopies(piece, size, report, notes))
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
