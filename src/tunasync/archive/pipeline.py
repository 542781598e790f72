"""One archive run of a mirror, in order; what the worker starts after each successful sync and what
`tunasync archive scan|store|evict|repair` run step by step.

    recover ─► scan ─► hash ─► known bundles ─► foreign copies ─► pack + offer ─► repair? ─► evict ─► exclude list
      journaled half-steps    only changed files    same CID stored already    (count_foreign_copies)

Only one process works on a mirror's archive at a time (`MirrorLock`, an flock beside the index): the
CLI refuses with a clear error while the worker is busy with it, and the other way round.
"""

from __future__ import annotations

import fcntl
import heapq
import logging
import os
import time
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..errors import ArchiveError
from . import evict, store
from .context import ArchiveCtx
from .copycheck import check_foreign
from .evictor import EvictReport, evict_due
from .exclude import write_rules_file
from .hashing import HashResult, HashStream, hash_pending
from .repair import RepairReport, repair
from .scan import TEMP_PREFIX, ScanResult, scan
from .shadow import reconcile_if_changed
from .states import FileState
from .upstream import check_evicted

log = logging.getLogger(__name__)

REPAIR_EVERY = 6 * 3600.0  # seconds between chain checks of stored pieces in the after-sync runs
FOREIGN_PAGE = 2000  # files asked about at a time in the foreign-copy check


