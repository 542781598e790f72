"""One eviction rule: the evictor's candidates, `archive status` and the manager's `GET /archive`
(`evictable_now`) all ask the same question, so they agree. Cached files (retrieved back) belong to
the cache budget alone: they are never counted as evictable by age."""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from tunasync.archive.db import BundleState
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.policy import Policy
from tunasync.archive.scan import scan
from tunasync.archive.states import FileState
from tunasync.archive.status import figures

YEAR = 365.2425 * 86400
NOW = datetime.now(timezone.utc)


def stored_tree(tmp: Path, files: dict[str, tuple[int, float]]) -> ArchiveIndex:
    """An index whose files (path -> (size, age in years)) are all `stored` in one bundle."""
    root = tmp / "mirror"
    for rel, (size, years) in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * size)
        t = time.time() - years * YEAR
        os.utime(p, (t, t))
    ix = ArchiveIndex(tmp / "ix.sqlite")
    scan(str(root), ix)
    for r in list(ix.files()):
        ix.set_hashed(r.path, (r.size, r.mtime_ns, r.inode), "ipfs-car", f"bafy{r.path}")
    bid = ix.new_bundle([(r.path, r.cid or "", r.size, r.mtime_ns) for r in ix.files()])
    ix.stage_bundle(bid, root_cid="bafy-root", piece_cid="baga-test", piece_cid_v2="bafk-test",
                    padded_size=1 << 20, car_size=1000)
    ix.set_bundle_stored(bid)
    return ix


def test_an_old_cached_file_is_not_counted_as_evictable(tmp_path):
    ix = stored_tree(tmp_path, {"old/stored.deb": (100, 3), "old/cached.deb": (200, 3), "new.deb": (50, 0)})
    ix.set_state("old/cached.deb", FileState.EVICTED)
    ix.set_state("old/cached.deb", FileState.CACHED)  # retrieved back by serve: the cache budget's file
    figs = figures(ix, Policy(copies=1, keep_years=2), NOW)
    assert figs["evictable_now"] == {"files": 1, "bytes": 100}
    assert figs["states"]["cached"]["files"] == 1


def test_a_degraded_bundle_makes_nothing_evictable(tmp_path):
    ix = stored_tree(tmp_path, {"a.deb": (100, 3), "b.deb": (200, 3)})
    (b,) = ix.bundles()
    ix.set_bundle_state(b.id, BundleState.DEGRADED)  # repair must rebuild it from these files first
    assert figures(ix, Policy(copies=1, keep_years=2), NOW)["evictable_now"] == {"files": 0, "bytes": 0}
