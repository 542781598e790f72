"""The cache budget (docs/serve.md, "The cache"): retrieved files (`cached`) kept on disk up to `cache_budget` bytes;
beyond it the least recently used go back to `evicted`, through the journaled `evict.evict_batch`.

`over_budget` is the pure decision of which files would go. `enforce_budget` is the IO edge: only
`cached` files are candidates, and each one's copies are checked on chain again first (once per
bundle), so a file goes only when `policy.may_drop_cached` says so: its bundle is `stored` (not
`degraded`: repair rebuilds the CAR from the files on disk) and n copies are verified now. Without an
answer from the network nothing goes: over budget is safe, a lost file is not. A file's last use is
the later of the index's `last_access` (what `tunasync serve` saw) and its atime (what nginx served,
where the mount records atime).

`AccessLog` batches `last_access` updates: serving a file must not cost a synchronous SQLite write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ..errors import ArchiveError, NetworkError
from .context import ArchiveCtx
from .copycheck import bundle_copies, foreign_check
from .evict import EvictOutcome, Leaving, evict_batch
from .gate import MirrorGate
from .index import ArchiveIndex, FileRecord
from .policy import may_drop_cached
from .states import FileState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CachedFile:
    path: str
    size: int
    last_use: float


def over_budget(files: Sequence[CachedFile], budget: int, pinned: Collection[str] = ()) -> list[str]:
    """Paths to return to `evicted`, least recently used first, until the rest fits in `budget` bytes.

    Pinned paths (being retrieved or streamed right now) are never chosen, even if that leaves the
    cache over budget until they are released."""
    total = sum(f.size for f in files)
    out: list[str] = []
    for f in sorted(files, key=lambda f: (f.last_use, f.path)):
        if total <= budget:
            break
        if f.path in pinned:
            continue
        out.append(f.path)
        total -= f.size
    return out


def _atime(root: str, rel: str) -> float:
    try:
        return os.stat(os.path.join(root, rel), follow_symlinks=False).st_atime
    except OSError:
        return 0.0


def cached_files(index: ArchiveIndex, root: str) -> list[CachedFile]:
    return [CachedFile(r.path, r.size, max(r.last_access or 0.0, _atime(root, r.path))) for r in index.cached_lru()]


async def enforce_budget(ctx: ArchiveCtx, budget: int | None, pinned: Collection[str] = ()) -> list[EvictOutcome]:
    """Bring the mirror's cached bytes within `budget` (None: no budget); returns what was done."""
    if budget is None:
        return []
    index, root = ctx.index, ctx.ms.root
    paths = await asyncio.to_thread(lambda: over_budget(cached_files(index, root), budget, pinned))
    if not paths:
        return []
    recs = [r for r in await asyncio.to_thread(lambda: [index.get(p) for p in paths])
            if r is not None and r.state is FileState.CACHED and not r.deleted]
    copies: dict[int | str, tuple[int, str | None]] = {}
    out: list[EvictOutcome] = []
    approved: list[FileRecord] = []
    for rec in recs:
        key: int | str = rec.bundle_id if rec.bundle_id is not None else (rec.cid or "")
        if key not in copies:
            copies[key] = await _copies_now(ctx, rec)
        n, bundle_state = copies[key]
        decision = may_drop_cached(state=rec.state, verified_copies=n, policy=ctx.policy, bundle_state=bundle_state,
                                   foreign=rec.bundle_id is None)
        if decision:
            approved.append(rec)
        else:
            log.warning("cache budget: %s stays on disk: %s", rec.path, decision.reason)
            out.append(EvictOutcome(rec.path, False, decision.reason))
    if approved:
        res = await asyncio.to_thread(evict_batch, index, root, [Leaving.of(r) for r in approved],
                                      MirrorGate(ctx.ms.dir), crash=ctx.crash)
        if res.busy:
            out += [EvictOutcome(r.path, False, "a sync of the mirror is running") for r in approved]
        else:
            out += res.outcomes()
    return out


async def _copies_now(ctx: ArchiveCtx, rec: FileRecord) -> tuple[int, str | None]:
    """(verified copies on chain now, bundle state) of the piece holding `rec`; (0, ...) when unknown."""
    try:
        if rec.bundle_id is None:
            if rec.cid is None:
                return 0, None
            return (await foreign_check(ctx, rec)).count, None
        b = await asyncio.to_thread(ctx.index.bundle, rec.bundle_id)
        if b is None or b.piece_cid is None or b.padded_size is None:
            return 0, None
        if b.state != "stored":
            return 0, b.state
        return (await bundle_copies(ctx, b)).count, b.state
    except (NetworkError, ArchiveError) as exc:
        log.warning("cache budget: copies of %s cannot be checked now: %s", rec.path, exc)
        return 0, None


class AccessLog:
    """Last-access times kept in memory and written to the index in one transaction per `flush`."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def record(self, path: str, when: float | None = None) -> None:
        self._seen[path] = when or time.time()

    def take(self) -> dict[str, float]:
        seen, self._seen = self._seen, {}
        return seen

    @staticmethod
    def write(index: ArchiveIndex, seen: dict[str, float]) -> int:
        """Record the accesses of `cached` files (the only ones whose last use matters); blocking."""
        if not seen:
            return 0
        return index.touch_cached(seen)
