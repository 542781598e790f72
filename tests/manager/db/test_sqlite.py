"""SQLite backend: acknowledged updates survive kill -9 of a real manager process; reopen keeps data."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tunasync.manager.db.sqlite import SqliteDatabase
from tunasync.models import MirrorStatus, SyncStatus, WorkerStatus

from ..mgrkit import free_port


def spawn_manager(db_file: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tunasync.cli.main", "manager", "--db-file", str(db_file), "--port", str(port)],
        stdout=open(log, "ab"), stderr=subprocess.STDOUT,
    )


async def wait_up(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "manager exited during startup"
        try:
            async with session.get(base + "/ping") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError("manager did not come up")


async def test_kill_9_loses_no_acknowledged_update(tmp_path: Path) -> None:
    db_file, log = tmp_path / "tunasync.db", tmp_path / "manager.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    acked: dict[str, int] = {}
    proc = spawn_manager(db_file, port, log)
    async with aiohttp.ClientSession() as s:
        try:
            await wait_up(s, base, proc)
            async with s.post(base + "/workers", json={"id": "w1", "url": "http://127.0.0.1:9/"}) as r:
                assert r.status == 200

            async def poster(mirror: str) -> None:
                for seq in range(1, 10_000):
                    body = {"name": mirror, "worker": "w1", "status": "syncing", "error_msg": str(seq)}
                    try:
                        async with s.post(f"{base}/workers/w1/jobs/{mirror}", json=body) as r:
                            if r.status != 200:
                                return
                            await r.read()
                    except (TimeoutError, aiohttp.ClientError):
                        return
                    acked[mirror] = seq
                    if sum(acked.values()) >= 400:
                        enough.set()

            enough = asyncio.Event()
            tasks = [asyncio.create_task(poster(f"m{i}")) for i in range(16)]
            await asyncio.wait_for(enough.wait(), 60)
            os.kill(proc.pid, signal.SIGKILL)  # mid-updates: posters are still going
            await asyncio.gather(*tasks)
        finally:
            proc.kill()
            proc.wait()
        assert sum(acked.values()) >= 400, log.read_text()

        proc = spawn_manager(db_file, port, log)
        try:
            await wait_up(s, base, proc)
            async with s.get(base + "/workers/w1/jobs") as r:
                stored = {j["name"]: int(j["error_msg"]) for j in await r.json()}
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0  # clean shutdown on SIGTERM
    for mirror, seq in acked.items():
        assert stored.get(mirror, 0) >= seq, f"{mirror}: acknowledged {seq}, stored {stored.get(mirror)}"


async def test_reopen_keeps_data_and_skips_undecodable_rows(tmp_path: Path) -> None:
    path = str(tmp_path / "t.db")
    db = await SqliteDatabase.open(path)
    await db.create_worker(WorkerStatus(id="w1", url="http://a/"))
    await db.update_mirror_status("w1", "debian", MirrorStatus(name="debian", worker="w1", status=SyncStatus.SUCCESS))
    await db.close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO mirror_status VALUES ('w1', 'bad', '{\"status\": \"exploded\"}')")
    con.execute("INSERT INTO workers VALUES ('w2', 'not json')")
    con.commit()
    con.close()
    db = await SqliteDatabase.open(path)
    try:
        assert [w.id for w in await db.list_workers()] == ["w1"]
        assert [s.name for s in await db.list_all_mirror_status()] == ["debian"]
        mode = await db._call(lambda: db._conn.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    finally:
        await db.close()


async def test_heartbeats_reach_disk_within_the_lag(tmp_path: Path) -> None:
    from datetime import datetime, timezone

    from tunasync.manager.db.sqlite import HEARTBEAT_LAG

    path = str(tmp_path / "t.db")
    db = await SqliteDatabase.open(path)
    await db.create_worker(WorkerStatus(id="w1", url="http://a/"))
    when = datetime(2030, 1, 1, tzinfo=timezone.utc)
    await db.touch_worker("w1", when)
    assert (await db.get_worker("w1")).last_online == when  # at once in memory

    def on_disk() -> str:
        con = sqlite3.connect(path)
        try:
            return con.execute("SELECT value FROM workers WHERE id = 'w1'").fetchone()[0]
        finally:
            con.close()

    deadline = time.monotonic() + HEARTBEAT_LAG + 20
    while "2030-01-01" not in on_disk():
        assert time.monotonic() < deadline, "heartbeat never written"
        await asyncio.sleep(0.1)
    await db.touch_worker("w1", when.replace(year=2031))
    await db.close()  # close writes pending heartbeats
    assert "2031-01-01" in on_disk()
