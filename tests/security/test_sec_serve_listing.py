"""Item 13 of the security review: directory pages followed symlinks out of the served root, showing
the size and date of files outside it. A link that leads out of the root is not listed (requesting
it is a 404 anyway); a link inside the root (debian's `stable -> bookworm`) is listed as what it
points at, without looking outside."""

from __future__ import annotations

import asyncio
import os

from .servekit_sec import get, serving_root


async def test_listing_does_not_follow_symlinks_out_of_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"s" * 123_457)  # listed as 120.6K if followed
    (outside / "secretdir").mkdir()
    root = tmp_path / "root"
    (root / "bookworm").mkdir(parents=True)
    (root / "bookworm" / "Release").write_bytes(b"r" * 2048)
    os.symlink(outside / "secret.bin", root / "leak.bin")
    os.symlink(outside / "secretdir", root / "leakdir")
    os.symlink("../outside/secret.bin", root / "relleak.bin")
    os.symlink("bookworm", root / "stable")
    os.symlink("bookworm/Release", root / "Release")
    os.symlink("nowhere", root / "dangling")
    async with serving_root(root) as port:
        page = (await asyncio.to_thread(get, port, "/")).body.decode()
        assert "leak" not in page and "120.6K" not in page and "secret" not in page, page
        assert 'href="stable/"' in page and 'href="bookworm/"' in page and 'href="Release"' in page
        assert "dangling" not in page
        assert "2.0K" in page  # Release, through its link inside the root
        assert (await asyncio.to_thread(get, port, "/leak.bin")).status == 404
        assert (await asyncio.to_thread(get, port, "/leakdir/")).status == 404
        r = await asyncio.to_thread(get, port, "/stable/Release")
        assert r.status == 200 and r.body == b"r" * 2048
