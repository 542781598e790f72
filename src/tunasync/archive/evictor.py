"""Which files leave the disk now, and making them leave safely (the dangerous operation).

The index is asked the policy's one question (`policy.due_query`: stored, old enough, not empty, not
in a degraded bundle), bundle by bundle, the bundle holding the oldest due file first. For each
bundle: its copies are checked on chain again now (once per run), then, by default, its whole CAR
is retrieved once from those providers and checked against the piece CID we computed (one verified
retrieval tests every file in it; where no provider serves the piece, each file is retrieved and
verified alone). Then `policy.should_evict` decides each file with those facts and the journaled
`evict.evict_batch` removes the approved ones, a batch at a time under the mirror's gate: a sync
that starts waits for the batch under way at most, and the rest waits for the next run.
Cached files (retrieved back) are not evicted here: the cache budget decides when they go.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from ..content.cid import CID
from ..errors import ContentError, NetworkError
from ..filecoin.interfaces import Candidate
from ..filecoin.retriever import provider_candidates
from . import evict
from .context import ArchiveCtx
from .copycheck import bundle_copies, foreign_check, settle
from .db import DueQuery, DueRow, FileState
from .evict import File, Leaving, evict_batch
from .exclude import evictable_name
from .gate import MirrorGate
from .index import Bundle, FileRecord
from .policy import Decision, due_query, should_evict, should_evict_all

log = logging.getLogger(__name__)


@dataclass
class EvictReport:
    evicted: list[str] = field(default_factory=list)
    would_evict: list[str] = field(default_factory=list)  # dry run
    kept: dict[str, str] = field(default_factory=dict)  # path -> why it stays
    bytes: int = 0
    deferred: bool = False  # a sync started: the rest waits for the next run
    batches: int = 0  # journaled batches
    tested_bundles: int = 0  # bundles whose whole CAR was retrieved and verified this run


class _Copies:
    """Fresh copy counts and retrieval candidates, one chain check per bundle (or CID) per run."""

    def __init__(self, ctx: ArchiveCtx):
        self.ctx = ctx
        self._bundles: dict[int, asyncio.Task[tuple[int, list[Candidate]]]] = {}
        self._foreign: dict[str, asyncio.Task[int]] = {}

    async def bundle(self, b: Bundle) -> tuple[int, list[Candidate]]:
        if b.id not in self._bundles:
            self._bundles[b.id] = asyncio.ensure_future(self._bundle(b))
        return await self._bundles[b.id]

    async def foreign(self, rec: FileRecord) -> int:
        assert rec.cid is not None
        if rec.cid not in self._foreign:
            self._foreign[rec.cid] = asyncio.ensure_future(self._foreign_rec(rec))
        return await self._foreign[rec.cid]

    async def _bundle(self, b: Bundle) -> tuple[int, list[Candidate]]:
        if b.piece_cid is None:
            return 0, []
        try:
            c = await bundle_copies(self.ctx, b)
        except NetworkError as exc:
            log.warning("archive %s: cannot check copies of bundle %d: %s", self.ctx.ms.name, b.id, exc)
            return 0, []
        net = self.ctx.need_net()
        cands = await provider_candidates(net.chain, c.providers, CID.decode(b.piece_cid))
        return c.count, cands

    async def _foreign_rec(self, rec: FileRecord) -> int:
        try:
            return (await foreign_check(self.ctx, rec)).count
        except NetworkError as exc:
            log.warning("archive %s: cannot check foreign copies of %s: %s", self.ctx.ms.name, rec.cid, exc)
            return 0


async def test_retrieval(ctx: ArchiveCtx, rec: FileRecord, candidates: list[Candidate] | None) -> bool:
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


async def test_bundle(ctx: ArchiveCtx, b: Bundle, candidates: list[Candidate]) -> bool | None:
    """Retrieve the bundle's whole piece from a provider holding it, checked against the piece CID we
    computed from its CAR: True when one verified, False when every provider's bytes failed the check,
    None when no provider serves the piece (the files are then tested one by one)."""
    if b.piece_cid is None or not candidates:
        return None
    net = ctx.need_net()
    ctx.ms.ensure_dirs()
    tmp = ctx.ms.tmp_dir / f"piece-test-{uuid.uuid4().hex}"
    try:
        src = await net.retriever.fetch_piece(CID.decode(b.piece_cid), tmp, candidates, b.padded_size)
    except ContentError as exc:
        log.warning("archive %s: test retrieval of bundle %d failed: %s", ctx.ms.name, b.id, exc)
        return False
    except NetworkError as exc:
        log.info("archive %s: no provider served bundle %d's piece (%s): testing its files one by one",
                 ctx.ms.name, b.id, exc)
        return None
    finally:
        await asyncio.to_thread(tmp.unlink, True)
    log.info("archive %s: bundle %d retrieved from %s and verified", ctx.ms.name, b.id, src)
    return True


class _Run:
    """One eviction run: the shared copy checks, the report, and one batch at a time under the gate."""

    def __init__(self, ctx: ArchiveCtx, now: datetime, dry_run: bool, limit: int | None):
        self.ctx = ctx
        self.now = now
        self.dry_run = dry_run
        self.left = limit
        self.q: DueQuery = due_query(ctx.policy, now)
        self.copies = _Copies(ctx)
        self.report = EvictReport()
        self.gate = MirrorGate(ctx.ms.dir)
        self.batch_lock = asyncio.Lock()  # one batch of this run at a time (they share the gate)
        self.tests = asyncio.Semaphore(ctx.concurrency)  # per-file copy checks and test retrievals in flight
        self.done = 0
        self.total = 0

    def full(self) -> bool:
        return self.report.deferred or (self.left is not None and self.left <= 0)

    async def group(self, bid: int | None) -> None:
        b = await asyncio.to_thread(self.ctx.index.bundle, bid) if bid is not None else None
        if bid is not None and b is None:
            return
        n, cands = await self.copies.bundle(b) if b is not None else (0, [])
        tested_at: float | None = None  # when the bundle's whole piece came back verified
        try_piece = True  # the piece is not verified yet: try it once (else each file is tested alone)
        failed = False  # every provider's piece failed the check: nothing of this bundle leaves this run
        if b is not None and b.test_retrieval_at is not None:
            tested_at, try_piece = b.test_retrieval_at, False
        after = ""
        index = self.ctx.index
        nxt = asyncio.ensure_future(asyncio.to_thread(index.due_rows, self.q, bid, after, evict.BATCH))
        try:
            while not self.full():
                rows = await nxt
                if not rows:
                    return
                start, after = after, rows[-1][0]
                # the next page is read while this one is removed (it starts after this page's last path)
                nxt = asyncio.ensure_future(asyncio.to_thread(index.due_rows, self.q, bid, after, evict.BATCH))
                if self.left is not None:
                    rows = rows[: self.left]
                must_test = self.ctx.policy.verify_before_evict and not self.dry_run
                if b is not None and n >= self.ctx.policy.copies and try_piece and must_test:
                    try_piece = False
                    ok = await test_bundle(self.ctx, b, cands)
                    if ok:
                        tested_at = time.time()
                        await asyncio.to_thread(index.set_bundle_tested, b.id, tested_at)
                        self.report.tested_bundles += 1
                        self.ctx.crash("evict.tested")
                    elif ok is not None:
                        failed = True
                approved: list[File]
                if failed:
                    why = "no verified test retrieval: every copy of its bundle failed the check"
                    self.report.kept.update((r[0], why) for r in rows)
                    approved = []
                elif b is not None and (tested_at is not None or not must_test):
                    # no file of this page needs its own retrieval: the page is decided here at once
                    approved = self.decide_page(rows, b, n)
                else:
                    recs = await asyncio.to_thread(index.due_page, self.q, bid, start, len(rows))
                    decided = await asyncio.gather(*(self.decide(rec, b, n, cands) for rec in recs),
                                                   return_exceptions=True)
                    settle(list(decided))
                    approved = [Leaving.of(rec) for rec in decided if isinstance(rec, FileRecord)]
                await self.remove(approved, tested_at)
                self.done += len(rows)
                self.ctx.progress("evict", self.done, self.total, rows[-1][0])
        finally:
            nxt.cancel()

    def decide_page(self, rows: list[DueRow], b: Bundle, n: int) -> list[File]:
        """A page whose files need no retrieval of their own: `should_evict_all` once for the page (its
        newest mtime, smallest size, each state); only when that says no is each file asked alone."""
        page = should_evict_all(states=[FileState(s) for s in {r[4] for r in rows}],
                                newest_mtime_ns=max(r[2] for r in rows), smallest_size=min(r[1] for r in rows),
                                now=self.now, verified_copies=n, test_retrieval_ok=True, policy=self.ctx.policy,
                                bundle_state=b.state)
        if page and all(evictable_name(r[0]) for r in rows):
            if self.dry_run:
                self.report.would_evict.extend(r[0] for r in rows)
                self.report.bytes += sum(r[1] for r in rows)
                if self.left is not None:
                    self.left -= len(rows)
                return []
            return [(r[0], r[1], r[2], r[3]) for r in rows]
        return [(r[0], r[1], r[2], r[3]) for r in rows
                if self.keep_or_take(r[0], r[1], self.judge_row(r, b, n, True))]

    def judge_row(self, r: DueRow, b: Bundle | None, n: int, tested: bool) -> Decision:
        """`judge` for a row of `due_rows`."""
        if not evictable_name(r[0]):
            return Decision(False, "name cannot be written to rsync's exclude list")
        return should_evict(state=FileState(r[4]), mtime_ns=r[2], now=self.now, verified_copies=n,
                            policy=self.ctx.policy, size=r[1], bundle_state=b.state if b is not None else None,
                            test_retrieval_ok=tested or r[5] is not None)

    def judge(self, rec: FileRecord, b: Bundle | None, n: int, tested: bool) -> Decision:
        """The policy's answer for one file with the facts of this run (its name is rsync's to write)."""
        return self.judge_row((rec.path, rec.size, rec.mtime_ns, rec.inode, rec.state.value, rec.test_retrieval_at),
                              b, n, tested)

    def keep_or_take(self, path: str, size: int, decision: Decision) -> bool:
        """Record the decision; True when the file is to leave now (never in a dry run)."""
        if not decision:
            self.report.kept[path] = decision.reason
            return False
        if self.dry_run:
            self.report.would_evict.append(path)
            self.report.bytes += size
            if self.left is not None:
                self.left -= 1
            return False
        return True

    async def decide(self, rec: FileRecord, b: Bundle | None, n: int, cands: list[Candidate]) -> FileRecord | None:
        """One file that may need its own copy check (no bundle of ours) or its own test retrieval."""
        async with self.tests:
            if b is None:
                n = await self.copies.foreign(rec)
            first = self.judge(rec, b, n, True)
            tested = rec.test_retrieval_at is not None
            if first and self.ctx.policy.verify_before_evict and not tested and not self.dry_run:
                tested = await test_retrieval(self.ctx, rec, cands or None)
                if tested:
                    await asyncio.to_thread(self.ctx.index.set_test_retrieval, rec.path)
                    self.ctx.crash("evict.tested")
            decision = self.judge(rec, b, n, tested or (self.dry_run and bool(first)))
            return rec if self.keep_or_take(rec.path, rec.size, decision) else None

    async def remove(self, files: list[File], tested_at: float | None) -> None:
        if not files or self.full():
            self.report.kept.update((f[0], "the mirror is syncing") for f in files)
            return
        ctx = self.ctx
        async with self.batch_lock:
            if ctx.syncing():
                res = None
            else:
                res = await asyncio.to_thread(evict_batch, ctx.index, ctx.ms.root, files, self.gate, crash=ctx.crash,
                                              tested_at=tested_at, shadow=str(ctx.ms.shadow_dir))
        if res is None or res.busy:
            self.report.deferred = True
            self.report.kept.update((f[0], "the mirror is syncing") for f in files)
            return
        self.report.batches += 1
        self.report.evicted.extend(f[0] for f in res.evicted)
        self.report.bytes += sum(f[1] for f in res.evicted)
        self.report.kept.update(res.kept)
        if self.left is not None:
            self.left -= len(res.evicted)


async def evict_due(ctx: ArchiveCtx, now: datetime | None = None, dry_run: bool = False,
                    limit: int | None = None) -> EvictReport:
    run = _Run(ctx, now or datetime.now(timezone.utc), dry_run, limit)
    groups = await asyncio.to_thread(ctx.index.due_groups, run.q)
    run.total = sum(n for _, n in groups)
    sem = asyncio.Semaphore(ctx.concurrency)

    async def one(bid: int | None) -> None:
        async with sem:
            if not run.full():
                await run.group(bid)

    settle(await asyncio.gather(*(one(bid) for bid, _ in groups), return_exceptions=True))
    return run.report
