"""Pack hashed files into bundles and offer them until n distinct providers hold verified copies.

Bundle states (the `bundles` table is the journal of this step):

    packing ─► staged ─► offered ─► stored           CAR under cars/<id>.car from packing until stored
                  ▲         │  ▲        │
                  └─ (none) ┘  └────────┴─ degraded (repair: copies fell below n)

`staged`/`offered` bundles are checked on chain every run: enough copies → `stored` (its files too) and
the staged CAR is removed; too few → more deals are offered, never more than the missing count
(deals under way count as pending). A provider that accepts and never seals is seen as a proposal
that expired: it is not counted and another provider gets the piece.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from ..content.cid import CID
from ..content.unixfs import FileChangedError
from ..filecoin.census import PieceCopies
from ..filecoin.interfaces import PieceRef
from .bundles import pack, planned_spans, rebuild_car, rollback_bundle
from .context import ArchiveCtx
from .copycheck import bundle_copies
from .dealfail import DealFailure, DealWatch, common_reason
from .index import Bundle
from .states import OPEN_BUNDLE_STATES, BundleState
from .status import PROBLEM_KEY

log = logging.getLogger(__name__)

OPEN_STATES = OPEN_BUNDLE_STATES


@dataclass
class StoreReport:
    packed: list[int] = field(default_factory=list)  # new bundle ids
    changed: list[str] = field(default_factory=list)  # files that changed since hashing (back to local)
    stored: list[int] = field(default_factory=list)  # bundles that reached n copies this run
    offered: dict[int, int] = field(default_factory=dict)  # bundle id -> deals asked for this run
    waiting: dict[int, str] = field(default_factory=dict)  # bundle id -> why it is not stored yet
    failures: list[DealFailure] = field(default_factory=list)  # failed deals, each once, as they were seen
    gave_up: dict[int, str] = field(default_factory=dict)  # bundle id -> why waiting longer cannot help

    @property
    def problem(self) -> str:
        """What stops storing, in one line ("" when nothing failed)."""
        return common_reason(self.failures)


async def pack_pending(ctx: ArchiveCtx, report: StoreReport) -> None:
    """Every hashed file not yet in a bundle (or known elsewhere) goes into a new bundle CAR."""
    groups = await asyncio.to_thread(planned_spans, ctx.index, ctx.ms.bundle_size)
    for i, group in enumerate(groups):
        ctx.progress("pack", i, len(groups), f"{group.files} files")
        try:
            bid = await ctx.to_thread(pack, ctx.ms, ctx.index, group, ctx.crash)
        except FileChangedError as exc:
            log.warning("archive %s: %s; it is hashed again on the next scan", ctx.ms.name, exc)
            report.changed.append(exc.path)
            continue
        report.packed.append(bid)
    ctx.progress("pack", len(groups), len(groups), "")


def piece_ref(ctx: ArchiveCtx, b: Bundle) -> PieceRef:
    assert b.piece_cid and b.padded_size and b.root_cid and b.car_size is not None
    return PieceRef(piece_cid=CID.decode(b.piece_cid), padded_size=b.padded_size, payload_size=b.car_size,
                    root_cid=CID.decode(b.root_cid), car_url=f"{ctx.piece_base}/piece/{b.piece_cid}")


async def ensure_car(ctx: ArchiveCtx, b: Bundle) -> bool:
    """The bundle's CAR is staged (rebuilt byte-identically from the files on disk if it went missing)."""
    if await asyncio.to_thread(ctx.ms.car_path(b.id).is_file):
        return True
    return await ctx.to_thread(rebuild_car, ctx.ms, ctx.index, b.id)


async def offer_more(ctx: ArchiveCtx, b: Bundle, copies: PieceCopies, report: StoreReport) -> None:
    want = ctx.policy.copies - copies.count - len(copies.pending)
    if want <= 0:
        report.waiting[b.id] = (f"{copies.count} of {ctx.policy.copies} copies, "
                                f"{len(copies.pending)} deal(s) under way")
        return
    if not await ensure_car(ctx, b):
        report.waiting[b.id] = "CAR missing and cannot be rebuilt from disk (repair retrieves it)"
        return
    deals = await ctx.need_net().storage.offer(piece_ref(ctx, b), want)
    ctx.crash("store.offered")
    if b.state == "staged":
        await ctx.index.call(ctx.index.set_bundle_state, b.id, BundleState.OFFERED)
    report.offered[b.id] = len(deals)
    report.waiting[b.id] = (f"{copies.count} of {ctx.policy.copies} copies; asked {want} more provider(s), "
                            f"{len(deals)} accepted")


