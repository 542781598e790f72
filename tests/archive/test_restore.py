"""Bringing an evicted file back from the network: verified, mtime restored, `cached` with its new inode
(so the next scan sees it unchanged), and never over a file rsync put there meanwhile."""

from __future__ import annotations

import os

import pytest

from tests.archive.archkit import archive_ctx, assert_nothing_lost, make_tree, rand, write_conf
from tunasync.archive import pipeline
from tunasync.archive.crash import CrashAt, CrashInjected
from tunasync.archive.restore import restore_file
from tunasync.archive.scan import scan
from tunasync.archive.states import FileState


async def test_restore_brings_back_the_bytes_as_cached_and_never_clobbers(tmp_path, devnet):
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, {"a/old.iso": rand(1_500_000, 1), "b/old.deb": rand(9000, 2)},
                      old={"a/old.iso", "b/old.deb"})
    mtimes = {p: os.stat(mirror / p).st_mtime_ns for p in files}
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        r = await pipeline.run(ctx, wait=30, poll=0.2)
        assert sorted(r.evict.evicted) == sorted(files)
        rec = ctx.index.get("a/old.iso")
        assert await restore_file(ctx, rec)
        full = mirror / "a/old.iso"
        assert full.read_bytes() == files["a/old.iso"] and os.stat(full).st_mtime_ns == mtimes["a/old.iso"]
        back = ctx.index.get("a/old.iso")
        assert back.state is FileState.CACHED and back.inode == os.stat(full).st_ino
        assert scan(ctx.ms.root, ctx.index).changed == []  # the restored file is not "new" to the scanner
        assert not [p for p in full.parent.iterdir() if p.name.startswith(".tunasync-")]
        # upstream's new version arrived first: ours is dropped, theirs stays untouched
        (mirror / "b/old.deb").write_bytes(b"new upstream version")
        assert not await restore_file(ctx, ctx.index.get("b/old.deb"))
        assert (mirror / "b/old.deb").read_bytes() == b"new upstream version"
        assert ctx.index.get("b/old.deb").state is FileState.EVICTED
        assert not [p for p in (mirror / "b").iterdir() if p.name.startswith(".tunasync-")]


@pytest.mark.parametrize("point", ["restore.placed", "restore.cached"])
async def test_a_crash_while_restoring_leaves_the_file_on_disk_and_the_index_consistent(tmp_path, devnet, point):
    """Killed after the verified file is in place (before or after the index says `cached`): the bytes
    are on disk, and after the restart every file is on disk or retrievable, nothing left half done."""
    mirror = tmp_path / "mirror"
    files = make_tree(mirror, {"a/old.deb": rand(20_000, 7)}, old={"a/old.deb"})
    conf = write_conf(tmp_path, devnet.url, mirror, copies=2)
    async with archive_ctx(conf) as ctx:
        assert (await pipeline.run(ctx, wait=30, poll=0.2)).evict.evicted == ["a/old.deb"]
        rec = ctx.index.get("a/old.deb")
    crash = CrashAt(point)
    with pytest.raises(CrashInjected):
        async with archive_ctx(conf, crash=crash) as ctx:
            await restore_file(ctx, rec)
    assert (mirror / "a/old.deb").read_bytes() == files["a/old.deb"]  # the verified bytes are in place
    async with archive_ctx(conf) as ctx:  # the restart: the scan sees the file back (re-hashed if the
        await pipeline.run(ctx, wait=30, poll=0.2)  # index still said evicted, then old enough to go again)
        check = await assert_nothing_lost(ctx, files)
        assert ctx.index.journal_open() == []
        assert not [p for p in (mirror / "a").iterdir() if p.name.startswith(".tunasync-")]
        if point == "restore.cached":  # recorded: a cached file leaves only by the cache budget
            assert check.on_disk == 1 and ctx.index.get("a/old.deb").state is FileState.CACHED
