"""Crash injection at every journaled step of store and evict (and repair): after a restart, every file
is on disk or evicted and retrievable, verified against its CID; nothing half-done is left behind.

A crash is `CrashAt(point, nth)`: the nth time the pipeline reaches `point` it dies (CrashInjected, a
BaseException nothing in the archive catches), and every concurrent task dies at its next step. The
restart is a new index connection, the recovery of `pipeline.run`, and a run to the end.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.archive.archkit import archive_ctx, assert_nothing_lost, make_tree, rand, write_conf
from tests.devnetkit import DevnetProc
from tunasync import archive
from tunasync.archive import evict, pipeline, store
from tunasync.archive.crash import POINTS, CrashAt, CrashInjected
from tunasync.archive.repair import repair

N_OLD = 6  # old files (all evicted in the end), 3 bundles of 2
SCENARIO = [("scan.batch", 1), ("scan.recorded", 1), ("scan.done", 1), ("hash.done", 1)]  # the first index: one batch
SCENARIO += [(f"pack.{s}", n) for s in ("created", "car_written", "piece_computed", "staged") for n in (1, 2, 3)]
SCENARIO += [(f"store.{s}", n) for s in ("checked", "offered", "marked", "car_removed") for n in (1, 2, 3)]
# eviction: one verified retrieval per bundle, one journaled batch per bundle (two files each)
SCENARIO += [(f"evict.{s}", n) for s in ("tested", "journaled", "recorded") for n in (1, 2, 3)]
SCENARIO += [("evict.unlinked", n) for n in range(1, N_OLD + 1)]
# a file renamed into the shadow tree with its data, not emptied yet: recovery empties it
SCENARIO += [("evict.moved", n) for n in (1, 2, N_OLD)]
# the same with batches of one file: a bundle's files over several batches (pages of the due query)
SMALL_BATCHES = [(f"evict.{s}", n) for s in ("journaled", "unlinked", "recorded") for n in range(1, N_OLD + 1)]
SMALL_BATCHES += [("evict.moved", n) for n in (1, N_OLD)]
REPAIR = [("repair.degraded", 1), ("repair.rebuilt", 1), ("store.checked", 1), ("store.offered", 1),
          ("store.marked", 1), ("store.car_removed", 1)]


RESTORE = ["restore.placed", "restore.cached"]  # test_restore.py crashes at these


def test_the_scenario_covers_at_least_fifty_points():
    assert len(SCENARIO) + len(SMALL_BATCHES) + len(REPAIR) >= 50


def test_every_journaled_point_of_the_code_is_listed_and_crashed_at():
    code = "".join(p.read_text() for p in Path(archive.__file__).parent.rglob("*.py"))
    assert set(re.findall(r'crash\("([a-z_]+\.[a-z_]+)"\)', code)) == POINTS
    assert {p for p, _ in SCENARIO + SMALL_BATCHES + REPAIR} | set(RESTORE) == POINTS
    with pytest.raises(ValueError, match="no crash point 'evict.unlinkd'"):
        CrashAt("evict.unlinkd")


@pytest.fixture(scope="module")
def shared_devnet(tmp_path_factory):
    d = DevnetProc(tmp_path_factory.mktemp("crash") / "devnet", ["--providers", "3", "--epoch-seconds", "0.02"])
    d.start()
    yield d
    d.stop()


def files_for(seed: int) -> dict[str, bytes]:
    """Six old files in three 1 MiB bundles, plus a young one; new bytes per case (new pieces)."""
    f = {f"pool/{i // 2}/old{i}.deb": rand(400_000 + 1000 * i, seed * 50 + i) for i in range(N_OLD)}
    f["pool/new.deb"] = rand(3000, seed * 50 + 49)
    return f


def setup(tmp: Path, devnet: DevnetProc, seed: int) -> tuple[Path, dict[str, bytes]]:
    mirror = tmp / "mirror"
    files = make_tree(mirror, files_for(seed), old={p for p in files_for(seed) if "old" in p})
    return write_conf(tmp, devnet.url, mirror, copies=2, bundle_size="1MiB"), files


def leftovers(ctx) -> list[Path]:
    """Temporary files of ours in the tree, staged CARs, scratch files."""
    found = [p for p in Path(ctx.ms.root).rglob("*") if p.name.startswith(".tunasync-")]
    return found + list(ctx.ms.cars_dir.iterdir()) + list(ctx.ms.tmp_dir.iterdir())


async def finish_and_check(conf: Path, files: dict[str, bytes]) -> None:
    async with archive_ctx(conf) as ctx:
        report = await pipeline.run(ctx, wait=60, poll=0.2)
        assert all(b.state == "stored" for b in ctx.index.bundles()), ctx.index.bundles()
        assert ctx.index.journal_open() == []
        check = await assert_nothing_lost(ctx, files)
        assert (check.on_disk, check.evicted) == (1, N_OLD), report.summary()
        assert leftovers(ctx) == []
        # every placeholder is sparse: none keeps the data of a file moved in before a crash
        assert [p for p in ctx.ms.shadow_dir.rglob("*") if p.is_file() and p.stat().st_blocks] == []
        # each old file's bytes exist in exactly one bundle: the crash made no duplicate piece
        members = [m[0] for b in ctx.index.bundles() for m in ctx.index.bundle_members(b.id)]
        assert sorted(members) == sorted(files)


@pytest.mark.parametrize(("point", "nth"), SCENARIO, ids=[f"{p}#{n}" for p, n in SCENARIO])
async def test_crash_during_store_and_evict_loses_nothing(tmp_path, shared_devnet, point, nth):
    conf, files = setup(tmp_path, shared_devnet, SCENARIO.index((point, nth)) + 1)
    crash = CrashAt(point, nth)
    with pytest.raises(CrashInjected):
        async with archive_ctx(conf, crash=crash) as ctx:
            await pipeline.run(ctx, wait=60, poll=0.2)
    assert crash.fired, f"{point} was reached only {crash.seen.count(point)} time(s)"
    await finish_and_check(conf, files)


@pytest.mark.parametrize(("point", "nth"), SMALL_BATCHES, ids=[f"{p}#{n}" for p, n in SMALL_BATCHES])
async def test_crash_during_eviction_in_batches_of_one_loses_nothing(tmp_path, shared_devnet, point, nth,
                                                                     monkeypatch):
    monkeypatch.setattr(evict, "BATCH", 1)
    conf, files = setup(tmp_path, shared_devnet, 200 + SMALL_BATCHES.index((point, nth)))
    crash = CrashAt(point, nth)
    with pytest.raises(CrashInjected):
        async with archive_ctx(conf, crash=crash) as ctx:
            await pipeline.run(ctx, wait=60, poll=0.2)
    assert crash.fired, f"{point} was reached only {crash.seen.count(point)} time(s)"
    await finish_and_check(conf, files)


@pytest.mark.parametrize(("point", "nth"), REPAIR, ids=[f"{p}#{n}" for p, n in REPAIR])
async def test_crash_during_repair_loses_nothing(tmp_path, shared_devnet, point, nth):
    seed = 100 + REPAIR.index((point, nth))
    conf, files = setup(tmp_path, shared_devnet, seed)
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=60, poll=0.2)
        b = ctx.index.bundles()[0]
        deal = ctx.index.active_deals(b.piece_cid)[0][1]
    shared_devnet.post(f"/admin/deals/{deal}/slash", {})
    crash = CrashAt(point, nth)
    with pytest.raises(CrashInjected):
        async with archive_ctx(conf, crash=crash) as ctx:
            await repair(ctx)
            await store.store(ctx, wait=60, poll=0.2)
    assert crash.fired, f"{point} was reached only {crash.seen.count(point)} time(s)"
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, poll=0.2)  # recovery
        await repair(ctx)
        await store.store(ctx, wait=60, poll=0.2)
        assert ctx.index.verified_copies(b.piece_cid) >= 2
    await finish_and_check(conf, files)
