"""When is a copy a copy (docs/filecoin.md §4.3), as pure functions over chain records.

A market deal counts when it names exactly (piece CID v1, padded size), is sealed (SectorStartEpoch > 0),
not slashed (SlashEpoch == -1) and not ended (head < EndEpoch). "Published" is not a copy. A DDO claim
counts when it names the piece and size, has started, its term has not run out and its sector still
exists. Copies are distinct providers, never deals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..content.cid import CID
from .interfaces import CopyDetail, CopyReport


@dataclass(frozen=True, slots=True)
class MarketDeal:
    """`Filecoin.StateMarketStorageDeal` answer, typed."""

    deal_id: int
    piece_cid: CID
    piece_size: int
    client: str
    provider: str
    label: str
    verified: bool
    start_epoch: int
    end_epoch: int
    sector_start_epoch: int
    last_updated_epoch: int
    slash_epoch: int
    sector_number: int | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """`Filecoin.StateGetClaim` answer, typed. Provider and client as f0 addresses."""

    claim_id: int
    provider: str
    client: str
    data: CID
    size: int
    term_min: int
    term_max: int
    term_start: int
    sector: int


def actor_id(addr: str | int) -> str:
    """Normalise `1000`, `f01000`, `t01000` to `f01000` so providers compare equal."""
    if isinstance(addr, int):
        return f"f0{addr}"
    a = addr.strip()
    if len(a) > 2 and a[0] in "ft" and a[1] == "0" and a[2:].isdigit():
        return "f0" + a[2:]
    if a.isdigit():
        return "f0" + a
    return a


def deal_status(deal: MarketDeal, piece_cid: CID, padded_size: int, head: int) -> tuple[bool, str]:
    """(counts, reason) for one market deal; order of checks as Singularity's GetState."""
    if deal.piece_cid.to_v1() != piece_cid.to_v1():
        return False, f"different piece {deal.piece_cid}"
    if deal.piece_size != padded_size:
        return False, f"different piece size {deal.piece_size}"
    if deal.slash_epoch != -1:
        return False, f"slashed at epoch {deal.slash_epoch}"
    if deal.sector_start_epoch <= 0:
        if head >= deal.start_epoch:
            return False, "proposal expired (never sealed)"
        return False, "published, not sealed"
    if head >= deal.end_epoch:
        return False, f"expired at epoch {deal.end_epoch}"
    return True, f"active since epoch {deal.sector_start_epoch}"


def claim_status(claim: Claim, piece_cid: CID, padded_size: int, head: int, sector_live: bool) -> tuple[bool, str]:
    """(counts, reason) for one verified-registry claim."""
    if claim.data.to_v1() != piece_cid.to_v1():
        return False, f"different piece {claim.data}"
    if claim.size != padded_size:
        return False, f"different piece size {claim.size}"
    if claim.term_start <= 0:
        return False, "claim not started"
    if head >= claim.term_start + claim.term_max:
        return False, f"claim term ended at epoch {claim.term_start + claim.term_max}"
    if not sector_live:
        return False, f"sector {claim.sector} is gone"
    return True, f"claimed since epoch {claim.term_start}"


def report(details: Iterable[CopyDetail], epoch: int) -> CopyReport:
    """Distinct providers among the counted details."""
    ds = list(details)
    providers = sorted({actor_id(d.provider) for d in ds if d.counted}, key=_actor_key)
    return CopyReport(providers=providers, epoch=epoch, details=ds)


def _actor_key(a: str) -> tuple[int, str]:
    return (int(a[2:]) if a[2:].isdigit() else 1 << 62, a)
