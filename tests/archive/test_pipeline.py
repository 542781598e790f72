"""The archive pipeline end to end on the devnet: index, copies, store to n providers, evict, status."""

from __future__ import annotations

import asyncio

from tests.archive.archkit import archive_ctx, assert_nothing_lost, default_files, make_tree, write_conf
from tunasync.archive import pipeline
from tunasync.archive.states import FileState
from tunasync.archive.status import figures


async def test_files_get_cids_get_stored_to_n_providers_and_old_ones_leave_disk(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, default_files(8), old={f"pool/main/p{i % 3}/f{i:02d}.deb" for i in range(0, 8, 2)})
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2, bundle_size="2MiB")
    async with archive_ctx(conf) as ctx:
        report = await pipeline.run(ctx, wait=30)
        assert report.scan is not None and report.scan.files == 8
        assert report.hashed is not None and report.hashed.hashed == 8
        assert report.store is not None and len(report.store.packed) >= 2  # 2 MiB bundles: several pieces
        for b in ctx.index.bundles():
            assert b.state == "stored", b
            assert ctx.index.verified_copies(b.piece_cid) >= 2
            assert not ctx.ms.car_path(b.id).exists()  # staged CARs go once the piece has its copies
        assert report.evict is not None
        # old files leave the disk, except the empty one (nothing to gain)
        assert sorted(report.evict.evicted) == sorted(p for p in files if int(p[-6:-4]) % 2 == 0 and files[p])
        assert "pool/main/p0/f00.deb" not in report.evict.evicted  # the rule never asks for empty files
        for rel in files:
            rec = ctx.index.get(rel)
            young = int(rel[-6:-4]) % 2 == 1 or not files[rel]
            assert rec.state is (FileState.STORED if young else FileState.EVICTED), rel
            assert (mirror / rel).exists() == young
            assert young or rec.test_retrieval_at is not None  # verified by a retrieval before it left
        rules = ctx.ms.exclude_path.read_text().splitlines()
        assert "- .tunasync-*" in rules  # serve's in-progress retrievals are not rsync's to delete
        assert len(rules) == 2  # no line per evicted file: rsync would compare every name with each
        shadow = ctx.ms.shadow_dir  # one placeholder per evicted file, at its size and mtime
        assert sorted(p.relative_to(shadow).as_posix() for p in shadow.rglob("*") if p.is_file()) \
            == sorted(report.evict.evicted)
        for rel in report.evict.evicted:
            st, rec = (shadow / rel).stat(), ctx.index.get(rel)
            assert (st.st_size, st.st_mtime_ns) == (rec.size, rec.mtime_ns)
        check = await assert_nothing_lost(ctx, files)
        assert (check.on_disk, check.evicted) == (5, 3)
        figs = figures(ctx.index, ctx.policy)
        assert figs["states"]["evicted"]["files"] == 3 and figs["states"]["stored"]["files"] == 5
        assert sum(figs["copies"].values()) == len(ctx.index.bundles())
        assert all(int(k) >= 2 for k in figs["copies"])
        # a second run changes nothing: nothing re-hashed, re-packed or re-offered
        again = await pipeline.run(ctx)
        assert again.scan.changed == [] and again.store.packed == [] and again.store.offered == {}
        assert again.evict.evicted == []


async def test_same_bytes_under_two_paths_are_packed_once(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    blob = b"same bytes " * 5000
    files = make_tree(mirror, {"a/one.iso": blob, "b/two.iso": blob, "c/other": b"x" * 10}, old=set())
    conf = write_conf(tmp_path, devnet.url, mirror, copies=1)
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=20)
        (b,) = ctx.index.bundles()
        assert [m[0] for m in ctx.index.bundle_members(b.id)] == ["a/one.iso", "b/two.iso", "c/other"]
        assert b.car_size < 1.2 * len(blob)  # the shared blocks are in the CAR once
        assert all(ctx.index.get(p).state is FileState.STORED for p in files)
        # a copy that appears later under a new path joins the stored bundle, no new piece
        (mirror / "d").mkdir()
        (mirror / "d/three.iso").write_bytes(blob)
        n_bundles = len(ctx.index.bundles())
        r = await pipeline.run(ctx)
        assert r.known[0] == 1 and r.store.packed == [] and len(ctx.index.bundles()) == n_bundles
        assert ctx.index.get("d/three.iso").state is FileState.STORED


async def test_figures_reach_status_json_shape(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    make_tree(mirror, {"x": b"1"}, old=set())
    conf = write_conf(tmp_path, devnet.url, mirror, copies=1)
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=20)
        figs = await asyncio.to_thread(figures, ctx.index, ctx.policy)
    from tunasync.manager.metrics import archive_summary

    states, copies = archive_summary(figs)
    assert states["stored"] == (1, 1) and copies == {1: 1}
