"""Eviction and a starting sync of the same mirror exclude each other.

The worker tells the archive a sync starts (`ArchiveRunner.sync_started`, from the archive hook's
pre_exec) before the provider runs. A sync that starts while an eviction batch is between its
identity check and its unlink must wait for that batch: otherwise the file rsync places meanwhile
(a new upstream version at the same path) is the one unlinked, and the index then calls it evicted.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib

from tests.archive.archkit import archive_ctx, make_tree, rand, write_conf
from tunasync.archive import pipeline
from tunasync.archive.evictor import evict_due
from tunasync.archive.states import FileState
from tunasync.worker.archive_runner import ArchiveRunner
from tunasync.worker.config import load_worker_config as load

OLD = [f"pool/old{i}.deb" for i in range(4)]


async def test_a_sync_starting_mid_eviction_waits_and_its_new_files_survive(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, {p: rand(20_000 + i, 300 + i) for i, p in enumerate(OLD)}, old=set(OLD))
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        await pipeline.run(ctx, wait=30, evict_now=False)
        assert all(ctx.index.get(p).state is FileState.STORED for p in OLD)
    runner = ArchiveRunner(load(conf))
    loop = asyncio.get_running_loop()
    fresh = {p: b"new upstream version of " + p.encode() for p in OLD}
    sync_done: list[concurrent.futures.Future[None]] = []

    async def sync() -> None:
        """What a sync does: announce itself, then rsync renames new versions into place."""
        await runner.sync_started("demo")
        for rel, data in fresh.items():
            tmp = mirror / (rel + ".tmp")
            tmp.write_bytes(data)
            tmp.replace(mirror / rel)

    def crash(point: str) -> None:
        # in the eviction thread, once the first file passed its identity check (old code: "unlinking";
        # batched code: the batch is journaled under the gate and the checks follow)
        if point in ("evict.unlinking", "evict.journaled") and not sync_done:
            fut = asyncio.run_coroutine_threadsafe(sync(), loop)
            sync_done.append(fut)
            with contextlib.suppress(concurrent.futures.TimeoutError):
                fut.result(0.5)  # a sync that is not held back is done by then

    try:
        ctx = await runner.context("demo")
        ctx.crash = crash
        report = await evict_due(ctx)
        assert sync_done, "the eviction never reached its unlink step"
        await asyncio.wrap_future(sync_done[0])
        for rel, data in fresh.items():
            assert (mirror / rel).read_bytes() == data, f"{rel}: the sync's new file was lost"
        # what was evicted before the sync got in is evicted; the rest waits for a run after the sync
        for rel in OLD:
            rec = ctx.index.get(rel)
            assert rec is not None
            assert (rel in report.evicted) == (rec.state is FileState.EVICTED)
        assert report.deferred or len(report.evicted) == len(OLD)
    finally:
        runner.sync_ended("demo")
        await runner.close()
    assert files
