"""The index's running totals (schema version 3, `file_totals`): what `archive status`, the manager's
`/archive` figures and `evictable_now` read instead of counting a million rows. They must equal a full
count of `files` after any sequence of writes: scans (the first one a bulk load with the counters'
triggers dropped), hashing, packing and rollback, store, foreign copies, eviction, the cache, repair's
degraded bundles, upstream deletions, and a bulk load killed halfway (counted again at the next open).
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tunasync.archive.db import BundleState, FileState, StateTotal
from tunasync.archive.index import ArchiveIndex
from tunasync.archive.policy import Policy, due_query
from tunasync.archive.scan import scan
from tunasync.archive.status import figures

DAY = 86_400


def full_counts(path: Path) -> tuple[dict[str, tuple[int, int]], tuple[int, int]]:
    """Per state (files, bytes) of the files upstream still has, and of those it deleted: by COUNT(*)."""
    with sqlite3.connect(path) as db:
        per = {s: (n, b) for s, n, b in db.execute(
            "SELECT state, COUNT(*), SUM(size) FROM files WHERE deleted = 0 GROUP BY state")}
        gone = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE deleted = 1").fetchone()
    return per, tuple(gone)


def due_by_rows(path: Path, policy: Policy, now: datetime) -> tuple[int, int]:
    """`evictable_now` by reading every row against the rule's query (what version 2 asked)."""
    q = due_query(policy, now)
    states = ", ".join(f"'{s.value}'" for s in q.states)
    held = ", ".join(f"'{s}'" for s in q.holding_bundles) or "NULL"
    with sqlite3.connect(path) as db:
        return tuple(db.execute(
            f"SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE state IN ({states}) AND deleted = 0 "
            f"AND mtime_ns < ? AND size >= ? AND (bundle_id IS NULL OR bundle_id NOT IN "
            f"(SELECT id FROM bundles WHERE state IN ({held})))", (q.mtime_before_ns, q.min_size)).fetchone())


def check(ix: ArchiveIndex, path: Path) -> None:
    assert ix.db.read(lambda r: r.files.totals_drift()) == {}
    per, gone = full_counts(path)
    assert {s: tuple(t) for s, t in ix.counts().items() if t.files} == per
    assert tuple(ix.db.read(lambda r: r.files.deleted_total())) == gone
    # evictable_now for cutoffs on, around and between the files' days, for two policies
    now = datetime.now(timezone.utc)
    for policy in (Policy(keep_years=1), Policy(keep_years=3.5)):
        for shift in (0, 1, 3599, DAY - 1, DAY, 40 * DAY, 400 * DAY):
            when = now + timedelta(seconds=shift)
            assert tuple(ix.due_total(due_query(policy, when))) == due_by_rows(path, policy, when), (policy, shift)


def make_tree(root: Path, n: int) -> dict[str, int]:
    """n files whose mtimes fall on many days over five years (a few at the same second), some empty."""
    now = int(datetime.now(timezone.utc).timestamp())
    out = {}
    for i in range(n):
        rel = f"d{i % 4}/f{i:03d}"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * (0 if i % 9 == 0 else 100 + i))
        t = now - (i * 7919 * 37) % (5 * 365 * DAY)
        os.utime(p, (t, t))
        out[rel] = t
    return out


def hash_all(ix: ArchiveIndex) -> None:
    for rec in ix.files(FileState.LOCAL):
        assert ix.set_hashed(rec.path, (rec.size, rec.mtime_ns, rec.inode), "unixfs-v1-2025", f"bafk{rec.size}")


