"""Which files leave the disk now, and making them leave safely (the dangerous operation).

For each stored file older than keep_years (oldest first; retrieved `cached` copies go by the cache
budget instead): its copies are checked on chain again now (one check per bundle per run), then, by
default, the file is retrieved once from those providers and verified block by block against its CID;
only then `policy.should_evict` may say yes and the journaled `evict.evict_one` removes it. Nothing is
removed while the mirror's sync runs.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from ..content.cid import CID
from ..errors import ContentError, NetworkError
from ..filecoin.retriever import provider_candidates
from .context import ArchiveCtx
from .copycheck import bundle_copies, foreign_check, settle
from .evict import evict_one
from .exclude import evictable_name
from .index import FileRecord
from .policy import SECONDS_PER_YEAR, should_evict

log = logging.getLogger(__name__)


@dataclass
class EvictReport:
    evicted: list[str] = field(default_factory=list)
    would_evict: list[str] = field(default_factory=list)  # dry run
    kept: dict[str, str] = field(default_factory=dict)  # path -> why it stays
    bytes: int = 0
    deferred: bool = False  # a sync started: the rest waits for the next run


def cutoff_ns(now: datetime, keep_years: float) -> int:
    return int((now - timedelta(seconds=keep_years * SECONDS_PER_YEAR)).timestamp() * 1e9)


class _Copies:
    """Fresh copy counts and retrieval candidates, one chain check per bundle (or CID) per run."""

    def __init__(self, ctx: ArchiveCtx):
        self.ctx = ctx
        self._bundles: dict[int, asyncio.Task[tuple[int, list[Any]]]] = {}
        self._foreign: dict[str, asyncio.Task[tuple[int, list[Any]]]] = {}

    async def of(self, rec: FileRecord) -> tuple[int, list[Any] | None]:
        if rec.bundle_id is not None:
            if rec.bundle_id not in self._bundles:
                self._bundles[rec.bundle_id] = asyncio.ensure_future(self._bundle(rec.bundle_id))
            return await self._bundles[rec.bundle_id]
        assert rec.cid is not None
        if rec.cid not in self._foreign:
            self._foreign[rec.cid] = asyncio.ensure_future(self._foreign_rec(rec))
        n, _ = await self._foreign[rec.cid]
        return n, None  # foreign copies: the router's candidates

    async def _bundle(self, bid: int) -> tuple[int, list[Any]]:
        b = await asyncio.to_thread(self.ctx.index.bundle, bid)
        if b is None or b.piece_cid is None:
            return 0, []
        try:
            c = await bundle_copies(self.ctx, b)
        except NetworkError as exc:
            log.warning("archive %s: cannot check copies of bundle %d: %s", self.ctx.ms.name, bid, exc)
            return 0, []
        net = self.ctx.need_net()
        cands = await provider_candidates(net.chain, c.providers, CID.decode(b.piece_cid))
        return c.count, cands

    async def _foreign_rec(self, rec: FileRecord) -> tuple[int, list[Any]]:
        try:
            return (await foreign_check(self.ctx, rec)).count, []
        except NetworkError as exc:
            log.warning("archive %s: cannot check foreign copies of %s: %s", self.ctx.ms.name, rec.cid, exc)
            return 0, []


async def test_retrieval(ctx: ArchiveCtx, rec: FileRecord, candidates: list[Any] | None) -> bool:
    """Retrieve the whole file from the network, verified against its CID; True when it all came back."""
    assert rec.cid is not None
    net = ctx.need_net()
    ctx.ms.ensure_dirs()
    tmp = ctx.ms.tmp_dir / f"test-{uuid.uuid4().hex}"
    try:
        got = await net.retriever.fetch(CID.decode(rec.cid), tmp, candidates=candidates or None)
    except (NetworkError, ContentError) as exc:
        log.warning("archive %s: test retrieval of %s failed: %s", ctx.ms.name, rec.path, exc)
        return False
    finally:
        await asyncio.to_thread(tmp.unlink, True)
    if got.size != rec.size:
        log.error("archive %s: test retrieval of %s gave %d bytes, expected %d", ctx.ms.name, rec.path, got.size,
                  rec.size)
        return False
    return True


async def evict_due(ctx: ArchiveCtx, now: datetime | None = None, dry_run: bool = False,
                    limit: int | None = None) -> EvictReport:
    now = now or datetime.now(timezone.utc)
    policy = ctx.policy
    report = EvictReport()
    recs = await asyncio.to_thread(ctx.index.eviction_candidates, cutoff_ns(now, policy.keep_years), limit)
    copies = _Copies(ctx)
    sem = asyncio.Semaphore(ctx.concurrency)
    done = 0

    async def one(rec: FileRecord) -> None:
        nonlocal done
        async with sem:
            try:
                await _one(ctx, rec, now, copies, report, dry_run)
            finally:
                done += 1
                ctx.progress("evict", done, len(recs), rec.path)

    settle(await asyncio.gather(*(one(r) for r in recs), return_exceptions=True))
    return report


async def _one(ctx: ArchiveCtx, rec: FileRecord, now: datetime, copies: _Copies, report: EvictReport,
               dry_run: bool) -> None:
    policy = ctx.policy
    if not evictable_name(rec.path):
        report.kept[rec.path] = "name cannot be written to rsync's exclude list"
        return
    if report.deferred or ctx.syncing():
        report.deferred = True
        report.kept[rec.path] = "the mirror is syncing"
        return
    n, cands = await copies.of(rec)
    tested = rec.test_retrieval_at is not None
    first = should_evict(state=rec.state, mtime_ns=rec.mtime_ns, now=now, verified_copies=n,
                         test_retrieval_ok=True, policy=policy, size=rec.size)
    if first and policy.verify_before_evict and not tested and not dry_run:
        tested = await test_retrieval(ctx, rec, cands)
        if tested:
            await asyncio.to_thread(ctx.index.set_test_retrieval, rec.path)
            ctx.crash("evict.tested")
    decision = should_evict(state=rec.state, mtime_ns=rec.mtime_ns, now=now, verified_copies=n,
                            test_retrieval_ok=tested or (dry_run and bool(first)), policy=policy, size=rec.size)
    if not decision:
        report.kept[rec.path] = decision.reason
        return
    if dry_run:
        report.would_evict.append(rec.path)
        report.bytes += rec.size
        return
    if ctx.syncing():
        report.deferred = True
        report.kept[rec.path] = "the mirror is syncing"
        return
    out = await asyncio.to_thread(evict_one, ctx.index, ctx.ms.root, rec, crash=ctx.crash)
    if out.evicted:
        report.evicted.append(rec.path)
        report.bytes += rec.size
    else:
        report.kept[rec.path] = out.reason
