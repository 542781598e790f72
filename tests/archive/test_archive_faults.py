"""Faults on the devnet while archiving: each must cost time or a retry, never a file or a false copy."""

from __future__ import annotations

import os

import pytest

from tests.archive.archkit import archive_ctx, assert_nothing_lost, default_files, make_tree, rand, write_conf
from tunasync.archive import pipeline, store
from tunasync.archive.repair import repair
from tunasync.archive.states import FileState
from tunasync.content.car import write_file_car
from tunasync.errors import ArchiveError


def live_copies(ctx, piece):
    return ctx.index.active_deals(piece)


async def test_a_provider_that_never_seals_is_not_counted_and_another_is_used(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    make_tree(mirror, default_files(3), old=set())
    devnet.fault(devnet.actor(0), "never_seal")
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        first = await pipeline.run(ctx, wait=1.0)
        (b,) = ctx.index.bundles()
        assert b.state == "offered"  # one copy sealed, the other provider only published
        assert devnet.actor(0) not in [p for p, _ in live_copies(ctx, b.piece_cid)]
        assert first.evict.evicted == []
        await store.store(ctx, wait=30, poll=0.3)
        b = ctx.index.bundle(b.id)
        assert b.state == "stored"
        holders = [p for p, _ in live_copies(ctx, b.piece_cid)]
        assert holders == sorted([devnet.actor(1), devnet.actor(2)])


async def test_a_slashed_deal_after_eviction_is_repaired_from_a_retrieval(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, default_files(4), old=set(default_files(4)))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        r = await pipeline.run(ctx, wait=30)
        assert len(r.evict.evicted) == 3  # everything is old: all of it leaves the disk but the empty file
        (b,) = ctx.index.bundles()
        (victim, deal_id), keep = live_copies(ctx, b.piece_cid)
        devnet.post(f"/admin/deals/{deal_id}/slash", {})
        rep = await repair(ctx)
        assert rep.degraded == {b.id: 1} and rep.rebuilt == [b.id]  # members retrieved, CAR rebuilt
        await store.store(ctx, wait=30, poll=0.3)
        b = ctx.index.bundle(b.id)
        assert b.state == "stored"
        holders = [p for p, _ in live_copies(ctx, b.piece_cid)]
        assert victim not in holders and len(holders) == 2 and keep[0] in holders
        assert all(ctx.index.get(p).state is FileState.EVICTED for p in r.evict.evicted)  # never came back
        check = await assert_nothing_lost(ctx, files)
        assert check.evicted == 3


async def test_a_corrupting_provider_is_skipped_and_with_all_corrupt_nothing_is_evicted(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, default_files(3), old=set(default_files(3)))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=30, evict_now=False)
        (b,) = ctx.index.bundles()
        holders = [p for p, _ in live_copies(ctx, b.piece_cid)]
        for p in holders:
            devnet.fault(p, "corrupt")
        r = await pipeline.run(ctx)
        assert r.evict.evicted == []
        assert all((mirror / p).read_bytes() == d for p, d in files.items())
        assert all(ctx.index.get(p).test_retrieval_at is None for p in files)
        devnet.fault(holders[0], "corrupt", on=False)  # one good provider is enough to verify
        r = await pipeline.run(ctx)
        assert sorted(r.evict.evicted) == sorted(p for p, d in files.items() if d)  # empty files stay
        await assert_nothing_lost(ctx, files)


async def test_files_the_network_already_holds_n_times_are_never_uploaded(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    popular = rand(300_000, 7)
    files = make_tree(mirror, {"iso/popular.iso": popular, "iso/rare.iso": rand(5000, 8)}, old=set())
    elsewhere = tmp_path / "elsewhere.bin"
    elsewhere.write_bytes(popular)
    car = tmp_path / "foreign.car"
    write_file_car(str(elsewhere), str(car))
    devnet.seed(car, [devnet.actor(1), devnet.actor(2)])  # someone else's deals, already active
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        r = await pipeline.run(ctx, wait=30)
        assert r.foreign == 1
        rec = ctx.index.get("iso/popular.iso")
        assert rec.state is FileState.STORED and rec.bundle_id is None
        assert ctx.index.foreign(rec.cid)[0] == 2
        members = [m[0] for b in ctx.index.bundles() for m in ctx.index.bundle_members(b.id)]
        assert members == ["iso/rare.iso"]  # only the rare file was packed and offered
        assert sorted(files) == sorted(p for p in files if ctx.index.get(p).state is FileState.STORED)


async def test_foreign_copies_count_only_when_enabled(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    popular = rand(70_000, 9)
    make_tree(mirror, {"popular.iso": popular}, old=set())
    (tmp_path / "e.bin").write_bytes(popular)
    write_file_car(str(tmp_path / "e.bin"), str(tmp_path / "e.car"))
    devnet.seed(tmp_path / "e.car", [devnet.actor(0), devnet.actor(1)])
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2, extra="count_foreign_copies = false")
    async with archive_ctx(conf) as ctx:
        r = await pipeline.run(ctx, wait=30)
        assert r.foreign == 0 and len(r.store.packed) == 1


async def test_disk_full_while_packing_is_a_clean_error_and_nothing_is_evicted(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, default_files(3), old=set(default_files(3)))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=1)
    async with archive_ctx(conf) as ctx:
        ctx.ms.ensure_dirs()
        os.symlink("/dev/full", ctx.ms.cars_dir / "1.car.tmp")  # bundle 1's CAR lands on a full disk
        with pytest.raises(ArchiveError, match="disk full while packing bundle 1"):
            await pipeline.run(ctx, wait=5)
        assert ctx.index.bundles() == []
        assert not (ctx.ms.cars_dir / "1.car.tmp").exists()
        assert all(ctx.index.get(p).state is FileState.HASHED for p in files)
        assert all((mirror / p).exists() for p in files)
        r = await pipeline.run(ctx, wait=30)  # space again: the next run finishes the job
        assert len(r.evict.evicted) == 2  # (the third is empty)
        await assert_nothing_lost(ctx, files)


async def test_a_file_changed_between_hashing_and_packing_is_never_stored_with_a_wrong_cid(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, {"a": rand(5000, 1), "b": rand(5000, 2)}, old=set())
    conf = write_conf(tmp_path, devnet.url, mirror, copies=1)
    async with archive_ctx(conf) as ctx:
        rep = pipeline.RunReport()
        await pipeline.scan_and_hash(ctx, rep)
        old_cid = ctx.index.get("a").cid
        st = os.stat(mirror / "a")
        (mirror / "a").write_bytes(rand(5000, 3))  # same size and mtime: only the bytes changed
        os.utime(mirror / "a", ns=(st.st_atime_ns, st.st_mtime_ns))
        sr = await store.store(ctx)
        assert sr.packed == [] and sr.changed == [str(mirror / "a")]
        assert ctx.index.get("a").state is FileState.LOCAL and ctx.index.bundles() == []
        r = await pipeline.run(ctx, wait=30)
        new = ctx.index.get("a")
        assert new.state is FileState.STORED and new.cid != old_cid
        assert r.hashed.hashed == 1
        files["a"] = (mirror / "a").read_bytes()
        await assert_nothing_lost(ctx, files)


async def test_only_one_process_works_on_a_mirror(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    make_tree(mirror, {"a": b"a"}, old=set())
    conf = write_conf(tmp_path, devnet.url, mirror, copies=1)
    async with archive_ctx(conf) as ctx, archive_ctx(conf) as other:
        with pipeline.MirrorLock(ctx), pytest.raises(ArchiveError, match=f"busy: process {os.getpid()}"):
            await pipeline.run(other)
