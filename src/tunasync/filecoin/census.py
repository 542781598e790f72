"""Count verified copies of a file CID or a piece CID, from chain facts (what `tunasync filecoin copies` prints).

A piece CID: deals found on chain (StateMarketDeals where offered) and the backend's own deal list.
A file CID: IPNI names the providers and (graphsync metadata / Curio ContextID) the pieces holding it;
each piece is then checked on chain, deals and claims alike. IPNI alone never counts.

An IPNI record's peer ID is tied to a miner when StateMinerInfo names it (Boost). Curio announces under
a peer ID of its own that no chain state names, so its records are tied through what they say: the
ContextID names (piece, padded size), the chain names the miners holding exactly that (deals the backend
or StateMarketDeals report, claims of the configured providers), and the one holder whose StateMinerInfo
addresses share the record's host is its miner. A peer that stays untied (within `max_lookups` miner
look-ups) is reported as unmapped; it adds nothing to the count either way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..content.cid import CID, FIL_COMMITMENT_UNSEALED, RAW
from ..content.piece import PieceInfo, v2_to_v1
from ..errors import NetworkError, TunasyncError, UnsupportedMethod
from .copies import actor_id
from .interfaces import ClaimRef, CopyReport, DealRef, FilecoinNetwork, ProviderRecord


@dataclass(frozen=True)
class PieceCopies:
    """Chain-verified copies of one (piece, padded size): what `tunasync filecoin copies` prints and what
    the archive decides with (archive/copycheck.bundle_copies adds the storage backend's deals under way)."""

    piece_cid: CID
    padded_size: int
    report: CopyReport
    notes: list[str] = field(default_factory=list)  # what the node refused and what was done instead
    peers: dict[str, str] = field(default_factory=dict)  # IPNI peer ID -> miner, for the peers tied to one
    unmapped: list[str] = field(default_factory=list)  # IPNI peer IDs announcing the piece, tied to no miner
    pending: list[str] = field(default_factory=list)  # providers with a deal under way, not counted yet
    failed: list[str] = field(default_factory=list)  # providers whose deals failed or ended
    failed_deals: list[DealRef] = field(default_factory=list)  # those deals, with the reason they give

    @property
    def providers(self) -> list[str]:
        """Distinct providers holding a live copy, by the chain."""
        return self.report.providers

    @property
    def count(self) -> int:
        return len(self.report.providers)

    @property
    def epoch(self) -> int:
        return self.report.epoch


def is_piece_cid(cid: CID) -> bool:
    return cid.codec == FIL_COMMITMENT_UNSEALED or (cid.codec == RAW and cid.mh_code == 0x1011)


_HOST_PROTOCOLS = ("ip4", "ip6", "dns", "dns4", "dns6")


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


async def file_copies(net: FilecoinNetwork, cid: CID, providers: list[str] | None = None,
                      max_lookups: int = 32) -> list[PieceCopies]:
    """Per piece that IPNI says holds `cid`: the chain-verified providers, and which announcing peers are
    which miner. `providers`: whose claims to check (default: the storage backend's configured ones)."""
    records = await net.router.providers(cid)
    configured = [actor_id(p) for p in (providers if providers is not None
                                        else getattr(net.storage, "providers", None) or [])]
    pieces: dict[CID, set[int | None]] = {}
    recs: dict[CID, dict[str, list[ProviderRecord]]] = {}
    for rec in records:
        if rec.piece_cid is None:
            continue
        pc = rec.piece_cid.to_v1() if rec.piece_cid.codec != RAW else v2_to_v1(rec.piece_cid)
        pieces.setdefault(pc, set()).add(rec.padded_size)
        recs.setdefault(pc, {}).setdefault(rec.peer_id, []).append(rec)
    mapper = _PeerMapper(net, max_lookups)
    out: list[PieceCopies] = []
    for pc, size_set in pieces.items():
        peers: dict[str, str] = {}
        for peer in recs[pc]:
            actor = await net.chain.actor_for_peer(peer)
            if actor:
                peers[peer] = actor_id(actor)
        sizes: set[int | None] = {s for s in size_set if s} or {None}
        for size in sizes:
            wanted = sorted(set(configured) | set(peers.values()))
            for res in await piece_copies(net, pc, size, wanted):
                found = dict(peers)
                holders = sorted({d.provider for d in res.report.details if d.provider != "?"})
                announcing = [p for p, prs in recs[pc].items()
                              if any(r.padded_size in (None, res.padded_size) for r in prs)]
                for peer in announcing:
                    if peer not in found:
                        actor = await mapper.by_address(recs[pc][peer], [h for h in holders if h not in found.values()])
                        if actor:
                            found[peer] = actor
                res.peers.update({p: a for p, a in found.items() if p in announcing})
                res.unmapped.extend(p for p in announcing if p not in found)
                out.append(res)
    return out


class _PeerMapper:
    """StateMinerInfo of chain-verified holders, within a budget of look-ups, to tie records to miners."""

    def __init__(self, net: FilecoinNetwork, budget: int):
        self.net = net
        self.budget = budget
        self._hosts: dict[str, set[tuple[str, str]]] = {}

    async def _host_ports(self, actor: str) -> set[tuple[str, str]] | None:
        if actor not in self._hosts:
            if self.budget <= 0:
                return None
            self.budget -= 1
            try:
                info = await self.net.chain.miner_info(actor)
            except NetworkError:
                info = None
            self._hosts[actor] = {hp for a in (info.multiaddrs if info else []) if (hp := _host_port(a))}
        return self._hosts[actor]

    async def by_address(self, prs: list[ProviderRecord], holders: list[str]) -> str | None:
        """The one holder that shares a (host, port), else the one that shares a host; None when ambiguous."""
        mine = {hp for r in prs for a in r.addrs if (hp := _host_port(a))}
        if not mine:
            return None
        exact, host_only = [], []
        for actor in holders:
            theirs = await self._host_ports(actor)
            if theirs is None:
                return None  # out of budget: unmapped, never guessed
            if mine & theirs:
                exact.append(actor)
            elif {h for h, _ in mine} & {h for h, _ in theirs}:
                host_only.append(actor)
        if len(exact) == 1:
            return exact[0]
        if not exact and len(host_only) == 1:
            return host_only[0]
        return None


def _host_port(addr: str) -> tuple[str, str] | None:
    """(host, tcp port) of a multiaddr with a host part and a TCP port; None for anything else."""
    parts = addr.strip("/").split("/")
    if len(parts) < 4 or parts[0] not in _HOST_PROTOCOLS or parts[2] != "tcp":
        return None
    host = parts[1].lower()
    return ("127.0.0.1" if host == "localhost" else host), parts[3]


def total_providers(results: list[PieceCopies]) -> list[str]:
    return sorted({p for r in results for p in r.report.providers})
