"""One eviction rule: the evictor's candidates, `archive status` and the manager's `GET /archive`
(`evictable_now`) all ask the same question, so they agree. Cached files (retrieved back) belong to
the cache budget alone: they are never counted as evictable by age."""

from __future__ import annotations

import os
import sqlite3
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


def indexes(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'files' "
                                          "AND name NOT LIKE 'sqlite_%'")}


def test_a_version_1_index_gets_the_rule_s_indexes_and_keeps_its_rows(tmp_path):
    ix = stored_tree(tmp_path, {"a.deb": (100, 3), "b.deb": (200, 0)})
    ix.close()
    path = tmp_path / "ix.sqlite"
    with sqlite3.connect(path) as db:  # back to the version 1 layout: its four indexes, none of ours
        db.execute("DROP INDEX files_due")
        db.execute("DROP INDEX files_bundle_path")
        for name, col in (("files_state", "state"), ("files_bundle", "bundle_id"), ("files_mtime", "mtime_ns")):
            db.execute(f"CREATE INDEX {name} ON files({col})")
        db.execute("PRAGMA user_version = 1")
    assert indexes(path) == {"files_state", "files_bundle", "files_cid", "files_mtime"}
    ix = ArchiveIndex(path)
    assert ix.db.found_version == 1
    assert indexes(path) == {"files_due", "files_bundle_path", "files_cid"}
    assert figures(ix, Policy(copies=1, keep_years=2), NOW)["evictable_now"] == {"files": 1, "bytes": 100}
    ix.close()
    with sqlite3.connect(path) as db:  # `evictable_now` is answered from the index alone, no table rows
        plan = " ".join(r[3] for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT COUNT(*), SUM(size) FROM files WHERE state IN ('stored') AND deleted = 0 "
            "AND mtime_ns < 5 AND size >= 1 AND (bundle_id IS NULL OR bundle_id NOT IN "
            "(SELECT id FROM bundles WHERE state IN ('degraded')))"))
    assert "COVERING INDEX files_due" in plan, plan


def test_ls_takes_exactly_the_subtree_from_the_primary_key(tmp_path):
    paths = ("pool/a/x", "pool/a/y/z", "pool/a-b/x", "pool/ab/x", "pool/a0", "pool/b")
    ix = stored_tree(tmp_path, {p: (10, 0) for p in paths})
    assert [r.path for r in ix.files_under("pool/a")] == ["pool/a/x", "pool/a/y/z"]
    assert [r.path for r in ix.files_under("pool/a0")] == ["pool/a0"]
    assert len(ix.files_under("")) == 6


async def test_status_counts_exactly_what_the_evictor_takes(tmp_path, devnet):
    """Old, young, empty and cached files: `evictable_now` is what a dry run would evict, and then what
    the real run evicts (copies verified, pieces retrieved)."""
    from tests.archive.archkit import archive_ctx, make_tree, rand, write_conf
    from tunasync.archive import pipeline
    from tunasync.archive.evictor import evict_due

    mirror = tmp_path / "mirror"
    old = {f"old/{i}.deb": rand(5000 + i, 900 + i) for i in range(5)} | {"old/empty": b""}
    young = {f"new/{i}.deb": rand(4000 + i, 950 + i) for i in range(3)}
    make_tree(mirror, old | young, old=set(old))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=30, evict_now=False)
        first = await evict_due(ctx, limit=1)  # one old file leaves, then comes back as `cached`
        (back,) = first.evicted
        p = mirror / back
        p.write_bytes(old[back])
        os.utime(p, ns=(ctx.index.get(back).mtime_ns,) * 2)
        assert ctx.index.mark_cached(back, p.stat().st_ino)
        due = figures(ctx.index, ctx.policy)["evictable_now"]
        dry = await evict_due(ctx, dry_run=True)
        assert due == {"files": len(dry.would_evict), "bytes": dry.bytes} == {"files": 4, "bytes": dry.bytes}
        real = await evict_due(ctx)
        assert sorted(real.evicted) == sorted(dry.would_evict)
        assert back not in real.evicted and ctx.index.get(back).state is FileState.CACHED
        assert figures(ctx.index, ctx.policy)["evictable_now"] == {"files": 0, "bytes": 0}
