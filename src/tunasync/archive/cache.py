"""The cache budget (DESIGN "Cache"): retrieved files (`cached`) kept on disk up to `cache_budget` bytes;
beyond it the least recently used go back to `evicted`, through the journaled `evict_one`.

`over_budget` is the pure decision. `enforce_budget` is the IO edge (blocking: run in a thread): only
`cached` files are candidates and `evict_one` re-checks each one, so a file that is not stored on the
network is never removed. A file's last use is the later of the index's `last_access` (what
`tunasync serve` saw) and its atime (what nginx served, where the mount records atime).

`AccessLog` batches `last_access` updates: serving a file must not cost a synchronous SQLite write.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from .evict import EvictOutcome, evict_one
from .index import ArchiveIndex
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


def enforce_budget(index: ArchiveIndex, root: str, budget: int | None,
                   pinned: Collection[str] = ()) -> list[EvictOutcome]:
    """Bring the mirror's cached bytes within `budget` (None: no budget); returns what was done."""
    if budget is None:
        return []
    out = []
    for path in over_budget(cached_files(index, root), budget, pinned):
        rec = index.get(path)
        if rec is None or rec.state is not FileState.CACHED or rec.deleted:
            continue
        res = evict_one(index, root, rec)
        if not res.evicted:
            log.warning("cache budget: %s stays on disk: %s", path, res.reason)
        out.append(res)
    return out


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
