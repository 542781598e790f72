"""The tunasync.json status file: atomic replacement, debounced rewrites, the same bytes as GET /jobs."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp

from tunasync.manager.status_file import StatusFileWriter, write_atomic

from .manager_harness import register, report, running_manager


def test_write_atomic_replaces_and_leaves_no_temp(tmp_path):
    p = tmp_path / "tunasync.json"
    p.write_text("old")
    inode = p.stat().st_ino
    write_atomic(str(p), b"[1,2]")
    assert p.read_bytes() == b"[1,2]"
    assert p.stat().st_ino != inode  # a new file renamed over the old: readers see old or new, never half
    assert oct(p.stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(tmp_path)) == ["tunasync.json"]


async def test_debounce_coalesces_a_burst(tmp_path):
    state = {"n": 0}

    async def render() -> bytes:
        return f"[{state['n']}]".encode()

    w = StatusFileWriter(str(tmp_path / "s.json"), render, delay=0.3)
    await w.start()
    assert w.writes == 1
    for i in range(50):  # a burst: all within the debounce delay
        state["n"] = i
        w.changed()
    deadline = time.monotonic() + 10
    while w.writes < 2:  # the counter moves after the rename, in the writer's own task
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.4)  # more than the debounce delay: a second write would have happened by now
    assert (tmp_path / "s.json").read_bytes() == b"[49]"
    assert w.writes == 2  # fifty changes, one write
    w.changed()  # nothing changed in the content: no write
    await asyncio.sleep(0.6)
    assert w.writes == 2
    state["n"] = 99
    w.changed()
    await w.close()  # a pending change is written on shutdown
    assert (tmp_path / "s.json").read_bytes() == b"[99]"


async def test_manager_keeps_the_file_equal_to_jobs(tmp_path, port):
    path = tmp_path / "tunasync.json"
    async with running_manager(tmp_path, port) as m, aiohttp.ClientSession() as s:
        deadline = time.monotonic() + 10
        while not path.exists():  # written at startup, before any status
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert path.read_bytes() == b"[]"
        await register(s, m.url, "w1")
        await report(s, m.url, "w1", "debian", "pre-syncing", "syncing", "success", size="1.2T")
        async with s.get(m.url + "/jobs") as r:
            jobs = await r.read()
        deadline = time.monotonic() + 15
        while path.read_bytes() != jobs:
            assert time.monotonic() < deadline, path.read_bytes()
            await asyncio.sleep(0.1)


async def test_missing_directory_is_a_warning_not_a_crash(tmp_path, port, caplog):
    extra_dir = tmp_path / "nope"
    async with running_manager(tmp_path, port) as m:
        pass
    conf = (tmp_path / "manager.conf").read_text().replace(str(tmp_path / "tunasync.json"), str(extra_dir / "t.json"))
    (tmp_path / "manager.conf").write_text(conf)
    from tunasync.manager.config import load_config
    from tunasync.manager.db import open_database
    from tunasync.manager.server import create_app, start
    from tunasync.manager.web import install
    cfg = load_config(str(tmp_path / "manager.conf"))
    db = await open_database(cfg.files.db_type, cfg.files.db_file)
    runner = await start(create_app(cfg, db, [install]), cfg)
    try:
        async with aiohttp.ClientSession() as s, s.get(m.url + "/jobs") as r:
            assert r.status == 200
        assert "does not exist" in caplog.text
        assert not extra_dir.exists()
    finally:
        await runner.cleanup()
        await db.close()