async def mark_stored(ctx: ArchiveCtx, b: Bundle) -> None:
    files = await ctx.index.call(ctx.index.set_bundle_stored, b.id)  # degraded ones too: whole again
    ctx.crash("store.marked")
    log.info("archive %s: bundle %d (%s) stored with enough copies (%d files)", ctx.ms.name, b.id, b.piece_cid,
             files)
    await asyncio.to_thread(ctx.ms.car_path(b.id).unlink, True)
    ctx.crash("store.car_removed")


async def store_round(ctx: ArchiveCtx, report: StoreReport, watch: DealWatch | None = None) -> list[Bundle]:
    """One pass over the open bundles; returns those still worth waiting for."""
    watch = watch or DealWatch(ctx.ms.name)
    still = []
    open_bundles = [b for s in OPEN_STATES for b in await ctx.index.call(ctx.index.bundles, s)]
    providers = getattr(ctx.need_net().storage, "providers", None)
    for i, b in enumerate(sorted(open_bundles, key=lambda b: b.id)):
        ctx.progress("store", i, len(open_bundles), f"bundle {b.id}")
        copies = await bundle_copies(ctx, b)
        ctx.crash("store.checked")
        if copies.failed_deals:
            report.failures += watch.observe(b.id, copies.failed_deals, f"{ctx.piece_base}/piece/{b.piece_cid}")
        if copies.count >= ctx.policy.copies:
            await mark_stored(ctx, b)
            report.stored.append(b.id)
            report.waiting.pop(b.id, None)
        elif b.id in report.gave_up:
            continue
        elif watch.hopeless(b.id, list(providers) if providers else None, copies.count + len(copies.pending)):
            mine = [f for f in report.failures if f.bundle == b.id]
            report.gave_up[b.id] = common_reason(mine)
            report.waiting[b.id] = f"every provider failed it: {report.gave_up[b.id]}"
        else:
            await offer_more(ctx, b, copies, report)
            still.append(b)
    ctx.progress("store", len(open_bundles), len(open_bundles), "")
    return still


async def store(ctx: ArchiveCtx, wait: float = 0.0, poll: float = 2.0) -> StoreReport:
    """Pack what needs packing, then offer and check until every bundle is stored, `wait` s passed, or
    no bundle left open has a deal worth waiting for (every provider failed it: `report.gave_up`)."""
    report = StoreReport()
    await pack_pending(ctx, report)
    deadline = time.monotonic() + wait
    watch = DealWatch(ctx.ms.name)
    while True:
        still = await store_round(ctx, report, watch)
        if not still or time.monotonic() >= deadline:
            # `archive status` and the worker's figures say what stopped storing, until a run goes well
            await ctx.index.call(ctx.index.set_meta, PROBLEM_KEY, report.problem if report.gave_up else "")
            return report
        await asyncio.sleep(min(poll, max(0.0, deadline - time.monotonic())))


def recover_bundles(ctx: ArchiveCtx) -> list[str]:
    """After a crash: unfinished packing rolled back, CARs of stored bundles removed, temp files dropped."""
    actions = []
    for b in ctx.index.bundles("packing"):
        rollback_bundle(ctx.ms, ctx.index, b.id)
        actions.append(f"rolled back unfinished bundle {b.id}")
    for b in ctx.index.bundles("stored"):
        if ctx.ms.car_path(b.id).exists():
            ctx.ms.car_path(b.id).unlink()
            actions.append(f"removed the staged CAR of stored bundle {b.id}")
    for d, pattern in ((ctx.ms.cars_dir, "*.tmp"), (ctx.ms.tmp_dir, "*")):
        if d.is_dir():
            for p in d.glob(pattern):
                if p.is_file():
                    p.unlink()
    for a in actions:
        log.warning("archive %s recovery: %s", ctx.ms.name, a)
    return actions
