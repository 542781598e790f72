"""The archive runtime (archive/runtime.py) on the real devnet: one network, piece server and set of
indexes per process, one limit on runs across mirrors, archive work on its own executors, and a worker
reload that changes `[archive]` reopening the network."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aiohttp

from tests.archive.archkit import FAST, default_files, make_tree, write_conf
from tunasync.archive import bundles, pipeline
from tunasync.archive.runtime import open_archive
from tunasync.archive.settings import ArchiveSetup
from tunasync.filecoin.interfaces import FilecoinNetwork
from tunasync.worker.archive_runner import ArchiveRunner
from tunasync.worker.archive_setup import archive_setup
from tunasync.worker.config import load_worker_config

DEAD = "http://127.0.0.1:9"  # nothing listens there


def two_mirrors(tmp: Path, devnet_url: str, extra: str = "") -> Path:
    """A worker config with archived mirrors `a` and `b` (trees written)."""
    for name in ("a", "b"):
        make_tree(tmp / name, default_files(3, seed=ord(name)), old=set())
    conf = write_conf(tmp, devnet_url, tmp / "a", name="a", copies=2, extra=extra)
    conf.write_text(conf.read_text() + f'\n[[mirrors]]\nname = "b"\nprovider = "command"\ncommand = "true"\n'
                                       f'mirror_dir = "{tmp / "b"}"\narchive = true\n')
    return conf


def session_closed(net: FilecoinNetwork) -> bool:
    session = net.retriever.http._session
    return session is None or session.closed


async def test_runs_across_mirrors_share_one_limit(tmp_path, devnet):
    """max_runs = 1: a second mirror's run waits until the first one's ends, then gets the slot."""
    conf = two_mirrors(tmp_path, devnet.url, "max_runs = 1")
    async with open_archive(archive_setup(load_worker_config(conf)), http_settings=FAST) as rt:
        entered: list[str] = []
        release, a_in = asyncio.Event(), asyncio.Event()

        async def run(name: str) -> None:
            async with rt.run(name) as ctx:
                entered.append(name)
                a_in.set()
                await pipeline.scan_and_hash(ctx, pipeline.RunReport())
                await release.wait()

        first = asyncio.create_task(run("a"))
        await a_in.wait()
        second = asyncio.create_task(run("b"))
        for _ in range(50):  # the first run holds the only slot: the second cannot enter, however long
            await asyncio.sleep(0)
        assert rt.limit.locked() and entered == ["a"] and not second.done()
        release.set()
        await asyncio.gather(first, second)
        assert entered == ["a", "b"]
        assert rt.index("a").counts()["hashed"][0] == 3 and rt.index("b").counts()["hashed"][0] == 3
        # one network and one loopback piece server for both mirrors
        assert (await rt.network()) is (await rt.network())


async def test_archive_work_leaves_the_default_executor_to_the_job_path(tmp_path, devnet):
    """While archive runs block their threads, the loop's default executor (which the worker's job
    path uses for short calls) still answers: archive work runs on the runtime's own executors."""
    conf = two_mirrors(tmp_path, devnet.url)
    default = ThreadPoolExecutor(max_workers=1, thread_name_prefix="default")
    asyncio.get_running_loop().set_default_executor(default)
    gate = threading.Event()
    names: list[str] = []
    loop = asyncio.get_running_loop()
    both_in = asyncio.Event()

    def blocking_step() -> None:  # a scan or hash run that takes minutes
        names.append(threading.current_thread().name)
        if len(names) == 2:
            loop.call_soon_threadsafe(both_in.set)
        gate.wait(30)

    async with open_archive(archive_setup(load_worker_config(conf)), http_settings=FAST) as rt:

        async def run(name: str) -> None:
            async with rt.run(name, network=False) as ctx:
                await ctx.to_thread(blocking_step)
                await pipeline.scan_and_hash(ctx, pipeline.RunReport())

        runs = [asyncio.create_task(run(n)) for n in ("a", "b")]
        try:
            await asyncio.wait_for(both_in.wait(), 20)
            # both archive runs hold a thread; the job path's short call still gets the default one
            got = await asyncio.wait_for(asyncio.to_thread(lambda: threading.current_thread().name), 20)
            assert got.startswith("default")
            assert all(n.startswith("archive") for n in names), names
        finally:
            gate.set()
        await asyncio.gather(*runs)
        assert rt.index("a").counts()["hashed"][0] == 3
    default.shutdown(wait=False)