def test_totals_equal_a_full_count_after_every_kind_of_write(tmp_path):
    root, path = tmp_path / "tree", tmp_path / "ix" / "index.sqlite"
    mtimes = make_tree(root, 120)
    ix = ArchiveIndex(path)
    check(ix, path)  # empty
    scan(str(root), ix)  # the first index: a bulk load, counted once at its end
    check(ix, path)
    hash_all(ix)
    check(ix, path)

    # pack three bundles; roll one back; store two; one goes degraded (its files are not due)
    paths = sorted(r.path for r in ix.files(FileState.HASHED))
    bids = []
    for part in (paths[:40], paths[40:80], paths[80:100]):
        members = [(p, r.cid, r.size, r.mtime_ns) for p in part if (r := ix.get(p)) and r.cid]
        bids.append(ix.new_bundle(members))
    check(ix, path)
    ix.rollback_bundle(bids[2])
    check(ix, path)
    for i, bid in enumerate(bids[:2]):
        ix.stage_bundle(bid, root_cid=f"r{i}", piece_cid=f"baga{i}", piece_cid_v2=f"bafkp{i}", padded_size=2048,
                        car_size=1500)
        ix.set_bundle_stored(bid)
    check(ix, path)
    ix.set_bundle_state(bids[1], BundleState.DEGRADED)
    check(ix, path)

    # a hashed file whose bytes others hold three times: stored without a bundle
    loose = paths[100]
    ix.set_foreign(ix.get(loose).cid, 3, "bagaforeign", stored=True)
    check(ix, path)

    # evict files of the stored bundle (a journaled batch, and one at a time), serve one back (cache)
    stored = [r.path for r in ix.files(FileState.STORED) if r.bundle_id == bids[0] and r.size > 0]
    jid = ix.journal_begin("evict", "journaled")
    ix.finish_eviction(jid, stored[:10], tested_at=1.0)
    ix.db.write(lambda r: r.files.mark_evicted(stored[10], 2.0))
    check(ix, path)
    assert ix.mark_cached(stored[0], 4242)
    check(ix, path)
    ix.db.write(lambda r: r.files.mark_evicted(stored[0], 3.0))  # the cache budget returns it
    check(ix, path)

    # upstream: one file changed (back to local through a rescan), one deleted, one new
    changed = next(p for p in paths[100:] if p != loose)
    (root / changed).write_bytes(b"changed upstream, longer than before")
    (root / paths[110]).unlink()
    (root / "d9").mkdir()
    (root / "d9/new").write_bytes(b"new")
    scan(str(root), ix)
    check(ix, path)
    (root / "d9/new").write_bytes(b"new, and longer")  # still local, same day: only its size moves
    scan(str(root), ix)
    assert ix.get("d9/new").size == 15
    check(ix, path)
    ix.back_to_local(paths[111])  # a file that changed while packed
    check(ix, path)
    assert ix.get(paths[110]).deleted and ix.get(changed).state is FileState.LOCAL
    assert mtimes  # the tree spans many days: the totals hold many day rows
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(DISTINCT day) FROM file_totals").fetchone()[0] > 50
    ix.close()


def test_a_bulk_load_killed_halfway_is_counted_at_the_next_open(tmp_path):
    """A first index drops the counters' triggers; killed before its end (kill -9: nothing runs after),
    readers count rows meanwhile, and the next open counts the totals again."""
    root, path = tmp_path / "tree", tmp_path / "index.sqlite"
    make_tree(root, 40)
    ix = ArchiveIndex(path)
    scan(str(root), ix)
    ix.db.write(lambda r: r.files.defer_indexes())  # the bulk load's first write ...
    ix.upsert_seen([("late/a", 10, 10**18, 1), ("late/b", 0, 5, 2)])  # ... rows written without the triggers
    assert ix.db.read(lambda r: r.files.totals_drift()) == {("triggers missing", 0, 0, 0): (0, 0)}
    per, _ = full_counts(path)
    assert {s: tuple(t) for s, t in ix.counts().items() if t.files} == per  # counted from the rows meanwhile
    assert ix.db.read(lambda r: r.files.live_count()) == 42
    ix.close()  # no build_indexes: as a kill leaves it
    ix = ArchiveIndex(path)
    check(ix, path)
    assert ix.counts()["local"] == StateTotal(42, sum(full_counts(path)[0]["local"][1:]))
    ix.close()


def test_status_figures_come_from_the_totals(tmp_path):
    """`archive status` and the figures the worker posts to the manager's /archive read the same totals:
    a counter row changed behind the triggers' back shows in them (nothing counts the rows instead)."""
    root, path = tmp_path / "tree", tmp_path / "index.sqlite"
    make_tree(root, 30)
    ix = ArchiveIndex(path)
    scan(str(root), ix)
    before = figures(ix, Policy(keep_years=1))
    assert before["states"]["local"]["files"] == 30
    with sqlite3.connect(path) as db:
        db.execute("UPDATE file_totals SET files = files + 1000 WHERE state = 'local' AND deleted = 0 "
                   "AND day = (SELECT MIN(day) FROM file_totals WHERE state = 'local')")
    after = figures(ix, Policy(keep_years=1))
    assert after["states"]["local"]["files"] == 1030
    ix.close()
