"""Repair: pieces whose verified copies fell below n (a deal expired or was slashed, a provider went
away) are stored again; files that relied on someone else's copies and lost them are packed by us.

A degraded bundle needs its CAR again. It is rebuilt byte-identically (same piece CID, checked) from
the files still on disk and, for members that were evicted or changed since, from the network: each
retrieved and verified against its CID into a scratch tree first. Then `store` offers it like any
open bundle. File states do not change: stored files stay on disk, evicted ones stay retrievable
from the remaining copies, and no file of a degraded bundle is evicted until it is whole again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from ..content.car import write_bundle_car
from ..content.cid import CID
from ..content.piece import piece_of_file
from ..errors import ContentError, NetworkError
from ..filecoin.retriever import provider_candidates
from .context import ArchiveCtx
from .copycheck import bundle_copies, foreign_check
from .index import ArchiveIndex, Bundle, BundleMember
from .restore import restore_file
from .states import BundleState, FileState
from .store import StoreReport, ensure_car, mark_stored, store_round

log = logging.getLogger(__name__)


@dataclass
class RepairReport:
    checked: int = 0
    degraded: dict[int, int] = field(default_factory=dict)  # bundle -> verified copies found
    rebuilt: list[int] = field(default_factory=list)  # CARs rebuilt (some members retrieved)
    unrecoverable: dict[int, str] = field(default_factory=dict)
    foreign_lost: list[str] = field(default_factory=list)  # files now packed by us
    store: StoreReport = field(default_factory=StoreReport)


async def rebuild_from_network(ctx: ArchiveCtx, b: Bundle, providers: list[str]) -> bool:
    """The bundle's CAR from disk where members are unchanged, from verified retrievals where not."""
    assert b.piece_cid is not None
    ms, index = ctx.ms, ctx.index
    net = ctx.need_net()
    scratch = ms.tmp_dir / f"rebuild-{b.id}"
    await asyncio.to_thread(shutil.rmtree, scratch, True)
    cands = await provider_candidates(net.chain, providers, CID.decode(b.piece_cid))
    try:
        async for path, cid, size, _mtime in _members(index, b.id):
            dest = scratch / path
            await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
            if await asyncio.to_thread(_link_if_unchanged, ctx, path, cid, str(dest)):
                continue
            try:
                got = await net.retriever.fetch(CID.decode(cid), dest)
            except (NetworkError, ContentError):
                if not cands:
                    raise
                got = await net.retriever.fetch(CID.decode(cid), dest, candidates=cands)
            if got.size != size:
                raise ContentError(f"{path}: retrieved {got.size} bytes, recorded {size}")
        out = ms.car_path(b.id)
        paths = (m.path for m in index.iter_bundle_members(b.id))  # read a page at a time by the writer
        await ctx.to_thread(write_bundle_car, str(scratch), paths, str(out), ms.profile)
        piece = await ctx.to_thread(piece_of_file, str(out))
        if str(piece.v1) != b.piece_cid or piece.padded_size != b.padded_size:
            await asyncio.to_thread(out.unlink, True)
            raise ContentError(f"rebuilt bundle {b.id} has piece {piece.v1}, recorded {b.piece_cid}")
        return True
    except (NetworkError, ContentError, OSError) as exc:
        log.error("archive %s: cannot rebuild bundle %d: %s", ms.name, b.id, exc)
        return False
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)


async def _members(index: ArchiveIndex, bid: int, page: int = 1000) -> AsyncIterator[BundleMember]:
    """A bundle's members in path order, a page at a time (a bundle may hold millions of files)."""
    after: str | None = None
    while True:
        rows = await index.call(index.bundle_members_page, bid, after, page)
        for r in rows:
            yield r
        if len(rows) < page:
            return
        after = rows[-1].path


def _link_if_unchanged(ctx: ArchiveCtx, path: str, cid: str, dest: str) -> bool:
    rec = ctx.index.get(path)
    if rec is None or rec.cid != cid or not rec.state.on_disk or rec.state is FileState.LOCAL:
        return False
    full = os.path.join(ctx.ms.root, path)
    try:
        st = os.stat(full, follow_symlinks=False)
        if (st.st_size, st.st_mtime_ns, st.st_ino) != (rec.size, rec.mtime_ns, rec.inode):
            return False
        try:
            os.link(full, dest)  # a hard link keeps these bytes even if rsync renames a new version in
        except OSError:
            shutil.copy2(full, dest)
    except FileNotFoundError:
        return False
    return True


async def repair(ctx: ArchiveCtx, dry_run: bool = False) -> RepairReport:
    """Check every stored piece on chain; store again what fell below n (see the module docstring)."""
    report = RepairReport()
    n = ctx.policy.copies
    bundles = [b for s in ("stored", "degraded") for b in await ctx.index.call(ctx.index.bundles, s)]
    for i, b in enumerate(bundles):
        ctx.progress("repair", i, len(bundles), f"bundle {b.id}")
        report.checked += 1
        try:
            copies = await bundle_copies(ctx, b)
        except NetworkError as exc:
            log.warning("archive %s: cannot check bundle %d: %s", ctx.ms.name, b.id, exc)
            continue
        if copies.count >= n:
            if b.state == "degraded" and not dry_run:
                await mark_stored(ctx, b)
            continue
        report.degraded[b.id] = copies.count
        if dry_run:
            continue
        log.warning("archive %s: bundle %d has %d of %d copies: storing it again", ctx.ms.name, b.id,
                    copies.count, n)
        if b.state != "degraded":
            await ctx.index.call(ctx.index.set_bundle_state, b.id, BundleState.DEGRADED)
            ctx.crash("repair.degraded")
        if await ensure_car(ctx, b):
            continue
        if await rebuild_from_network(ctx, b, copies.providers):
            report.rebuilt.append(b.id)
            ctx.crash("repair.rebuilt")
        else:
            report.unrecoverable[b.id] = (f"{copies.count} copies left; its CAR can be rebuilt neither from "
                                          "disk nor from the network")
    ctx.progress("repair", len(bundles), len(bundles), "")
    await _foreign_lost(ctx, report, dry_run)
    if not dry_run:
        await store_round(ctx, report.store)
    return report


async def _foreign_lost(ctx: ArchiveCtx, report: RepairReport, dry_run: bool) -> None:
    """Files stored only by others' copies: below n now → back on disk (retrieved if evicted) and hashed,
    so the next store packs them into a bundle of ours."""
    for path in await ctx.index.call(ctx.index.foreign_only):
        rec = await ctx.index.call(ctx.index.get, path)
        if rec is None or rec.cid is None:
            continue
        try:
            n = (await foreign_check(ctx, rec)).count
        except NetworkError:
            continue  # the chain or the index cannot be asked now: nothing is known lost
        if n >= ctx.policy.copies:
            continue
        report.foreign_lost.append(path)
        if dry_run:
            continue
        if rec.state is FileState.EVICTED:
            try:
                if not await restore_file(ctx, rec):
                    continue
            except (NetworkError, ContentError, ValueError) as exc:
                log.error("archive %s: %s lost its foreign copies and cannot be retrieved: %s",
                          ctx.ms.name, path, exc)
                continue
        await ctx.index.call(ctx.index.set_state, path, FileState.HASHED)
        await ctx.index.call(ctx.index.set_foreign, rec.cid, n, None, False)