class MirrorLock:
    """Exclusive, non-blocking lock of one mirror's archive (released when the process dies)."""

    def __init__(self, ctx: ArchiveCtx):
        self.ms = ctx.ms
        self.path = ctx.ms.dir / "lock"
        self.fd: int | None = None

    def __enter__(self) -> MirrorLock:
        self.ms.ensure_dirs()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise ArchiveError(f"archive {self.ms.name} is busy: process {holder} is working on it "
                               f"(lock {self.path})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self.fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@dataclass
class RunReport:
    recovered: list[str] = field(default_factory=list)
    scan: ScanResult | None = None
    upstream_deleted: list[str] = field(default_factory=list)
    hashed: HashResult | None = None
    known: tuple[int, int] = (0, 0)  # joined bundles already stored / under way
    foreign: int = 0  # files others already hold n copies of
    store: store.StoreReport | None = None
    repair: RepairReport | None = None
    evict: EvictReport | None = None
    excluded: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        s = self.scan
        return {
            "recovered": len(self.recovered),
            "scanned": s.files if s else 0, "changed": s.changed_files if s else 0,
            "deleted": len(s.deleted) if s else 0, "upstream_deleted": len(self.upstream_deleted),
            "hashed": self.hashed.hashed if self.hashed else 0,
            "hash_errors": len(self.hashed.errors) if self.hashed else 0,
            "known": sum(self.known), "foreign": self.foreign,
            "packed": len(self.store.packed) if self.store else 0,
            "stored_bundles": len(self.store.stored) if self.store else 0,
            "degraded": len(self.repair.degraded) if self.repair else 0,
            "evicted": len(self.evict.evicted) if self.evict else 0,
            "evicted_bytes": self.evict.bytes if self.evict else 0,
            "excluded": self.excluded, "seconds": round(self.seconds, 3),
            "deal_failures": len(self.store.failures) if self.store else 0,
            **({"store_problem": self.store.problem} if self.store and self.store.problem else {}),
        }


def recover(ctx: ArchiveCtx) -> list[str]:
    """Finish or roll back what a crash left half done (blocking)."""
    return evict.recover(ctx.index, ctx.ms.root) + store.recover_bundles(ctx)


def write_exclude(ctx: ArchiveCtx) -> int:
    """What rsync needs before a sync: the rules file (our in-progress retrievals, `.tunasync-*`, are not
    rsync's to delete) and the shadow tree with one placeholder per evicted file upstream still has
    (shadow.py), and per file of an eviction a crash left open (perhaps off disk already; recovery
    records them at the next run). Returns the number of placeholders."""
    ctx.ms.ensure_dirs()
    write_rules_file(str(ctx.ms.exclude_path), TEMP_PREFIX)
    pending = _pending_rows(ctx)
    fingerprint = (*ctx.index.evicted_fingerprint(), zlib.crc32(repr(pending).encode()))
    rep = reconcile_if_changed(str(ctx.ms.shadow_dir), fingerprint,
                               lambda: _merged(ctx.index.evicted_by_path(), pending))
    if rep is None:  # nothing changed since the last pass
        return fingerprint[0] + len(pending)
    if rep.created or rep.removed:
        log.info("archive %s: shadow tree: %d placeholder(s), %d made, %d removed", ctx.ms.name,
                 rep.placeholders, rep.created, rep.removed)
    return rep.placeholders


def _pending_rows(ctx: ArchiveCtx) -> list[tuple[str, int, int]]:
    rows = []
    for p in evict.pending_paths(ctx.index):
        rec = ctx.index.get(p)
        if rec is not None and rec.state is not FileState.EVICTED:
            rows.append((p, rec.size, rec.mtime_ns))
    return sorted(rows)


def _merged(evicted: Iterable[tuple[str, int, int]],
            pending: list[tuple[str, int, int]]) -> Iterator[tuple[str, int, int]]:
    """Both sorted by path; pending files are not `evicted` yet, so no path is in both."""
    return heapq.merge(evicted, pending, key=lambda r: r[0])


async def scan_and_hash(ctx: ArchiveCtx, report: RunReport, check_upstream: bool = False,
                        pool: Executor | None = None) -> None:
    """Scan, hashing new files as the walk finds them (a first index is one pass), then hash what is
    still `local` (changes a snapshot diff found, files that changed while hashed). `pool`: the
    executor for hashing, else one of the hasher's own."""
    done = [0]

    def progress(_files: int, nbytes: int) -> None:
        done[0] += nbytes
        ctx.progress("hash", done[0], 0, "")

    def scan_streamed() -> tuple[ScanResult, HashResult]:
        stream = HashStream(ctx.ms.root, ctx.ms.profile, pool=pool if pool is not None else ctx.hash_pool,
                            progress=progress)
        try:
            res = scan(ctx.ms.root, ctx.index, True, ctx.crash, hasher=stream)
        finally:
            stream.close()
        return res, HashResult(hashed=res.hashed, bytes=res.hashed_bytes)

    report.scan, streamed = await ctx.to_thread(scan_streamed)
    ctx.crash("scan.done")
    if check_upstream:
        gone = await check_evicted(ctx.ms, ctx.index)
        if gone:
            await ctx.index.call(ctx.index.mark_deleted, gone)
            report.upstream_deleted = gone
            log.info("archive %s: upstream deleted %d evicted file(s)", ctx.ms.name, len(gone))
    total = (await ctx.index.call(ctx.index.counts))[FileState.LOCAL.value][1]  # bytes to hash: one SUM
    done[0] = 0

    def progress_rest(_files: int, nbytes: int) -> None:
        done[0] += nbytes
        ctx.progress("hash", done[0], total, "")

    rest = await ctx.to_thread(hash_pending, ctx.index, ctx.ms.root, ctx.ms.profile, progress=progress_rest,
                               pool=pool if pool is not None else ctx.hash_pool)
    report.hashed = HashResult(hashed=streamed.hashed + rest.hashed, bytes=streamed.bytes + rest.bytes,
                               changed=rest.changed, errors=rest.errors)
    ctx.crash("hash.done")
    report.known = await ctx.index.call(ctx.index.attach_to_known_bundles)


async def find_foreign(ctx: ArchiveCtx, report: RunReport) -> None:
    if ctx.net is None or not ctx.policy.count_foreign_copies:
        return
    # a page of files at a time: a first index may leave millions hashed
    total = (await ctx.index.call(ctx.index.counts))[FileState.HASHED.value][0]
    after: str | None = None
    done = 0
    while True:
        recs = await ctx.index.call(ctx.index.hashed_unbundled_records, after, FOREIGN_PAGE)
        if recs:
            report.foreign += await check_foreign(ctx, recs, start=done, total=total)
            done += len(recs)
        if len(recs) < FOREIGN_PAGE:
            return
        after = recs[-1].path


async def maintain(ctx: ArchiveCtx, *, poll: float = 2.0, now: datetime | None = None) -> RunReport:
    """Between syncs: no scan (rsync may be writing), but open bundles are checked and offered, repair
    runs when due, due files are evicted (never while the sync runs), the exclude list is rewritten."""
    t0 = time.monotonic()
    report = RunReport()
    with MirrorLock(ctx):
        report.recovered = await ctx.to_thread(recover, ctx)
        report.store = await store.store(ctx, poll=poll)
        await _repair_if_due(ctx, report)
        report.evict = await evict_due(ctx, now=now)
        report.excluded = await ctx.to_thread(write_exclude, ctx)
    report.seconds = time.monotonic() - t0
    return report


async def _repair_if_due(ctx: ArchiveCtx, report: RunReport) -> None:
    last_text = await ctx.index.call(ctx.index.get_meta, "repaired_at")
    if time.time() - float(last_text or 0) >= REPAIR_EVERY:
        report.repair = await repair(ctx)
        await ctx.index.call(ctx.index.set_meta, "repaired_at", str(time.time()))


async def run(ctx: ArchiveCtx, *, after_sync: bool = False, wait: float = 0.0, poll: float = 2.0,
              evict_now: bool = True, now: datetime | None = None) -> RunReport:
    """The whole pipeline (see the module docstring); holds the mirror lock throughout."""
    t0 = time.monotonic()
    report = RunReport()
    with MirrorLock(ctx):
        report.recovered = await ctx.to_thread(recover, ctx)
        await scan_and_hash(ctx, report, check_upstream=after_sync)
        await find_foreign(ctx, report)
        report.store = await store.store(ctx, wait=wait, poll=poll)
        await _repair_if_due(ctx, report)
        if evict_now:
            report.evict = await evict_due(ctx, now=now)
        report.excluded = await ctx.to_thread(write_exclude, ctx)
    report.seconds = time.monotonic() - t0
    return report
