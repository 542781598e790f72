"""How many verified copies exist: of our bundles' pieces (chain facts), and of single files others stored.

A copy counts only by the rule of docs/filecoin.md §4.3, checked through the ChainObserver: the storage
backend's word (its deal list) only says which deals to look at. Foreign copies (`count_foreign_copies`)
come from the ContentRouter (IPNI names the pieces holding a CID), each piece checked on chain the
same way, and count only after a verified sample retrieval of the file. `foreign_check` is the one
place that rule lives: finding foreign copies before upload, the evictor and repair all ask it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from ..content.cid import CID
from ..errors import ContentError, NetworkError, UnsupportedMethod
from ..filecoin.census import PieceCopies, file_copies, total_providers
from ..filecoin.interfaces import Candidate, ClaimRef, DealState
from .context import ArchiveCtx
from .index import Bundle, FileRecord

log = logging.getLogger(__name__)

SAMPLE_BYTES = 1 << 20  # a foreign copy is sampled by retrieving (and verifying) the first MiB


async def bundle_copies(ctx: ArchiveCtx, b: Bundle) -> PieceCopies:
    """Check the bundle's piece on chain now and cache the answer in the index (`copies` table)."""
    net = ctx.need_net()
    assert b.piece_cid is not None and b.padded_size is not None
    piece = CID.decode(b.piece_cid)
    deals = await net.storage.deals(piece)
    try:
        found = await net.chain.discover_deals(piece)
    except UnsupportedMethod:  # public nodes: the backend's deal and claim IDs, each checked on chain
        found = {}
    deal_ids = sorted({d.deal_id for d in deals if d.deal_id is not None}
                      | {i for i, size in found.items() if size == b.padded_size})
    claims = [ClaimRef(d.provider, d.claim_id) for d in deals if d.claim_id is not None]
    # a provider's whole claim list (100,000+ on mainnet) only where the backend calls a deal active
    # without naming its deal or claim ID; the observer fetches each list once per run
    unnamed = sorted({d.provider for d in deals
                      if d.state is DealState.ACTIVE and d.deal_id is None and d.claim_id is None})
    report = await net.chain.verified_copies(piece, b.padded_size, deal_ids=deal_ids, claims=claims,
                                             providers=unnamed)
    rows = [(d.provider, d.ident, d.counted) for d in report.details]
    await ctx.index.call(ctx.index.record_copies, b.piece_cid, report.epoch, rows)
    live = set(report.providers)
    pending = sorted({d.provider for d in deals if d.state.pending and d.provider not in live})
    failed = sorted({d.provider for d in deals if d.state.ended and d.provider not in live})
    failed_deals = [d for d in deals if d.state.ended and d.provider not in live]
    return PieceCopies(piece, b.padded_size, report, pending=pending, failed=failed, failed_deals=failed_deals)


@dataclass(frozen=True)
class ForeignCheck:
    """Foreign copies of one file: who holds it by the chain, and whether a sample of it verified."""

    providers: list[str]  # chain-verified providers of the pieces the network index names for the CID
    piece: str | None  # the piece holding it, when exactly one does
    sampled: bool  # a verified sample retrieval of the file succeeded

    @property
    def count(self) -> int:
        """The copies that count: none at all unless the sample verified."""
        return len(self.providers) if self.sampled else 0


async def foreign_check(ctx: ArchiveCtx, rec: FileRecord) -> ForeignCheck:
    """Chain-verified foreign holders of `rec`'s CID, counted only after a verified sample retrieval.

    The sample is taken only when the chain shows at least the policy's n holders: below that nothing
    would count anyway. NetworkError when the chain or the network index cannot be
    asked (the caller decides what "unknown" means for it; it never means "counted")."""
    assert rec.cid is not None
    cid = CID.decode(rec.cid)
    results = await file_copies(ctx.need_net(), cid)
    providers = total_providers(results)
    piece = str(results[0].piece_cid) if len(results) == 1 else None
    if not providers or len(providers) < ctx.policy.copies:
        return ForeignCheck(providers, piece, False)
    return ForeignCheck(providers, piece, await sample_retrieval(ctx, cid, rec.size))


async def count_foreign(ctx: ArchiveCtx, rec: FileRecord) -> int:
    """Before upload: the foreign copies of `rec` that count, recorded when they are enough."""
    try:
        found = await foreign_check(ctx, rec)
    except NetworkError as exc:
        log.info("archive %s: no foreign-copy answer for %s: %s", ctx.ms.name, rec.path, exc)
        return 0
    if found.providers and not found.sampled and len(found.providers) >= ctx.policy.copies:
        log.warning("archive %s: %s: %d foreign copies on chain, but the sample did not verify: not counted",
                    ctx.ms.name, rec.path, len(found.providers))
    if found.count >= ctx.policy.copies:
        assert rec.cid is not None
        await ctx.index.call(ctx.index.set_foreign, rec.cid, found.count, found.piece, True)
    return found.count


async def sample_retrieval(ctx: ArchiveCtx, cid: CID, size: int,
                           candidates: Sequence[Candidate] | None = None) -> bool:
    """Retrieve (verified block by block) the first MiB of `cid` into the mirror's tmp dir, then drop it."""
    net = ctx.need_net()
    ctx.ms.ensure_dirs()
    tmp = ctx.ms.tmp_dir / f"sample-{uuid.uuid4().hex}"
    rng = (0, min(size, SAMPLE_BYTES) - 1) if size > 0 else None
    try:
        got = await net.retriever.fetch(cid, tmp, byte_range=rng, candidates=candidates)
        return got.size == (rng[1] + 1 if rng else 0)
    except (NetworkError, ContentError) as exc:
        log.warning("archive %s: sample retrieval of %s failed: %s", ctx.ms.name, cid, exc)
        return False
    finally:
        await asyncio.to_thread(tmp.unlink, True)


def settle(results: list[object]) -> None:
    """After every task of a batch has ended (none left running in a thread), raise the first failure."""
    for r in results:
        if isinstance(r, BaseException):
            raise r


async def check_foreign(ctx: ArchiveCtx, recs: list[FileRecord], *, start: int = 0, total: int | None = None) -> int:
    """Foreign-copy check of hashed files (bounded concurrency); returns how many need no upload.
    `start`, `total`: where this batch is in a longer run (the progress figures)."""
    sem = asyncio.Semaphore(ctx.concurrency)
    done = start
    total = len(recs) if total is None else total
    stored = 0

    async def one(rec: FileRecord) -> None:
        nonlocal done, stored
        async with sem:
            if await count_foreign(ctx, rec) >= ctx.policy.copies:
                stored += 1
            done += 1
            ctx.progress("copies", done, total, rec.path)

    settle(await asyncio.gather(*(one(r) for r in recs), return_exceptions=True))
    return stored