async def test_reload_that_changes_archive_reopens_the_network(tmp_path, devnet):
    """The worker's archive runner on a dead devnet URL fails its run; a reload naming the real devnet
    (and more copies) makes the next run use the new network and policy; an unchanged reload keeps
    the open network; a changed one closes the old network once its run has ended."""
    mirror = tmp_path / "m"
    make_tree(mirror, default_files(4), old=set())
    conf = write_conf(tmp_path, DEAD, mirror, copies=1)
    runner = ArchiveRunner(load_worker_config(conf), wait=30)
    try:
        first = await runner.run_once("demo")
        assert "error" in first and "127.0.0.1:9" in first["error"]

        write_conf(tmp_path, devnet.url, mirror, copies=2)
        await runner.update(load_worker_config(conf))
        summary = await runner.run_once("demo")
        assert "error" not in summary and summary["stored_bundles"] >= 1, summary
        net = await runner.network()
        assert net.name == f"devnet {devnet.url}"
        index = runner.rt.index("demo")
        assert all(index.verified_copies(b.piece_cid) >= 2 for b in index.bundles())
        assert runner.mirrors["demo"].policy.copies == 2

        await runner.update(load_worker_config(conf))  # the same file again: nothing to reopen
        assert await runner.network() is net and not session_closed(net)

        write_conf(tmp_path, devnet.url, mirror, copies=3)
        async with runner.rt.run("demo") as ctx:  # a run in progress keeps the network it started with
            assert ctx.net is net
            await runner.update(load_worker_config(conf))
            assert await net.chain.head() >= 0  # still open under the run
            new = await runner.network()
            assert new is not net and new.name == f"devnet {devnet.url}"
        assert session_closed(net)  # closed once that run ended
        assert runner.mirrors["demo"].policy.copies == 3
        summary = await runner.run_once("demo")
        assert "error" not in summary, summary
        assert await runner.network() is new
    finally:
        await runner.close()


async def test_the_cli_worker_and_serve_views_share_the_setup(tmp_path, devnet):
    """`ArchiveSetup.only` narrows to one mirror as `tunasync archive` does; the piece server of a runtime
    offers the staged CARs of every mirror of its setup, mirrors a reload adds included."""
    conf = two_mirrors(tmp_path, devnet.url)
    full = archive_setup(load_worker_config(conf))
    only_a = full.only("a")
    assert [m.name for m in only_a.mirrors] == ["a"] and only_a.section is full.section
    async with open_archive(only_a, http_settings=FAST) as rt:
        base = await rt.piece_base()
        assert [ms.name for ms, _ in rt._pairs()] == []  # no index of `a` yet: nothing to offer
        await rt.reconfigure(ArchiveSetup(full.section, full.mirrors, full.file))  # the reload adds b
        assert await rt.piece_base() == base  # same server
        async with rt.run("b") as ctx:
            await pipeline.scan_and_hash(ctx, pipeline.RunReport())
            bid = await ctx.to_thread(bundles.pack, ctx.ms, ctx.index, bundles.hashed_members(ctx.index))
            b = ctx.index.bundle(bid)
        async with aiohttp.ClientSession() as s, s.get(f"{base}/piece/{b.piece_cid}") as r:
            assert r.status == 200 and len(await r.read()) > 0


async def test_worker_reload_reopens_the_network_only_when_archive_changed(tmp_path, devnet):
    """A real worker (in this process, with a real manager): its archived mirror syncs, but the archive
    run fails on a dead devnet URL; `reload` of a file naming the real devnet and 2 copies makes the
    next run store on the new network; reloading the same file keeps the network open."""
    from tests.worker.jobkit import write_worker_conf
    from tests.worker.test_job import wait_until
    from tests.worker.test_worker import manager, running_worker, statuses, wait_status

    mirror = tmp_path / "data" / "demo"
    make_tree(mirror, default_files(4), old=set())

    def archive_extra(url: str, copies: int) -> str:
        return (f'\n[archive]\nnetwork = "devnet"\ndevnet_url = "{url}"\nindex_dir = "{tmp_path}/archive"\n'
                f'copies = {copies}\nbundle_size = "4MiB"\n')

    demo = [{"name": "demo", "provider": "command", "upstream": "x", "command": "true", "archive": True}]
    async with manager(tmp_path) as base, \
            running_worker(tmp_path, demo, api_base=base, extra=archive_extra(DEAD, 1)) as (w, _):
        runner = w.archive
        assert runner is not None
        await wait_status(base, "demo", "success")
        await wait_until(lambda: runner.runs.get("demo", 0) >= 1, 60)  # the run the sync started: dead URL
        await runner.idle()
        assert "127.0.0.1:9" in runner.last["demo"].get("error", ""), runner.last
        first = await runner.run_once("demo")
        assert "127.0.0.1:9" in first.get("error", ""), first

        write_worker_conf(w.cfg.path, port=w.cfg.server.listen_port, api_base=base, tmp=str(tmp_path),
                          mirrors=demo, extra=archive_extra(devnet.url, 2))
        assert await w.reload() is True
        runner.wait = 30
        summary = await runner.run_once("demo")
        assert "error" not in summary and summary["stored_bundles"] >= 1, summary
        net = await runner.network()
        assert net.name == f"devnet {devnet.url}" and runner.mirrors["demo"].policy.copies == 2
        index = runner.rt.index("demo")
        assert index.bundles() and all(index.verified_copies(b.piece_cid) >= 2 for b in index.bundles())

        assert await w.reload() is True  # the same file: the open network stays
        assert await runner.network() is net and not session_closed(net)
        assert (await statuses(base))["demo"]["status"] == "success"
